// src/core/futex_wait.h: park_on_sequence, the wait of Lock, RLock and Semaphore: a futex on a release counter.
//
// Why not wait.h's condition variable: measured under load (bench shared, load ~10 on
// 2 cores), a parked lock ping-pong through mutex+condvar took ~22 us per round trip
// against ~5-7 us for multiprocessing.Lock (a POSIX semaphore, i.e. a futex): the
// woken thread first has to take the condvar's mutex, which the waker often still
// holds. Here the waiter sleeps on the primitive's release counter itself and the
// releaser wakes it with one system call.
//
// Protocol (no lost wake-up): the waiter raises `waiters` (seq_cst), reads `sequence`,
// retries its attempt, then sleeps only while `sequence` is unchanged; the releaser
// changes the state, increments `sequence`, then wakes if `waiters` > 0. Either the
// waiter's retry sees the release, or the releaser sees the waiter.
//
// Like wait.h: the caller's GIL is released for the wait, which wakes every
// kSignalSlice to run signal handlers and pending asynchronous exceptions
// (kInterrupted, the Python error set). Elsewhere than Linux it falls back to sleeping
// in short slices.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "wait.h"

namespace manycore::internal {

inline void futex_sleep(std::atomic<uint32_t>& word, uint32_t seen, Clock::duration limit) {
  auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
  if (nanoseconds <= 0) return;
#ifdef __linux__
  timespec relative{static_cast<time_t>(nanoseconds / 1000000000), static_cast<long>(nanoseconds % 1000000000)};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, &relative, nullptr, 0);
#else
  (void)word;
  (void)seen;
  std::this_thread::sleep_for(std::min(limit, Clock::duration(std::chrono::microseconds(50))));
#endif
}

inline void futex_wake(std::atomic<uint32_t>& word, int count) {
#ifdef __linux__
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
#else
  (void)word;
  (void)count;
#endif
}

// Retries `attempt` (a non-blocking acquire) until it succeeds, sleeping on `sequence`
// between tries. ok, kTimeout, or kInterrupted (Python error set, GIL held again).
template <typename Attempt>
Status park_on_sequence(std::atomic<uint32_t>& sequence, std::atomic<int>& waiters, Attempt attempt,
                        std::optional<Clock::time_point> deadline) {
  GilRelease released;
  waiters.fetch_add(1);
  auto slice_end = Clock::now() + kSignalSlice;
  Status outcome;
  while (true) {
    uint32_t seen = sequence.load();
    if (attempt()) break;
    auto now = Clock::now();
    if (deadline && now >= *deadline) {
      outcome = Status(StatusCode::kTimeout, "timed out");
      break;
    }
    if (now >= slice_end) {
      if (released.saved() != nullptr) {
        PyEval_RestoreThread(released.saved());
        int failed = run_pending_python_work(released.saved());
        PyThreadState* again = PyEval_SaveThread();
        (void)again;
        if (failed) {
          outcome = Status(StatusCode::kInterrupted, "interrupted");
          break;
        }
      }
      slice_end = Clock::now() + kSignalSlice;
      continue;
    }
    auto wake = slice_end;
    if (deadline && *deadline < wake) wake = *deadline;
    futex_sleep(sequence, seen, wake - now);
  }
  waiters.fetch_sub(1);
  return outcome;
}

// The releaser's side: call after changing the state.
inline void wake_sequence(std::atomic<uint32_t>& sequence, std::atomic<int>& waiters, int count) {
  sequence.fetch_add(1);
  if (waiters.load() > 0) futex_wake(sequence, count);
}

}  // namespace manycore::internal
