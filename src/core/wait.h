// src/core/wait.h: blocking waits that release the caller's GIL, spin briefly, then park.
//
// Rules every wait in manycore follows (DESIGN.md section 1):
// - The caller's GIL is released for the whole wait (CPython 3.13 deadlocks if the
//   main GIL is held while a worker starts or imports).
// - A short bounded spin (GIL released, yielding the core each turn) comes before
//   parking: waking a parked thread on another core costs 20-25 us each way on the
//   target machines.
// - Parked waits wake every kSignalSlice to run signal handlers with the GIL retaken,
//   so Ctrl-C interrupts a waiting main thread, and, in a worker interpreter, so that
//   Interpreter::interrupt reaches a call blocked here. The mutex is never held while
//   a GIL is being taken (that order would deadlock against a GIL holder wanting the
//   mutex).
#pragma once

#include <Python.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "manycore/status.h"

namespace manycore::internal {

using Clock = std::chrono::steady_clock;
inline constexpr auto kSignalSlice = std::chrono::milliseconds(50);
inline constexpr auto kSpinFor = std::chrono::microseconds(40);

// The thread state attached to the calling thread, or nullptr (never aborts).
inline PyThreadState* attached_thread_state() {
#if PY_VERSION_HEX >= 0x030D0000
  return PyThreadState_GetUnchecked();
#else
  return _PyThreadState_UncheckedGet();
#endif
}

// True while CPython finalizes on another thread than the one that ran the exit hook
// (runtime::begin_exit): a daemon thread. Retaking a GIL then ends the thread by
// pthread_exit (3.12, 3.13), unwinding frames that may own PyObjects with no GIL
// held, or waits on a GIL that finalization destroys. Defined in runtime.cc.
bool finalizing_elsewhere();
// What such a thread does instead, as CPython 3.14 does for daemon threads: it parks
// for good, touching nothing, until the process exits.
[[noreturn]] void park_forever();

// Releases the calling thread's GIL (if it holds one) for its lifetime.
class GilRelease {
 public:
  GilRelease() : saved_(attached_thread_state() ? PyEval_SaveThread() : nullptr) {}
  // noexcept(false): while CPython finalizes, retaking the main GIL on any other
  // thread (a daemon thread) ends that thread with pthread_exit, whose forced unwind
  // must be let through: a noexcept destructor would turn it into std::terminate.
  ~GilRelease() noexcept(false) { reacquire(); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;
  PyThreadState* saved() const { return saved_; }
  // While released: takes the GIL back for run_pending_python_work (below), then
  // releases it again. False when that raised: the Python error stays set, and the
  // destructor retakes the GIL for the caller to see it. True when no GIL was held.
  bool run_pending_work();
  void reacquire() {
    if (saved_ != nullptr) {
      if (finalizing_elsewhere()) park_forever();
      PyEval_RestoreThread(saved_);
      saved_ = nullptr;
    }
  }

 private:
  PyThreadState* saved_;
};

// Runs what a parked thread owes its interpreter every kSignalSlice, GIL held: signal
// handlers (main thread of the main interpreter only), and in a subinterpreter the
// asynchronous exception that Interpreter::interrupt may have raised for this thread.
// Such an exception fires only when bytecode runs, so one no-op expression is
// evaluated: without it a call blocked in a manycore wait (a queue get, say) could
// never be interrupted. -1 with the Python error set when either raised.
inline int run_pending_python_work(PyThreadState* tstate) {
  if (PyErr_CheckSignals() < 0) return -1;
  if (PyThreadState_GetInterpreter(tstate) == PyInterpreterState_Main()) return 0;
  // Compile and evaluate, not PyRun_String: that one clears CPython's process-wide
  // "unhandled KeyboardInterrupt" flag, so a Ctrl-C that ends the main script would
  // no longer end the process by SIGINT (exit status 1 instead of 130).
  PyObject* code = Py_CompileString("None", "<manycore wait>", Py_eval_input);
  if (code == nullptr) return -1;
  PyObject* names = PyDict_New();
  if (names == nullptr) {
    Py_DECREF(code);
    return -1;
  }
  PyObject* none = PyEval_EvalCode(code, names, names);
  Py_DECREF(names);
  Py_DECREF(code);
  if (none == nullptr) return -1;
  Py_DECREF(none);
  return 0;
}

inline bool GilRelease::run_pending_work() {
  if (saved_ == nullptr) return true;
  if (finalizing_elsewhere()) park_forever();
  PyEval_RestoreThread(saved_);
  int failed = run_pending_python_work(saved_);
  saved_ = PyEval_SaveThread();
  return failed == 0;
}

inline std::optional<Clock::time_point> deadline_after(std::optional<double> timeout_seconds) {
  if (!timeout_seconds) return std::nullopt;
  double seconds = *timeout_seconds < 0 ? 0 : *timeout_seconds;
  if (seconds > 1e9) return std::nullopt;  // effectively forever; avoids overflow
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Waits until ready() is true. `ready` is evaluated with `mutex` held (and once,
// unlocked, while spinning, so it must be safe to call racily, e.g. an atomic load).
// Returns ok, kTimeout, or kInterrupted (the Python error set, GIL held again).
template <typename Ready>
Status wait_released(std::mutex& mutex, std::condition_variable& cv, Ready ready,
                     std::optional<Clock::time_point> deadline, bool spin = true) {
  if (ready()) return Status::Ok();
  GilRelease released;
  if (spin) {
    auto spin_end = Clock::now() + kSpinFor;
    if (deadline && *deadline < spin_end) spin_end = *deadline;  // timeout=0.00001 means it
    while (Clock::now() < spin_end) {
      if (ready()) return Status::Ok();
      // Yield, not just pause: on a busy 2-core machine the thread we wait for is often
      // runnable on this very core, and a pure spin keeps it off for the whole spin
      // (measured: queue round trip 88 us with pause, 1.6 us with yield; docs/queues.md).
      std::this_thread::yield();
    }
  }
  std::unique_lock lock(mutex);
  while (!ready()) {
    auto now = Clock::now();
    if (deadline && now >= *deadline) return Status(StatusCode::kTimeout, "timed out");
    auto wake = now + kSignalSlice;
    if (deadline && *deadline < wake) wake = *deadline;
    cv.wait_until(lock, wake);
    if (ready()) break;
    if (released.saved() != nullptr && Clock::now() >= wake) {
      lock.unlock();  // never take a GIL while holding the mutex
      if (!released.run_pending_work()) return Status(StatusCode::kInterrupted, "interrupted");
      lock.lock();
    }
  }
  return Status::Ok();
}

}  // namespace manycore::internal
