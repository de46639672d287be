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
//
// A type that supports weak references (its spec lists SHARED_WRAPPER_WEAKREF_MEMBER)
// gets one wrapper per Shareable in each interpreter: receiving a queue that this
// interpreter already holds, or Queue(id), gives back the same object (PEP 734).
struct SharedWrapper {
  PyObject_HEAD
  std::shared_ptr<Shareable> object;  // constructed in place by new_shared_wrapper
  PyObject* weakreflist;              // zeroed by tp_alloc; used when the type sets __weaklistoffset__
};

// The Py_tp_members entry that makes a SharedWrapper type weak-referenceable (unique per interpreter).
#define SHARED_WRAPPER_WEAKREF_MEMBER \
  {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(SharedWrapper, weakreflist), Py_READONLY, nullptr}

struct ModuleState {
  // Exception classes, defined in manycore/_errors.py so Python code can subclass
  // and document them; raised only through errors.cc.
  PyObject* InterpreterError = nullptr;
  PyObject* InterpreterNotFoundError = nullptr;
  PyObject* ExecutionFailed = nullptr;
  PyObject* NotShareableError = nullptr;
  PyObject* QueueError = nullptr;
  PyObject* QueueNotFoundError = nullptr;
  // Loaded when first raised (errors.cc): they derive from classes of the `queue`
  // module, which a worker interpreter does not import to start.
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
  PyObject* SharedBufferType = nullptr;  // manycore.SharedBuffer (register_shared.cc)
  PyObject* LockType = nullptr;          // manycore._core.Lock and the other primitives (register_sync.cc)
  PyObject* RLockType = nullptr;
  PyObject* ConditionType = nullptr;
  PyObject* EventType = nullptr;
  PyObject* SemaphoreType = nullptr;
  PyObject* BoundedSemaphoreType = nullptr;
  PyObject* BarrierType = nullptr;
  PyObject* AtomicIntType = nullptr;
  PyObject* SharedValueType = nullptr;   // manycore._core.SharedValue / SharedArray (register_sharedctypes.cc)
  PyObject* SharedArrayType = nullptr;
  PyObject* SharedDictType = nullptr;    // manycore._core.SharedDict (register_shared_dict.cc)
  // {Shareable::type_name(): wrapper type}, each type laid out as SharedWrapper.
  PyObject* shareable_types = nullptr;
  // {address of a Shareable: weakref to its wrapper here}, for weak-referenceable
  // wrapper types (unique wrappers). Dead entries are pruned as it grows.
  PyObject* wrappers = nullptr;
  Py_ssize_t wrappers_after_prune = 0;  // size of `wrappers` after its last prune
};

ModuleState* get_state(PyObject* module);
// The state of manycore._core in the current interpreter, or nullptr with an error.
ModuleState* current_state();
// The state of the module that defined `type` (or the C type it derives from), or
// nullptr with an error: cheaper than current_state() on hot paths.
ModuleState* state_of_type(PyTypeObject* type);

// Registers `type` (laid out as SharedWrapper, its tp_dealloc calling
// destroy_shared_wrapper) as the wrapper for Shareables named `type_name`.
int add_shareable_type(ModuleState* state, const char* type_name, PyObject* type);
// The wrapper of `object` in this interpreter: the existing one when `type` is
// weak-referenceable and a live wrapper of exactly `type` exists, else a new instance
// of `type` owning `object` (remembered for next time). nullptr with an error set on failure.
PyObject* new_shared_wrapper(PyTypeObject* type, std::shared_ptr<Shareable> object);
// New instance of the class registered for object->type_name() (e.g. manycore.RLock),
// owning object, in the interpreter of `wrapper` (any manycore wrapper object, whose
// type leads to the module state); nullptr with an error set. In register_shared.cc.
PyObject* wrap_registered(PyObject* wrapper, const std::shared_ptr<Shareable>& object);
// The wrapper type of Shareables named `type_name` in this interpreter (borrowed): the
// public Python class once its module registered it (loaded here on first need), else
// the registered C type; nullptr with an error if none is registered.
PyObject* wrapper_type_for(ModuleState* state, const char* type_name);
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
int register_shared(PyObject* module, ModuleState* state);
int register_sync(PyObject* module, ModuleState* state);
int register_sharedctypes(PyObject* module, ModuleState* state);
int register_shared_dict(PyObject* module, ModuleState* state);
int register_sleep(PyObject* module, ModuleState* state);
int register_frames(PyObject* module, ModuleState* state);
int register_arena_cache(PyObject* module, ModuleState* state);

}  // namespace manycore::module
