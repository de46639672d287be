// src/core/call.h: calling a decoded callable in a worker interpreter as if from its __main__ module.
//
// A worker calls user callables from C, where no Python frame is running. Most
// callables do not care, but the builtins that read their caller's frame (eval, exec,
// globals, locals, vars and dir without arguments) fail there with "SystemError: frame
// does not exist". For those, call_callable runs the call from a one-line frame whose
// globals and locals are the interpreter's __main__ namespace, so `call(eval, "x")`
// and `call(exec, "y = 1")` mean what `Interpreter.exec` means: __main__'s names.
//
// Threading: the caller holds the GIL of the interpreter that owns every argument.
#pragma once

#include <Python.h>

namespace manycore::internal {

// True if `function` is one of the builtins above and no Python frame is running.
bool needs_main_frame(PyObject* function);

// function(*positional, **keywords) (keywords may be null): a new reference, or null
// with a Python error set.
PyObject* call_callable(PyObject* function, PyObject* positional, PyObject* keywords);

}  // namespace manycore::internal
