// src/core/typed_array.cc: TypedArray, the storage of manycore.Value and manycore.Array.
#include "manycore/typed_array.h"

#include <cwchar>
#include <string>

namespace manycore {

size_t TypedArray::item_size(char typecode) {
  switch (typecode) {
    case 'c': case 'b': case 'B': return 1;
    case 'u': return sizeof(wchar_t);
    case 'h': case 'H': return sizeof(short);
    case 'i': case 'I': return sizeof(int);
    case 'l': case 'L': return sizeof(long);
    case 'q': case 'Q': return sizeof(long long);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    default: return 0;
  }
}

Result<std::shared_ptr<TypedArray>> TypedArray::create(char typecode, size_t length, bool scalar,
                                                       std::shared_ptr<Shareable> lock) {
  size_t size = item_size(typecode);
  if (size == 0) return Status(StatusCode::kInvalidArgument, std::string("unknown typecode '") + typecode + "'");
  if (length > SIZE_MAX / size) return Status(StatusCode::kInvalidArgument, "array too large");
  Result<std::shared_ptr<SharedBuffer>> storage = SharedBuffer::create(length * size);
  if (!storage.ok()) return storage.take_status();
  return std::make_shared<TypedArray>(typecode, length, scalar, storage.take_value(), std::move(lock));
}

}  // namespace manycore
