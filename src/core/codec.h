// src/core/codec.h: the codec's internals shared by value.cc and codec.cc (the hooks lookup, the tag set).
//
// Threading: everything here runs with the GIL of the current interpreter held, except
// the tree conversions, which touch no Python object.
#pragma once

#include <cstdint>

#include "manycore/message.h"
#include "manycore/value.h"

namespace manycore::internal {

// The current interpreter's hooks (the pickle-only default where manycore is not
// imported).
CodecHooks& current_codec_hooks();

// The interpreter's hooks, looked up on first use: numbers, text and containers of
// them never need the hooks, and the lookup hashes a dict key on every call, which
// is most of the cost of encoding a small int (a map sends one per item).
class LazyHooks final : public CodecHooks {
 public:
  Result<std::string> pickle(PyObject* obj) override { return resolved().pickle(obj); }
  PyObject* unpickle(std::string_view data) override { return resolved().unpickle(data); }
  std::shared_ptr<Shareable> as_shareable(PyObject* obj) override { return resolved().as_shareable(obj); }
  PyObject* wrap_shareable(const std::shared_ptr<Shareable>& object) override {
    return resolved().wrap_shareable(object);
  }

 private:
  CodecHooks& resolved() {
    if (hooks_ == nullptr) hooks_ = &current_codec_hooks();
    return *hooks_;
  }
  CodecHooks* hooks_ = nullptr;
};

// The text of the current Python error (which it clears), for Status messages.
std::string fetch_error_text();
// The qualified name of obj's type.
std::string type_name_of(PyObject* obj);

// Encodes obj as the next segment of the builder's message.
Status encode_segment(MessageBuilder::Writer& writer, PyObject* obj, CodecHooks& hooks);
// For `bench data` only: with tracking off, no object enters the memo (shared objects
// are copied per path, cycles hit the nesting limit), which measures what identity
// tracking costs the acyclic case. Process-wide; on by default.
void set_identity_tracking(bool on);

// Encodes a tree Value as the next segment.
Status encode_tree_segment(MessageBuilder::Writer& writer, const Value& tree);

}  // namespace manycore::internal
