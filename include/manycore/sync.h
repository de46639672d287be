// include/manycore/sync.h: Lock, RLock, Condition, Event, Semaphore, Barrier: threading's primitives across interpreters.
//
// What it offers: the semantics of Python's threading module, for threads of any
// interpreter of the process (and plain C++ threads). Each object is a process-wide
// Shareable: every interpreter holding a wrapper of it (manycore.Lock, ...) uses the
// same primitive, which lives while anything holds it.
//
// Guarantees (the memory model, docs/shared.md):
// - Lock/RLock/Semaphore: everything a thread did before release() is visible to the
//   thread whose acquire() then succeeds.
// - Event: everything done before set() is visible after a wait() that returns true.
// - Condition: as its lock; notify() wakes the oldest waiters first, exactly n of them.
// - Barrier: everything each party did before wait() is visible to all parties after
//   wait() returns.
// - Lock/RLock/Semaphore waits (src/core/futex_wait.h, src/core/sync.cc): with a
//   second usable CPU, a contended acquire first spins up to 3 us with the caller's
//   GIL still held (won there, the GIL is never released), then up to 50 us with it
//   released, then parks on a futex. There is no spin with one usable CPU, none while
//   the thread that will release runs on the waiter's CPU, and little once spins
//   have lost three times in a row (SpinHint). A release makes a system call only
//   when a waiter is parked. Not FIFO, as threading.Lock is not: a running thread may
//   take a released lock before a woken waiter does (a waiter that loses parks again).
// - Every blocking call parks with the caller's GIL released, and wakes every 50 ms
//   to run signal handlers (Ctrl-C) and, in worker interpreters, a pending
//   asynchronous exception (Interpreter::interrupt, Pool.terminate): kInterrupted with
//   the Python error set (src/core/wait.h). Event, Condition and Barrier wait as
//   wait.h does (GIL released, ~40 us of spinning that yields the core, a condition
//   variable).
// - Timeouts: nullopt waits forever; a timeout reports kTimeout (acquire returns it as a
//   status, the caller maps it to False as threading does).
//
// Lifetime and threading rules: any thread, with or without a GIL; no PyObject* is
// held (Barrier's action is a Value, run by the binding in the caller's interpreter).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

namespace internal {
class WaitList;
// Whether spinning before parking has been paying off for one primitive. A spin that
// wins hands the lock over in well under a microsecond between two running
// interpreters. A single lost spin says little (the holder was preempted once, or
// took a page fault), but on an oversubscribed machine spins lose in a row (the holder
// is not running) and only burn the core: after kLossesInARow consecutive lost spins,
// only every 16th slow acquire spins, to notice when spinning pays again. Relaxed: a
// hint, not a guarantee.
class SpinHint {
 public:
  static constexpr uint32_t kLossesInARow = 3;
  bool should_spin() {
    return losses_.load(std::memory_order_relaxed) < kLossesInARow ||
           tries_.fetch_add(1, std::memory_order_relaxed) % 16 == 0;
  }
  void record(bool won) {
    uint32_t losses = losses_.load(std::memory_order_relaxed);
    if (won) {
      if (losses != 0) losses_.store(0, std::memory_order_relaxed);
    } else if (losses < kLossesInARow) {
      losses_.store(losses + 1, std::memory_order_relaxed);
    }
  }

 private:
  std::atomic<uint32_t> losses_{0};  // consecutive lost spins, saturating at kLossesInARow
  std::atomic<uint32_t> tries_{0};
};

// A process-unique, never-zero id of the calling OS thread (RLock ownership).
uint64_t current_thread_token();
}  // namespace internal

// threading.Lock: not reentrant; any thread may release it.
class Lock final : public Shareable {
 public:
  const char* type_name() const override { return "Lock"; }
  bool try_acquire();
  // ok, kTimeout, or kInterrupted.
  Status acquire(std::optional<double> timeout_seconds = std::nullopt);
  // kNotOwner when not locked.
  Status release();
  bool locked() const { return state_.load(std::memory_order_acquire) != 0; }

 private:
  int releaser_cpu() const;
  // 0 free; held: 2 + the CPU the holder acquired on (1 if unknown), which tells a
  // spinner on that same CPU not to spin. CAS by acquirers, exchange by release.
  std::atomic<int> state_{0};
  std::atomic<uintptr_t> holder_{0};  // thread tag of the last acquirer (a spinner's hint); relaxed
  std::atomic<int> last_releaser_cpu_{-1};  // the CPU of the last release (a spinner's hint); relaxed
  std::atomic<int> parked_{0};         // threads parked on the futex (or about to); release wakes only when > 0
  std::atomic<uint32_t> sequence_{0};  // release count: the futex word waiters sleep on
  internal::SpinHint spin_hint_;
};

// threading.RLock: the owning thread may acquire it again; only the owner releases.
class RLock final : public Shareable {
 public:
  const char* type_name() const override { return "RLock"; }
  bool try_acquire();
  Status acquire(std::optional<double> timeout_seconds = std::nullopt);
  // kNotOwner unless the calling thread owns it.
  Status release();
  bool owned_by_caller() const { return owner_.load(std::memory_order_acquire) == internal::current_thread_token(); }
  bool locked() const { return owner_.load(std::memory_order_acquire) != 0; }
  // Condition's helpers: release completely, returning the recursion count; take back.
  Result<uint64_t> release_all();
  Status acquire_restore(uint64_t count);

 private:
  std::atomic<uint64_t> owner_{0};  // thread token of the owner, 0 when free; CAS by acquirers
  uint64_t count_ = 0;              // recursion depth; touched only by the owner
  std::atomic<int> owner_cpu_{-1};  // the CPU the owner acquired on (a spinner's hint); written by the owner
  std::atomic<int> parked_{0};
  std::atomic<uint32_t> sequence_{0};
  internal::SpinHint spin_hint_;
};

// threading.Condition over a Lock or an RLock (RLock by default).
class Condition final : public Shareable {
 public:
  explicit Condition(std::shared_ptr<RLock> lock);
  explicit Condition(std::shared_ptr<Lock> lock);
  ~Condition() override;
  const char* type_name() const override { return "Condition"; }

  // The underlying lock (an RLock or a Lock).
  std::shared_ptr<Shareable> lock() const;
  // The caller must hold the lock (kNotOwner otherwise). Releases it, waits for a
  // notify, takes it back (also after a timeout or an interrupt, as threading does).
  // true when notified, false on timeout; kInterrupted with the Python error set.
  Result<bool> wait(std::optional<double> timeout_seconds = std::nullopt);
  // Wake up to n waiters (the oldest first). kNotOwner unless the lock is held.
  Status notify(size_t n = 1);
  Status notify_all();

 private:
  bool lock_held() const;
  std::shared_ptr<RLock> rlock_;  // exactly one of rlock_, lock_ is set (immutable)
  std::shared_ptr<Lock> lock_;
  std::unique_ptr<internal::WaitList> waiters_;
};

// threading.Event.
class Event final : public Shareable {
 public:
  const char* type_name() const override { return "Event"; }
  bool is_set() const { return flag_.load(std::memory_order_acquire); }
  void set();
  void clear();
  // true once set; false on timeout; kInterrupted.
  Result<bool> wait(std::optional<double> timeout_seconds = std::nullopt);

 private:
  std::atomic<bool> flag_{false};  // written under mutex_, read racily by spinners
  std::mutex mutex_;
  std::condition_variable cv_;
};

// threading.Semaphore and (bounded) threading.BoundedSemaphore.
class Semaphore final : public Shareable {
 public:
  // kInvalidArgument for a negative value (checked by create).
  static Result<std::shared_ptr<Semaphore>> create(int64_t value, bool bounded);
  Semaphore(int64_t value, bool bounded) : value_(value), initial_(value), bounded_(bounded) {}
  const char* type_name() const override { return bounded_ ? "BoundedSemaphore" : "Semaphore"; }
  bool try_acquire();
  Status acquire(std::optional<double> timeout_seconds = std::nullopt);
  // Adds n (>= 1); kInvalidArgument if bounded and the value would pass the initial value.
  Status release(int64_t n = 1);
  int64_t value() const { return value_.load(std::memory_order_acquire); }
  bool bounded() const { return bounded_; }
  int64_t initial_value() const { return initial_; }

 private:
  std::atomic<int64_t> value_;  // CAS by acquirers and bounded releasers
  const int64_t initial_;
  const bool bounded_;
  std::atomic<int> parked_{0};
  std::atomic<uint32_t> sequence_{0};
  internal::SpinHint spin_hint_;
};

// threading.Barrier. The action (a Value, possibly None) is run by the last party to
// arrive, through the runner the caller of wait() passes (the binding decodes and
// calls it in that party's interpreter).
class Barrier final : public Shareable {
 public:
  using ActionRunner = std::function<Status(const Value& action)>;
  static Result<std::shared_ptr<Barrier>> create(int64_t parties, Value action, std::optional<double> timeout_seconds);
  Barrier(int64_t parties, Value action, std::optional<double> timeout_seconds)
      : parties_(parties), action_(std::move(action)), default_timeout_(timeout_seconds) {}
  const char* type_name() const override { return "Barrier"; }

  // The arrival index (0 .. parties-1). kBrokenBarrier when the barrier is or becomes
  // broken (abort, reset, a timeout of any party, an interrupt of any party, a failing
  // action); the action's own status when it failed, for the party that ran it.
  // `timeout_seconds` unset uses the barrier's default timeout (as threading does).
  Result<int64_t> wait(std::optional<double> timeout_seconds, const ActionRunner& run);
  // Parties waiting now get kBrokenBarrier; the barrier is usable again.
  void reset();
  // Breaks the barrier: waiters, and every wait() until reset(), get kBrokenBarrier.
  void abort();
  int64_t parties() const { return parties_; }
  int64_t n_waiting() const { return count_.load(std::memory_order_acquire); }
  bool broken() const { return broken_.load(std::memory_order_acquire); }

 private:
  void break_locked();
  const int64_t parties_;
  const Value action_;
  const std::optional<double> default_timeout_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<int64_t> count_{0};       // parties arrived in this cycle; written under mutex_
  std::atomic<uint64_t> generation_{0}; // cycles completed; written under mutex_
  std::atomic<uint64_t> epoch_{0};      // reset() calls; written under mutex_
  std::atomic<bool> broken_{false};     // written under mutex_
};

}  // namespace manycore
