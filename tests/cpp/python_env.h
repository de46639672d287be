// tests/cpp/python_env.h: the embedded CPython every C++ test binary runs in, and helpers to reach it.
//
// Lifetime and threading rules:
// - python_env.cc's main() initializes CPython once per test binary (isolated config),
//   then releases the main GIL (PyEval_SaveThread) before RUN_ALL_TESTS: tests start on
//   the main thread with NO thread state attached, like any C++ thread of an embedding
//   program. After the tests it retakes the GIL, closes every interpreter still
//   registered and calls Py_FinalizeEx.
// - A test that wants the main GIL takes it with MainGil (main thread only: the saved
//   main thread state belongs to that thread). Helpers below that touch PyObjects say
//   which GIL they need.
#pragma once

#include <Python.h>

#include <memory>
#include <string>
#include <vector>

#include "manycore/interpreter.h"
#include "manycore/value.h"
#include "pyref.h"

namespace manycore::test {

using internal::PyRef;

// Holds the main interpreter's GIL for its lifetime (main thread only, not nested).
class MainGil {
 public:
  MainGil();
  ~MainGil();
  MainGil(const MainGil&) = delete;
  MainGil& operator=(const MainGil&) = delete;
};

// The main thread state saved by main() (for checks that it is the one attached).
PyThreadState* main_thread_state();

// Evaluates `expression` in a fresh namespace of the current interpreter (its GIL
// held). `setup` runs first in the same namespace (imports, definitions). Null with
// the Python error printed and cleared on failure, so a test can ASSERT on it.
PyRef eval(const std::string& expression, const std::string& setup = "");

// Runs `code` (statements) in a fresh namespace of the current interpreter (its GIL
// held) and leaves any Python error set, for tests of error handling.
PyRef run_raising(const std::string& code);

// True when a and b are equal and of exactly the same type (the current GIL held).
bool same_value_and_type(PyObject* a, PyObject* b);

// type(obj).__qualname__ (the current GIL held).
std::string type_name(PyObject* obj);

// The main interpreter's sys.path, for InterpreterConfig::sys_path (main GIL held).
std::vector<std::string> main_sys_path();

// Interpreter::create, failing the calling test (and returning nullptr) if it fails.
std::shared_ptr<Interpreter> create_or_fail(const InterpreterConfig& config = {});

// Result<Value> as text for assertion messages: the value's kind or the status.
std::string describe(const Result<Value>& result);

}  // namespace manycore::test
