// src/core/codec.cc: the one-pass codec between PyObjects (or Value trees) and Message segments.
//
// Stream format (one segment): a value is a tag byte and its data. Integers in the
// stream are LEB128 varints (signed ones zigzag-coded); floats are 8 raw bytes.
// Objects that can be reached again take the next memo index when they are read (their
// tag has kMemoFlag set), as in pickle's memo: mutable containers (list, dict, set)
// when they are created, before their items, so an item can refer back to them (a
// cycle); everything else (str, bytes, tuple, frozenset, references, pickled and
// shareable objects) once it is complete. A tuple (or frozenset) that turns out to be
// reachable from its own items is written as pickle does: its items are written (they
// define the copy that the inner reference made), then kTupleRedo says "drop these,
// the value is memo[i]".
// Which objects can be reached again: only those with more than one reference. An
// object whose one reference is the container being written cannot be reached by
// another path, and a cycle through an object is itself a second reference. So the
// memo (an address hash table) only sees objects that are really shared, and the
// common acyclic, unshared value never touches it: that is what keeps identity
// tracking free for it. A segment's top-level leaf takes no index either. One exception:
// a shared tuple is memoized only once complete, so while its items are written it may
// be reached again through an unshared list inside it (t = ([t],) where only t holds
// the list); so mutable containers inside a shared tuple being written are memoized
// as well, which ends that second pass at the list, as pickle's memo does.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "codec.h"
#include "pyref.h"

namespace manycore {

using internal::PyRef;

namespace {

// The Shareables that the pickle being made or read on this thread names by index
// (internal::pickling_shareables): set around each hook call, restored after it, so
// a pickle made while another is read (or made) keeps its own.
thread_local std::vector<std::shared_ptr<Shareable>>* t_pickling_shareables = nullptr;
thread_local const std::vector<std::shared_ptr<Shareable>>* t_unpickling_shareables = nullptr;

template <typename Pointer>
class ScopedPointer {
 public:
  ScopedPointer(Pointer& slot, Pointer value) : slot_(slot), saved_(slot) { slot_ = value; }
  ~ScopedPointer() { slot_ = saved_; }
  ScopedPointer(const ScopedPointer&) = delete;
  ScopedPointer& operator=(const ScopedPointer&) = delete;

 private:
  Pointer& slot_;
  Pointer saved_;
};

enum Tag : uint8_t {
  kTagNone, kTagTrue, kTagFalse, kTagInt, kTagBigInt, kTagFloat, kTagComplex,
  kTagStr1, kTagStr2, kTagStr4, kTagStrUtf8,
  kTagBytes, kTagBytesOut, kTagByteArray, kTagByteArrayOut,
  kTagList, kTagListInt, kTagListFloat, kTagListStr, kTagListBytes,
  kTagTuple, kTagTupleInt, kTagTupleFloat, kTagTupleStr, kTagTupleBytes, kTagTupleRedo,
  kTagDict, kTagSet, kTagFrozenSet, kTagFrozenSetRedo,
  kTagReference, kTagPickled, kTagPickledOut, kTagShareable, kTagBackRef,
  // A pickle that names Shareables by index: varint n, n message shareable indices,
  // then the kTagPickled or kTagPickledOut blob (whose persistent names are 0..n-1).
  kTagPickledShared,
  // Before a dict key only: 8 bytes, the str's hash (every interpreter of a process
  // hashes a str alike: one _Py_HashSecret), then the key. The decoder stores it in
  // the new str, so inserting the key computes no hash.
  kTagKeyHash,
  // A str whose code units are all ASCII (1 byte each): the decoder skips the scan
  // for the largest one that PyUnicode_FromKindAndData makes.
  kTagStrAscii,
  kTagCount,
};

// Packed runs: the offset of the tuple tag from the list tag.
constexpr uint8_t kTupleRun = kTagTupleInt - kTagListInt;
// Set on a tag whose object takes the next memo index.
constexpr uint8_t kMemoFlag = 0x80;

std::string depth_error() {
  return "the value is nested deeper than " + std::to_string(kMaxNestingDepth) +
         " containers, the most that can cross interpreters";
}

std::string size_error() {
  return "the value needs more than " + std::to_string(kMaxMessageBytes >> 30) +
         " GiB encoded, the most one message can carry";
}

}  // namespace

// ---- reusable payload buffers ----------------------------------------------------------

namespace {

constexpr size_t kReusableFrom = size_t(1) << 20;

// Process-wide, C++ only. `mutex` guards `free` and `bytes`; it is held only to push
// or pop, never while copying.
struct PayloadPool {
  std::mutex mutex;
  std::vector<std::pair<uint8_t*, size_t>> free;  // guarded by mutex: (buffer, capacity)
  size_t bytes = 0;                               // guarded by mutex
};

PayloadPool& payload_pool() {
  static PayloadPool* pool = new PayloadPool();  // never destroyed: messages may die at exit
  return *pool;
}

// A buffer of at least `size` bytes: a freed one whose capacity fits (at most twice the
// size, so a small payload never pins a large buffer), else a new one.
ByteBuffer take_payload_buffer(size_t size) {
  if (size >= kReusableFrom) {
    PayloadPool& pool = payload_pool();
    std::lock_guard lock(pool.mutex);
    for (size_t i = 0; i < pool.free.size(); ++i) {
      auto [data, capacity] = pool.free[i];
      if (capacity >= size && capacity / 2 <= size) {
        pool.free.erase(pool.free.begin() + static_cast<std::ptrdiff_t>(i));
        pool.bytes -= capacity;
        return ByteBuffer(data, BufferDeleter{capacity});
      }
    }
  }
  return ByteBuffer(static_cast<uint8_t*>(std::malloc(size)), BufferDeleter{size >= kReusableFrom ? size : 0});
}

}  // namespace

void BufferDeleter::operator()(uint8_t* data) const {
  if (data == nullptr) return;
  if (reusable_capacity >= kReusableFrom && reusable_capacity <= kReusedPayloadBytes) {
    PayloadPool& pool = payload_pool();
    std::unique_lock lock(pool.mutex);
    // Full: drop the oldest buffers first (the newest is the likeliest to fit the next).
    while (pool.bytes + reusable_capacity > kReusedPayloadBytes && !pool.free.empty()) {
      std::free(pool.free.front().first);
      pool.bytes -= pool.free.front().second;
      pool.free.erase(pool.free.begin());
    }
    pool.free.emplace_back(data, reusable_capacity);
    pool.bytes += reusable_capacity;
    return;
  }
  std::free(data);
}

// ---- MessageBuilder::Writer: the stream being written and its side vectors ---------

struct MessageBuilder::Writer {
  ~Writer() { deleter()(data); }

  // How the stream's buffer is freed: a large one goes back to the payload pool, so the
  // next large message is written into pages already mapped (a 1M-int list's stream
  // is 8 MiB: 2,048 page faults, about 6 ms on the project's VMs, each way).
  BufferDeleter deleter() const { return BufferDeleter{pooled ? capacity : 0}; }

  void reserve(size_t more) {
    if (capacity - size < more) grow(more);
  }
  void byte(uint8_t value) {
    reserve(1);
    data[size++] = value;
  }
  void varint(uint64_t value) {
    reserve(10);
    while (value >= 0x80) {
      data[size++] = static_cast<uint8_t>(value) | 0x80;
      value >>= 7;
    }
    data[size++] = static_cast<uint8_t>(value);
  }
  void signed_varint(int64_t value) {
    varint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
  }
  void raw(const void* bytes, size_t count) {
    reserve(count);
    if (count != 0) std::memcpy(data + size, bytes, count);
    size += count;
  }
  void float64(double value) { raw(&value, sizeof value); }
  // Pads so that 2- and 4-byte code units start at an address of their alignment (the
  // buffer is malloc-aligned, and so is the finished message's): the decoder hands
  // them to PyUnicode_FromKindAndData, which reads them as Py_UCS2/Py_UCS4.
  void align(int unit) {
    while (size % static_cast<size_t>(unit) != 0) byte(0);
  }
  // Bytes of the current segment so far.
  uint64_t segment_bytes() const { return size - segment_start + segment_payload_bytes; }

  // A bytes-like payload: inline below kOutOfLineBytes, else its own buffer.
  bool blob(uint8_t inline_tag, uint8_t out_tag, const void* bytes, size_t count, uint8_t flag = 0) {
    if (segment_bytes() + count > kMaxMessageBytes) return false;
    if (count < kOutOfLineBytes) {
      byte(inline_tag | flag);
      varint(count);
      raw(bytes, count);
      return true;
    }
    Message::Payload payload;
    payload.data = take_payload_buffer(count);
    if (!payload.data) return false;
    std::memcpy(payload.data.get(), bytes, count);
    payload.size = count;
    byte(out_tag | flag);
    varint(payloads.size());
    payloads.push_back(std::move(payload));
    segment_payload_bytes += count;
    return true;
  }

  // Undoes everything written since the current segment began.
  void rewind_segment(size_t payload_count, size_t shareable_count) {
    size = segment_start;
    payloads.resize(payload_count);
    shareables.resize(shareable_count);
    segment_payload_bytes = 0;
  }

  uint8_t* data = nullptr;
  size_t size = 0;
  size_t capacity = 0;
  bool pooled = false;  // data came from take_payload_buffer (capacity is its size)
  size_t segment_start = 0;
  uint64_t segment_payload_bytes = 0;
  std::vector<size_t> segment_ends;
  std::vector<Message::Payload> payloads;
  std::vector<std::shared_ptr<Shareable>> shareables;

 private:
  [[noreturn]] static void out_of_memory(size_t wanted) {
    // Out of memory while encoding is not recoverable in the middle of a write.
    std::fprintf(stderr, "manycore: out of memory growing a message to %zu bytes\n", wanted);
    std::abort();
  }
  void grow(size_t more) {
    size_t wanted = std::max<size_t>({size + more, 2 * capacity, 256});
    if (wanted >= kReusableFrom && wanted <= kReusedPayloadBytes) {
      ByteBuffer grown = take_payload_buffer(wanted);
      if (grown) {
        if (size != 0) std::memcpy(grown.get(), data, size);
        deleter()(data);  // the old buffer: freed or pooled
        capacity = grown.get_deleter().reusable_capacity;
        data = grown.release();
        pooled = true;
        return;
      }
    }
    if (pooled) {  // past the pool's sizes: plain memory from here on, grown by realloc
      auto* plain = static_cast<uint8_t*>(std::malloc(wanted));
      if (plain == nullptr) out_of_memory(wanted);
      std::memcpy(plain, data, size);
      deleter()(data);
      data = plain;
      capacity = wanted;
      pooled = false;
      return;
    }
    auto* grown = static_cast<uint8_t*>(std::realloc(data, wanted));
    if (grown == nullptr) out_of_memory(wanted);
    data = grown;
    capacity = wanted;
  }
};

namespace {

using Writer = MessageBuilder::Writer;

// ---- encoding -------------------------------------------------------------------------

// Object address -> memo index, for one segment. Holds a strong reference to every key
// (the pickle fallback runs Python code, which could free an object and let another
// take its address). Open addressing, linear probing; no allocation until it
// outgrows its inline slots.
class IdentityMemo {
 public:
  // The inline slots are cleared on the first add: most segments (a task's int, a
  // record nobody else holds) never add anything, and they pay nothing.
  IdentityMemo() = default;
  ~IdentityMemo() {
    if (count_ == 0) return;
    for (size_t i = 0; i <= mask_; ++i) Py_XDECREF(slots_[i].key);
    if (slots_ != inline_slots_) delete[] slots_;
  }
  IdentityMemo(const IdentityMemo&) = delete;
  IdentityMemo& operator=(const IdentityMemo&) = delete;

  bool find(PyObject* key, uint32_t* index) const {
    if (count_ == 0) return false;
    for (size_t i = hash(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        *index = slots_[i].index;
        return true;
      }
      if (slots_[i].key == nullptr) return false;
    }
  }
  // Gives key the next index. The caller knows it is absent.
  void add(PyObject* key) {
    if (count_ == 0) std::memset(inline_slots_, 0, sizeof inline_slots_);
    if (2 * (count_ + 1) > mask_ + 1) grow();
    insert(slots_, mask_, key, next_index_++);
    Py_INCREF(key);
    ++count_;
  }
  // A memo index taken by an object that is not a key (a segment's top-level leaf
  // takes none, so nothing to do there; this keeps the decoder's numbering in step for
  // items that are registered but never looked up, such as a tree's).
  uint32_t next_index() const { return next_index_; }

 private:
  struct Slot {
    PyObject* key;
    uint32_t index;
  };
  static constexpr size_t kInline = 64;  // a 20-level DAG or a few dozen shared objects: no allocation

  size_t hash(PyObject* key) const {
    uint64_t bits = reinterpret_cast<uintptr_t>(key) >> 4;
    return static_cast<size_t>((bits * 0x9E3779B97F4A7C15ull) >> 20) & mask_;
  }
  void insert(Slot* slots, size_t mask, PyObject* key, uint32_t index) {
    uint64_t bits = reinterpret_cast<uintptr_t>(key) >> 4;
    size_t i = static_cast<size_t>((bits * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (slots[i].key != nullptr) i = (i + 1) & mask;
    slots[i] = Slot{key, index};
  }
  void grow() {
    size_t capacity = 2 * (mask_ + 1);
    Slot* grown = new Slot[capacity]();
    for (size_t i = 0; i <= mask_; ++i) {
      if (slots_[i].key != nullptr) insert(grown, capacity - 1, slots_[i].key, slots_[i].index);
    }
    if (slots_ != inline_slots_) delete[] slots_;
    slots_ = grown;
    mask_ = capacity - 1;
  }

  Slot inline_slots_[kInline];
  Slot* slots_ = inline_slots_;
  size_t mask_ = kInline - 1;
  size_t count_ = 0;
  uint32_t next_index_ = 0;
};

// The attribute at a dotted path below `found` (a new reference), or nullptr with an
// error set. A path without a dot, the usual case, is one lookup with the str itself.
PyRef lookup_path(PyRef found, PyObject* path_str, std::string_view path) {
  if (path.find('.') == std::string_view::npos) return PyRef::steal(PyObject_GetAttr(found.get(), path_str));
  size_t start = 0;
  while (found) {
    size_t dot = path.find('.', start);
    std::string_view part = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    PyRef name = PyRef::steal(PyUnicode_FromStringAndSize(part.data(), static_cast<Py_ssize_t>(part.size())));
    if (!name) return PyRef();
    found = PyRef::steal(PyObject_GetAttr(found.get(), name.get()));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return found;
}

// A module-level object that `import module; module.qualname` finds again: its module
// and qualified names, which stay valid while the two references live.
struct ReferenceNames {
  PyRef module_name, qualified;
  std::string_view module, qualname;
};

// __module__ and __qualname__, read from the object's own fields where CPython keeps
// them (a call passes its callable through here each time; the generic attribute
// lookups cost about as much as the rest of a small call's encoding).
bool reference_names(PyObject* obj, ReferenceNames& names) {
  if (PyFunction_Check(obj)) {
    auto* function = reinterpret_cast<PyFunctionObject*>(obj);
    names.module_name = PyRef::borrow(function->func_module);
    names.qualified = PyRef::borrow(function->func_qualname);
  } else if (PyType_Check(obj)) {
    names.module_name = PyRef::steal(PyObject_GetAttrString(obj, "__module__"));
    names.qualified = PyRef::steal(PyType_GetQualName(reinterpret_cast<PyTypeObject*>(obj)));
  } else if (PyCFunction_Check(obj)) {
    auto* function = reinterpret_cast<PyCFunctionObject*>(obj);
    if (function->m_self == nullptr || PyModule_Check(function->m_self)) {
      // A module's function (len, math.sqrt): its __qualname__ is its name.
      names.module_name = PyRef::borrow(function->m_module);
      names.qualified = PyRef::steal(PyUnicode_FromString(function->m_ml->ml_name));
    } else {
      names.module_name = PyRef::steal(PyObject_GetAttrString(obj, "__module__"));
      names.qualified = PyRef::steal(PyObject_GetAttrString(obj, "__qualname__"));
    }
  } else {
    return false;
  }
  if (!names.module_name || !names.qualified || !PyUnicode_Check(names.module_name.get()) ||
      !PyUnicode_Check(names.qualified.get())) {
    PyErr_Clear();
    return false;
  }
  Py_ssize_t module_size, qualname_size;
  const char* module_utf8 = PyUnicode_AsUTF8AndSize(names.module_name.get(), &module_size);
  const char* qualname_utf8 = PyUnicode_AsUTF8AndSize(names.qualified.get(), &qualname_size);
  if (module_utf8 == nullptr || qualname_utf8 == nullptr) {
    PyErr_Clear();
    return false;
  }
  names.module = {module_utf8, static_cast<size_t>(module_size)};
  names.qualname = {qualname_utf8, static_cast<size_t>(qualname_size)};
  return true;
}

bool as_reference(PyObject* obj, ReferenceNames& names) {
  if (!reference_names(obj, names)) return false;
  // __main__ differs per interpreter and "<locals>"/"<lambda>" cannot be looked up:
  // the fallback (manycore._transport) handles both.
  if (names.module == "__main__" || names.qualname.find('<') != std::string_view::npos) return false;
  // sys.modules itself, not PyImport_GetModule: this only checks that the object is
  // reachable by name, so the check for a module still initializing (two attribute
  // lookups) can be left to the decoder's import.
  PyRef found = PyRef::borrow(PyDict_GetItemWithError(PyImport_GetModuleDict(), names.module_name.get()));
  if (found) found = lookup_path(std::move(found), names.qualified.get(), names.qualname);
  if (!found) {
    PyErr_Clear();
    return false;
  }
  return found.get() == obj;
}

// Process-wide, for `bench data` only (see internal::set_identity_tracking).
std::atomic<bool> identity_tracking{true};

class Encoder {
 public:
  Encoder(Writer& writer, CodecHooks& hooks)
      : out_(writer), hooks_(hooks), tracking_(identity_tracking.load(std::memory_order_relaxed)) {}

  // False with error() set on failure. `held` counts the references the caller took
  // itself for the time of the call (they do not make obj shared).
  bool value(PyObject* obj, int depth, Py_ssize_t held = 0) {
    PyTypeObject* type = Py_TYPE(obj);
    if (obj == Py_None) return out_.byte(kTagNone), true;
    if (type == &PyBool_Type) return out_.byte(obj == Py_True ? kTagTrue : kTagFalse), true;
    if (type == &PyLong_Type) return integer(obj);
    if (type == &PyFloat_Type) {
      out_.byte(kTagFloat);
      out_.float64(PyFloat_AS_DOUBLE(obj));
      return true;
    }
    if (type == &PyComplex_Type) {
      out_.byte(kTagComplex);
      out_.float64(PyComplex_RealAsDouble(obj));
      out_.float64(PyComplex_ImagAsDouble(obj));
      return true;
    }
    const bool shared = tracking_ && (Py_REFCNT(obj) > 1 + held ||
                                      (open_immutables_ > 0 &&
                                       (type == &PyList_Type || type == &PyDict_Type || type == &PySet_Type)));
    uint32_t seen;
    if (shared && memo_.find(obj, &seen)) {
      out_.byte(kTagBackRef);
      out_.varint(seen);
      return true;
    }
    const bool leaf_shared = shared && depth > 0;
    const uint8_t leaf_flag = leaf_shared ? kMemoFlag : 0;
    if (type == &PyUnicode_Type) {
      if (leaf_shared) memo_.add(obj);
      return string(obj, kTagStr1, leaf_flag);
    }
    if (type == &PyBytes_Type) {
      if (leaf_shared) memo_.add(obj);
      return blob(kTagBytes, kTagBytesOut, PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj), leaf_flag);
    }
    if (type == &PyByteArray_Type) {
      if (leaf_shared) memo_.add(obj);
      return blob(kTagByteArray, kTagByteArrayOut, PyByteArray_AS_STRING(obj), PyByteArray_GET_SIZE(obj), leaf_flag);
    }
    if (type == &PyList_Type || type == &PyTuple_Type || type == &PyDict_Type || type == &PySet_Type ||
        type == &PyFrozenSet_Type) {
      if (depth >= kMaxNestingDepth) return fail(StatusCode::kNotShareable, depth_error());
      if (type == &PyList_Type) return list(obj, depth, shared);
      if (type == &PyTuple_Type) return tuple(obj, depth, shared);
      if (type == &PyDict_Type) return dict(obj, depth, shared);
      return set(obj, depth, type == &PyFrozenSet_Type, shared);
    }
    return fallback(obj, leaf_shared);
  }

  Status take_error() { return std::move(error_); }

 private:
  bool fail(StatusCode code, std::string text) {
    error_ = Status(code, std::move(text));
    return false;
  }

  bool integer(PyObject* obj) {
    int overflow = 0;
    long long small = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow == 0) {
      out_.byte(kTagInt);
      out_.signed_varint(small);
      return true;
    }
    PyRef hex = PyRef::steal(PyNumber_ToBase(obj, 16));
    Py_ssize_t size = 0;
    const char* text = hex ? PyUnicode_AsUTF8AndSize(hex.get(), &size) : nullptr;
    if (text == nullptr) return fail(StatusCode::kInternal, internal::fetch_error_text());
    // PyNumber_ToBase gives "-0x1f"; the stream holds "-1f" (sign, digits, no prefix).
    std::string digits(text, static_cast<size_t>(size));
    size_t prefix = digits[0] == '-' ? 1 : 0;
    if (digits.compare(prefix, 2, "0x") == 0) digits.erase(prefix, 2);
    if (out_.segment_bytes() + digits.size() > kMaxMessageBytes) return fail(StatusCode::kNotShareable, size_error());
    out_.byte(kTagBigInt);
    out_.varint(digits.size());
    out_.raw(digits.data(), digits.size());
    return true;
  }

  static int kind_code(int kind) { return kind == PyUnicode_1BYTE_KIND ? 0 : kind == PyUnicode_2BYTE_KIND ? 1 : 2; }

  // The code units as they are: no UTF-8 round trip, lone surrogates kept.
  bool string(PyObject* obj, uint8_t first_tag, uint8_t flag) {
    int kind = PyUnicode_KIND(obj);
    size_t length = static_cast<size_t>(PyUnicode_GET_LENGTH(obj));
    size_t bytes = length * static_cast<size_t>(kind);
    if (out_.segment_bytes() + bytes > kMaxMessageBytes) return fail(StatusCode::kNotShareable, size_error());
    const uint8_t tag = PyUnicode_IS_ASCII(obj) ? uint8_t{kTagStrAscii} : static_cast<uint8_t>(first_tag + kind_code(kind));
    out_.byte(static_cast<uint8_t>(tag | flag));
    out_.varint(length);
    out_.align(kind);
    out_.raw(PyUnicode_DATA(obj), bytes);
    return true;
  }

  bool blob(uint8_t inline_tag, uint8_t out_tag, const char* data, Py_ssize_t size, uint8_t flag) {
    if (out_.blob(inline_tag, out_tag, data, static_cast<size_t>(size), flag)) return true;
    return fail(StatusCode::kNotShareable, size_error());
  }

  // ---- packed runs: false (nothing written) when the items do not all fit ----

  bool int_run(uint8_t tag, PyObject** items, size_t count) {
    const size_t header = out_.size;
    out_.byte(tag);
    out_.varint(count);
    out_.reserve(8 * count);
    uint8_t* into = out_.data + out_.size;
    for (size_t i = 0; i < count; ++i) {
      PyObject* item = items[i];
      if (Py_TYPE(item) != &PyLong_Type) return out_.size = header, false;
      int64_t number;
      if (PyUnstable_Long_IsCompact(reinterpret_cast<PyLongObject*>(item))) {
        number = PyUnstable_Long_CompactValue(reinterpret_cast<PyLongObject*>(item));
      } else {
        int overflow = 0;
        number = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow != 0) return out_.size = header, false;
      }
      std::memcpy(into + 8 * i, &number, 8);
    }
    out_.size += 8 * count;
    return true;
  }

  bool float_run(uint8_t tag, PyObject** items, size_t count) {
    const size_t header = out_.size;
    out_.byte(tag);
    out_.varint(count);
    out_.reserve(8 * count);
    uint8_t* into = out_.data + out_.size;
    for (size_t i = 0; i < count; ++i) {
      if (Py_TYPE(items[i]) != &PyFloat_Type) return out_.size = header, false;
      double number = PyFloat_AS_DOUBLE(items[i]);
      std::memcpy(into + 8 * i, &number, 8);
    }
    out_.size += 8 * count;
    return true;
  }

  // An item of a str or bytes run: when it was seen before, writes its back-reference
  // (memo index << flag_bits, the flag bits all set) and returns true; otherwise
  // returns false, with `shared` saying whether it takes the next memo index.
  bool run_backref(PyObject* item, unsigned flag_bits, bool& shared) {
    shared = tracking_ && Py_REFCNT(item) > 1;
    uint32_t seen;
    if (shared && memo_.find(item, &seen)) {
      out_.varint((uint64_t(seen) << flag_bits) | ((uint64_t(1) << flag_bits) - 1));
      return true;
    }
    if (shared) memo_.add(item);
    return false;
  }

  // Each item: (memo index << 2 | 3) when seen before, else (length << 4 | ascii << 3 |
  // shared << 2 | kind code) and the code units; a shared one takes the next memo index.
  bool str_run(uint8_t tag, PyObject** items, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (Py_TYPE(items[i]) != &PyUnicode_Type) return false;
    }
    out_.byte(tag);
    out_.varint(count);
    for (size_t i = 0; i < count; ++i) {
      PyObject* item = items[i];
      bool shared;
      if (run_backref(item, 2, shared)) continue;
      int kind = PyUnicode_KIND(item);
      size_t length = static_cast<size_t>(PyUnicode_GET_LENGTH(item));
      size_t bytes = length * static_cast<size_t>(kind);
      if (out_.segment_bytes() + bytes > kMaxMessageBytes) return fail(StatusCode::kNotShareable, size_error());
      out_.varint((uint64_t(length) << 4) | (uint64_t(PyUnicode_IS_ASCII(item) ? 1 : 0) << 3) |
                  (uint64_t(shared) << 2) | static_cast<uint64_t>(kind_code(kind)));
      out_.align(kind);
      out_.raw(PyUnicode_DATA(item), bytes);
    }
    return true;
  }

  // Each item: (memo index << 1 | 1) when seen before, else (length << 2 | shared << 1)
  // and the bytes; a shared one takes the next memo index.
  bool bytes_run(uint8_t tag, PyObject** items, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (Py_TYPE(items[i]) != &PyBytes_Type || PyBytes_GET_SIZE(items[i]) >= Py_ssize_t(kOutOfLineBytes)) {
        return false;
      }
    }
    out_.byte(tag);
    out_.varint(count);
    for (size_t i = 0; i < count; ++i) {
      PyObject* item = items[i];
      bool shared;
      if (run_backref(item, 1, shared)) continue;
      size_t size = static_cast<size_t>(PyBytes_GET_SIZE(item));
      if (out_.segment_bytes() + size > kMaxMessageBytes) return fail(StatusCode::kNotShareable, size_error());
      out_.varint((uint64_t(size) << 2) | (uint64_t(shared) << 1));
      out_.raw(PyBytes_AS_STRING(item), size);
    }
    return true;
  }

  // Tries the packed run the first item suggests. `error_` set means a hard failure.
  bool packed(uint8_t offset, uint8_t flag, PyObject** items, size_t count, bool* failed) {
    *failed = false;
    if (count == 0) return false;
    PyTypeObject* first = Py_TYPE(items[0]);
    bool done = false;
    if (first == &PyLong_Type) done = int_run((kTagListInt + offset) | flag, items, count);
    else if (first == &PyFloat_Type) done = float_run((kTagListFloat + offset) | flag, items, count);
    else if (first == &PyUnicode_Type) done = str_run((kTagListStr + offset) | flag, items, count);
    else if (first == &PyBytes_Type) done = bytes_run((kTagListBytes + offset) | flag, items, count);
    *failed = !done && !error_.ok();
    return done;
  }

  bool list(PyObject* obj, int depth, bool shared) {
    if (shared) memo_.add(obj);
    const uint8_t flag = shared ? kMemoFlag : 0;
    const size_t count = static_cast<size_t>(PyList_GET_SIZE(obj));
    bool failed;
    if (packed(0, flag, PySequence_Fast_ITEMS(obj), count, &failed)) return true;
    if (failed) return false;
    out_.byte(kTagList | flag);
    out_.varint(count);
    for (size_t i = 0; i < count; ++i) {
      // Re-read on every step: the pickle fallback runs Python code, which may resize
      // the list; the strong reference keeps the item alive while it is written.
      if (i >= static_cast<size_t>(PyList_GET_SIZE(obj))) return changed_size("list");
      PyRef item = PyRef::borrow(PyList_GET_ITEM(obj, i));
      if (!value(item.get(), depth + 1, 1)) return false;
    }
    if (count != static_cast<size_t>(PyList_GET_SIZE(obj))) return changed_size("list");
    return true;
  }

  bool changed_size(const char* what) {
    return fail(StatusCode::kNotShareable, std::string(what) + " changed size while it was being sent");
  }

  // Written before it is memoized (it is immutable). If its items reached it again
  // (through a mutable container), that inner copy is the one the memo knows: redo.
  bool close_immutable(PyObject* obj, size_t header, uint8_t redo_tag) {
    uint32_t seen;
    if (memo_.find(obj, &seen)) {
      out_.data[header] = redo_tag;
      out_.varint(seen);
    } else {
      memo_.add(obj);
    }
    return true;
  }

  // An unshared tuple cannot be in a cycle (that would be a second reference).
  bool tuple(PyObject* obj, int depth, bool shared) {
    const uint8_t flag = shared ? kMemoFlag : 0;
    const size_t count = static_cast<size_t>(PyTuple_GET_SIZE(obj));
    bool failed;
    if (packed(kTupleRun, flag, PySequence_Fast_ITEMS(obj), count, &failed)) {
      if (shared) memo_.add(obj);
      return true;
    }
    if (failed) return false;
    const size_t header = out_.size;
    out_.byte(kTagTuple | flag);
    out_.varint(count);
    if (shared) ++open_immutables_;
    for (size_t i = 0; i < count; ++i) {
      if (!value(PyTuple_GET_ITEM(obj, i), depth + 1)) return false;
    }
    if (!shared) return true;
    --open_immutables_;
    return close_immutable(obj, header, kTagTupleRedo);
  }

  // The hash of a str key only its dict holds (a shared one arrives once, as a
  // back-reference after its first use): the decoder would compute it again.
  void key_hash(PyObject* key) {
    if (Py_TYPE(key) != &PyUnicode_Type || Py_REFCNT(key) > 2) return;
    Py_hash_t hash = reinterpret_cast<PyASCIIObject*>(key)->hash;
    if (hash == -1) return;
    out_.byte(kTagKeyHash);
    out_.raw(&hash, sizeof hash);
  }

  bool dict(PyObject* obj, int depth, bool shared) {
    if (shared) memo_.add(obj);
    const size_t count = static_cast<size_t>(PyDict_GET_SIZE(obj));
    out_.byte(kTagDict | (shared ? kMemoFlag : 0));
    out_.varint(count);
    Py_ssize_t position = 0;
    PyObject* key;
    PyObject* item;
    size_t written = 0;
    while (PyDict_Next(obj, &position, &key, &item)) {
      if (written == count) return changed_size("dict");
      // Strong references: writing either may run Python code (the pickle fallback).
      PyRef held_key = PyRef::borrow(key);
      PyRef held_item = PyRef::borrow(item);
      key_hash(key);
      if (!value(held_key.get(), depth + 1, 1) || !value(held_item.get(), depth + 1, 1)) return false;
      ++written;
    }
    if (written != count) return changed_size("dict");
    return true;
  }

  bool set(PyObject* obj, int depth, bool frozen, bool shared) {
    if (!frozen && shared) memo_.add(obj);
    const size_t count = static_cast<size_t>(PySet_GET_SIZE(obj));
    const size_t header = out_.size;
    out_.byte((frozen ? kTagFrozenSet : kTagSet) | (shared ? kMemoFlag : 0));
    out_.varint(count);
    PyRef iterator = PyRef::steal(PyObject_GetIter(obj));
    if (!iterator) return fail(StatusCode::kInternal, internal::fetch_error_text());
    size_t written = 0;
    const bool open = frozen && shared;
    if (open) ++open_immutables_;
    while (PyRef item = PyRef::steal(PyIter_Next(iterator.get()))) {
      if (written == count) return changed_size("set");
      if (!value(item.get(), depth + 1, 1)) return false;
      ++written;
    }
    if (PyErr_Occurred()) {  // "Set changed size during iteration"
      PyErr_Clear();
      return changed_size("set");
    }
    if (written != count) return changed_size("set");
    if (!open) return true;
    --open_immutables_;
    return close_immutable(obj, header, kTagFrozenSetRedo);
  }

  bool fallback(PyObject* obj, bool takes_index) {
    if (std::shared_ptr<Shareable> shared = hooks_.as_shareable(obj)) {
      if (takes_index) memo_.add(obj);
      out_.byte(kTagShareable | (takes_index ? kMemoFlag : 0));
      out_.varint(out_.shareables.size());
      out_.shareables.push_back(std::move(shared));
      return true;
    }
    if (ReferenceNames names; as_reference(obj, names)) {
      if (takes_index) memo_.add(obj);
      out_.byte(kTagReference | (takes_index ? kMemoFlag : 0));
      out_.varint(names.module.size());
      out_.raw(names.module.data(), names.module.size());
      out_.varint(names.qualname.size());
      out_.raw(names.qualname.data(), names.qualname.size());
      return true;
    }
    std::vector<std::shared_ptr<Shareable>> named;
    Result<std::string> pickled = Status();
    {
      ScopedPointer scope(t_pickling_shareables, &named);
      pickled = hooks_.pickle(obj);
    }
    if (!pickled.ok()) {
      error_ = pickled.take_status();
      return false;
    }
    // The pickling ran Python code: obj may have been reached (and written) meanwhile
    // only through that code, which never calls back into this encoder, so it is absent.
    if (takes_index) memo_.add(obj);
    uint8_t flag = takes_index ? kMemoFlag : 0;
    if (!named.empty()) {
      out_.byte(kTagPickledShared | flag);
      out_.varint(named.size());
      for (std::shared_ptr<Shareable>& shared : named) {
        out_.varint(out_.shareables.size());
        out_.shareables.push_back(std::move(shared));
      }
      flag = 0;
    }
    const std::string& data = pickled.value();
    return blob(kTagPickled, kTagPickledOut, data.data(), static_cast<Py_ssize_t>(data.size()), flag);
  }

  Writer& out_;
  CodecHooks& hooks_;
  const bool tracking_;
  IdentityMemo memo_;
  int open_immutables_ = 0;  // shared tuples and frozensets whose items are being written
  Status error_;
};

// ---- decoding -------------------------------------------------------------------------

PyObject* malformed(const char* what) {
  PyErr_Format(PyExc_SystemError, "manycore: malformed message (%s)", what);
  return nullptr;
}

PyObject* import_reference(std::string_view module, std::string_view qualname) {
  PyRef name = PyRef::steal(PyUnicode_FromStringAndSize(module.data(), static_cast<Py_ssize_t>(module.size())));
  if (!name) return nullptr;
  PyRef found = PyRef::steal(PyImport_GetModule(name.get()));
  if (!found) {
    if (PyErr_Occurred()) return nullptr;
    found = PyRef::steal(PyImport_Import(name.get()));
    if (!found) return nullptr;
  }
  PyRef path;
  if (qualname.find('.') == std::string_view::npos) {
    path = PyRef::steal(PyUnicode_FromStringAndSize(qualname.data(), static_cast<Py_ssize_t>(qualname.size())));
    if (!path) return nullptr;
  }
  return lookup_path(std::move(found), path.get(), qualname).release();
}

// Reads the stream of one segment. Shared by the PyObject decoder and the tree reader.
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end) : at_(begin), end_(end) {}
  bool at_end() const { return at_ == end_; }
  size_t left() const { return static_cast<size_t>(end_ - at_); }
  bool byte(uint8_t* value) {
    if (at_ == end_) return false;
    *value = *at_++;
    return true;
  }
  bool varint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && at_ != end_; shift += 7) {
      uint8_t next = *at_++;
      result |= uint64_t(next & 0x7f) << shift;
      if ((next & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  }
  bool signed_varint(int64_t* value) {
    uint64_t zigzag;
    if (!varint(&zigzag)) return false;
    *value = static_cast<int64_t>(zigzag >> 1) ^ -static_cast<int64_t>(zigzag & 1);
    return true;
  }
  bool float64(double* value) {
    if (left() < 8) return false;
    std::memcpy(value, at_, 8);
    at_ += 8;
    return true;
  }
  // Skips the encoder's padding before code units of `unit` bytes.
  bool align(int unit) {
    while (reinterpret_cast<uintptr_t>(at_) % static_cast<uintptr_t>(unit) != 0) {
      if (at_ == end_) return false;
      ++at_;
    }
    return true;
  }
  // The next byte, not consumed; -1 at the end.
  int peek() const { return at_ == end_ ? -1 : *at_; }
  bool skip(size_t count) { return take(count) != nullptr; }
  bool raw(void* into, size_t count) {
    const uint8_t* bytes = take(count);
    if (bytes == nullptr) return false;
    std::memcpy(into, bytes, count);
    return true;
  }
  // `count` bytes at the current position (consumed), or nullptr past the end.
  const uint8_t* take(uint64_t count) {
    if (count > left()) return nullptr;
    const uint8_t* start = at_;
    at_ += count;
    return start;
  }
  // A count of items each at least `item_bytes` long: rejects counts the rest of the
  // stream cannot hold (so a damaged count never allocates a huge container).
  bool count(uint64_t* value, size_t item_bytes) { return varint(value) && *value <= left() / item_bytes; }

 private:
  const uint8_t* at_;
  const uint8_t* end_;
};

int unicode_kind(uint64_t code) {
  return code == 0 ? PyUnicode_1BYTE_KIND : code == 1 ? PyUnicode_2BYTE_KIND : PyUnicode_4BYTE_KIND;
}

// A str of `length` ASCII code units (the encoder checked them: PyUnicode_IS_ASCII).
// Empty and one-character strs come from CPython's singletons, as everywhere else.
PyObject* ascii_str(const uint8_t* data, uint64_t length) {
  if (length <= 1) return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, data, static_cast<Py_ssize_t>(length));
  PyObject* str = PyUnicode_New(static_cast<Py_ssize_t>(length), 127);
  if (str != nullptr) std::memcpy(PyUnicode_DATA(str), data, length);
  return str;
}

class Decoder {
 public:
  Decoder(const Message& message, Reader reader, CodecHooks& hooks) : message_(message), in_(reader), hooks_(hooks) {}
  ~Decoder() {
    for (PyObject* obj : memo_) Py_DECREF(obj);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  bool finished() const { return in_.at_end(); }

  PyObject* value(int depth) {
    uint8_t tag;
    if (!in_.byte(&tag)) return malformed("truncated");
    const bool takes_index = (tag & kMemoFlag) != 0;
    tag &= ~kMemoFlag;
    switch (tag) {
      case kTagNone: Py_RETURN_NONE;
      case kTagTrue: Py_RETURN_TRUE;
      case kTagFalse: Py_RETURN_FALSE;
      case kTagInt: {
        int64_t number;
        if (!in_.signed_varint(&number)) return malformed("int");
        return PyLong_FromLongLong(number);
      }
      case kTagBigInt: {
        uint64_t size;
        const uint8_t* digits = in_.varint(&size) ? in_.take(size) : nullptr;
        if (digits == nullptr) return malformed("big int");
        std::string text(reinterpret_cast<const char*>(digits), size);
        char* end = nullptr;
        PyRef number = PyRef::steal(PyLong_FromString(text.c_str(), &end, 16));
        if (number && end != text.c_str() + text.size()) {  // a NUL inside the text
          PyErr_SetString(PyExc_ValueError, "manycore: malformed BigInt text");
          return nullptr;
        }
        return number.release();
      }
      case kTagFloat: {
        double number;
        if (!in_.float64(&number)) return malformed("float");
        return PyFloat_FromDouble(number);
      }
      case kTagComplex: {
        double real, imag;
        if (!in_.float64(&real) || !in_.float64(&imag)) return malformed("complex");
        return PyComplex_FromDoubles(real, imag);
      }
      case kTagStr1:
      case kTagStr2:
      case kTagStr4: {
        int kind = unicode_kind(tag - kTagStr1);
        uint64_t length;
        const uint8_t* data =
            in_.varint(&length) && in_.align(kind) && length <= in_.left() ? in_.take(length * kind) : nullptr;
        if (data == nullptr) return malformed("str");
        return leaf(PyUnicode_FromKindAndData(kind, data, static_cast<Py_ssize_t>(length)), takes_index);
      }
      case kTagStrAscii: {
        uint64_t length;
        const uint8_t* data = in_.varint(&length) ? in_.take(length) : nullptr;
        if (data == nullptr) return malformed("str");
        return leaf(ascii_str(data, length), takes_index);
      }
      case kTagStrUtf8: {
        uint64_t size;
        const uint8_t* data = in_.varint(&size) ? in_.take(size) : nullptr;
        if (data == nullptr) return malformed("str");
        return leaf(PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(data), static_cast<Py_ssize_t>(size),
                                         "surrogatepass"),
                    takes_index);
      }
      case kTagBytes:
      case kTagByteArray:
      case kTagPickled: {
        uint64_t size;
        const uint8_t* data = in_.varint(&size) ? in_.take(size) : nullptr;
        if (data == nullptr) return malformed("bytes");
        return leaf(blob_object(tag, reinterpret_cast<const char*>(data), size), takes_index);
      }
      case kTagBytesOut:
      case kTagByteArrayOut:
      case kTagPickledOut: {
        uint64_t index;
        if (!in_.varint(&index) || index >= message_.payload_count()) return malformed("payload");
        const Message::Payload& payload = message_.payload(index);
        uint8_t inline_tag = tag == kTagBytesOut ? kTagBytes : tag == kTagByteArrayOut ? kTagByteArray : kTagPickled;
        return leaf(blob_object(inline_tag, reinterpret_cast<const char*>(payload.data.get()), payload.size),
                    takes_index);
      }
      case kTagReference: {
        uint64_t module_size, qualname_size;
        const uint8_t* module = in_.varint(&module_size) ? in_.take(module_size) : nullptr;
        const uint8_t* qualname = module && in_.varint(&qualname_size) ? in_.take(qualname_size) : nullptr;
        if (qualname == nullptr) return malformed("reference");
        return leaf(import_reference({reinterpret_cast<const char*>(module), module_size},
                                     {reinterpret_cast<const char*>(qualname), qualname_size}),
                    takes_index);
      }
      case kTagShareable: {
        uint64_t index;
        if (!in_.varint(&index) || index >= message_.shareable_count()) return malformed("shareable");
        return leaf(hooks_.wrap_shareable(message_.shareable(index)), takes_index);
      }
      case kTagPickledShared: return pickled_shared(takes_index);
      case kTagBackRef: {
        uint64_t index;
        if (!in_.varint(&index) || index >= memo_.size()) return malformed("back-reference");
        return Py_NewRef(memo_[index]);
      }
      default: break;
    }
    if (depth >= kMaxNestingDepth) {
      PyErr_Format(PyExc_ValueError, "manycore: %s", depth_error().c_str());
      return nullptr;
    }
    switch (tag) {
      case kTagList:
      case kTagListInt:
      case kTagListFloat:
      case kTagListStr:
      case kTagListBytes: return list(tag, depth, takes_index);
      case kTagTuple:
      case kTagTupleInt:
      case kTagTupleFloat:
      case kTagTupleStr:
      case kTagTupleBytes:
      case kTagTupleRedo: return tuple(tag, depth, takes_index);
      case kTagDict: return dict(depth, takes_index);
      case kTagSet:
      case kTagFrozenSet:
      case kTagFrozenSetRedo: return set(tag, depth, takes_index);
      default: return malformed("unknown tag");
    }
  }

 private:
  PyObject* leaf(PyObject* obj, bool takes_index) {
    if (obj != nullptr && takes_index) remember(obj);
    return obj;
  }
  void remember(PyObject* obj) {
    // One allocation for a small graph's memo rather than one per doubling.
    if (memo_.capacity() == 0) memo_.reserve(32);
    memo_.push_back(Py_NewRef(obj));
  }

  // Copied exactly once, into the new object.
  PyObject* blob_object(uint8_t tag, const char* data, size_t size,
                        const std::vector<std::shared_ptr<Shareable>>* named = nullptr) {
    if (tag == kTagBytes) return PyBytes_FromStringAndSize(data, static_cast<Py_ssize_t>(size));
    if (tag == kTagByteArray) return PyByteArray_FromStringAndSize(data, static_cast<Py_ssize_t>(size));
    static const std::vector<std::shared_ptr<Shareable>> kNone;
    ScopedPointer scope(t_unpickling_shareables, named != nullptr ? named : &kNone);
    return hooks_.unpickle(std::string_view(data, size));
  }

  // kTagPickledShared: the Shareables it names, then its pickle.
  PyObject* pickled_shared(bool takes_index) {
    uint64_t count;
    if (!in_.count(&count, 1)) return malformed("pickled shareables");
    std::vector<std::shared_ptr<Shareable>> named;
    named.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t index;
      if (!in_.varint(&index) || index >= message_.shareable_count()) return malformed("pickled shareable");
      named.push_back(message_.shareable(index));
    }
    uint8_t tag;
    if (!in_.byte(&tag)) return malformed("pickled shareables");
    if (tag == kTagPickled) {
      uint64_t size;
      const uint8_t* data = in_.varint(&size) ? in_.take(size) : nullptr;
      if (data == nullptr) return malformed("pickle");
      return leaf(blob_object(tag, reinterpret_cast<const char*>(data), size, &named), takes_index);
    }
    uint64_t index;
    if (tag != kTagPickledOut || !in_.varint(&index) || index >= message_.payload_count()) {
      return malformed("pickled shareables");
    }
    const Message::Payload& payload = message_.payload(index);
    return leaf(blob_object(kTagPickled, reinterpret_cast<const char*>(payload.data.get()), payload.size, &named),
                takes_index);
  }

  // Fills `count` slots from a run of 8-byte numbers, each made into an object by `make`.
  template <typename Number, typename SetItem, typename Make>
  bool fixed_width_run(size_t count, const char* what, SetItem& set_item, Make make) {
    static_assert(sizeof(Number) == 8);
    const uint8_t* data = in_.take(8 * uint64_t(count));
    if (data == nullptr) return malformed(what), false;
    for (size_t i = 0; i < count; ++i) {
      Number number;
      std::memcpy(&number, data + 8 * i, 8);
      PyObject* item = make(number);
      if (item == nullptr) return false;
      set_item(i, item);
    }
    return true;
  }

  // Fills `count` slots (list or tuple items) from a packed run of `run_tag`'s kind.
  template <typename SetItem>
  bool run(uint8_t run_tag, size_t count, SetItem set_item) {
    switch (run_tag) {
      case kTagListInt:
        return fixed_width_run<int64_t>(count, "int run", set_item,
                                        [](int64_t number) { return PyLong_FromLongLong(number); });
      case kTagListFloat:
        return fixed_width_run<double>(count, "float run", set_item,
                                       [](double number) { return PyFloat_FromDouble(number); });
      case kTagListStr: {
        for (size_t i = 0; i < count; ++i) {
          uint64_t header;
          if (!in_.varint(&header)) return malformed("str run"), false;
          PyObject* item;
          if ((header & 3) == 3) {
            if ((header >> 2) >= memo_.size()) return malformed("str run back-reference"), false;
            item = Py_NewRef(memo_[header >> 2]);
          } else {
            int kind = unicode_kind(header & 3);
            uint64_t length = header >> 4;
            const uint8_t* data = in_.align(kind) && length <= in_.left() ? in_.take(length * kind) : nullptr;
            if (data == nullptr) return malformed("str run"), false;
            item = (header & 8) != 0 && kind == PyUnicode_1BYTE_KIND
                       ? ascii_str(data, length)
                       : PyUnicode_FromKindAndData(kind, data, static_cast<Py_ssize_t>(length));
            if (item == nullptr) return false;
            if (header & 4) remember(item);
          }
          set_item(i, item);
        }
        return true;
      }
      default: {  // kTagListBytes
        for (size_t i = 0; i < count; ++i) {
          uint64_t header;
          if (!in_.varint(&header)) return malformed("bytes run"), false;
          PyObject* item;
          if ((header & 1) == 1) {
            if ((header >> 1) >= memo_.size()) return malformed("bytes run back-reference"), false;
            item = Py_NewRef(memo_[header >> 1]);
          } else {
            const uint8_t* data = in_.take(header >> 2);
            if (data == nullptr) return malformed("bytes run"), false;
            item = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data), static_cast<Py_ssize_t>(header >> 2));
            if (item == nullptr) return false;
            if (header & 2) remember(item);
          }
          set_item(i, item);
        }
        return true;
      }
    }
  }

  PyObject* list(uint8_t tag, int depth, bool takes_index) {
    uint64_t count;
    if (!in_.count(&count, 1)) return malformed("list size");
    PyRef list = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(count)));
    if (!list) return nullptr;
    if (takes_index) remember(list.get());  // before its items: they may refer back to it
    PyObject* target = list.get();
    auto set_item = [target](size_t i, PyObject* item) { PyList_SET_ITEM(target, static_cast<Py_ssize_t>(i), item); };
    if (tag != kTagList) return run(tag, count, set_item) ? list.release() : nullptr;
    for (size_t i = 0; i < count; ++i) {
      PyObject* item = value(depth + 1);
      if (item == nullptr) return nullptr;
      set_item(i, item);
    }
    return list.release();
  }

  PyObject* tuple(uint8_t tag, int depth, bool takes_index) {
    uint64_t count;
    if (!in_.count(&count, 1)) return malformed("tuple size");
    PyRef tuple = PyRef::steal(PyTuple_New(static_cast<Py_ssize_t>(count)));
    if (!tuple) return nullptr;
    PyObject* target = tuple.get();
    auto set_item = [target](size_t i, PyObject* item) { PyTuple_SET_ITEM(target, static_cast<Py_ssize_t>(i), item); };
    if (tag != kTagTuple && tag != kTagTupleRedo) {
      if (!run(static_cast<uint8_t>(tag - kTupleRun), count, set_item)) return nullptr;
    } else {
      for (size_t i = 0; i < count; ++i) {
        PyObject* item = value(depth + 1);
        if (item == nullptr) return nullptr;
        set_item(i, item);
      }
    }
    if (tag == kTagTupleRedo) return redo();
    if (takes_index) remember(tuple.get());
    return tuple.release();
  }

  // The items just read defined the object the memo now holds at the index that follows.
  PyObject* redo() {
    uint64_t index;
    if (!in_.varint(&index) || index >= memo_.size()) return malformed("cycle back-reference");
    return Py_NewRef(memo_[index]);
  }

  PyObject* dict(int depth, bool takes_index) {
    uint64_t count;
    if (!in_.count(&count, 2)) return malformed("dict size");
    // Sized for its items at once (the stream bounds `count`): no resize while filling.
    PyRef dict = PyRef::steal(_PyDict_NewPresized(static_cast<Py_ssize_t>(count)));
    if (!dict) return nullptr;
    if (takes_index) remember(dict.get());
    for (size_t i = 0; i < count; ++i) {
      Py_hash_t hash = -1;
      if (in_.peek() == kTagKeyHash && !(in_.skip(1) && in_.raw(&hash, sizeof hash))) return malformed("key hash");
      PyRef key = PyRef::steal(value(depth + 1));
      if (!key) return nullptr;
      // Only into a str just built from this stream: one that the memo handed back, or
      // any other, keeps the hash it has.
      if (hash != -1 && Py_TYPE(key.get()) == &PyUnicode_Type && Py_REFCNT(key.get()) == 1 &&
          reinterpret_cast<PyASCIIObject*>(key.get())->hash == -1) {
        reinterpret_cast<PyASCIIObject*>(key.get())->hash = hash;
      }
      PyRef item = PyRef::steal(value(depth + 1));
      if (!item || PyDict_SetItem(dict.get(), key.get(), item.get()) < 0) return nullptr;
    }
    return dict.release();
  }

  PyObject* set(uint8_t tag, int depth, bool takes_index) {
    uint64_t count;
    if (!in_.count(&count, 1)) return malformed("set size");
    PyRef set = PyRef::steal(tag == kTagSet ? PySet_New(nullptr) : PyFrozenSet_New(nullptr));
    if (!set) return nullptr;
    if (tag == kTagSet && takes_index) remember(set.get());
    for (size_t i = 0; i < count; ++i) {
      PyRef item = PyRef::steal(value(depth + 1));
      // PySet_Add fills a brand-new frozenset too, before anything else sees it.
      if (!item || PySet_Add(set.get(), item.get()) < 0) return nullptr;
    }
    if (tag == kTagFrozenSetRedo) return redo();
    if (tag == kTagFrozenSet && takes_index) remember(set.get());
    return set.release();
  }

  const Message& message_;
  Reader in_;
  CodecHooks& hooks_;
  std::vector<PyObject*> memo_;  // strong references
};

// ---- Value trees ----------------------------------------------------------------------

void append_utf8(std::string& out, uint32_t code_point) {
  // Surrogates are written as three bytes, as Python's "surrogatepass" does.
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

std::string code_units_to_utf8(const uint8_t* data, size_t length, int kind) {
  std::string out;
  out.reserve(length);
  for (size_t i = 0; i < length; ++i) {
    uint32_t code_point;
    if (kind == 1) {
      code_point = data[i];
    } else if (kind == 2) {
      uint16_t unit;
      std::memcpy(&unit, data + 2 * i, 2);
      code_point = unit;
    } else {
      std::memcpy(&code_point, data + 4 * i, 4);
    }
    append_utf8(out, code_point);
  }
  return out;
}

// Reads a segment into a Value tree; mirrors Decoder's memo numbering.
class TreeReader {
 public:
  TreeReader(const Message& message, Reader reader) : message_(message), in_(reader) {}

  // nullopt when the stream is damaged (the encoder never writes such a stream).
  std::optional<Value> value(int depth) {
    uint8_t tag;
    if (!in_.byte(&tag) || depth > kMaxNestingDepth) return std::nullopt;
    const bool takes_index = (tag & kMemoFlag) != 0;
    tag &= ~kMemoFlag;
    switch (tag) {
      case kTagNone: return Value::None();
      case kTagTrue: return Value::Bool(true);
      case kTagFalse: return Value::Bool(false);
      case kTagInt: {
        int64_t number;
        if (!in_.signed_varint(&number)) return std::nullopt;
        return Value::Int(number);
      }
      case kTagBigInt: {
        std::optional<std::string> text = bytes();
        if (!text) return std::nullopt;
        return Value::BigInt(std::move(*text));
      }
      case kTagFloat: {
        double number;
        if (!in_.float64(&number)) return std::nullopt;
        return Value::Float(number);
      }
      case kTagComplex: {
        double real, imag;
        if (!in_.float64(&real) || !in_.float64(&imag)) return std::nullopt;
        return Value::Complex(real, imag);
      }
      case kTagStr1:
      case kTagStr2:
      case kTagStr4: {
        int kind = unicode_kind(tag - kTagStr1);
        uint64_t length;
        const uint8_t* data =
            in_.varint(&length) && in_.align(kind) && length <= in_.left() ? in_.take(length * kind) : nullptr;
        if (data == nullptr) return std::nullopt;
        return leaf(Value::Str(code_units_to_utf8(data, length, kind)), takes_index);
      }
      case kTagStrAscii: {
        uint64_t length;
        const uint8_t* data = in_.varint(&length) ? in_.take(length) : nullptr;
        if (data == nullptr) return std::nullopt;
        return leaf(Value::Str(std::string(reinterpret_cast<const char*>(data), length)), takes_index);
      }
      case kTagStrUtf8:
      case kTagBytes:
      case kTagByteArray:
      case kTagPickled: {
        std::optional<std::string> data = bytes();
        if (!data) return std::nullopt;
        return leaf(blob_value(tag, std::move(*data)), takes_index);
      }
      case kTagBytesOut:
      case kTagByteArrayOut:
      case kTagPickledOut: {
        uint64_t index;
        if (!in_.varint(&index) || index >= message_.payload_count()) return std::nullopt;
        const Message::Payload& payload = message_.payload(index);
        uint8_t inline_tag = tag == kTagBytesOut ? kTagBytes : tag == kTagByteArrayOut ? kTagByteArray : kTagPickled;
        return leaf(blob_value(inline_tag, std::string(reinterpret_cast<const char*>(payload.data.get()), payload.size)),
                    takes_index);
      }
      case kTagReference: {
        std::optional<std::string> module = bytes();
        std::optional<std::string> qualname = module ? bytes() : std::nullopt;
        if (!qualname) return std::nullopt;
        return leaf(Value::Reference(std::move(*module), std::move(*qualname)), takes_index);
      }
      case kTagShareable: {
        uint64_t index;
        if (!in_.varint(&index) || index >= message_.shareable_count()) return std::nullopt;
        return leaf(Value::Shared(message_.shareable(index)), takes_index);
      }
      case kTagPickledShared: {
        uint64_t count;
        if (!in_.count(&count, 1)) return std::nullopt;
        std::vector<Value> named;
        for (uint64_t i = 0; i < count; ++i) {
          uint64_t index;
          if (!in_.varint(&index) || index >= message_.shareable_count()) return std::nullopt;
          named.push_back(Value::Shared(message_.shareable(index)));
        }
        uint8_t inner;
        if (!in_.byte(&inner)) return std::nullopt;
        std::optional<std::string> data;
        if (inner == kTagPickled) {
          data = bytes();
        } else if (uint64_t index; inner == kTagPickledOut && in_.varint(&index) && index < message_.payload_count()) {
          const Message::Payload& payload = message_.payload(index);
          data = std::string(reinterpret_cast<const char*>(payload.data.get()), payload.size);
        }
        if (!data) return std::nullopt;
        return leaf(Value::Pickled(std::move(*data), std::move(named)), takes_index);
      }
      case kTagBackRef: {
        uint64_t index;
        if (!in_.varint(&index) || index >= memo_.size()) return std::nullopt;
        return memo_[index] ? *memo_[index] : cycle();
      }
      case kTagList:
      case kTagListInt:
      case kTagListFloat:
      case kTagListStr:
      case kTagListBytes:
      case kTagSet: {
        size_t slot = memo_.size();
        if (takes_index) memo_.emplace_back();  // in progress: a reference to it now is a cycle
        std::optional<std::vector<Value>> items = tag == kTagSet ? sequence(kTagList, depth) : sequence(tag, depth);
        if (!items) return std::nullopt;
        Value done = tag == kTagSet ? Value::Set(std::move(*items)) : Value::List(std::move(*items));
        if (takes_index) memo_[slot] = done;
        return done;
      }
      case kTagTuple:
      case kTagTupleInt:
      case kTagTupleFloat:
      case kTagTupleStr:
      case kTagTupleBytes:
      case kTagTupleRedo:
      case kTagFrozenSet:
      case kTagFrozenSetRedo: {
        bool frozenset = tag == kTagFrozenSet || tag == kTagFrozenSetRedo;
        uint8_t items_tag = tag == kTagTupleRedo || frozenset ? static_cast<uint8_t>(kTagList) : static_cast<uint8_t>(tag - kTupleRun);
        std::optional<std::vector<Value>> items = sequence(items_tag, depth);
        if (!items) return std::nullopt;
        if (tag == kTagTupleRedo || tag == kTagFrozenSetRedo) {
          uint64_t index;
          if (!in_.varint(&index) || index >= memo_.size()) return std::nullopt;
          return memo_[index] ? *memo_[index] : cycle();
        }
        Value done = frozenset ? Value::FrozenSet(std::move(*items)) : Value::Tuple(std::move(*items));
        if (takes_index) memo_.emplace_back(done);
        return done;
      }
      case kTagDict: {
        size_t slot = memo_.size();
        if (takes_index) memo_.emplace_back();
        uint64_t count;
        if (!in_.count(&count, 2)) return std::nullopt;
        std::vector<Value> items;
        items.reserve(2 * count);
        for (uint64_t i = 0; i < 2 * count; ++i) {
          if (i % 2 == 0 && in_.peek() == kTagKeyHash && !in_.skip(1 + sizeof(Py_hash_t))) return std::nullopt;
          std::optional<Value> item = value(depth + 1);
          if (!item) return std::nullopt;
          items.push_back(std::move(*item));
        }
        Value done = Value::Dict(std::move(items));
        if (takes_index) memo_[slot] = done;
        return done;
      }
      default: return std::nullopt;
    }
  }

  bool finished() const { return in_.at_end(); }

 private:
  static Value cycle() { return Value::Cycle(); }

  std::optional<Value> leaf(Value value, bool takes_index) {
    if (takes_index) memo_.emplace_back(value);
    return value;
  }

  static Value blob_value(uint8_t tag, std::string data) {
    if (tag == kTagStrUtf8) return Value::Str(std::move(data));
    if (tag == kTagBytes) return Value::Bytes(std::move(data));
    if (tag == kTagByteArray) return Value::ByteArray(std::move(data));
    return Value::Pickled(std::move(data));
  }

  std::optional<std::string> bytes() {
    uint64_t size;
    const uint8_t* data = in_.varint(&size) ? in_.take(size) : nullptr;
    if (data == nullptr) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(data), size);
  }

  // The items of a list/tuple body (generic when tag is kTagList, else a packed run).
  std::optional<std::vector<Value>> sequence(uint8_t tag, int depth) {
    uint64_t count;
    if (!in_.count(&count, 1)) return std::nullopt;
    std::vector<Value> items;
    items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      if (tag == kTagList) {
        std::optional<Value> item = value(depth + 1);
        if (!item) return std::nullopt;
        items.push_back(std::move(*item));
      } else if (tag == kTagListInt || tag == kTagListFloat) {
        const uint8_t* data = in_.take(8);
        if (data == nullptr) return std::nullopt;
        if (tag == kTagListInt) {
          int64_t number;
          std::memcpy(&number, data, 8);
          items.push_back(Value::Int(number));
        } else {
          double number;
          std::memcpy(&number, data, 8);
          items.push_back(Value::Float(number));
        }
      } else {
        uint64_t header;
        if (!in_.varint(&header)) return std::nullopt;
        bool is_str = tag == kTagListStr;
        bool back = is_str ? (header & 3) == 3 : (header & 1) == 1;
        if (back) {
          uint64_t index = is_str ? header >> 2 : header >> 1;
          if (index >= memo_.size() || !memo_[index]) return std::nullopt;
          items.push_back(*memo_[index]);
          continue;
        }
        int kind = is_str ? unicode_kind(header & 3) : 1;
        uint64_t length = is_str ? header >> 4 : header >> 2;
        bool item_takes_index = is_str ? (header & 4) != 0 : (header & 2) != 0;
        const uint8_t* data = in_.align(kind) && length <= in_.left() ? in_.take(length * kind) : nullptr;
        if (data == nullptr) return std::nullopt;
        Value item = is_str ? Value::Str(code_units_to_utf8(data, length, kind))
                            : Value::Bytes(std::string(reinterpret_cast<const char*>(data), length));
        if (item_takes_index) memo_.emplace_back(item);
        items.push_back(std::move(item));
      }
    }
    return items;
  }

  const Message& message_;
  Reader in_;
  std::vector<std::optional<Value>> memo_;  // empty while that container is read
};

// ---- tree encoding --------------------------------------------------------------------

// A tree has no identity: nothing is written as a back-reference. The decoder still
// numbers what it reads (its memo fills up unused), so the numbering stays in step.
class TreeWriter {
 public:
  explicit TreeWriter(Writer& writer) : out_(writer) {}

  Status value(const Value& tree, int depth) {
    // An encoded Value inside a tree is read through its tree (the readers below): its
    // own memo numbering cannot be spliced into this stream.
    using Kind = Value::Kind;
    switch (tree.kind()) {
      case Kind::kNone:
      case Kind::kCycle: out_.byte(kTagNone); return Status();
      case Kind::kBool: out_.byte(tree.as_bool() ? kTagTrue : kTagFalse); return Status();
      case Kind::kInt: out_.byte(kTagInt); out_.signed_varint(tree.as_int()); return Status();
      case Kind::kFloat: out_.byte(kTagFloat); out_.float64(tree.real()); return Status();
      case Kind::kComplex:
        out_.byte(kTagComplex);
        out_.float64(tree.real());
        out_.float64(tree.imag());
        return Status();
      case Kind::kBigInt: return blob(kTagBigInt, kTagBigInt, tree.text());
      case Kind::kStr: return blob(kTagStrUtf8, kTagStrUtf8, tree.text());
      case Kind::kBytes: return blob(kTagBytes, kTagBytesOut, tree.text());
      case Kind::kByteArray: return blob(kTagByteArray, kTagByteArrayOut, tree.text());
      case Kind::kPickled:
        if (!tree.items().empty()) {
          out_.byte(kTagPickledShared);
          out_.varint(tree.items().size());
          for (const Value& named : tree.items()) {
            if (named.kind() != Kind::kShareable) {
              return Status(StatusCode::kInvalidArgument, "a pickled Value names only Shareable values");
            }
            out_.varint(out_.shareables.size());
            out_.shareables.push_back(named.shared());
          }
        }
        return blob(kTagPickled, kTagPickledOut, tree.text());
      case Kind::kReference:
        out_.byte(kTagReference);
        out_.varint(tree.text().size());
        out_.raw(tree.text().data(), tree.text().size());
        out_.varint(tree.qualname().size());
        out_.raw(tree.qualname().data(), tree.qualname().size());
        return Status();
      case Kind::kShareable:
        out_.byte(kTagShareable);
        out_.varint(out_.shareables.size());
        out_.shareables.push_back(tree.shared());
        return Status();
      case Kind::kTuple: return items(kTagTuple, tree.items(), depth);
      case Kind::kList: return items(kTagList, tree.items(), depth);
      case Kind::kSet: return items(kTagSet, tree.items(), depth);
      case Kind::kFrozenSet: return items(kTagFrozenSet, tree.items(), depth);
      case Kind::kDict: {
        if (tree.items().size() % 2 != 0) return Status(StatusCode::kInvalidArgument, "a dict Value needs key, value pairs");
        if (depth >= kMaxNestingDepth) return Status(StatusCode::kNotShareable, depth_error());
        out_.byte(kTagDict);
        out_.varint(tree.items().size() / 2);
        for (const Value& item : tree.items()) {
          Status written = value(item, depth + 1);
          if (!written.ok()) return written;
        }
        return Status();
      }
    }
    return Status(StatusCode::kInternal, "unknown Value kind");
  }

 private:
  Status blob(uint8_t inline_tag, uint8_t out_tag, const std::string& data) {
    if (inline_tag == out_tag) {  // never out of line
      if (out_.segment_bytes() + data.size() > kMaxMessageBytes) return Status(StatusCode::kNotShareable, size_error());
      out_.byte(inline_tag);
      out_.varint(data.size());
      out_.raw(data.data(), data.size());
      return Status();
    }
    if (!out_.blob(inline_tag, out_tag, data.data(), data.size())) return Status(StatusCode::kNotShareable, size_error());
    return Status();
  }

  Status items(uint8_t tag, const std::vector<Value>& items, int depth) {
    if (depth >= kMaxNestingDepth) return Status(StatusCode::kNotShareable, depth_error());
    out_.byte(tag);
    out_.varint(items.size());
    for (const Value& item : items) {
      Status written = value(item, depth + 1);
      if (!written.ok()) return written;
    }
    return Status();
  }

  Writer& out_;
};

}  // namespace

// ---- Message and MessageBuilder ---------------------------------------------------------

size_t Message::byte_size() const {
  size_t size = stream_size_;
  for (const Payload& payload : payloads_) size += payload.size;
  return size;
}

MessageBuilder::MessageBuilder() = default;
MessageBuilder::~MessageBuilder() = default;

size_t MessageBuilder::segment_count() const { return writer_ ? writer_->segment_ends.size() : 0; }

namespace {
// A finished builder's Writer, kept for the next builder on this thread: a small
// call or queue item is encoded in a handful of allocations, and this was one.
thread_local std::unique_ptr<MessageBuilder::Writer> t_spare_writer;
}  // namespace

MessageBuilder::Writer& MessageBuilder::writer() {
  if (!writer_) writer_ = t_spare_writer ? std::move(t_spare_writer) : std::make_unique<Writer>();
  return *writer_;
}

Status MessageBuilder::add(PyObject* obj) {
  internal::LazyHooks hooks;
  return internal::encode_segment(writer(), obj, hooks);
}

Status MessageBuilder::add(const Value& value) { return internal::encode_tree_segment(writer(), value); }

std::shared_ptr<const Message> MessageBuilder::finish() {
  auto message = std::make_shared<Message>();
  Writer& writer = this->writer();
  message->stream_ = ByteBuffer(writer.data, writer.deleter());
  message->stream_size_ = writer.size;
  writer.data = nullptr;
  writer.pooled = false;
  message->segment_ends_ = std::move(writer.segment_ends);
  message->payloads_ = std::move(writer.payloads);
  message->shareables_ = std::move(writer.shareables);
  writer.size = writer.capacity = writer.segment_start = 0;
  writer.segment_payload_bytes = 0;
  writer.segment_ends.clear();  // moved from: empty in practice, cleared to be sure
  writer.payloads.clear();
  writer.shareables.clear();
  if (!t_spare_writer) t_spare_writer = std::move(writer_);
  writer_.reset();
  return message;
}

std::vector<Value> MessageBuilder::finish_values() {
  std::shared_ptr<const Message> message = finish();
  std::vector<Value> values;
  values.reserve(message->segment_count());
  for (size_t i = 0; i < message->segment_count(); ++i) values.push_back(Value::Encoded(message, i));
  return values;
}

namespace internal {

namespace {

PyObject* decode_segment_with_gc(const Message& message, size_t segment, CodecHooks& hooks) {
  Decoder decoder(message, Reader(message.segment_begin(segment), message.segment_end(segment)), hooks);
  PyObject* result = decoder.value(0);
  if (result != nullptr && !decoder.finished()) {
    Py_DECREF(result);
    return malformed("trailing bytes");
  }
  return result;
}

template <typename Write>
Status write_segment(Writer& writer, Write write) {
  const size_t payloads = writer.payloads.size();
  const size_t shareables = writer.shareables.size();
  writer.segment_start = writer.size;
  writer.segment_payload_bytes = 0;
  Status written = write();
  if (!written.ok()) {
    writer.rewind_segment(payloads, shareables);
    return written;
  }
  writer.segment_ends.push_back(writer.size);
  return Status();
}

}  // namespace

Status encode_segment(Writer& writer, PyObject* obj, CodecHooks& hooks) {
  return write_segment(writer, [&]() -> Status {
    Encoder encoder(writer, hooks);
    bool ok = encoder.value(obj, 0);
    if (PyErr_Occurred()) PyErr_Clear();  // failures are reported by the Status only
    return ok ? Status() : encoder.take_error();
  });
}

void set_identity_tracking(bool on) { identity_tracking.store(on, std::memory_order_relaxed); }

Status encode_tree_segment(Writer& writer, const Value& tree) {
  return write_segment(writer, [&]() -> Status { return TreeWriter(writer).value(tree, 0); });
}

PyObject* decode_segment(const Message& message, size_t segment, CodecHooks& hooks) {
  // Everything a decoder creates stays reachable until it returns, so a collection
  // meanwhile frees nothing; building 100k records would still trigger dozens of them,
  // the older generations traversing all that was built so far. Paused for large
  // segments only (PyGC_Disable is per interpreter and cheap, but not free).
  const bool pause_gc = message.segment_end(segment) - message.segment_begin(segment) >= 64 * 1024 && PyGC_IsEnabled();
  if (pause_gc) PyGC_Disable();
  PyObject* result = decode_segment_with_gc(message, segment, hooks);
  if (pause_gc) PyGC_Enable();
  return result;
}


std::vector<std::shared_ptr<Shareable>>* pickling_shareables() { return t_pickling_shareables; }
const std::vector<std::shared_ptr<Shareable>>* unpickling_shareables() { return t_unpickling_shareables; }

Value segment_to_tree(const Message& message, size_t segment) {
  TreeReader reader(message, Reader(message.segment_begin(segment), message.segment_end(segment)));
  std::optional<Value> tree = reader.value(0);
  if (!tree || !reader.finished()) {
    std::fprintf(stderr, "manycore: a message cannot be read back as a Value tree (damaged stream)\n");
    std::abort();
  }
  return std::move(*tree);
}

Value::Kind segment_kind(const Message& message, size_t segment) {
  using Kind = Value::Kind;
  static constexpr Kind kKinds[kTagCount] = {
      Kind::kNone, Kind::kBool, Kind::kBool, Kind::kInt, Kind::kBigInt, Kind::kFloat, Kind::kComplex,
      Kind::kStr, Kind::kStr, Kind::kStr, Kind::kStr,
      Kind::kBytes, Kind::kBytes, Kind::kByteArray, Kind::kByteArray,
      Kind::kList, Kind::kList, Kind::kList, Kind::kList, Kind::kList,
      Kind::kTuple, Kind::kTuple, Kind::kTuple, Kind::kTuple, Kind::kTuple, Kind::kTuple,
      Kind::kDict, Kind::kSet, Kind::kFrozenSet, Kind::kFrozenSet,
      Kind::kReference, Kind::kPickled, Kind::kPickled, Kind::kShareable, Kind::kCycle,
      Kind::kPickled, Kind::kNone, Kind::kStr,
  };
  const uint8_t* begin = message.segment_begin(segment);
  if (begin == message.segment_end(segment) || (*begin & ~kMemoFlag) >= kTagCount) return Kind::kNone;
  return kKinds[*begin & ~kMemoFlag];
}

std::string_view segment_bytes(const Message& message, size_t segment) {
  const uint8_t* begin = message.segment_begin(segment);
  return {reinterpret_cast<const char*>(begin), static_cast<size_t>(message.segment_end(segment) - begin)};
}

}  // namespace internal

}  // namespace manycore
