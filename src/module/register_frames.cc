// src/module/register_frames.cc: current_frames(), sys._current_frames() limited to the calling interpreter.
//
// CPython's sys._current_frames() (3.12.1 and 3.13.0) walks the thread states of every
// interpreter and materializes a frame object for each running frame it finds, with the
// caller's allocator and without the other interpreters' GILs. A frame object made by
// the main interpreter for a frame of an own-GIL interpreter is later freed by that
// interpreter's allocator: the process aborts ("free(): invalid pointer"; reproduced by
// one thread calling sys._current_frames() in a loop while a manycore interpreter
// imports dask, tests/python/test_compat.py). Profilers call it all the time (the
// dask.distributed worker's event-loop profiler every 20 ms). manycore._compat installs
// this function as sys._current_frames in the main interpreter.
#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

// Only thread states of this interpreter, whose GIL the caller holds: their frames are
// this interpreter's objects. The list is walked without CPython's internal HEAD_LOCK
// (not in the C API); threads of this interpreter are removed from it under this GIL
// (a Python thread deletes its own thread state before releasing the GIL).
PyObject* current_frames(PyObject*, PyObject*) {
  PyRef frames = PyRef::steal(PyDict_New());
  if (!frames) return nullptr;
  PyInterpreterState* interpreter = PyThreadState_GetInterpreter(PyThreadState_Get());
  for (PyThreadState* thread = PyInterpreterState_ThreadHead(interpreter); thread != nullptr;
       thread = PyThreadState_Next(thread)) {
    PyRef frame = PyRef::steal(reinterpret_cast<PyObject*>(PyThreadState_GetFrame(thread)));
    if (!frame) {
      if (PyErr_Occurred()) return nullptr;
      continue;  // this thread runs no Python code now
    }
    PyRef ident = PyRef::steal(PyLong_FromUnsignedLong(thread->thread_id));
    if (!ident || PyDict_SetItem(frames.get(), ident.get(), frame.get()) < 0) return nullptr;
  }
  return frames.release();
}

PyMethodDef frames_functions[] = {
    {"current_frames", current_frames, METH_NOARGS,
     "current_frames() -> {thread id: frame}: sys._current_frames() for this interpreter's threads only."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_frames(PyObject* module, ModuleState*) { return PyModule_AddFunctions(module, frames_functions); }

}  // namespace manycore::module
