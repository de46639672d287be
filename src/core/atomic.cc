// src/core/atomic.cc: AtomicInt's futex-style wait and notify.
#include "manycore/atomic.h"

#include "wait_list.h"

namespace manycore {

AtomicInt::AtomicInt(int64_t initial) : value_(initial), waiters_(std::make_unique<internal::WaitList>()) {}
AtomicInt::~AtomicInt() = default;

Result<AtomicInt::WaitOutcome> AtomicInt::wait(int64_t expected, std::optional<double> timeout_seconds) {
  auto deadline = internal::deadline_after(timeout_seconds);
  std::shared_ptr<internal::WaitList::Waiter> waiter;
  {
    // The check and the enlisting are one step against notify (which takes this mutex):
    // a store+notify after the check finds the waiter enlisted. Taken with the GIL
    // released: notify holds it only for a moment, but never block with a GIL held.
    internal::GilRelease unlocked_gil;
    std::lock_guard lock(waiters_->mutex());
    if (value_.load() != expected) return WaitOutcome::kNotEqual;
    waiter = waiters_->enlist_locked();
  }
  Status waited = waiters_->wait(waiter, deadline);
  if (waited.code() == StatusCode::kTimeout) return WaitOutcome::kTimedOut;
  if (!waited.ok()) return waited;
  return WaitOutcome::kWoken;
}

size_t AtomicInt::notify(size_t n) { return waiters_->notify(n); }

}  // namespace manycore
