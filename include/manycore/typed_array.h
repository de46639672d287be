// include/manycore/typed_array.h: TypedArray, typed elements in a SharedBuffer with an optional lock (multiprocessing's Value/Array).
//
// What it offers: the storage behind manycore.Value and manycore.Array, the
// counterparts of multiprocessing.sharedctypes: `length` elements of one typecode of
// that module ('c' 'u' 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd'), in native
// layout and alignment, in a SharedBuffer, and the lock (Lock or RLock, or none)
// that get_lock() returns. A scalar TypedArray (length 1) is a Value.
//
// Guarantees: each element load/store is one atomic access (relaxed: no tearing, no
// ordering); read-modify-write (`v.value += 1`) needs the lock, which orders memory
// as Lock/RLock do (docs/shared.md).
//
// Lifetime and threading rules: any thread, with or without a GIL; holds no PyObject*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "manycore/shared_buffer.h"
#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

class TypedArray final : public Shareable {
 public:
  // Bytes per element of `typecode`, 0 when it is not a sharedctypes typecode.
  static size_t item_size(char typecode);
  // New zero-filled storage. kInvalidArgument for an unknown typecode.
  static Result<std::shared_ptr<TypedArray>> create(char typecode, size_t length, bool scalar,
                                                    std::shared_ptr<Shareable> lock);

  TypedArray(char typecode, size_t length, bool scalar, std::shared_ptr<SharedBuffer> storage,
             std::shared_ptr<Shareable> lock)
      : typecode_(typecode), length_(length), scalar_(scalar), storage_(std::move(storage)), lock_(std::move(lock)) {}
  // Four wrapper types: with a lock (get_lock()) or raw, scalar (Value) or not (Array).
  const char* type_name() const override {
    if (lock_) return scalar_ ? "SharedValue" : "SharedArray";
    return scalar_ ? "RawSharedValue" : "RawSharedArray";
  }

  char typecode() const { return typecode_; }
  size_t length() const { return length_; }
  size_t itemsize() const { return item_size(typecode_); }
  bool scalar() const { return scalar_; }
  std::byte* element(size_t index) const { return storage_->data() + index * itemsize(); }
  const std::shared_ptr<SharedBuffer>& storage() const { return storage_; }
  // The Lock or RLock of get_lock(), or null (lock=False).
  const std::shared_ptr<Shareable>& lock() const { return lock_; }

 private:
  const char typecode_;
  const size_t length_;
  const bool scalar_;
  const std::shared_ptr<SharedBuffer> storage_;
  const std::shared_ptr<Shareable> lock_;
};

}  // namespace manycore
