// src/module/errors.h: the one mapping from core Status codes to manycore's Python exceptions.
#pragma once

#include <Python.h>

#include "manycore/status.h"
#include "state.h"

namespace manycore::module {

// How to report a remote exception: re-raise the original exception type (with an
// ExecutionFailed carrying the remote traceback as __cause__) when it can be
// rebuilt, or always raise ExecutionFailed (what Interpreter.exec does).
enum class RemoteRaise { kOriginal, kExecutionFailed };

// Which object failed: the same code (kClosed, kEmpty, kNotFound) means a different
// exception for an interpreter, a queue and a channel.
enum class ErrorDomain { kInterpreter, kQueue, kChannel };

// Sets the Python exception for a non-ok status and returns nullptr.
PyObject* raise_status(ModuleState* state, const Status& status, RemoteRaise remote = RemoteRaise::kOriginal,
                       ErrorDomain domain = ErrorDomain::kInterpreter);
inline PyObject* raise_status(ModuleState* state, const Status& status, ErrorDomain domain) {
  return raise_status(state, status, RemoteRaise::kOriginal, domain);
}

// The exception object raise_status would raise, without raising it (new reference,
// or nullptr with an error set if even that failed).
PyObject* exception_for(ModuleState* state, const Status& status, RemoteRaise remote = RemoteRaise::kOriginal,
                        ErrorDomain domain = ErrorDomain::kInterpreter);

}  // namespace manycore::module
