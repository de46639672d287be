// tests/cpp/typed_array_test.cc: TypedArray, the storage of manycore.Value/Array: typecodes, sizes, the lock.
#include "manycore/typed_array.h"

#include <gtest/gtest.h>

#include "manycore/sync.h"

namespace manycore {
namespace {

TEST(TypedArrayTest, SizesFollowTheCTypes) {
  EXPECT_EQ(TypedArray::item_size('c'), 1u);
  EXPECT_EQ(TypedArray::item_size('i'), sizeof(int));
  EXPECT_EQ(TypedArray::item_size('q'), 8u);
  EXPECT_EQ(TypedArray::item_size('d'), 8u);
  EXPECT_EQ(TypedArray::item_size('u'), sizeof(wchar_t));
  EXPECT_EQ(TypedArray::item_size('x'), 0u);
  EXPECT_EQ(TypedArray::item_size('?'), 0u);
}

TEST(TypedArrayTest, CreatesZeroedAlignedStorageAndKeepsTheLock) {
  auto lock = std::make_shared<RLock>();
  auto array = TypedArray::create('d', 10, false, lock).take_value();
  EXPECT_STREQ(array->type_name(), "SharedArray");
  EXPECT_EQ(array->length(), 10u);
  EXPECT_EQ(array->storage()->size(), 80u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(array->element(1)) % alignof(double), 0u);
  EXPECT_EQ(*reinterpret_cast<double*>(array->element(9)), 0.0);
  EXPECT_EQ(array->lock(), lock);
  auto scalar = TypedArray::create('i', 1, true, nullptr).take_value();
  EXPECT_STREQ(scalar->type_name(), "RawSharedValue");  // no lock
  EXPECT_EQ(scalar->lock(), nullptr);
  EXPECT_EQ(TypedArray::create('z', 1, true, nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace manycore
