// include/manycore/value.h: Value, the interpreter-neutral form of a Python object, and its codec.
//
// A Value is plain C++ data: it holds no PyObject*, so it may be created under one
// interpreter's GIL, moved to any thread, and decoded under another interpreter's GIL
// (or destroyed with no GIL at all). This is how every object crosses interpreters.
//
// A Value has one of two forms:
// - encoded: what encode() returns, a handle on one segment of an immutable Message
//   (manycore/message.h): one contiguous buffer, no heap node per item, identity and
//   cycles kept. Queues, channels, calls and pools carry this form. Copying it copies
//   a shared_ptr.
// - tree: what the C++ factories below build (Value::Int, Value::List, ...), for C++
//   programs that make arguments or read results. decode() encodes a tree first.
// The readers (kind, as_int, text, items, ...) work on both: an encoded Value reads
// its segment into a tree on first use (kind() alone reads only the first byte), under
// a process-wide mutex, so several threads may read one Value at once. A tree has no
// identity: an object reached twice reads
// as two equal subtrees, and a reference back to an enclosing container (a cycle)
// reads as Kind::kCycle.
//
// Native kinds (no pickle): None, bool, int (any size), float, complex, str, bytes,
// bytearray, tuple, list, dict, set, frozenset, nested; a reference to an importable
// module-level object (module + qualname); and Shareable C++ objects (queues,
// channels) that both sides share by std::shared_ptr. Only exact built-in types are
// native: subclasses (IntEnum, namedtuple, OrderedDict, ...) go through the fallback
// so they arrive with their type. Everything else is pickled (protocol 5) by the
// interpreter's CodecHooks; what cannot be pickled fails with kNotShareable.
//
// Guarantees:
// - decode(encode(x)) == x and type(decode(encode(x))) is type(x) for native kinds.
// - Mutable containers (list, dict, set, bytearray) arrive as copies.
// - Within one Value, an object reached twice arrives as one object reached twice,
//   and cycles arrive as cycles (as pickle keeps them). Objects that go through the
//   pickle fallback are each pickled on their own: identity between two of them, or
//   between one of them and the native part around it, is not kept.
// - encode/decode must run with the GIL of the interpreter the PyObject belongs to
//   (or is to be created in) held by the calling thread.
#pragma once

#include <Python.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "manycore/status.h"

namespace manycore {

// A process-wide C++ object that several interpreters may hold at once (a queue, a
// channel end). Each interpreter reaches it through its own small Python wrapper,
// made by CodecHooks::wrap_shareable.
class Shareable {
 public:
  virtual ~Shareable() = default;
  virtual const char* type_name() const = 0;
};

class Message;
class CodecHooks;

class Value {
 public:
  enum class Kind : uint8_t {
    kNone, kBool, kInt, kBigInt, kFloat, kComplex, kStr, kBytes, kByteArray,
    kTuple, kList, kDict, kSet, kFrozenSet, kReference, kPickled, kShareable,
    kCycle,  // only in the tree read from an encoded Value: a reference back to an enclosing container
  };

  Value() = default;
  Value(const Value& other);
  Value& operator=(const Value& other);
  Value(Value&&) noexcept = default;
  Value& operator=(Value&&) noexcept = default;
  ~Value();
  static Value None() { return Value(Kind::kNone); }
  static Value Bool(bool b) { Value v(Kind::kBool); v.int_ = b; return v; }
  static Value Int(int64_t i) { Value v(Kind::kInt); v.int_ = i; return v; }
  static Value Float(double d) { Value v(Kind::kFloat); v.real_ = d; return v; }
  static Value Complex(double re, double im) { Value v(Kind::kComplex); v.real_ = re; v.imag_ = im; return v; }
  static Value Str(std::string utf8) { return WithText(Kind::kStr, std::move(utf8)); }
  static Value Bytes(std::string data) { return WithText(Kind::kBytes, std::move(data)); }
  static Value ByteArray(std::string data) { return WithText(Kind::kByteArray, std::move(data)); }
  // An int too large for int64, as a base-16 string ("-1f...").
  static Value BigInt(std::string hex) { return WithText(Kind::kBigInt, std::move(hex)); }
  // Pickled bytes; `shareables` (each a kShareable) are the objects the pickle names by
  // index (manycore._transport, internal::pickling_shareables): they travel by reference.
  static Value Pickled(std::string data, std::vector<Value> shareables = {}) {
    Value v = WithText(Kind::kPickled, std::move(data));
    v.heavy_->items = std::move(shareables);
    return v;
  }
  static Value Tuple(std::vector<Value> items) { return WithItems(Kind::kTuple, std::move(items)); }
  static Value List(std::vector<Value> items) { return WithItems(Kind::kList, std::move(items)); }
  static Value Set(std::vector<Value> items) { return WithItems(Kind::kSet, std::move(items)); }
  static Value FrozenSet(std::vector<Value> items) { return WithItems(Kind::kFrozenSet, std::move(items)); }
  // `items` alternates key, value.
  static Value Dict(std::vector<Value> items) { return WithItems(Kind::kDict, std::move(items)); }
  // An object found by importing `module` and walking the dotted `qualname`.
  static Value Reference(std::string module, std::string qualname) {
    Value v = WithText(Kind::kReference, std::move(module));
    v.heavy_->qualname = std::move(qualname);
    return v;
  }
  // What a tree read from an encoded Value holds where a container refers back to
  // itself or to one that encloses it; it encodes as None.
  static Value Cycle() { return Value(Kind::kCycle); }
  static Value Shared(std::shared_ptr<Shareable> object) {
    Value v(Kind::kShareable);
    v.heavy_ = std::make_unique<Heavy>();
    v.heavy_->shared = std::move(object);
    return v;
  }

  // Segment `segment` of `message`, in encoded form.
  static Value Encoded(std::shared_ptr<const Message> message, size_t segment);

  Kind kind() const;
  bool as_bool() const { return tree().int_ != 0; }
  int64_t as_int() const { return tree().int_; }
  double real() const { return tree().real_; }
  double imag() const { return tree().imag_; }
  // kStr (UTF-8, surrogates kept), kBytes, kByteArray, kBigInt (hex), kPickled,
  // kReference (the module name).
  const std::string& text() const { return tree().heavy().text; }
  const std::string& qualname() const { return tree().heavy().qualname; }
  const std::vector<Value>& items() const { return tree().heavy().items; }
  // Turns an encoded Value into its tree form first.
  std::vector<Value>& items();
  const std::shared_ptr<Shareable>& shared() const { return tree().heavy().shared; }

  // The encoded form's message and segment (null message for a tree).
  bool encoded() const { return message_ != nullptr; }
  const std::shared_ptr<const Message>& message() const { return message_; }
  size_t segment() const { return segment_; }

  // Bytes held, for memory accounting and benchmarks.
  size_t payload_size() const;
  // Structural: same kind and same data, items in the same order (so two kSet values
  // holding the same items in another order differ). Floats compare as doubles: NaN
  // differs from itself, -0.0 equals 0.0. kShareable compares the object's address.
  bool operator==(const Value& other) const;

 private:
  explicit Value(Kind kind) : kind_(kind) {}
  // This Value itself (a tree), or the tree read from its segment (kept in tree_).
  const Value& tree() const;
  static Value WithText(Kind kind, std::string text) {
    Value v(kind);
    v.heavy_ = std::make_unique<Heavy>();
    v.heavy_->text = std::move(text);
    return v;
  }
  static Value WithItems(Kind kind, std::vector<Value> items) {
    Value v(kind);
    v.heavy_ = std::make_unique<Heavy>();
    v.heavy_->items = std::move(items);
    return v;
  }
  // What only some kinds hold, kept out of line so that a Value stays small: the
  // encoded form (what queues and pools carry, one per item) is a few words.
  struct Heavy {
    std::string text;
    std::string qualname;
    std::vector<Value> items;
    std::shared_ptr<Shareable> shared;
  };
  const Heavy& heavy() const;

  Kind kind_ = Kind::kNone;
  int64_t int_ = 0;
  double real_ = 0.0;
  double imag_ = 0.0;
  std::unique_ptr<Heavy> heavy_;  // null when empty
  // Encoded form: the message and the segment; tree_ caches what the readers read.
  std::shared_ptr<const Message> message_;
  size_t segment_ = 0;
  mutable std::shared_ptr<const Value> tree_;
};

// What the native codec cannot do itself, supplied per interpreter. The manycore
// extension module installs its hooks in each interpreter that imports it (see
// install_codec_hooks); elsewhere the default hooks use the `pickle` module.
// All methods are called with the interpreter's GIL held.
class CodecHooks {
 public:
  virtual ~CodecHooks() = default;
  // Pickled bytes of obj, or kNotShareable naming the type and the reason.
  virtual Result<std::string> pickle(PyObject* obj) = 0;
  // New reference, or nullptr with a Python error set.
  virtual PyObject* unpickle(std::string_view data) = 0;
  // The C++ object behind a wrapper such as a manycore.Queue, or nullptr.
  virtual std::shared_ptr<Shareable> as_shareable(PyObject* obj) = 0;
  // New reference to this interpreter's wrapper for object, or nullptr with an error.
  virtual PyObject* wrap_shareable(const std::shared_ptr<Shareable>& object) = 0;
};

// Makes `hooks` the codec hooks of the current interpreter (the GIL held). The
// caller keeps hooks alive until it calls install_codec_hooks(nullptr).
void install_codec_hooks(CodecHooks* hooks);

// Encodes obj into a new one-segment Message. Never leaves a Python error set:
// failures come back as a Status (kNotShareable names the object or the limit).
Result<Value> encode(PyObject* obj);

// Decodes into a new object of the current interpreter. Returns a new reference, or
// nullptr with a Python error set.
PyObject* decode(const Value& value);

// Takes the current Python exception (which must be set) and turns it into a Status:
// kRemoteException with the exception described (and pickled when possible).
Status capture_python_error();

}  // namespace manycore
