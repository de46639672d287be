// src/module/register_value.cc: the value codec seen from Python (is_shareable, roundtrip).
#include "codec.h"
#include "errors.h"
#include "manycore/message.h"
#include "manycore/value.h"
#include "state.h"

namespace manycore::module {
namespace {

PyObject* is_shareable(PyObject*, PyObject* obj) { return PyBool_FromLong(encode(obj).ok()); }

PyObject* roundtrip(PyObject* module, PyObject* obj) {
  Result<Value> encoded = encode(obj);
  if (!encoded.ok()) return raise_status(get_state(module), encoded.status());
  return decode(encoded.value());
}

// pickle_shareable(obj) -> int | None: while the codec pickles (manycore._transport's
// reducer_override), the index under which the pickle names obj, a Shareable wrapper
// (a queue, lock, buffer, ...), which then crosses by reference; None for anything
// else, or when no codec is pickling on this thread.
PyObject* pickle_shareable(PyObject*, PyObject* obj) {
  std::vector<std::shared_ptr<Shareable>>* named = internal::pickling_shareables();
  if (named == nullptr) Py_RETURN_NONE;
  std::shared_ptr<Shareable> shared = internal::current_codec_hooks().as_shareable(obj);
  if (!shared) {
    if (PyErr_Occurred()) return nullptr;
    Py_RETURN_NONE;
  }
  named->push_back(std::move(shared));
  return PyLong_FromSize_t(named->size() - 1);
}

// unpickle_shareable(index) -> the wrapper of the Shareable a pickle named `index`.
PyObject* unpickle_shareable(PyObject*, PyObject* arg) {
  const std::vector<std::shared_ptr<Shareable>>* named = internal::unpickling_shareables();
  if (named == nullptr) {
    return PyErr_Format(PyExc_RuntimeError,
                        "manycore: a pickle that holds manycore shared objects can only be loaded by manycore "
                        "when it receives it from another interpreter");
  }
  size_t index = PyLong_AsSize_t(arg);
  if (index == size_t(-1) && PyErr_Occurred()) return nullptr;
  if (index >= named->size()) {
    return PyErr_Format(PyExc_ValueError, "manycore: this pickle names %zu shared objects, not #%zu", named->size(),
                        index);
  }
  return internal::current_codec_hooks().wrap_shareable((*named)[index]);
}

PyObject* encoded_kind(PyObject* module, PyObject* obj) {
  static const char* kNames[] = {"none",  "bool", "int",   "bigint", "float",     "complex",   "str",     "bytes",
                                 "bytearray", "tuple", "list", "dict", "set", "frozenset", "reference", "pickled",
                                 "shareable", "cycle"};
  Result<Value> encoded = encode(obj);
  if (!encoded.ok()) return raise_status(get_state(module), encoded.status());
  return PyUnicode_FromString(kNames[static_cast<int>(encoded.value().kind())]);
}

// Makes `cls`, a Python subclass of the wrapper type registered under `type_name`
// (e.g. manycore.Queue of manycore._core.Queue), the type that received Shareables
// of that name are wrapped in, so they arrive with the subclass's methods.
PyObject* use_wrapper_class(PyObject* module, PyObject* args) {
  const char* type_name;
  PyObject* cls;
  if (!PyArg_ParseTuple(args, "sO!:use_wrapper_class", &type_name, &PyType_Type, &cls)) return nullptr;
  ModuleState* state = get_state(module);
  PyObject* registered = PyDict_GetItemString(state->shareable_types, type_name);  // borrowed
  if (registered == nullptr) return PyErr_Format(PyExc_KeyError, "no shareable type is named %s", type_name);
  // The C type at the root of the registered one (a previous subclass may be registered).
  auto* root = reinterpret_cast<PyTypeObject*>(registered);
  while (root->tp_dealloc != destroy_shared_wrapper && root->tp_base != nullptr) root = root->tp_base;
  auto* subclass = reinterpret_cast<PyTypeObject*>(cls);
  if (!PyType_IsSubtype(subclass, root) || subclass->tp_basicsize != static_cast<Py_ssize_t>(sizeof(SharedWrapper))) {
    return PyErr_Format(PyExc_TypeError, "%s must subclass %s and add no instance fields (__slots__ = ())",
                        subclass->tp_name, root->tp_name);
  }
  if (add_shareable_type(state, type_name, cls) < 0) return nullptr;
  Py_RETURN_NONE;
}

// For `bench data` only: identity tracking off, to measure what it costs.
PyObject* set_identity_tracking(PyObject*, PyObject* flag) {
  int on = PyObject_IsTrue(flag);
  if (on < 0) return nullptr;
  internal::set_identity_tracking(on != 0);
  Py_RETURN_NONE;
}

PyMethodDef value_functions[] = {
    {"is_shareable", is_shareable, METH_O, "is_shareable(obj) -> bool: whether obj can be sent to another interpreter."},
    {"roundtrip", roundtrip, METH_O, "roundtrip(obj): encode and decode obj here, as sending it would."},
    {"pickle_shareable", pickle_shareable, METH_O,
     "pickle_shareable(obj) -> int | None: while sending pickles a value, the index naming the shared object obj."},
    {"unpickle_shareable", unpickle_shareable, METH_O,
     "unpickle_shareable(index) -> the shared object that the pickle being received names by index."},
    {"encoded_kind", encoded_kind, METH_O, "encoded_kind(obj) -> str: how the codec carries obj (e.g. 'pickled')."},
    {"_set_identity_tracking", set_identity_tracking, METH_O,
     "_set_identity_tracking(on): bench data only; off, shared objects are copied per path and cycles fail."},
    {"use_wrapper_class", use_wrapper_class, METH_VARARGS,
     "use_wrapper_class(type_name, cls): wrap received shareables of that name in cls (a layout-compatible subclass)."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_value(PyObject* module, ModuleState*) { return PyModule_AddFunctions(module, value_functions); }

}  // namespace manycore::module
