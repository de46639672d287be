// include/manycore/message.h: Message, the contiguous encoded form of Python objects that cross interpreters.
//
// What it offers:
// - A Message is one contiguous byte stream written in one pass by the encoder, plus
//   side vectors: out-of-line payloads (bytes-like objects of kOutOfLineBytes or
//   more, each its own buffer, so a large payload is never moved while the stream
//   grows) and the Shareable C++ objects (queues, channels, ...) it refers to.
// - A Message holds one or more segments: each segment is one independently decodable
//   value (a call's arguments, one queue item, one item of a pool chunk). A pool chunk
//   is one Message, in both directions: one segment per task item, or one segment
//   holding the list of them all when they are plain values (is_plain below).
// - Object identity is kept within a segment, as pickle keeps it: an object reached
//   twice (a shared child, a repeated dict key string) is written once and referred to
//   by its memo index after that, and containers that contain themselves (directly or
//   through others) arrive as the same cycles.
// - Lists and tuples of int (int64), float, str or bytes are written as packed runs (no
//   tag per item).
// - A large payload is copied into a buffer that was already used when one is free:
//   up to kReusedPayloadBytes of freed payload buffers are kept, since a copy into
//   memory whose pages are mapped costs a fraction of one into fresh memory (the
//   destination object's own fresh copy is the one copy that cannot be avoided).
//   A stream of 1 MiB or more is written into such buffers too, and given back to
//   them when its message dies.
// - A str dict key that only its dict holds carries its hash, which the decoder
//   stores in the new str (all interpreters of a process hash a str alike).
// - The stream holds no PyObject*: a Message may be built under one interpreter's GIL,
//   read under any other's, and destroyed on any thread with no GIL.
//
// Limits (each a kNotShareable Status naming the limit, never a crash):
// - nesting deeper than kMaxNestingDepth containers;
// - a segment of more than kMaxMessageBytes bytes (stream plus payloads).
//
// Lifetime and threading rules: a MessageBuilder is used by one thread, with the GIL of
// the interpreter that owns the objects it encodes. A finished Message is immutable and
// shared by std::shared_ptr<const Message>; any number of threads may decode it at once
// (each with its own interpreter's GIL).
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

// Nesting depth (containers inside containers) that encode and decode accept.
inline constexpr int kMaxNestingDepth = 2000;
// Largest segment (stream plus out-of-line payloads).
inline constexpr uint64_t kMaxMessageBytes = uint64_t(1) << 36;  // 64 GiB
// bytes/bytearray payloads of this size or more are kept out of line.
inline constexpr size_t kOutOfLineBytes = 64 * 1024;
// Freed payload buffers of 1 MiB or more are kept for reuse, up to this many bytes.
inline constexpr size_t kReusedPayloadBytes = size_t(128) << 20;

// Frees a malloc'd buffer, or gives a large payload buffer (reusable_capacity > 0) back
// to the codec's bounded pool of reusable buffers (see codec.cc).
struct BufferDeleter {
  size_t reusable_capacity = 0;
  void operator()(uint8_t* data) const;
};
using ByteBuffer = std::unique_ptr<uint8_t, BufferDeleter>;

class Message {
 public:
  struct Payload {
    ByteBuffer data;
    size_t size = 0;
  };

  size_t segment_count() const { return segment_ends_.size(); }
  const uint8_t* segment_begin(size_t segment) const { return stream_.get() + (segment == 0 ? 0 : segment_ends_[segment - 1]); }
  const uint8_t* segment_end(size_t segment) const { return stream_.get() + segment_ends_[segment]; }
  const Payload& payload(size_t index) const { return payloads_[index]; }
  size_t payload_count() const { return payloads_.size(); }
  const std::shared_ptr<Shareable>& shareable(size_t index) const { return shareables_[index]; }
  size_t shareable_count() const { return shareables_.size(); }
  // Bytes held: stream plus payloads.
  size_t byte_size() const;

 private:
  friend class MessageBuilder;
  ByteBuffer stream_;
  size_t stream_size_ = 0;
  std::vector<size_t> segment_ends_;  // segment i is [end of i-1, segment_ends_[i])
  std::vector<Payload> payloads_;
  std::vector<std::shared_ptr<Shareable>> shareables_;
};

// Writes objects into a new Message, one segment each.
class MessageBuilder {
 public:
  MessageBuilder();
  ~MessageBuilder();
  MessageBuilder(const MessageBuilder&) = delete;
  MessageBuilder& operator=(const MessageBuilder&) = delete;

  // Encodes obj as the next segment (the GIL of obj's interpreter held). Never leaves a
  // Python error set; on failure the builder is as before the call.
  Status add(PyObject* obj);
  // Writes a Value as the next segment: a C++-built tree is encoded (a tree has no
  // identity: what it holds twice arrives twice), an encoded Value's segment is copied.
  // Needs no GIL. Fails only past the limits.
  Status add(const Value& value);

  size_t segment_count() const;
  // The finished message (the builder is empty afterwards).
  std::shared_ptr<const Message> finish();
  // finish(), as one Value per segment, all sharing the one message.
  std::vector<Value> finish_values();

  // The internals the codec writes through (src/core/codec.cc).
  struct Writer;

 private:
  std::unique_ptr<Message> message_;
  std::unique_ptr<Writer> writer_;  // null until the first add() after construction or finish()
  Writer& writer();
};

namespace internal {
// Decodes one segment into a new object of the current interpreter (its GIL held) with
// `hooks` for what the native codec cannot build. New reference, or nullptr with a
// Python error set.
PyObject* decode_segment(const Message& message, size_t segment, CodecHooks& hooks);
// The tree form of one segment (C++ data; no GIL needed). A reference to an object
// already read is copied; a reference back to a container that encloses it (a cycle)
// reads as a kCycle value.
Value segment_to_tree(const Message& message, size_t segment);
// The kind of the segment's top-level value, without decoding it.
Value::Kind segment_kind(const Message& message, size_t segment);
// While the codec's pickle hook runs on this thread: where the Shareable objects the
// pickle meets go (the pickle names each by its index there, and the message carries
// them by reference, as everywhere else). Null when no encode is pickling.
std::vector<std::shared_ptr<Shareable>>* pickling_shareables();
// While the codec's unpickle hook runs on this thread: the Shareables that pickle
// named (empty when it named none). Null when no decode is unpickling.
const std::vector<std::shared_ptr<Shareable>>* unpickling_shareables();
// The raw bytes of a segment (for content-keyed caches).
std::string_view segment_bytes(const Message& message, size_t segment);
// Values the codec writes with no hook and whose decoding cannot fail (but for memory):
// None, bool, int, float, str, bytes. A pool chunk of them travels as one list.
inline bool is_plain(PyObject* obj) {
  return obj == Py_None || PyLong_CheckExact(obj) || PyFloat_CheckExact(obj) || PyUnicode_CheckExact(obj) ||
         PyBytes_CheckExact(obj) || PyBool_Check(obj);
}
}  // namespace internal

}  // namespace manycore
