// src/core/futex_wait.h: the wait of Lock, RLock and Semaphore: a bounded adaptive spin, then a futex on a release counter.
//
// The shape is abseil Mutex's and glibc's adaptive mutex's: a waiter first spins a
// little (a CPU pause each turn, reading the lock word and trying only when it looks
// free), because handing a lock between two running cores takes well under a
// microsecond while parking and waking a thread costs 20-25 us per direction on the
// target machines (DESIGN.md section 4). Only then does it park. A spin needs a second
// CPU to help (the holder must be running to release), so with one usable CPU it
// never spins.
//
// Why a futex and not wait.h's condition variable: measured under load (bench shared,
// load ~10 on 2 cores), a parked lock ping-pong through mutex+condvar took ~22 us per
// round trip against ~5-7 us for multiprocessing.Lock (a POSIX semaphore, i.e. a
// futex): the woken thread first has to take the condvar's mutex, which the waker
// often still holds. Here the waiter sleeps on the primitive's release counter itself
// and the releaser wakes it with one system call.
//
// Protocol (no lost wake-up): a waiter about to sleep raises `parked` (seq_cst), reads
// `sequence` (seq_cst), retries its attempt, then sleeps only while `sequence` is
// unchanged. The releaser changes the state, increments `sequence` (seq_cst), then
// wakes only if `parked` > 0. If it reads 0, its increment came before the waiter's
// raise, so the waiter read the incremented `sequence`, which orders the release
// before the waiter's retry: the retry sees it. Spinners do not count in `parked`, so
// a release that a spinner picks up costs no system call. (Skipping the increment too
// when nobody is parked would need a seq_cst fence in the waiter, which
// ThreadSanitizer cannot check.)
//
// The caller (sync.cc's acquire_slow) spins first with its GIL held, then releases the
// GIL for a second spin and for the park. Like wait.h, a parked waiter wakes every
// kSignalSlice to run signal handlers and pending asynchronous exceptions
// (kInterrupted, the Python error set). Elsewhere than Linux it sleeps in short
// slices instead of on a futex.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <thread>

#ifdef __linux__
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#endif

#include "wait.h"

namespace manycore::internal {

// CPUs this process may run on (its affinity mask on Linux), at least 1.
inline unsigned usable_cpus() {
  unsigned cpus = std::thread::hardware_concurrency();
#ifdef __linux__
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) {
    unsigned allowed = static_cast<unsigned>(CPU_COUNT(&mask));
    if (allowed != 0 && (cpus == 0 || allowed < cpus)) cpus = allowed;
  }
#endif
  return cpus == 0 ? 1 : cpus;
}

// Whether spinning can ever win: with one CPU the holder cannot run while we spin.
// Read once (a process whose affinity shrinks later only spins in vain, boundedly).
inline bool spinning_can_win() {
  static const bool more_than_one = usable_cpus() > 1;
  return more_than_one;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The CPU the calling thread runs on, or -1 when unknown. glibc (2.35+) keeps it in
// the thread's rseq area, which a load reads (0.3 ns measured; sched_getcpu() took
// 3.3 ns, which on the lock's fast path showed).
inline int current_cpu() {
#if defined(__linux__) && __has_include(<sys/rseq.h>) && __has_builtin(__builtin_thread_pointer)
  if (__rseq_size != 0) {
    auto* area = reinterpret_cast<const volatile struct rseq*>(static_cast<const char*>(__builtin_thread_pointer()) +
                                                                __rseq_offset);
    return static_cast<int>(area->cpu_id);  // RSEQ_CPU_ID_UNINITIALIZED is -1
  }
#endif
#ifdef __linux__
  return sched_getcpu();
#else
  return -1;
#endif
}

// A cheap tag of the calling thread, unique among live threads (its TLS block): a
// hint only, so that a tag reused after a thread's exit is harmless.
inline uintptr_t current_thread_tag() {
#if __has_builtin(__builtin_thread_pointer)
  return reinterpret_cast<uintptr_t>(__builtin_thread_pointer());
#else
  return reinterpret_cast<uintptr_t>(pthread_self());
#endif
}

// How long a hand-off between two threads spins with the GIL still held before it
// releases the GIL (wait.h then spins on, yielding, and parks): a small call's
// round trip is a few microseconds of work on each side, and releasing and retaking
// a GIL on both sides costs about as much as the wait itself.
inline constexpr auto kHeldSpinFor = std::chrono::microseconds(5);

// Spins, a CPU pause each turn and the caller's GIL kept, until ready() (true), or
// `budget` has passed, or peer_cpu(), the CPU where the thread that will make it ready
// last ran (-1: unknown), is this thread's: that thread cannot run while this one
// spins (false). With one usable CPU it only checks ready() once.
template <typename Ready, typename PeerCpu>
bool spin_until_ready(Clock::duration budget, Ready ready, PeerCpu peer_cpu) {
  if (ready()) return true;
  if (!spinning_can_win()) return false;
  auto end = Clock::now() + budget;
  for (unsigned turn = 1;; ++turn) {
    cpu_relax();
    if (ready()) return true;
    if (turn % 8 == 0) {
      int peer = peer_cpu();
      if ((peer >= 0 && peer == current_cpu()) || Clock::now() >= end) return false;
    }
  }
}

enum class SpinOutcome { kWon, kLost, kHolderHere };

// Spins until attempt() wins (kWon) or `budget` (cut at `deadline`) has passed
// (kLost). looks_free() is a relaxed read of the lock word: the spinner writes the
// shared cache line (attempt's CAS) only when the lock looks free, so it does not slow
// the holder down. holder_cpu() is where the thread that will release probably runs
// (-1: unknown): when that is this thread's CPU, it can only run once this thread
// stops, so the spin ends at once (kHolderHere).
template <typename LooksFree, typename Attempt, typename HolderCpu>
SpinOutcome spin_for(Clock::duration budget, std::optional<Clock::time_point> deadline, LooksFree looks_free,
                     Attempt attempt, HolderCpu holder_cpu) {
  auto end = Clock::now() + budget;
  if (deadline && *deadline < end) end = *deadline;
  for (unsigned turn = 0;; ++turn) {
    if (looks_free()) {
      if (attempt()) return SpinOutcome::kWon;
    } else if (turn % 16 == 0) {
      int holder = holder_cpu();
      if (holder >= 0 && holder == current_cpu()) return SpinOutcome::kHolderHere;
      if (turn != 0 && Clock::now() >= end) return SpinOutcome::kLost;
    }
    cpu_relax();
  }
}

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
// between tries. The caller has released its GIL into `released` (the signal slices
// retake it briefly). ok, kTimeout, or kInterrupted (Python error set; the GIL is
// retaken when `released` ends).
template <typename Attempt>
Status park_on_sequence(std::atomic<uint32_t>& sequence, std::atomic<int>& parked, Attempt attempt,
                        std::optional<Clock::time_point> deadline, GilRelease& released) {
  parked.fetch_add(1);
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
      if (!released.run_pending_work()) {
        outcome = Status(StatusCode::kInterrupted, "interrupted");
        break;
      }
      slice_end = Clock::now() + kSignalSlice;
      continue;
    }
    auto wake = slice_end;
    if (deadline && *deadline < wake) wake = *deadline;
    futex_sleep(sequence, seen, wake - now);
  }
  parked.fetch_sub(1);
  return outcome;
}

// The releaser's side: call after changing the state. Whether it made the wake-up
// system call (only when a waiter is parked: spinners see the change themselves).
inline bool wake_sequence(std::atomic<uint32_t>& sequence, std::atomic<int>& parked, int count) {
  sequence.fetch_add(1);
  if (parked.load() == 0) return false;
  futex_wake(sequence, count);
  return true;
}

}  // namespace manycore::internal
