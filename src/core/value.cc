// src/core/value.cc: Value (tree and encoded forms), the per-interpreter codec hooks, encode/decode entry points.
#include "manycore/value.h"

#include <cstring>
#include <mutex>

#include "codec.h"
#include "manycore/message.h"
#include "pyref.h"

namespace manycore {
namespace {

using internal::PyRef;

constexpr const char* kHooksKey = "manycore.codec_hooks";
}  // namespace

namespace internal {

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

}  // namespace internal

namespace {

using internal::fetch_error_text;
using internal::type_name_of;

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
  PyObject* unpickle(std::string_view data) override {
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

}  // namespace

CodecHooks& internal::current_codec_hooks() {
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


namespace {

// Guards every encoded Value's tree_ cache (process-wide, C++ only): the readers are
// const and may run on several threads at once (a pool's workers reading one shared
// callable). Taken only by readers of encoded Values, never on the transfer path.
std::mutex& tree_mutex() {
  static std::mutex* mutex = new std::mutex();  // never destroyed: Values may die at exit
  return *mutex;
}

std::shared_ptr<const Value> cached_tree(const std::shared_ptr<const Value>& cache) {
  std::lock_guard lock(tree_mutex());
  return cache;
}

}  // namespace

Value::Value(const Value& other)
    : kind_(other.kind_),
      int_(other.int_),
      real_(other.real_),
      imag_(other.imag_),
      heavy_(other.heavy_ ? std::make_unique<Heavy>(*other.heavy_) : nullptr),
      message_(other.message_),
      segment_(other.segment_),
      tree_(other.message_ ? cached_tree(other.tree_) : nullptr) {}

Value& Value::operator=(const Value& other) {
  if (this != &other) *this = Value(other);
  return *this;
}

Value::~Value() = default;

const Value::Heavy& Value::heavy() const {
  static const Heavy* const empty = new Heavy();  // never destroyed: read at exit too
  return heavy_ ? *heavy_ : *empty;
}

Value Value::Encoded(std::shared_ptr<const Message> message, size_t segment) {
  Value value;
  value.message_ = std::move(message);
  value.segment_ = segment;
  return value;
}

Value::Kind Value::kind() const {
  return message_ ? internal::segment_kind(*message_, segment_) : kind_;
}

const Value& Value::tree() const {
  if (!message_) return *this;
  std::lock_guard lock(tree_mutex());
  // Set once and never reset while this Value lives, so the reference stays valid.
  if (!tree_) tree_ = std::make_shared<const Value>(internal::segment_to_tree(*message_, segment_));
  return *tree_;
}

std::vector<Value>& Value::items() {
  if (message_) {
    Value tree_form = tree();
    *this = std::move(tree_form);
  }
  if (!heavy_) heavy_ = std::make_unique<Heavy>();
  return heavy_->items;
}

size_t Value::payload_size() const {
  if (message_) {
    size_t size = sizeof(Value) + internal::segment_bytes(*message_, segment_).size();
    // Payloads are shared by the segments of a message: counted with the first one.
    if (segment_ == 0) {
      for (size_t i = 0; i < message_->payload_count(); ++i) size += message_->payload(i).size;
    }
    return size;
  }
  size_t size = sizeof(Value) + heavy().text.size() + heavy().qualname.size();
  for (const Value& item : heavy().items) size += item.payload_size();
  return size;
}

bool Value::operator==(const Value& other) const {
  const Value& a = tree();
  const Value& b = other.tree();
  return a.kind_ == b.kind_ && a.int_ == b.int_ && a.real_ == b.real_ && a.imag_ == b.imag_ &&
         a.heavy().text == b.heavy().text && a.heavy().qualname == b.heavy().qualname &&
         a.heavy().items == b.heavy().items && a.heavy().shared == b.heavy().shared;
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

Result<Value> encode(PyObject* obj) {
  MessageBuilder builder;
  Status encoded = builder.add(obj);
  if (!encoded.ok()) return encoded;
  return Value::Encoded(builder.finish(), 0);
}

PyObject* decode(const Value& value) {
  internal::LazyHooks hooks;
  if (value.encoded()) return internal::decode_segment(*value.message(), value.segment(), hooks);
  MessageBuilder builder;
  Status encoded = builder.add(value);
  if (!encoded.ok()) {
    PyErr_Format(PyExc_ValueError, "manycore: %s", encoded.message().c_str());
    return nullptr;
  }
  std::shared_ptr<const Message> message = builder.finish();
  return internal::decode_segment(*message, 0, hooks);
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
  Result<std::string> pickled = internal::current_codec_hooks().pickle(exc.get());
  if (pickled.ok()) error.pickled = pickled.take_value();
  PyErr_Clear();
  return Status::Remote(std::move(error));
}

}  // namespace manycore
