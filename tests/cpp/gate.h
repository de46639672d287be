// tests/cpp/gate.h: Gate, a one-shot signal between test threads whose waits always end.
//
// Tests use gates to hold a job inside a worker (or to rendezvous two of them) so that
// ordering is forced, not timed. Every wait is bounded (kGateLimit by default): a test
// that breaks fails within seconds instead of hanging the suite.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace manycore::test {

inline constexpr std::chrono::seconds kGateLimit{10};

class Gate {
 public:
  void open() {
    // Notify under the lock: a waiter that sees open_ may return and destroy the Gate
    // (often a local of the test) the moment the lock is free (TSan caught this).
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  // True once open; false if `limit` passed first. Call with no GIL held, or with a
  // GIL nobody else needs (a job blocking its own worker).
  bool wait(std::chrono::milliseconds limit = kGateLimit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return open_; });
  }
  bool is_open() {
    std::lock_guard lock(mutex_);
    return open_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;  // guarded by mutex_
};

}  // namespace manycore::test
