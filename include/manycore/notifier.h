// include/manycore/notifier.h: Notifier, a wake-up signal that queues raise for select() and event loops.
//
// What it offers: a level-triggered flag that any thread sets with notify() (no GIL
// needed) and one thread consumes with wait() or take(). A queue keeps the Notifiers
// subscribed to it and notifies them when an item arrives, leaves, or the queue
// closes; manycore.select() waits on one Notifier subscribed to several queues. A
// Notifier made with_pipe() also makes its read end readable on notify, so an asyncio
// loop can wait for a queue with loop.add_reader() instead of blocking a thread.
//
// Guarantees: a notify() that happens after subscription is never lost: either the
// waiter sees the flag set, or wait() returns. Everything done before notify() is
// visible to the thread whose wait() or take() observed it.
//
// Lifetime and threading rules: plain C++ (no PyObject*), shared by std::shared_ptr
// between the waiting interpreter and the queues it is subscribed to. wait() releases
// the caller's GIL (src/core/wait.h). The pipe is closed by the destructor, which may
// run on any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "manycore/status.h"

namespace manycore {

class Notifier {
 public:
  Notifier() = default;
  // A Notifier whose read_fd() becomes readable on notify (kInternal if pipe() fails).
  static Result<std::shared_ptr<Notifier>> with_pipe();
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Sets the flag and wakes the waiter. Any thread; never blocks on a GIL.
  void notify();
  // Clears the flag; returns whether it was set. Also drains the pipe.
  bool take();
  // Waits until the flag is set (it stays set: call take()). Returns ok, kTimeout, or
  // kInterrupted (Python error set). Releases the caller's GIL while waiting.
  Status wait(std::optional<double> timeout_seconds);
  // Read end of the pipe, or -1 for a Notifier made without one.
  int read_fd() const { return read_fd_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;          // wait() parks here; notify() signals with mutex_ held
  std::atomic<bool> notified_{false};  // read racily while spinning, written under mutex_
  int read_fd_ = -1;                    // constant after with_pipe()
  int write_fd_ = -1;                   // constant after with_pipe()
};

}  // namespace manycore
