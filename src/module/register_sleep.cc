// src/module/register_sleep.cc: manycore._core.sleep, the time.sleep of worker interpreters, which an interrupt cuts short.
//
// Why it exists (measured on 3.12.1 and 3.13.0, docs/reliability.md): an asynchronous
// exception (Interpreter::interrupt, Pool.terminate) fires only when bytecode runs.
// time.sleep, Event.wait, Lock.acquire, select and os.read in a non-main thread never
// return early: on EINTR they retry after PyErr_CheckSignals, which handles nothing
// outside the main thread of the main interpreter, so even pthread_kill does not help.
// manycore._worker therefore replaces time.sleep in every manycore interpreter by this
// function: the same argument rules, but the wait is a manycore wait (wait.h), whose
// 50 ms slices let a pending interrupt fire. Any thread of any interpreter may call it.
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "state.h"
#include "wait.h"

namespace manycore::module {

namespace {

// Longest sleep time.sleep accepts (its PyTime_t counts nanoseconds in an int64).
constexpr double kMaxSleepSeconds = 9223372036.0;
#if PY_VERSION_HEX >= 0x030D0000
constexpr const char* kTooLarge = "timestamp too large to convert to C PyTime_t";
#else
constexpr const char* kTooLarge = "timestamp too large to convert to C _PyTime_t";
#endif

// sleep(seconds): time.sleep's checks and messages, then a wait that interrupts reach.
PyObject* sleep(PyObject*, PyObject* arg) {
  double seconds;
  if (PyFloat_Check(arg)) {
    seconds = PyFloat_AS_DOUBLE(arg);
    if (std::isnan(seconds)) return PyErr_Format(PyExc_ValueError, "Invalid value NaN (not a number)");
    if (std::fabs(seconds) > kMaxSleepSeconds) {
      return PyErr_Format(PyExc_OverflowError, "timestamp out of range for platform time_t");
    }
  } else {
    // As time.sleep: anything else must be an integer (__index__), not just float-like.
    PyObject* integer = PyNumber_Index(arg);
    if (integer == nullptr) return nullptr;
    seconds = PyLong_AsDouble(integer);
    Py_DECREF(integer);
    if (seconds == -1.0 && PyErr_Occurred()) return nullptr;
    if (std::fabs(seconds) > kMaxSleepSeconds) return PyErr_Format(PyExc_OverflowError, "%s", kTooLarge);
  }
  if (seconds < 0) return PyErr_Format(PyExc_ValueError, "sleep length must be non-negative");
  if (seconds == 0) {
    internal::GilRelease released;  // sleep(0) gives the GIL and the core away once
    std::this_thread::yield();
    Py_RETURN_NONE;
  }
  std::mutex mutex;
  std::condition_variable never_notified;
  Status slept = internal::wait_released(
      mutex, never_notified, [] { return false; }, internal::deadline_after(seconds), /*spin=*/false);
  if (slept.code() == StatusCode::kInterrupted) return nullptr;  // the interrupt (or a signal handler) raised
  Py_RETURN_NONE;
}

PyMethodDef sleep_functions[] = {
    {"sleep", sleep, METH_O,
     "sleep(seconds): time.sleep that Interpreter.interrupt() and Pool.terminate() cut short (within 50 ms); "
     "manycore interpreters use it as time.sleep."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_sleep(PyObject* module, ModuleState*) { return PyModule_AddFunctions(module, sleep_functions); }

}  // namespace manycore::module
