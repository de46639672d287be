// src/module/register_value.cc: the value codec seen from Python (is_shareable, roundtrip).
#include "errors.h"
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

PyObject* encoded_kind(PyObject* module, PyObject* obj) {
  static const char* kNames[] = {"none",  "bool", "int",   "bigint", "float",     "complex",   "str",     "bytes",
                                 "bytearray", "tuple", "list", "dict", "set", "frozenset", "reference", "pickled",
                                 "shareable"};
  Result<Value> encoded = encode(obj);
  if (!encoded.ok()) return raise_status(get_state(module), encoded.status());
  return PyUnicode_FromString(kNames[static_cast<int>(encoded.value().kind())]);
}

PyMethodDef value_functions[] = {
    {"is_shareable", is_shareable, METH_O, "is_shareable(obj) -> bool: whether obj can be sent to another interpreter."},
    {"roundtrip", roundtrip, METH_O, "roundtrip(obj): encode and decode obj here, as sending it would."},
    {"encoded_kind", encoded_kind, METH_O, "encoded_kind(obj) -> str: how the codec carries obj (e.g. 'pickled')."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_value(PyObject* module, ModuleState*) { return PyModule_AddFunctions(module, value_functions); }

}  // namespace manycore::module
