// src/module/register_sharedctypes.cc: manycore._core.SharedValue and SharedArray, the storage of manycore.Value/Array.
//
// Lifetime and threading rules: an instance is a SharedWrapper owning a
// std::shared_ptr to a process-wide TypedArray (elements in a SharedBuffer, plus the
// lock of get_lock()), so every interpreter holding one keeps it alive. Instances are
// touched only under their interpreter's GIL. Element conversions and exception types
// follow ctypes as multiprocessing.sharedctypes uses it: integers wrap around to the
// element's width, floats need a real number, 'c' takes one byte, 'u' one character.
#include <atomic>
#include <cstring>
#include <iterator>
#include <cwchar>
#include <memory>
#include <string>

#include "errors.h"
#include "manycore/sync.h"
#include "manycore/typed_array.h"
#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

TypedArray& array_of(PyObject* self) { return static_cast<TypedArray&>(*reinterpret_cast<SharedWrapper*>(self)->object); }

template <typename T>
T load_element(std::byte* at) {
  return std::atomic_ref<T>(*reinterpret_cast<T*>(at)).load(std::memory_order_relaxed);
}
template <typename T>
void store_element(std::byte* at, T value) {
  std::atomic_ref<T>(*reinterpret_cast<T*>(at)).store(value, std::memory_order_relaxed);
}

PyObject* get_element(const TypedArray& array, size_t index) {
  std::byte* at = array.element(index);
  switch (array.typecode()) {
    case 'c': {
      char byte = load_element<char>(at);
      return PyBytes_FromStringAndSize(&byte, 1);
    }
    case 'u': {
      wchar_t character = load_element<wchar_t>(at);
      return PyUnicode_FromWideChar(&character, 1);
    }
    case 'b': return PyLong_FromLong(load_element<signed char>(at));
    case 'B': return PyLong_FromUnsignedLong(load_element<unsigned char>(at));
    case 'h': return PyLong_FromLong(load_element<short>(at));
    case 'H': return PyLong_FromUnsignedLong(load_element<unsigned short>(at));
    case 'i': return PyLong_FromLong(load_element<int>(at));
    case 'I': return PyLong_FromUnsignedLong(load_element<unsigned int>(at));
    case 'l': return PyLong_FromLong(load_element<long>(at));
    case 'L': return PyLong_FromUnsignedLong(load_element<unsigned long>(at));
    case 'q': return PyLong_FromLongLong(load_element<long long>(at));
    case 'Q': return PyLong_FromUnsignedLongLong(load_element<unsigned long long>(at));
    case 'f': return PyFloat_FromDouble(load_element<float>(at));
    case 'd': return PyFloat_FromDouble(load_element<double>(at));
    default: return PyErr_Format(PyExc_SystemError, "manycore: bad typecode");
  }
}

int set_element(const TypedArray& array, size_t index, PyObject* value) {
  std::byte* at = array.element(index);
  char code = array.typecode();
  if (code == 'c') {
    if ((PyBytes_Check(value) || PyByteArray_Check(value)) && PyObject_Length(value) == 1) {
      char byte = PyBytes_Check(value) ? PyBytes_AS_STRING(value)[0] : PyByteArray_AS_STRING(value)[0];
      store_element<char>(at, byte);
      return 0;
    }
    if (PyLong_Check(value)) {
      unsigned long long mask = PyLong_AsUnsignedLongLongMask(value);
      if (mask == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return -1;
      store_element<char>(at, static_cast<char>(mask));
      return 0;
    }
    PyErr_Format(PyExc_TypeError, "one character bytes, bytearray or integer expected");
    return -1;
  }
  if (code == 'u') {
    if (!PyUnicode_Check(value) || PyUnicode_GET_LENGTH(value) != 1) {
      PyErr_Format(PyExc_TypeError, "one character unicode string expected");
      return -1;
    }
    wchar_t character;
    if (PyUnicode_AsWideChar(value, &character, 1) < 0) return -1;
    store_element<wchar_t>(at, character);
    return 0;
  }
  if (code == 'f' || code == 'd') {
    double real = PyFloat_AsDouble(value);
    if (real == -1.0 && PyErr_Occurred()) return -1;
    if (code == 'f') {
      store_element<float>(at, static_cast<float>(real));
    } else {
      store_element<double>(at, real);
    }
    return 0;
  }
  PyRef integer = PyRef::steal(PyNumber_Index(value));
  if (!integer) return -1;
  unsigned long long bits = PyLong_AsUnsignedLongLongMask(integer.get());
  if (bits == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return -1;
  switch (array.itemsize()) {  // ctypes wraps around: keep the low bits
    case 1: store_element<uint8_t>(at, static_cast<uint8_t>(bits)); break;
    case 2: store_element<uint16_t>(at, static_cast<uint16_t>(bits)); break;
    case 4: store_element<uint32_t>(at, static_cast<uint32_t>(bits)); break;
    default: store_element<uint64_t>(at, static_cast<uint64_t>(bits)); break;
  }
  return 0;
}

// As multiprocessing: lock=False means no lock; True (or anything == True) and None a
// new RLock; else a manycore Lock/RLock.
bool parse_lock(ModuleState* state, PyObject* lock_arg, std::shared_ptr<Shareable>& lock) {
  if (lock_arg == Py_False) return true;
  int is_true = lock_arg == nullptr || lock_arg == Py_None ? 1 : PyObject_RichCompareBool(lock_arg, Py_True, Py_EQ);
  if (is_true < 0) return false;
  if (is_true == 1) {
    lock = std::make_shared<RLock>();
    return true;
  }
  if (PyObject_TypeCheck(lock_arg, reinterpret_cast<PyTypeObject*>(state->RLockType)) ||
      PyObject_TypeCheck(lock_arg, reinterpret_cast<PyTypeObject*>(state->LockType))) {
    lock = reinterpret_cast<SharedWrapper*>(lock_arg)->object;
    return true;
  }
  if (!PyObject_HasAttrString(lock_arg, "acquire")) {
    PyErr_Format(PyExc_AttributeError, "%R has no method 'acquire'", lock_arg);
    return false;
  }
  PyErr_Format(PyExc_TypeError,
               "lock must be True, False or a manycore.Lock/RLock, not %.200s: threading and multiprocessing "
               "locks cannot be shared across interpreters", Py_TYPE(lock_arg)->tp_name);
  return false;
}

bool parse_typecode(PyObject* arg, char& typecode) {
  const char* text = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : nullptr;
  if (text == nullptr && PyErr_Occurred()) return false;
  if (text == nullptr || std::strlen(text) != 1 || TypedArray::item_size(text[0]) == 0) {
    // What ctypes.sizeof says of what sharedctypes cannot map to a ctypes type.
    PyErr_Format(PyExc_TypeError, "this type has no size (%R is not a typecode of multiprocessing.sharedctypes: "
                 "one of 'c', 'u', 'b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd', or a ctypes type)", arg);
    return false;
  }
  typecode = text[0];
  return true;
}

PyObject* wrap_array(PyTypeObject* type, Result<std::shared_ptr<TypedArray>> made) {
  if (!made.ok()) {
    ModuleState* state = current_state();
    return state == nullptr ? nullptr : raise_status(state, made.status());
  }
  return new_shared_wrapper(type, made.take_value());
}

// SharedValue(typecode, [value], lock=True)
PyObject* value_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  Py_ssize_t nargs = PyTuple_GET_SIZE(args);
  if (nargs < 1 || nargs > 2) {
    return PyErr_Format(PyExc_TypeError, "Value(typecode, value=<zero>, lock=True) takes 1 or 2 positional arguments");
  }
  PyObject* lock_arg = nullptr;
  if (kwargs != nullptr) {
    lock_arg = PyDict_GetItemString(kwargs, "lock");  // borrowed
    if (PyDict_GET_SIZE(kwargs) != (lock_arg != nullptr ? 1 : 0)) {
      return PyErr_Format(PyExc_TypeError, "Value() takes only the keyword argument 'lock'");
    }
  }
  char typecode;
  if (!parse_typecode(PyTuple_GET_ITEM(args, 0), typecode)) return nullptr;
  std::shared_ptr<Shareable> lock;
  if (!parse_lock(state, lock_arg, lock)) return nullptr;
  Result<std::shared_ptr<TypedArray>> made = TypedArray::create(typecode, 1, true, std::move(lock));
  if (made.ok() && nargs == 2 && set_element(*made.value(), 0, PyTuple_GET_ITEM(args, 1)) < 0) return nullptr;
  return wrap_array(type, std::move(made));
}

// SharedArray(typecode, size_or_initializer, lock=True)
PyObject* array_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"typecode", "size_or_initializer", "lock", nullptr};
  PyObject* typecode_arg;
  PyObject* size_arg;
  PyObject* lock_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|$O:Array", const_cast<char**>(keywords), &typecode_arg, &size_arg,
                                   &lock_arg)) {
    return nullptr;
  }
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  char typecode;
  if (!parse_typecode(typecode_arg, typecode)) return nullptr;
  std::shared_ptr<Shareable> lock;
  if (!parse_lock(state, lock_arg, lock)) return nullptr;
  if (PyLong_Check(size_arg)) {
    Py_ssize_t size = PyLong_AsSsize_t(size_arg);
    if (size == -1 && PyErr_Occurred()) return nullptr;
    if (size < 0) return PyErr_Format(PyExc_ValueError, "Array length must be >= 0, not %zd", size);
    return wrap_array(type, TypedArray::create(typecode, static_cast<size_t>(size), false, std::move(lock)));
  }
  PyRef items = PyRef::steal(PySequence_Fast(size_arg, ""));
  if (!items) {
    PyErr_Format(PyExc_TypeError, "object of type '%.200s' has no len()", Py_TYPE(size_arg)->tp_name);
    return nullptr;
  }
  Py_ssize_t count = PySequence_Fast_GET_SIZE(items.get());
  Result<std::shared_ptr<TypedArray>> made = TypedArray::create(typecode, static_cast<size_t>(count), false, std::move(lock));
  if (made.ok()) {
    for (Py_ssize_t i = 0; i < count; ++i) {
      if (set_element(*made.value(), static_cast<size_t>(i), PySequence_Fast_GET_ITEM(items.get(), i)) < 0) return nullptr;
    }
  }
  return wrap_array(type, std::move(made));
}

// ---- element access -----------------------------------------------------------------------

PyObject* value_get_value(PyObject* self, void*) { return get_element(array_of(self), 0); }

int value_set_value(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) {
    PyErr_SetString(PyExc_TypeError, "cannot delete the value");
    return -1;
  }
  return set_element(array_of(self), 0, value);
}

Py_ssize_t array_length(PyObject* self) { return static_cast<Py_ssize_t>(array_of(self).length()); }

// bytes for 'c', str for 'u', else a list: what a ctypes array slice gives.
PyObject* slice_of(const TypedArray& array, Py_ssize_t start, Py_ssize_t step, Py_ssize_t count) {
  if (array.typecode() == 'c' && step == 1) {
    PyRef bytes = PyRef::steal(PyBytes_FromStringAndSize(nullptr, count));
    if (!bytes) return nullptr;
    std::memcpy(PyBytes_AS_STRING(bytes.get()), array.element(static_cast<size_t>(start)), static_cast<size_t>(count));
    return bytes.release();
  }
  PyRef list = PyRef::steal(PyList_New(count));
  if (!list) return nullptr;
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* item = get_element(array, static_cast<size_t>(start + i * step));
    if (item == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), i, item);
  }
  if (array.typecode() == 'c' || array.typecode() == 'u') {
    PyRef empty = PyRef::steal(array.typecode() == 'c' ? PyBytes_FromStringAndSize("", 0) : PyUnicode_FromString(""));
    if (!empty) return nullptr;
    return PyObject_CallMethod(empty.get(), "join", "O", list.get());
  }
  return list.release();
}

bool array_index(PyObject* self, PyObject* key, size_t& index) {
  if (!PyIndex_Check(key)) {
    PyErr_SetString(PyExc_TypeError, "indices must be integers");
    return false;
  }
  Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
  if (i == -1 && PyErr_Occurred()) return false;
  Py_ssize_t size = array_length(self);
  if (i < 0) i += size;
  if (i < 0 || i >= size) {
    PyErr_SetString(PyExc_IndexError, "invalid index");
    return false;
  }
  index = static_cast<size_t>(i);
  return true;
}

PyObject* array_subscript(PyObject* self, PyObject* key) {
  const TypedArray& array = array_of(self);
  if (PySlice_Check(key)) {
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) return nullptr;
    Py_ssize_t count = PySlice_AdjustIndices(array_length(self), &start, &stop, step);
    return slice_of(array, start, step, count);
  }
  size_t index;
  if (!array_index(self, key, index)) return nullptr;
  return get_element(array, index);
}

int array_ass_subscript(PyObject* self, PyObject* key, PyObject* value) {
  const TypedArray& array = array_of(self);
  if (value == nullptr) {
    PyErr_SetString(PyExc_TypeError, "Array does not support item deletion");
    return -1;
  }
  if (PySlice_Check(key)) {
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) return -1;
    Py_ssize_t count = PySlice_AdjustIndices(array_length(self), &start, &stop, step);
    PyRef items = PyRef::steal(PySequence_Fast(value, "can only assign a sequence to an Array slice"));
    if (!items) return -1;
    if (PySequence_Fast_GET_SIZE(items.get()) != count) {
      PyErr_SetString(PyExc_ValueError, "Can only assign sequence of same size");
      return -1;
    }
    for (Py_ssize_t i = 0; i < count; ++i) {
      if (set_element(array, static_cast<size_t>(start + i * step), PySequence_Fast_GET_ITEM(items.get(), i)) < 0) {
        return -1;
      }
    }
    return 0;
  }
  size_t index;
  if (!array_index(self, key, index)) return -1;
  return set_element(array, index, value);
}

// .value / .raw of 'c' arrays (bytes, up to the first NUL / whole) and .value of 'u'.
PyObject* array_get_value(PyObject* self, void*) {
  const TypedArray& array = array_of(self);
  if (array.typecode() == 'c') {
    const char* start = reinterpret_cast<const char*>(array.element(0));
    return PyBytes_FromStringAndSize(start, static_cast<Py_ssize_t>(strnlen(start, array.length())));
  }
  if (array.typecode() == 'u') {
    const wchar_t* start = reinterpret_cast<const wchar_t*>(array.element(0));
    return PyUnicode_FromWideChar(start, static_cast<Py_ssize_t>(wcsnlen(start, array.length())));
  }
  return PyErr_Format(PyExc_AttributeError, "an Array of typecode '%c' has no .value (only 'c' and 'u' arrays do)",
                      array.typecode());
}

int array_set_value(PyObject* self, PyObject* value, void*) {
  const TypedArray& array = array_of(self);
  if (value == nullptr || (array.typecode() != 'c' && array.typecode() != 'u')) {
    PyErr_Format(PyExc_AttributeError, "an Array of typecode '%c' has no settable .value", array.typecode());
    return -1;
  }
  if (array.typecode() == 'c') {
    Py_buffer source;
    if (!PyBytes_Check(value) && !PyByteArray_Check(value)) {
      PyErr_Format(PyExc_TypeError, "bytes expected instead of %.200s instance", Py_TYPE(value)->tp_name);
      return -1;
    }
    if (PyObject_GetBuffer(value, &source, PyBUF_SIMPLE) < 0) return -1;
    if (static_cast<size_t>(source.len) > array.length()) {
      PyBuffer_Release(&source);
      PyErr_SetString(PyExc_ValueError, "byte string too long");
      return -1;
    }
    std::memcpy(array.element(0), source.buf, static_cast<size_t>(source.len));
    if (static_cast<size_t>(source.len) < array.length()) std::memset(array.element(source.len), 0, 1);
    PyBuffer_Release(&source);
    return 0;
  }
  if (!PyUnicode_Check(value)) {
    PyErr_Format(PyExc_TypeError, "unicode string expected instead of %.200s instance", Py_TYPE(value)->tp_name);
    return -1;
  }
  Py_ssize_t length = PyUnicode_GET_LENGTH(value);
  if (static_cast<size_t>(length) > array.length()) {
    PyErr_SetString(PyExc_ValueError, "string too long");
    return -1;
  }
  auto* target = reinterpret_cast<wchar_t*>(array.element(0));
  if (PyUnicode_AsWideChar(value, target, length) < 0) return -1;
  if (static_cast<size_t>(length) < array.length()) target[length] = L'\0';
  return 0;
}

PyObject* array_get_raw(PyObject* self, void*) {
  const TypedArray& array = array_of(self);
  if (array.typecode() != 'c') return PyErr_Format(PyExc_AttributeError, "only 'c' arrays have .raw");
  return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(array.element(0)), static_cast<Py_ssize_t>(array.length()));
}

int array_set_raw(PyObject* self, PyObject* value, void*) {
  const TypedArray& array = array_of(self);
  if (array.typecode() != 'c' || value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "only 'c' arrays have a settable .raw");
    return -1;
  }
  Py_buffer source;
  if (PyObject_GetBuffer(value, &source, PyBUF_SIMPLE) < 0) return -1;
  if (static_cast<size_t>(source.len) > array.length()) {
    PyBuffer_Release(&source);
    PyErr_SetString(PyExc_ValueError, "byte string too long");
    return -1;
  }
  std::memcpy(array.element(0), source.buf, static_cast<size_t>(source.len));
  PyBuffer_Release(&source);
  return 0;
}

// ---- shared methods -----------------------------------------------------------------------


// Only the types with a lock have get_lock(): hasattr(raw, "get_lock") is False, as
// for multiprocessing's bare ctypes objects.
PyObject* typed_get_lock(PyObject* self, PyObject*) {
  const std::shared_ptr<Shareable>& lock = array_of(self).lock();
  if (!lock) return PyErr_Format(PyExc_AttributeError, "created with lock=False: no get_lock()");
  return wrap_registered(self, lock);
}

// The same storage without a lock: what get_obj() gives (multiprocessing gives the ctypes object).
PyObject* typed_get_obj(PyObject* self, PyObject*) {
  const TypedArray& array = array_of(self);
  if (!array.lock()) return Py_NewRef(self);
  auto raw = std::make_shared<TypedArray>(array.typecode(), array.length(), array.scalar(), array.storage(), nullptr);
  return wrap_registered(self, raw);
}

PyObject* typed_buffer(PyObject* self, PyObject*) { return wrap_registered(self, array_of(self).storage()); }

PyObject* typed_get_typecode(PyObject* self, void*) {
  char code = array_of(self).typecode();
  return PyUnicode_FromStringAndSize(&code, 1);
}

PyObject* typed_get_itemsize(PyObject* self, void*) { return PyLong_FromSize_t(array_of(self).itemsize()); }

PyObject* typed_reduce(PyObject*, PyObject*) {
  return PyErr_Format(PyExc_TypeError, "cannot pickle a manycore Value/Array: it crosses interpreters by itself (as "
                      "an argument, a result, in a queue, a container or Pool initargs)");
}

PyObject* typed_richcompare(PyObject* self, PyObject* other, int op) {
  if ((op != Py_EQ && op != Py_NE) || Py_TYPE(other)->tp_richcompare != Py_TYPE(self)->tp_richcompare) {
    Py_RETURN_NOTIMPLEMENTED;
  }
  bool same = array_of(self).storage()->memory() == array_of(other).storage()->memory();
  return PyBool_FromLong(op == Py_EQ ? same : !same);
}

Py_hash_t typed_hash(PyObject* self) {
  auto hash = static_cast<Py_hash_t>(reinterpret_cast<uintptr_t>(array_of(self).storage()->memory().get()) >> 4);
  return hash == -1 ? -2 : hash;
}

#define MANYCORE_TYPED_METHODS                                                                \
  {"get_obj", typed_get_obj, METH_NOARGS, "get_obj(): the same memory without the lock."},  \
  {"_buffer", typed_buffer, METH_NOARGS, "_buffer() -> SharedBuffer: the elements' memory."}, \
  {"__reduce__", typed_reduce, METH_NOARGS, nullptr}

PyMethodDef locked_methods[] = {
    {"get_lock", typed_get_lock, METH_NOARGS, "get_lock(): the manycore RLock (or the Lock/RLock given) guarding it."},
    MANYCORE_TYPED_METHODS,
    {nullptr, nullptr, 0, nullptr},
};
PyMethodDef raw_methods[] = {MANYCORE_TYPED_METHODS, {nullptr, nullptr, 0, nullptr}};

PyGetSetDef value_getset[] = {
    {"value", value_get_value, value_set_value, "The value (one atomic access; use get_lock() for += and such).", nullptr},
    {"_typecode", typed_get_typecode, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyGetSetDef array_getset[] = {
    {"value", array_get_value, array_set_value, "'c' arrays: bytes up to the first NUL; 'u' arrays: str.", nullptr},
    {"raw", array_get_raw, array_set_raw, "'c' arrays: every byte.", nullptr},
    {"_typecode", typed_get_typecode, nullptr, nullptr, nullptr},
    {"_itemsize", typed_get_itemsize, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// Locked and raw variants share every slot but the method table (get_lock()).
#define MANYCORE_VALUE_SLOTS(name, methods)                                                         \
  PyType_Slot name[] = {                                                                            \
      {Py_tp_new, reinterpret_cast<void*>(value_new)},                                              \
      {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},                             \
      {Py_tp_methods, methods},                                                                     \
      {Py_tp_getset, value_getset},                                                                 \
      {Py_tp_richcompare, reinterpret_cast<void*>(typed_richcompare)},                              \
      {Py_tp_hash, reinterpret_cast<void*>(typed_hash)},                                            \
      {Py_tp_doc, const_cast<char*>("The storage of manycore.Value (create one with manycore.Value).")}, \
      {0, nullptr},                                                                                 \
  };
#define MANYCORE_ARRAY_SLOTS(name, methods)                                                         \
  PyType_Slot name[] = {                                                                            \
      {Py_tp_new, reinterpret_cast<void*>(array_new)},                                              \
      {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},                             \
      {Py_tp_methods, methods},                                                                     \
      {Py_tp_getset, array_getset},                                                                 \
      {Py_mp_length, reinterpret_cast<void*>(array_length)},                                        \
      {Py_sq_length, reinterpret_cast<void*>(array_length)},                                        \
      {Py_mp_subscript, reinterpret_cast<void*>(array_subscript)},                                  \
      {Py_mp_ass_subscript, reinterpret_cast<void*>(array_ass_subscript)},                          \
      {Py_tp_richcompare, reinterpret_cast<void*>(typed_richcompare)},                              \
      {Py_tp_hash, reinterpret_cast<void*>(typed_hash)},                                            \
      {Py_tp_doc, const_cast<char*>("The storage of manycore.Array (create one with manycore.Array).")}, \
      {0, nullptr},                                                                                 \
  };
MANYCORE_VALUE_SLOTS(value_slots, locked_methods)
MANYCORE_VALUE_SLOTS(raw_value_slots, raw_methods)
MANYCORE_ARRAY_SLOTS(array_slots, locked_methods)
MANYCORE_ARRAY_SLOTS(raw_array_slots, raw_methods)

constexpr unsigned kTypedFlags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
PyType_Spec typed_specs[] = {
    {"manycore._core.SharedValue", sizeof(SharedWrapper), 0, kTypedFlags, value_slots},
    {"manycore._core.RawSharedValue", sizeof(SharedWrapper), 0, kTypedFlags, raw_value_slots},
    {"manycore._core.SharedArray", sizeof(SharedWrapper), 0, kTypedFlags, array_slots},
    {"manycore._core.RawSharedArray", sizeof(SharedWrapper), 0, kTypedFlags, raw_array_slots},
};

}  // namespace

int register_sharedctypes(PyObject* module, ModuleState* state) {
  PyObject** slots[] = {&state->SharedValueType, nullptr, &state->SharedArrayType, nullptr};
  for (size_t i = 0; i < std::size(typed_specs); ++i) {
    PyRef type = PyRef::steal(PyType_FromModuleAndSpec(module, &typed_specs[i], nullptr));
    if (!type) return -1;
    const char* name = std::strrchr(typed_specs[i].name, '.') + 1;
    if (PyModule_AddObjectRef(module, name, type.get()) < 0) return -1;
    if (add_shareable_type(state, name, type.get()) < 0) return -1;
    if (slots[i] != nullptr) *slots[i] = type.release();
  }
  return 0;
}

}  // namespace manycore::module
