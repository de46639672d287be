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

// Sets the Python exception for a non-ok status and returns nullptr.
PyObject* raise_status(ModuleState* state, const Status& status, RemoteRaise remote = RemoteRaise::kOriginal);

// The exception object raise_status would raise, without raising it (new reference,
// or nullptr with an error set if even that failed).
PyObject* exception_for(ModuleState* state, const Status& status, RemoteRaise remote = RemoteRaise::kOriginal);

}  // namespace manycore::module
