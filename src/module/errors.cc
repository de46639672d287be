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

PyObject* type_for(ModuleState* state, StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return PyExc_ValueError;
    case StatusCode::kNotShareable: return state->NotShareableError;
    case StatusCode::kNotFound: return state->InterpreterNotFoundError;
    case StatusCode::kInterpreterError:
    case StatusCode::kCreateFailed: return state->InterpreterError;
    case StatusCode::kTimeout: return PyExc_TimeoutError;
    default: return PyExc_SystemError;
  }
}

}  // namespace

PyObject* exception_for(ModuleState* state, const Status& status, RemoteRaise remote) {
  if (status.code() == StatusCode::kRemoteException && status.remote()) {
    PyRef failed = PyRef::steal(execution_failed(state, *status.remote()));
    if (!failed) return nullptr;
    if (remote == RemoteRaise::kOriginal) {
      if (PyObject* original = rebuild_original(*status.remote(), failed.get())) return original;
    }
    return failed.release();
  }
  return PyObject_CallFunction(type_for(state, status.code()), "s", status.message().c_str());
}

PyObject* raise_status(ModuleState* state, const Status& status, RemoteRaise remote) {
  if (status.code() == StatusCode::kInterrupted && PyErr_Occurred()) return nullptr;  // the handler's error
  PyObject* exception = exception_for(state, status, remote);
  if (exception != nullptr) PyErr_SetRaisedException(exception);
  return nullptr;
}

}  // namespace manycore::module
