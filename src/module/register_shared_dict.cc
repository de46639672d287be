// src/module/register_shared_dict.cc: manycore._core.SharedDict, the wrapper of the process-wide SharedDict.
//
// Lifetime and threading rules: an instance is a SharedWrapper owning a
// std::shared_ptr to the C++ SharedDict, so every interpreter holding one keeps it
// alive. Keys are hashed and compared in the caller's interpreter (its GIL held);
// stored keys and values are Values, decoded into fresh objects on every read.
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "errors.h"
#include "manycore/shared_dict.h"
#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

SharedDict& dict_of(PyObject* self) { return static_cast<SharedDict&>(*reinterpret_cast<SharedWrapper*>(self)->object); }

PyObject* raise_core(const Status& status) {
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  return raise_status(state, status);
}

// Does `stored` decode to something equal to `obj`? Run by the core under its mutex.
SharedDict::Matches matcher(PyObject* obj) {
  return [obj](const Value& stored) -> Result<bool> {
    PyRef decoded = PyRef::steal(decode(stored));
    if (!decoded) return Status(StatusCode::kInterrupted, "decoding a stored key failed");  // error stays set
    int same = PyObject_RichCompareBool(decoded.get(), obj, Py_EQ);
    if (same < 0) return Status(StatusCode::kInterrupted, "comparing keys raised");
    return same == 1;
  };
}

// The key as the core needs it, or nullopt with the Python error set (TypeError for
// unhashable keys, as dict; NotShareableError for keys that cannot be encoded).
std::optional<SharedDict::Key> make_key(PyObject* key) {
  Py_hash_t hash = PyObject_Hash(key);
  if (hash == -1 && PyErr_Occurred()) return std::nullopt;
  Result<Value> encoded = encode(key);
  if (!encoded.ok()) {
    raise_core(encoded.status());
    return std::nullopt;
  }
  return SharedDict::Key{static_cast<int64_t>(hash), encoded.take_value(), matcher(key)};
}

std::optional<Value> make_value(PyObject* value) {
  Result<Value> encoded = encode(value);
  if (!encoded.ok()) {
    raise_core(encoded.status());
    return std::nullopt;
  }
  return encoded.take_value();
}

PyObject* dict_new(PyTypeObject* type, PyObject* args, PyObject* kwargs);

PyObject* dict_get_item(PyObject* self, PyObject* key_obj) {
  auto key = make_key(key_obj);
  if (!key) return nullptr;
  Result<std::optional<Value>> got = dict_of(self).get(*key);
  if (!got.ok()) return raise_core(got.status());
  if (!got.value()) {
    PyErr_SetObject(PyExc_KeyError, key_obj);
    return nullptr;
  }
  return decode(*got.value());
}

int dict_set_item(PyObject* self, PyObject* key_obj, PyObject* value_obj) {
  auto key = make_key(key_obj);
  if (!key) return -1;
  if (value_obj == nullptr) {
    Result<std::optional<Value>> popped = dict_of(self).pop(*key);
    if (!popped.ok()) return raise_core(popped.status()), -1;
    if (!popped.value()) {
      PyErr_SetObject(PyExc_KeyError, key_obj);
      return -1;
    }
    return 0;
  }
  auto value = make_value(value_obj);
  if (!value) return -1;
  Status stored = dict_of(self).set(*key, std::move(*value));
  if (!stored.ok()) return raise_core(stored), -1;
  return 0;
}

Py_ssize_t dict_length(PyObject* self) { return static_cast<Py_ssize_t>(dict_of(self).size()); }

int dict_contains(PyObject* self, PyObject* key_obj) {
  auto key = make_key(key_obj);
  if (!key) return -1;
  Result<bool> found = dict_of(self).contains(*key);
  if (!found.ok()) return raise_core(found.status()), -1;
  return found.value() ? 1 : 0;
}

PyObject* dict_get(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "get expected 1 or 2 arguments, got %zd", nargs);
  auto key = make_key(args[0]);
  if (!key) return nullptr;
  Result<std::optional<Value>> got = dict_of(self).get(*key);
  if (!got.ok()) return raise_core(got.status());
  if (!got.value()) return Py_NewRef(nargs == 2 ? args[1] : Py_None);
  return decode(*got.value());
}

PyObject* dict_setdefault(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "setdefault expected 1 or 2 arguments, got %zd", nargs);
  auto key = make_key(args[0]);
  if (!key) return nullptr;
  auto value = make_value(nargs == 2 ? args[1] : Py_None);
  if (!value) return nullptr;
  Result<Value> stored = dict_of(self).setdefault(*key, std::move(*value));
  if (!stored.ok()) return raise_core(stored.status());
  return decode(stored.value());
}

PyObject* dict_pop(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "pop expected 1 or 2 arguments, got %zd", nargs);
  auto key = make_key(args[0]);
  if (!key) return nullptr;
  Result<std::optional<Value>> popped = dict_of(self).pop(*key);
  if (!popped.ok()) return raise_core(popped.status());
  if (!popped.value()) {
    if (nargs == 2) return Py_NewRef(args[1]);
    PyErr_SetObject(PyExc_KeyError, args[0]);
    return nullptr;
  }
  return decode(*popped.value());
}

PyObject* dict_compare_and_set(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3) {
    return PyErr_Format(PyExc_TypeError, "compare_and_set(key, expected, new) takes 3 arguments (%zd given)", nargs);
  }
  auto key = make_key(args[0]);
  if (!key) return nullptr;
  auto value = make_value(args[2]);
  if (!value) return nullptr;
  Result<bool> swapped = dict_of(self).compare_and_set(*key, matcher(args[1]), std::move(*value));
  if (!swapped.ok()) return raise_core(swapped.status());
  return PyBool_FromLong(swapped.value());
}

// update(mapping_or_pairs=(), **kwargs): every pair encoded first, then stored in one step.
PyObject* dict_update(PyObject* self, PyObject* args, PyObject* kwargs) {
  PyObject* source = nullptr;
  if (!PyArg_UnpackTuple(args, "update", 0, 1, &source)) return nullptr;
  std::vector<std::pair<SharedDict::Key, Value>> entries;
  std::vector<PyRef> keep_alive;  // keys referenced by the matchers until the update ran
  auto add = [&](PyObject* key_obj, PyObject* value_obj) {
    keep_alive.push_back(PyRef::borrow(key_obj));
    auto key = make_key(key_obj);
    if (!key) return false;
    auto value = make_value(value_obj);
    if (!value) return false;
    entries.emplace_back(std::move(*key), std::move(*value));
    return true;
  };
  if (source != nullptr) {
    PyRef pairs;
    if (PyDict_Check(source)) {
      pairs = PyRef::steal(PyDict_Items(source));
    } else if (PyObject_HasAttrString(source, "keys")) {
      PyRef keys = PyRef::steal(PyObject_CallMethod(source, "keys", nullptr));
      PyRef key_list = keys ? PyRef::steal(PySequence_List(keys.get())) : PyRef();
      if (!key_list) return nullptr;
      pairs = PyRef::steal(PyList_New(0));
      for (Py_ssize_t i = 0; pairs && i < PyList_GET_SIZE(key_list.get()); ++i) {
        PyObject* key_obj = PyList_GET_ITEM(key_list.get(), i);
        PyRef value = PyRef::steal(PyObject_GetItem(source, key_obj));
        PyRef pair = value ? PyRef::steal(PyTuple_Pack(2, key_obj, value.get())) : PyRef();
        if (!pair || PyList_Append(pairs.get(), pair.get()) < 0) return nullptr;
      }
    } else {
      pairs = PyRef::steal(PySequence_List(source));
    }
    if (!pairs) return nullptr;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pairs.get()); ++i) {
      PyRef pair = PyRef::steal(PySequence_Tuple(PyList_GET_ITEM(pairs.get(), i)));
      if (!pair || PyTuple_GET_SIZE(pair.get()) != 2) {
        if (pair || PyErr_ExceptionMatches(PyExc_TypeError)) {
          PyErr_Clear();
          return PyErr_Format(PyExc_ValueError, "dictionary update sequence element #%zd has the wrong length "
                              "(it must be a (key, value) pair)", i);
        }
        return nullptr;
      }
      if (!add(PyTuple_GET_ITEM(pair.get(), 0), PyTuple_GET_ITEM(pair.get(), 1))) return nullptr;
      keep_alive.push_back(std::move(pair));
    }
  }
  if (kwargs != nullptr) {
    PyObject* key_obj;
    PyObject* value_obj;
    Py_ssize_t position = 0;
    while (PyDict_Next(kwargs, &position, &key_obj, &value_obj)) {
      if (!add(key_obj, value_obj)) return nullptr;
    }
  }
  Status stored = dict_of(self).update(std::move(entries));
  if (!stored.ok()) return raise_core(stored);
  Py_RETURN_NONE;
}

// items/keys/values: lists decoded from one snapshot.
PyObject* snapshot(PyObject* self, int which) {
  std::vector<std::pair<Value, Value>> items = dict_of(self).items();
  PyRef list = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(items.size())));
  if (!list) return nullptr;
  for (size_t i = 0; i < items.size(); ++i) {
    PyObject* entry;
    if (which == 0) {
      PyRef key = PyRef::steal(decode(items[i].first));
      PyRef value = key ? PyRef::steal(decode(items[i].second)) : PyRef();
      entry = value ? PyTuple_Pack(2, key.get(), value.get()) : nullptr;
    } else {
      entry = decode(which == 1 ? items[i].first : items[i].second);
    }
    if (entry == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), entry);
  }
  return list.release();
}

PyObject* dict_items(PyObject* self, PyObject*) { return snapshot(self, 0); }
PyObject* dict_keys(PyObject* self, PyObject*) { return snapshot(self, 1); }
PyObject* dict_values(PyObject* self, PyObject*) { return snapshot(self, 2); }

PyObject* dict_copy(PyObject* self, PyObject*) {
  PyRef items = PyRef::steal(snapshot(self, 0));
  if (!items) return nullptr;
  PyRef copy = PyRef::steal(PyDict_New());
  if (!copy || PyDict_MergeFromSeq2(copy.get(), items.get(), 1) < 0) return nullptr;
  return copy.release();
}

PyObject* dict_clear(PyObject* self, PyObject*) {
  dict_of(self).clear();
  Py_RETURN_NONE;
}

PyObject* dict_iter(PyObject* self) {
  PyRef keys = PyRef::steal(snapshot(self, 1));
  if (!keys) return nullptr;
  return PyObject_GetIter(keys.get());
}

PyObject* dict_repr(PyObject* self) {
  PyRef copy = PyRef::steal(dict_copy(self, nullptr));
  if (!copy) return nullptr;
  return PyUnicode_FromFormat("manycore.SharedDict(%R)", copy.get());
}

PyObject* dict_richcompare(PyObject* self, PyObject* other, int op) {
  if ((op != Py_EQ && op != Py_NE) || Py_TYPE(other)->tp_richcompare != Py_TYPE(self)->tp_richcompare) {
    Py_RETURN_NOTIMPLEMENTED;
  }
  bool same = reinterpret_cast<SharedWrapper*>(self)->object == reinterpret_cast<SharedWrapper*>(other)->object;
  return PyBool_FromLong(op == Py_EQ ? same : !same);
}

PyObject* dict_reduce(PyObject*, PyObject*) {
  return PyErr_Format(PyExc_TypeError, "cannot pickle a SharedDict: it crosses interpreters by itself (as an "
                      "argument, a result, in a queue, a container or Pool initargs); use copy() for a plain dict");
}

#define MANYCORE_KW(function) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function))

PyMethodDef dict_methods[] = {
    {"get", MANYCORE_KW(dict_get), METH_FASTCALL, "get(key, default=None): a fresh copy of the value, or default."},
    {"setdefault", MANYCORE_KW(dict_setdefault), METH_FASTCALL,
     "setdefault(key, default=None): the value if present, else store default (atomically) and return it."},
    {"pop", MANYCORE_KW(dict_pop), METH_FASTCALL, "pop(key[, default]): remove and return the value."},
    {"compare_and_set", MANYCORE_KW(dict_compare_and_set), METH_FASTCALL,
     "compare_and_set(key, expected, new) -> bool: atomically store new if key is present and its value == "
     "expected."},
    {"update", MANYCORE_KW(dict_update), METH_VARARGS | METH_KEYWORDS,
     "update([mapping or pairs], **kwargs): store every pair in one atomic step."},
    {"items", dict_items, METH_NOARGS, "items() -> list of (key, value): a snapshot."},
    {"keys", dict_keys, METH_NOARGS, "keys() -> list: a snapshot."},
    {"values", dict_values, METH_NOARGS, "values() -> list: a snapshot."},
    {"copy", dict_copy, METH_NOARGS, "copy() -> dict: a plain dict of a snapshot."},
    {"clear", dict_clear, METH_NOARGS, "clear(): remove every item."},
    {"__reduce__", dict_reduce, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot dict_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(dict_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, dict_methods},
    {Py_tp_repr, reinterpret_cast<void*>(dict_repr)},
    {Py_tp_iter, reinterpret_cast<void*>(dict_iter)},
    {Py_tp_richcompare, reinterpret_cast<void*>(dict_richcompare)},
    {Py_mp_length, reinterpret_cast<void*>(dict_length)},
    {Py_mp_subscript, reinterpret_cast<void*>(dict_get_item)},
    {Py_mp_ass_subscript, reinterpret_cast<void*>(dict_set_item)},
    {Py_sq_contains, reinterpret_cast<void*>(dict_contains)},
    {Py_tp_hash, reinterpret_cast<void*>(PyObject_HashNotImplemented)},
    {Py_tp_doc, const_cast<char*>(
        "SharedDict([mapping or pairs], **kwargs): one mapping seen by every interpreter of the process.\n\n"
        "Keys and values are stored encoded (native values, else pickled); d[k] returns a fresh copy.")},
    {0, nullptr},
};

PyType_Spec dict_spec = {"manycore._core.SharedDict", sizeof(SharedWrapper), 0,
                         Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, dict_slots};

PyObject* dict_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyRef self = PyRef::steal(new_shared_wrapper(type, std::make_shared<SharedDict>()));
  if (!self) return nullptr;
  if (PyTuple_GET_SIZE(args) != 0 || (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0)) {
    PyRef done = PyRef::steal(dict_update(self.get(), args, kwargs));
    if (!done) return nullptr;
  }
  return self.release();
}

}  // namespace

int register_shared_dict(PyObject* module, ModuleState* state) {
  state->SharedDictType = PyType_FromModuleAndSpec(module, &dict_spec, nullptr);
  if (state->SharedDictType == nullptr) return -1;
  if (PyModule_AddObjectRef(module, "SharedDict", state->SharedDictType) < 0) return -1;
  return add_shareable_type(state, "SharedDict", state->SharedDictType);
}

}  // namespace manycore::module
