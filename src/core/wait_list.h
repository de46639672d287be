// src/core/wait_list.h: WaitList, a FIFO of parked waiters woken one by one (the core of Condition and AtomicInt::wait).
//
// A waiter enlists with the list's mutex held (so a check of the condition and the
// enlisting are one step against notify, which takes the same mutex), then waits
// through wait.h (GIL released, brief spin, park, 50 ms signal slices). notify(n)
// wakes the n oldest waiters exactly: a waiter that times out or is interrupted
// leaves the list, and a wake-up it consumed at the same moment is handed on.
//
// Lifetime and threading rules: any thread. Owned by its primitive; waiters keep
// their node alive through a shared_ptr.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "wait.h"

namespace manycore::internal {

class WaitList {
 public:
  struct Waiter {
    std::atomic<bool> woken{false};
  };

  std::mutex& mutex() { return mutex_; }

  // Requires mutex() held.
  std::shared_ptr<Waiter> enlist_locked() {
    auto waiter = std::make_shared<Waiter>();
    waiters_.push_back(waiter);
    return waiter;
  }

  // Waits until notified: ok, or kTimeout / kInterrupted (the Python error set), in
  // which case the waiter has left the list. mutex() must not be held.
  Status wait(const std::shared_ptr<Waiter>& waiter, std::optional<Clock::time_point> deadline) {
    Status waited = wait_released(mutex_, cv_, [&waiter] { return waiter->woken.load(std::memory_order_acquire); },
                                  deadline);
    if (waited.ok()) return waited;
    std::lock_guard lock(mutex_);
    if (waiter->woken.load(std::memory_order_acquire)) {
      if (waited.code() == StatusCode::kTimeout) return Status::Ok();  // woken at the deadline: count it
      wake_locked(1);  // interrupted, but a wake-up was spent on us: pass it on
      return waited;
    }
    std::erase(waiters_, waiter);
    return waited;
  }

  // Wakes up to n of the oldest waiters; returns how many.
  size_t notify(size_t n) {
    std::lock_guard lock(mutex_);
    return wake_locked(n);
  }

  size_t size() {
    std::lock_guard lock(mutex_);
    return waiters_.size();
  }

 private:
  size_t wake_locked(size_t n) {
    size_t woken = 0;
    while (woken < n && !waiters_.empty()) {
      waiters_.front()->woken.store(true, std::memory_order_release);
      waiters_.pop_front();
      ++woken;
    }
    if (woken != 0) cv_.notify_all();  // one cv for all waiters: each checks its own node
    return woken;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Waiter>> waiters_;  // guarded by mutex_
};

}  // namespace manycore::internal
