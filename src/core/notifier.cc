// src/core/notifier.cc: Notifier, the wake-up flag (with an optional pipe) behind select() and asyncio waits.
#include "manycore/notifier.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "wait.h"

namespace manycore {

Result<std::shared_ptr<Notifier>> Notifier::with_pipe() {
  int fds[2];
  if (pipe(fds) != 0) return Status(StatusCode::kInternal, std::string("pipe() failed: ") + std::strerror(errno));
  for (int fd : fds) {
    // Non-blocking: notify() must never block on a full pipe, take() never on an empty one.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  auto notifier = std::make_shared<Notifier>();
  notifier->read_fd_ = fds[0];
  notifier->write_fd_ = fds[1];
  return notifier;
}

Notifier::~Notifier() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

// The flag and the pipe change together under mutex_, so "flag set" always means "one
// byte in the pipe": an event loop watching the pipe never misses a pending notify.
void Notifier::notify() {
  {
    std::lock_guard lock(mutex_);
    if (notified_.load(std::memory_order_relaxed)) return;  // already pending: one wake-up is enough
    notified_.store(true, std::memory_order_release);
    if (write_fd_ >= 0) {
      char byte = 1;
      ssize_t written = write(write_fd_, &byte, 1);
      (void)written;  // non-blocking; at most one byte is ever pending, so it cannot be full
    }
  }
  cv_.notify_all();
}

bool Notifier::take() {
  std::lock_guard lock(mutex_);
  bool was_set = notified_.exchange(false, std::memory_order_acq_rel);
  if (was_set && read_fd_ >= 0) {
    char byte;
    ssize_t got = read(read_fd_, &byte, 1);
    (void)got;
  }
  return was_set;
}

Status Notifier::wait(std::optional<double> timeout_seconds) {
  return internal::wait_released(
      mutex_, cv_, [this] { return notified_.load(std::memory_order_acquire); },
      internal::deadline_after(timeout_seconds));
}

}  // namespace manycore
