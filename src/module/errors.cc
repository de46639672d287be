// src/module/errors.cc: the one mapping from core Status codes to manycore's Python exceptions.
#include "errors.h"

#include "manycore/value.h"
#include "pyref.h"

namespace manycore::module {

using internal::PyRef;

namespace {

PyObject* execution_failed(ModuleState* state, const RemoteError& remote) {
  return PyObject_CallMethod(state->ExecutionFailed, "_from_remote", "ssss", remote.type_module.c_str(),
                             remote.type_qualname.c_str(), remote.message.c_str(), remote.traceback.c_str());
}

// The original exception rebuilt from its pickle, with `cause` as __cause__, or
// nullptr (no error set) when it cannot be rebuilt here.
PyObject* rebuild_original(const RemoteError& remote, PyObject* cause) {
  if (!remote.pickled) return nullptr;
  PyRef original = PyRef::steal(decode(Value::Pickled(*remote.pickled)));
  if (!original || !PyExceptionInstance_Check(original.get())) {
    PyErr_Clear();
    return nullptr;
  }
  PyException_SetCause(original.get(), Py_NewRef(cause));
  return original.release();
}

// `slot` (an exception class of manycore._errors that is made on first use, so that
// importing manycore does not import `queue`), loaded into module state when first
// needed; borrowed, or nullptr with an error set.
PyObject* lazy_error_type(PyObject*& slot, const char* name) {
  if (slot != nullptr) return slot;
  PyRef errors = internal::import_module("manycore._errors");
  if (!errors) return nullptr;
  slot = PyObject_GetAttrString(errors.get(), name);
  return slot;
}

// Borrowed, or nullptr with an error set.
PyObject* type_for(ModuleState* state, StatusCode code, ErrorDomain domain) {
  switch (code) {
    case StatusCode::kInvalidArgument: return PyExc_ValueError;
    case StatusCode::kNotShareable: return state->NotShareableError;
    case StatusCode::kNotFound:
      if (domain == ErrorDomain::kQueue) return state->QueueNotFoundError;
      if (domain == ErrorDomain::kChannel) return state->ChannelError;
      return state->InterpreterNotFoundError;
    case StatusCode::kInterpreterError:
    case StatusCode::kCreateFailed: return state->InterpreterError;
    case StatusCode::kTimeout: return PyExc_TimeoutError;
    case StatusCode::kClosed:
      if (domain == ErrorDomain::kQueue) return lazy_error_type(state->QueueClosed, "QueueClosed");
      if (domain == ErrorDomain::kChannel) return state->ChannelClosedError;
      return state->InterpreterError;
    case StatusCode::kEmpty:
      if (domain == ErrorDomain::kChannel) return state->ChannelEmptyError;
      return lazy_error_type(state->QueueEmpty, "QueueEmpty");
    case StatusCode::kFull: return lazy_error_type(state->QueueFull, "QueueFull");
    case StatusCode::kNotOwner: return PyExc_RuntimeError;
    case StatusCode::kBusy: return PyExc_BufferError;
    default: return PyExc_SystemError;
  }
}

// Pool failures use classes rooted in concurrent.futures. They are looked up when
// raised (not loaded into ModuleState at import) so that a worker interpreter does not
// import concurrent.futures just by importing manycore.
PyObject* pool_exception(const Status& status) {
  bool broken = status.code() == StatusCode::kBroken;
  PyRef owner = internal::import_module(broken ? "manycore._errors" : "concurrent.futures");
  if (!owner) return nullptr;
  PyRef type = PyRef::steal(PyObject_GetAttrString(owner.get(), broken ? "BrokenInterpreterPool" : "CancelledError"));
  if (!type) return nullptr;
  return PyObject_CallFunction(type.get(), "s", status.message().c_str());
}

// threading.BrokenBarrierError, looked up when raised (threading is imported anyway by
// most programs, but a worker need not import it just to import manycore).
PyObject* broken_barrier_exception(const Status& status) {
  PyRef threading = internal::import_module("threading");
  if (!threading) return nullptr;
  PyRef type = PyRef::steal(PyObject_GetAttrString(threading.get(), "BrokenBarrierError"));
  if (!type) return nullptr;
  return PyObject_CallFunction(type.get(), "s", status.message().c_str());
}

}  // namespace

PyObject* exception_for(ModuleState* state, const Status& status, RemoteRaise remote, ErrorDomain domain) {
  if (status.code() == StatusCode::kRemoteException && status.remote()) {
    PyRef failed = PyRef::steal(execution_failed(state, *status.remote()));
    if (!failed) return nullptr;
    if (remote == RemoteRaise::kOriginal) {
      if (PyObject* original = rebuild_original(*status.remote(), failed.get())) return original;
    }
    return failed.release();
  }
  if (status.code() == StatusCode::kBroken || status.code() == StatusCode::kCancelled) return pool_exception(status);
  if (status.code() == StatusCode::kBrokenBarrier) return broken_barrier_exception(status);
  PyObject* type = type_for(state, status.code(), domain);
  if (type == nullptr) return nullptr;
  return PyObject_CallFunction(type, "s", status.message().c_str());
}

PyObject* raise_status(ModuleState* state, const Status& status, RemoteRaise remote, ErrorDomain domain) {
  if (status.code() == StatusCode::kInterrupted && PyErr_Occurred()) return nullptr;  // the handler's error
  PyObject* exception = exception_for(state, status, remote, domain);
  if (exception != nullptr) PyErr_SetRaisedException(exception);
  return nullptr;
}

}  // namespace manycore::module
