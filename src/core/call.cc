// src/core/call.cc: calling a decoded callable in a worker interpreter as if from its __main__ module.
#include "call.h"

#include <cstring>

#include "pyref.h"

namespace manycore::internal {

namespace {

constexpr const char* kFrameReaders[] = {"eval", "exec", "globals", "locals", "vars", "dir"};

// The name under which the call waits in __main__ until its frame runs it: a dunder,
// which Python reserves for the implementation. run_slot removes it before it calls
// the builtin, so `call(dir)` or `call(globals)` never show it.
constexpr const char* kCallSlot = "__manycore_call__";

// slot: (globals, function, positional, keywords or None).
PyObject* run_slot(PyObject* slot, PyObject*) {
  if (PyDict_DelItemString(PyTuple_GET_ITEM(slot, 0), kCallSlot) < 0) PyErr_Clear();  // already gone: nothing to undo
  PyObject* keywords = PyTuple_GET_ITEM(slot, 3);
  return PyObject_Call(PyTuple_GET_ITEM(slot, 1), PyTuple_GET_ITEM(slot, 2), keywords == Py_None ? nullptr : keywords);
}

PyMethodDef run_slot_def = {kCallSlot, run_slot, METH_NOARGS, nullptr};

PyObject* call_from_main_frame(PyObject* function, PyObject* positional, PyObject* keywords) {
  PyRef main = import_module("__main__");
  if (!main) return nullptr;
  PyObject* globals = PyModule_GetDict(main.get());  // borrowed
  PyRef slot = PyRef::steal(PyTuple_Pack(4, globals, function, positional, keywords ? keywords : Py_None));
  if (!slot) return nullptr;
  PyRef runner = PyRef::steal(PyCFunction_New(&run_slot_def, slot.get()));
  if (!runner) return nullptr;
  // Compiled per call: this path is only taken for the six builtins, never in a hot loop.
  PyRef code = PyRef::steal(Py_CompileString("__manycore_call__()", "<manycore call>", Py_eval_input));
  if (!code) return nullptr;
  if (PyDict_SetItemString(globals, kCallSlot, runner.get()) < 0) return nullptr;
  // The frame of this code is the builtin's caller: its globals and locals are __main__'s.
  PyObject* result = PyEval_EvalCode(code.get(), globals, globals);
  if (result == nullptr && PyDict_GetItemString(globals, kCallSlot) == runner.get()) {
    PyObject* raised = PyErr_GetRaisedException();  // failed before run_slot ran: clean up, keep the error
    if (PyDict_DelItemString(globals, kCallSlot) < 0) PyErr_Clear();
    PyErr_SetRaisedException(raised);
  }
  return result;
}

}  // namespace

bool needs_main_frame(PyObject* function) {
  if (!PyCFunction_Check(function)) return false;
  PyObject* self = PyCFunction_GET_SELF(function);
  if (self == nullptr || !PyModule_Check(self)) return false;
  const char* module_name = PyModule_GetName(self);
  if (module_name == nullptr) {
    PyErr_Clear();
    return false;
  }
  if (std::strcmp(module_name, "builtins") != 0) return false;
  const char* name = reinterpret_cast<PyCFunctionObject*>(function)->m_ml->ml_name;
  bool reads_frame = false;
  for (const char* reader : kFrameReaders) reads_frame = reads_frame || std::strcmp(name, reader) == 0;
  return reads_frame && PyEval_GetFrame() == nullptr;
}

PyObject* call_callable(PyObject* function, PyObject* positional, PyObject* keywords) {
  if (needs_main_frame(function)) return call_from_main_frame(function, positional, keywords);
  return PyObject_Call(function, positional, keywords);
}

}  // namespace manycore::internal
