// include/manycore/atomic.h: AtomicInt, a 64-bit integer shared by every interpreter, with futex-style wait/notify.
//
// What it offers: load, store, add (returns the new value), fetch_add (the old one),
// compare_exchange, and wait(expected)/notify(n) with the meaning of JavaScript's
// Atomics.wait/Atomics.notify: wait parks only while the value still equals
// `expected` (checked atomically against notify), notify wakes the n oldest waiters.
// Neither store nor add wakes anyone by itself.
//
// Guarantees: every operation is sequentially consistent (one total order across all
// threads and interpreters), so an AtomicInt also orders the memory around it: what a
// thread wrote before store/add/compare_exchange is visible to a thread whose load sees
// that value (docs/shared.md). Arithmetic wraps around in two's complement.
//
// Lifetime and threading rules: any thread, with or without a GIL; holds no PyObject*.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

namespace internal {
class WaitList;
}

class AtomicInt final : public Shareable {
 public:
  enum class WaitOutcome { kWoken, kNotEqual, kTimedOut };

  explicit AtomicInt(int64_t initial = 0);
  ~AtomicInt() override;
  const char* type_name() const override { return "AtomicInt"; }

  int64_t load() const { return value_.load(); }
  void store(int64_t value) { value_.store(value); }
  int64_t exchange(int64_t value) { return value_.exchange(value); }
  int64_t add(int64_t delta) { return static_cast<int64_t>(static_cast<uint64_t>(fetch_add(delta)) + static_cast<uint64_t>(delta)); }
  int64_t fetch_add(int64_t delta) { return value_.fetch_add(delta); }
  // Sets `new_value` if the value equals `expected`; returns whether it did, and
  // leaves the value it saw in `expected`.
  bool compare_exchange(int64_t& expected, int64_t new_value) { return value_.compare_exchange_strong(expected, new_value); }

  // Parks while the value equals `expected`: kNotEqual at once if it does not, kWoken
  // after a notify, kTimedOut after timeout_seconds. kInterrupted (Python error set)
  // comes back as a non-ok Result.
  Result<WaitOutcome> wait(int64_t expected, std::optional<double> timeout_seconds = std::nullopt);
  // Wakes up to n waiters (the oldest first); returns how many were woken.
  size_t notify(size_t n = 1);

 private:
  std::atomic<int64_t> value_;
  std::unique_ptr<internal::WaitList> waiters_;
};

}  // namespace manycore
