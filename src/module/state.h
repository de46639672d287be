// src/module/state.h: ModuleState, the per-interpreter state of manycore._core, and the register_* entry points.
//
// One ModuleState exists per interpreter that imports manycore._core (multi-phase
// init; the exec slot runs once per interpreter). Every PyObject* here belongs to
// that interpreter and is only touched with its GIL held. Process-wide objects
// (interpreters, queues) are C++ and reached through small wrapper objects whose
// types live here.
#pragma once

#include <Python.h>

#include <memory>

#include "manycore/interpreter.h"
#include "manycore/value.h"

namespace manycore::module {

// The layout of every wrapper type around a process-wide Shareable (queue, channel
// end). The codec unwraps any instance of a type registered in
// ModuleState::shareable_types and wraps a received Shareable in the type registered
// under its type_name().
struct SharedWrapper {
  PyObject_HEAD
  std::shared_ptr<Shareable> object;  // constructed in place by new_shared_wrapper
};

struct ModuleState {
  // Exception classes, defined in manycore/_errors.py so Python code can subclass
  // and document them; raised only through errors.cc.
  PyObject* InterpreterError = nullptr;
  PyObject* InterpreterNotFoundError = nullptr;
  PyObject* ExecutionFailed = nullptr;
  PyObject* NotShareableError = nullptr;
  PyObject* QueueError = nullptr;
  PyObject* QueueEmpty = nullptr;
  PyObject* QueueFull = nullptr;
  PyObject* QueueClosed = nullptr;
  PyObject* ChannelError = nullptr;
  PyObject* ChannelClosedError = nullptr;
  PyObject* ChannelEmptyError = nullptr;
  // Heap types.
  PyObject* PendingCallType = nullptr;
  PyObject* QueueType = nullptr;        // manycore._core.Queue, the base of manycore.Queue
  PyObject* QueueWatchType = nullptr;
  PyObject* RecvChannelType = nullptr;  // manycore._core.RecvChannel
  PyObject* SendChannelType = nullptr;  // manycore._core.SendChannel
  PyObject* WorkerPoolType = nullptr;   // manycore._core.WorkerPool
  PyObject* TaskResultsType = nullptr;  // manycore._core.TaskResults
  // {Shareable::type_name(): wrapper type}, each type laid out as SharedWrapper.
  PyObject* shareable_types = nullptr;
};

ModuleState* get_state(PyObject* module);
// The state of manycore._core in the current interpreter, or nullptr with an error.
ModuleState* current_state();

// Registers `type` (laid out as SharedWrapper, its tp_dealloc calling
// destroy_shared_wrapper) as the wrapper for Shareables named `type_name`.
int add_shareable_type(ModuleState* state, const char* type_name, PyObject* type);
// New instance of `type` owning `object`; nullptr with an error set on failure.
PyObject* new_shared_wrapper(PyTypeObject* type, std::shared_ptr<Shareable> object);
// For tp_dealloc of wrapper types.
void destroy_shared_wrapper(PyObject* self);

// How every manycore interpreter is made: the caller's sys.path, manycore._worker first
// (defined in register_interpreter.cc; worker pools use it too).
Result<InterpreterConfig> worker_interpreter_config();

int install_hooks(ModuleState* state);
int register_interpreter(PyObject* module, ModuleState* state);
int register_pool(PyObject* module, ModuleState* state);
int register_value(PyObject* module, ModuleState* state);
int register_queue(PyObject* module, ModuleState* state);
int register_channel(PyObject* module, ModuleState* state);
int register_frames(PyObject* module, ModuleState* state);

}  // namespace manycore::module
