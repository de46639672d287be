// tests/cpp/python_env.cc: main() of every C++ test binary: CPython up once, main GIL released, tests, finalize.
#include "python_env.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "manycore/runtime.h"

namespace manycore::test {
namespace {

// Written once by main() before any test runs and read only on the main thread.
PyThreadState* g_main_thread_state = nullptr;

Status initialize_python() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Objects come from malloc instead of pymalloc's arenas, so the sanitizer sees every
  // PyObject allocation and free: a use after the last Py_DECREF is reported, not
  // hidden inside an arena that pymalloc keeps mapped.
  PyPreConfig preconfig;
  PyPreConfig_InitIsolatedConfig(&preconfig);
  preconfig.allocator = PYMEM_ALLOCATOR_MALLOC;
  PyStatus preinitialized = Py_PreInitialize(&preconfig);
  if (PyStatus_Exception(preinitialized)) {
    return Status(StatusCode::kInternal, preinitialized.err_msg != nullptr ? preinitialized.err_msg : "Py_PreInitialize failed");
  }
#endif
  PyConfig config;
  // Isolated: PYTHONPATH, PYTHONHOME and the user site do not change what is tested.
  PyConfig_InitIsolatedConfig(&config);
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    return Status(StatusCode::kInternal, status.err_msg != nullptr ? status.err_msg : "Py_InitializeFromConfig failed");
  }
  return Status::Ok();
}

}  // namespace

PyThreadState* main_thread_state() { return g_main_thread_state; }

MainGil::MainGil() { PyEval_RestoreThread(g_main_thread_state); }
MainGil::~MainGil() { g_main_thread_state = PyEval_SaveThread(); }

namespace {

PyRef fresh_namespace() {
  PyRef globals = PyRef::steal(PyDict_New());
  if (!globals || PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) < 0) return PyRef();
  return globals;
}

}  // namespace

PyRef run_raising(const std::string& code) {
  PyRef globals = fresh_namespace();
  if (!globals) return PyRef();
  return PyRef::steal(PyRun_String(code.c_str(), Py_file_input, globals.get(), globals.get()));
}

PyRef eval(const std::string& expression, const std::string& setup) {
  PyRef globals = fresh_namespace();
  PyRef done = globals && !setup.empty()
                   ? PyRef::steal(PyRun_String(setup.c_str(), Py_file_input, globals.get(), globals.get()))
                   : PyRef::borrow(globals.get());
  PyRef result = done ? PyRef::steal(PyRun_String(expression.c_str(), Py_eval_input, globals.get(), globals.get()))
                      : PyRef();
  if (!result) PyErr_Print();
  return result;
}

bool same_value_and_type(PyObject* a, PyObject* b) {
  if (Py_TYPE(a) != Py_TYPE(b)) return false;
  int equal = PyObject_RichCompareBool(a, b, Py_EQ);
  if (equal < 0) {
    PyErr_Print();
    return false;
  }
  return equal == 1;
}

std::string type_name(PyObject* obj) {
  PyRef name = PyRef::steal(PyType_GetQualName(Py_TYPE(obj)));
  const char* utf8 = name ? PyUnicode_AsUTF8(name.get()) : nullptr;
  if (utf8 == nullptr) {
    PyErr_Clear();
    return "<unnamed type>";
  }
  return utf8;
}

std::vector<std::string> main_sys_path() {
  std::vector<std::string> entries;
  PyObject* path = PySys_GetObject("path");  // borrowed
  if (path == nullptr || !PyList_Check(path)) return entries;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(path); ++i) {
    const char* entry = PyUnicode_AsUTF8(PyList_GET_ITEM(path, i));
    if (entry == nullptr) {
      PyErr_Clear();
      continue;
    }
    entries.emplace_back(entry);
  }
  return entries;
}

std::shared_ptr<Interpreter> create_or_fail(const InterpreterConfig& config) {
  Result<std::shared_ptr<Interpreter>> created = Interpreter::create(config);
  if (!created.ok()) {
    ADD_FAILURE() << "Interpreter::create failed: " << created.status().message();
    return nullptr;
  }
  return created.take_value();
}

std::string describe(const Result<Value>& result) {
  if (result.ok()) return "ok, kind " + std::to_string(static_cast<int>(result.value().kind()));
  return "status " + std::to_string(static_cast<int>(result.status().code())) + ": " + result.status().message();
}

}  // namespace manycore::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  manycore::Status initialized = manycore::test::initialize_python();
  if (!initialized.ok()) {
    std::fprintf(stderr, "cannot start CPython: %s\n", initialized.message().c_str());
    return 2;
  }
  // Tests begin with no thread state attached: the API must work from such threads,
  // and MainGil takes the GIL back where a test wants it held.
  manycore::test::g_main_thread_state = PyEval_SaveThread();
  int failed = RUN_ALL_TESTS();
  PyEval_RestoreThread(manycore::test::g_main_thread_state);
  manycore::Status closed = manycore::runtime::close_all();
  if (!closed.ok()) {
    std::fprintf(stderr, "close_all at exit failed: %s\n", closed.message().c_str());
    failed = 1;
  }
  if (Py_FinalizeEx() < 0) failed = 1;
  return failed;
}
