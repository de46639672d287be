// src/core/value.cc: the native codec between PyObjects and Values, with pickle as the fallback.
#include "manycore/value.h"

#include <cstring>

#include "pyref.h"

namespace manycore {
namespace {

using internal::PyRef;

constexpr const char* kHooksKey = "manycore.codec_hooks";
// Deeper nesting (or a cycle) goes to the pickle fallback, which keeps cycles.
constexpr int kMaxNativeDepth = 200;

std::string type_name_of(PyObject* obj) {
  PyRef name = PyRef::steal(PyType_GetQualName(Py_TYPE(obj)));
  if (!name) {
    PyErr_Clear();
    return Py_TYPE(obj)->tp_name;
  }
  const char* utf8 = PyUnicode_AsUTF8(name.get());
  if (utf8 == nullptr) {
    PyErr_Clear();
    return Py_TYPE(obj)->tp_name;
  }
  return utf8;
}

// The text of the current Python error (which it clears), for Status messages.
std::string fetch_error_text() {
  PyObject* raised = PyErr_GetRaisedException();
  if (raised == nullptr) return "unknown error";
  std::string text = type_name_of(raised);
  PyRef str = PyRef::steal(PyObject_Str(raised));
  if (str) {
    const char* utf8 = PyUnicode_AsUTF8(str.get());
    if (utf8 != nullptr && *utf8 != '\0') text += std::string(": ") + utf8;
  }
  PyErr_Clear();
  Py_DECREF(raised);
  return text;
}

// Hooks for interpreters where the manycore module is not imported: plain pickle.
class PickleOnlyHooks final : public CodecHooks {
 public:
  Result<std::string> pickle(PyObject* obj) override {
    PyRef module = PyRef::steal(PyImport_ImportModule("pickle"));
    if (!module) return Status(StatusCode::kInternal, fetch_error_text());
    PyRef data = PyRef::steal(PyObject_CallMethod(module.get(), "dumps", "Oi", obj, 5));
    if (!data || !PyBytes_Check(data.get())) {
      return Status(StatusCode::kNotShareable,
                    "object of type " + type_name_of(obj) + " cannot cross interpreters: " + fetch_error_text());
    }
    return std::string(PyBytes_AS_STRING(data.get()), PyBytes_GET_SIZE(data.get()));
  }
  PyObject* unpickle(const std::string& data) override {
    PyRef module = PyRef::steal(PyImport_ImportModule("pickle"));
    if (!module) return nullptr;
    // Not a "y#" format: 3.12 rejects '#' formats without PY_SSIZE_T_CLEAN (SystemError).
    PyRef bytes = PyRef::steal(PyBytes_FromStringAndSize(data.data(), static_cast<Py_ssize_t>(data.size())));
    if (!bytes) return nullptr;
    PyRef loads = PyRef::steal(PyObject_GetAttrString(module.get(), "loads"));
    if (!loads) return nullptr;
    return PyObject_CallOneArg(loads.get(), bytes.get());
  }
  std::shared_ptr<Shareable> as_shareable(PyObject*) override { return nullptr; }
  PyObject* wrap_shareable(const std::shared_ptr<Shareable>& object) override {
    PyErr_Format(PyExc_ImportError, "a manycore %s can only be received where manycore is imported",
                 object->type_name());
    return nullptr;
  }
};

CodecHooks& current_hooks() {
  // Holds no PyObject*: safe to share by every interpreter.
  static PickleOnlyHooks pickle_only;
  PyObject* dict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  if (dict != nullptr) {
    PyObject* capsule = PyDict_GetItemString(dict, kHooksKey);  // borrowed
    if (capsule != nullptr) {
      auto* hooks = static_cast<CodecHooks*>(PyCapsule_GetPointer(capsule, kHooksKey));
      if (hooks != nullptr) return *hooks;
      PyErr_Clear();
    }
  }
  return pickle_only;
}

// A module-level object that `import module; module.qualname` finds again, or nullopt.
std::optional<Value> as_reference(PyObject* obj) {
  if (!PyFunction_Check(obj) && !PyCFunction_Check(obj) && !PyType_Check(obj)) return std::nullopt;
  PyRef module_name = PyRef::steal(PyObject_GetAttrString(obj, "__module__"));
  PyRef qualname = PyRef::steal(PyObject_GetAttrString(obj, "__qualname__"));
  if (!module_name || !qualname || !PyUnicode_Check(module_name.get()) || !PyUnicode_Check(qualname.get())) {
    PyErr_Clear();
    return std::nullopt;
  }
  const char* module_utf8 = PyUnicode_AsUTF8(module_name.get());
  const char* qualname_utf8 = PyUnicode_AsUTF8(qualname.get());
  if (module_utf8 == nullptr || qualname_utf8 == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
  // __main__ differs per interpreter and "<locals>"/"<lambda>" cannot be looked up:
  // the fallback (manycore._transport) handles both.
  if (std::strcmp(module_utf8, "__main__") == 0 || std::strchr(qualname_utf8, '<') != nullptr) return std::nullopt;
  PyRef found = PyRef::steal(PyImport_GetModule(module_name.get()));
  if (!found) {
    PyErr_Clear();
    return std::nullopt;
  }
  std::string path = qualname_utf8;
  size_t start = 0;
  while (found && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    found = PyRef::steal(PyObject_GetAttrString(found.get(), part.c_str()));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!found) {
    PyErr_Clear();
    return std::nullopt;
  }
  if (found.get() != obj) return std::nullopt;
  return Value::Reference(module_utf8, qualname_utf8);
}

Result<Value> encode_at(PyObject* obj, int depth, CodecHooks& hooks);

Result<Value> encode_items(PyObject* sequence, Value::Kind kind, int depth, CodecHooks& hooks) {
  std::vector<Value> items;
  // Items are re-read on every step: the pickle fallback runs Python code, which may
  // resize the container; holding a strong reference keeps each item alive.
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); ++i) {
    PyRef item = PyRef::borrow(PySequence_Fast_GET_ITEM(sequence, i));
    Result<Value> encoded = encode_at(item.get(), depth + 1, hooks);
    if (!encoded.ok()) return encoded.take_status();
    items.push_back(encoded.take_value());
  }
  switch (kind) {
    case Value::Kind::kTuple: return Value::Tuple(std::move(items));
    case Value::Kind::kList: return Value::List(std::move(items));
    case Value::Kind::kSet: return Value::Set(std::move(items));
    default: return Value::FrozenSet(std::move(items));
  }
}

Result<Value> encode_fallback(PyObject* obj, CodecHooks& hooks) {
  if (std::shared_ptr<Shareable> shared = hooks.as_shareable(obj)) return Value::Shared(std::move(shared));
  if (std::optional<Value> reference = as_reference(obj)) return std::move(*reference);
  Result<std::string> pickled = hooks.pickle(obj);
  if (!pickled.ok()) return pickled.take_status();
  return Value::Pickled(pickled.take_value());
}

Result<Value> encode_at(PyObject* obj, int depth, CodecHooks& hooks) {
  if (obj == Py_None) return Value::None();
  if (obj == Py_True || obj == Py_False) return Value::Bool(obj == Py_True);
  if (depth > kMaxNativeDepth) return encode_fallback(obj, hooks);
  if (PyLong_CheckExact(obj)) {
    int overflow = 0;
    long long small = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow == 0) return Value::Int(small);
    PyRef hex = PyRef::steal(PyNumber_ToBase(obj, 16));
    const char* utf8 = hex ? PyUnicode_AsUTF8(hex.get()) : nullptr;
    if (utf8 == nullptr) return Status(StatusCode::kInternal, fetch_error_text());
    // PyNumber_ToBase gives "-0x1f": value.h promises "-1f" (sign, digits, no prefix).
    std::string digits = utf8;
    size_t prefix = digits[0] == '-' ? 1 : 0;
    if (digits.compare(prefix, 2, "0x") == 0) digits.erase(prefix, 2);
    return Value::BigInt(std::move(digits));
  }
  if (PyFloat_CheckExact(obj)) return Value::Float(PyFloat_AS_DOUBLE(obj));
  if (PyComplex_CheckExact(obj)) return Value::Complex(PyComplex_RealAsDouble(obj), PyComplex_ImagAsDouble(obj));
  if (PyUnicode_CheckExact(obj)) {
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(obj, &size);
    if (utf8 != nullptr) return Value::Str(std::string(utf8, size));
    PyErr_Clear();  // lone surrogates: keep them, as the decoder's "surrogatepass" does
    PyRef encoded = PyRef::steal(PyUnicode_AsEncodedString(obj, "utf-8", "surrogatepass"));
    if (!encoded) return Status(StatusCode::kNotShareable, fetch_error_text());
    return Value::Str(std::string(PyBytes_AS_STRING(encoded.get()), PyBytes_GET_SIZE(encoded.get())));
  }
  if (PyBytes_CheckExact(obj)) return Value::Bytes(std::string(PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj)));
  if (PyByteArray_CheckExact(obj)) {
    return Value::ByteArray(std::string(PyByteArray_AS_STRING(obj), PyByteArray_GET_SIZE(obj)));
  }
  if (PyTuple_CheckExact(obj)) return encode_items(obj, Value::Kind::kTuple, depth, hooks);
  if (PyList_CheckExact(obj)) return encode_items(obj, Value::Kind::kList, depth, hooks);
  if (PyDict_CheckExact(obj)) {
    // A snapshot of the items: the fallback may run Python code that mutates the dict.
    PyRef items = PyRef::steal(PyDict_Items(obj));
    if (!items) return Status(StatusCode::kInternal, fetch_error_text());
    std::vector<Value> flat;
    flat.reserve(2 * PyList_GET_SIZE(items.get()));
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items.get()); ++i) {
      PyObject* pair = PyList_GET_ITEM(items.get(), i);
      for (int half = 0; half < 2; ++half) {
        Result<Value> encoded = encode_at(PyTuple_GET_ITEM(pair, half), depth + 1, hooks);
        if (!encoded.ok()) return encoded.take_status();
        flat.push_back(encoded.take_value());
      }
    }
    return Value::Dict(std::move(flat));
  }
  if (PyAnySet_CheckExact(obj)) {
    PyRef sequence = PyRef::steal(PySequence_List(obj));
    if (!sequence) return Status(StatusCode::kInternal, fetch_error_text());
    return encode_items(sequence.get(), PyFrozenSet_CheckExact(obj) ? Value::Kind::kFrozenSet : Value::Kind::kSet,
                        depth, hooks);
  }
  return encode_fallback(obj, hooks);
}

PyObject* decode_reference(const Value& value) {
  PyRef name = PyRef::steal(PyUnicode_FromStringAndSize(value.text().data(), value.text().size()));
  if (!name) return nullptr;
  PyRef found = PyRef::steal(PyImport_GetModule(name.get()));
  if (!found) {
    if (PyErr_Occurred()) return nullptr;
    found = PyRef::steal(PyImport_Import(name.get()));
    if (!found) return nullptr;
  }
  const std::string& path = value.qualname();
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    found = PyRef::steal(PyObject_GetAttrString(found.get(), part.c_str()));
    if (!found || dot == std::string::npos) break;
    start = dot + 1;
  }
  return found.release();
}

PyObject* decode_with(const Value& value, CodecHooks& hooks) {
  using Kind = Value::Kind;
  switch (value.kind()) {
    case Kind::kNone: Py_RETURN_NONE;
    case Kind::kBool: return PyBool_FromLong(value.as_bool());
    case Kind::kInt: return PyLong_FromLongLong(value.as_int());
    case Kind::kBigInt: {
      // Base 16 (an "0x" prefix is accepted too); a NUL inside the text is malformed.
      char* end = nullptr;
      PyRef number = PyRef::steal(PyLong_FromString(value.text().c_str(), &end, 16));
      if (number && end != value.text().c_str() + value.text().size()) {
        PyErr_SetString(PyExc_ValueError, "manycore: malformed BigInt text");
        return nullptr;
      }
      return number.release();
    }
    case Kind::kFloat: return PyFloat_FromDouble(value.real());
    case Kind::kComplex: return PyComplex_FromDoubles(value.real(), value.imag());
    case Kind::kStr: return PyUnicode_DecodeUTF8(value.text().data(), value.text().size(), "surrogatepass");
    case Kind::kBytes: return PyBytes_FromStringAndSize(value.text().data(), value.text().size());
    case Kind::kByteArray: return PyByteArray_FromStringAndSize(value.text().data(), value.text().size());
    case Kind::kTuple: {
      PyRef tuple = PyRef::steal(PyTuple_New(value.items().size()));
      if (!tuple) return nullptr;
      for (size_t i = 0; i < value.items().size(); ++i) {
        PyObject* item = decode_with(value.items()[i], hooks);
        if (item == nullptr) return nullptr;
        PyTuple_SET_ITEM(tuple.get(), i, item);
      }
      return tuple.release();
    }
    case Kind::kList: {
      PyRef list = PyRef::steal(PyList_New(value.items().size()));
      if (!list) return nullptr;
      for (size_t i = 0; i < value.items().size(); ++i) {
        PyObject* item = decode_with(value.items()[i], hooks);
        if (item == nullptr) return nullptr;
        PyList_SET_ITEM(list.get(), i, item);
      }
      return list.release();
    }
    case Kind::kDict: {
      PyRef dict = PyRef::steal(PyDict_New());
      if (!dict) return nullptr;
      for (size_t i = 0; i + 1 < value.items().size(); i += 2) {
        PyRef key = PyRef::steal(decode_with(value.items()[i], hooks));
        if (!key) return nullptr;
        PyRef item = PyRef::steal(decode_with(value.items()[i + 1], hooks));
        if (!item || PyDict_SetItem(dict.get(), key.get(), item.get()) < 0) return nullptr;
      }
      return dict.release();
    }
    case Kind::kSet:
    case Kind::kFrozenSet: {
      PyRef set = PyRef::steal(value.kind() == Kind::kSet ? PySet_New(nullptr) : PyFrozenSet_New(nullptr));
      if (!set) return nullptr;
      for (const Value& item_value : value.items()) {
        PyRef item = PyRef::steal(decode_with(item_value, hooks));
        if (!item || PySet_Add(set.get(), item.get()) < 0) return nullptr;
      }
      return set.release();
    }
    case Kind::kReference: return decode_reference(value);
    case Kind::kPickled: return hooks.unpickle(value.text());
    case Kind::kShareable: return hooks.wrap_shareable(value.shared());
  }
  PyErr_SetString(PyExc_SystemError, "manycore: unknown value kind");
  return nullptr;
}

}  // namespace

size_t Value::payload_size() const {
  size_t size = sizeof(Value) + text_.size() + qualname_.size();
  for (const Value& item : items_) size += item.payload_size();
  return size;
}

bool Value::operator==(const Value& other) const {
  return kind_ == other.kind_ && int_ == other.int_ && real_ == other.real_ && imag_ == other.imag_ &&
         text_ == other.text_ && qualname_ == other.qualname_ && items_ == other.items_ && shared_ == other.shared_;
}

void install_codec_hooks(CodecHooks* hooks) {
  PyObject* dict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  if (dict == nullptr) return;
  if (hooks == nullptr) {
    if (PyDict_DelItemString(dict, kHooksKey) < 0) PyErr_Clear();
    return;
  }
  PyRef capsule = PyRef::steal(PyCapsule_New(hooks, kHooksKey, nullptr));
  if (!capsule || PyDict_SetItemString(dict, kHooksKey, capsule.get()) < 0) PyErr_Clear();
}

namespace {

// The interpreter's hooks, looked up on first use: numbers, text and containers of
// them never need the hooks, and the lookup hashes a dict key on every call, which
// is most of the cost of encoding a small int (a map sends one per item).
class LazyHooks final : public CodecHooks {
 public:
  Result<std::string> pickle(PyObject* obj) override { return resolved().pickle(obj); }
  PyObject* unpickle(const std::string& data) override { return resolved().unpickle(data); }
  std::shared_ptr<Shareable> as_shareable(PyObject* obj) override { return resolved().as_shareable(obj); }
  PyObject* wrap_shareable(const std::shared_ptr<Shareable>& object) override {
    return resolved().wrap_shareable(object);
  }

 private:
  CodecHooks& resolved() {
    if (hooks_ == nullptr) hooks_ = &current_hooks();
    return *hooks_;
  }
  CodecHooks* hooks_ = nullptr;
};

}  // namespace

Result<Value> encode(PyObject* obj) {
  LazyHooks hooks;
  Result<Value> result = encode_at(obj, 0, hooks);
  if (PyErr_Occurred()) PyErr_Clear();  // failures are reported by the Status only
  return result;
}

PyObject* decode(const Value& value) {
  LazyHooks hooks;
  return decode_with(value, hooks);
}

Status capture_python_error() {
  PyObject* raised = PyErr_GetRaisedException();
  if (raised == nullptr) return Status(StatusCode::kInternal, "capture_python_error without an error");
  PyRef exc = PyRef::steal(raised);
  RemoteError error;
  PyTypeObject* type = Py_TYPE(exc.get());
  PyRef module = PyRef::steal(PyObject_GetAttrString(reinterpret_cast<PyObject*>(type), "__module__"));
  const char* module_utf8 = module && PyUnicode_Check(module.get()) ? PyUnicode_AsUTF8(module.get()) : nullptr;
  error.type_module = module_utf8 != nullptr ? module_utf8 : "builtins";
  error.type_qualname = type_name_of(exc.get());
  PyRef message = PyRef::steal(PyObject_Str(exc.get()));
  const char* message_utf8 = message ? PyUnicode_AsUTF8(message.get()) : nullptr;
  error.message = message_utf8 != nullptr ? message_utf8 : "<str() failed>";
  PyErr_Clear();
  PyRef traceback = PyRef::steal(PyImport_ImportModule("traceback"));
  PyRef lines = traceback ? PyRef::steal(PyObject_CallMethod(traceback.get(), "format_exception", "O", exc.get()))
                          : PyRef();
  PyRef empty = PyRef::steal(PyUnicode_FromString(""));
  PyRef joined = lines && empty ? PyRef::steal(PyUnicode_Join(empty.get(), lines.get())) : PyRef();
  const char* joined_utf8 = joined ? PyUnicode_AsUTF8(joined.get()) : nullptr;
  error.traceback = joined_utf8 != nullptr ? joined_utf8 : error.type_qualname + ": " + error.message + "\n";
  PyErr_Clear();
  Result<std::string> pickled = current_hooks().pickle(exc.get());
  if (pickled.ok()) error.pickled = pickled.take_value();
  PyErr_Clear();
  return Status::Remote(std::move(error));
}

}  // namespace manycore
