// src/module/errors.h: the one mapping from core Status codes to manycore's Python exceptions.
#pragma once

#include <Python.h>

#include <exception>
#include <new>

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

// Runs a binding function's body and turns a C++ exception escaping it (std::bad_alloc
// when the address space is exhausted, say) into MemoryError or SystemError: none may
// unwind into CPython's C frames. Not noexcept, and it catches only std::exception, so
// the forced unwind of pthread_exit (a daemon thread at finalization) passes through.
template <typename Body>
PyObject* without_cpp_exceptions(Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return PyErr_NoMemory();
  } catch (const std::exception& error) {
    return PyErr_Format(PyExc_SystemError, "manycore: unexpected C++ exception: %s", error.what());
  }
}

}  // namespace manycore::module
