// tests/cpp/shared_buffer_test.cc: SharedMemory and SharedBuffer views: zero fill, views, freeze vs writable exports, memfd.
#include "manycore/shared_buffer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <thread>

namespace manycore {
namespace {

TEST(SharedBufferTest, NewMemoryIsZeroFilledWhateverItsBacking) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{64 * 1024}, size_t{8 << 20}}) {
    Result<std::shared_ptr<SharedBuffer>> buffer = SharedBuffer::create(size);
    ASSERT_TRUE(buffer.ok()) << buffer.status().message();
    EXPECT_EQ(buffer.value()->size(), size);
    EXPECT_NE(buffer.value()->data(), nullptr);
    for (size_t i = 0; i < size; i += 4093) EXPECT_EQ(buffer.value()->data()[i], std::byte{0});
    EXPECT_STREQ(buffer.value()->type_name(), "SharedBuffer");
  }
}

TEST(SharedBufferTest, LargeBuffersHaveAMemfdThatMapsTheSameBytes) {
  auto buffer = SharedBuffer::create(1 << 20).take_value();
  int fd = buffer->memory()->fd();
  ASSERT_GE(fd, 0);
  void* again = mmap(nullptr, 1 << 20, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(again, MAP_FAILED);
  buffer->data()[12345] = std::byte{0x5a};
  EXPECT_EQ(static_cast<std::byte*>(again)[12345], std::byte{0x5a});
  munmap(again, 1 << 20);
  EXPECT_EQ(SharedBuffer::create(100).value()->memory()->fd(), -1);  // small: heap, no fd
}

TEST(SharedBufferTest, SlicesAreViewsOfTheSameMemoryAndClamp) {
  auto buffer = SharedBuffer::create(100).take_value();
  auto view = buffer->slice(10, 20);
  EXPECT_EQ(view->size(), 10u);
  EXPECT_EQ(view->offset(), 10u);
  view->data()[0] = std::byte{7};
  EXPECT_EQ(buffer->data()[10], std::byte{7});
  auto nested = view->slice(5, 1000);  // clamped to the view
  EXPECT_EQ(nested->size(), 5u);
  EXPECT_EQ(nested->data(), buffer->data() + 15);
  EXPECT_EQ(buffer->slice(80, 50)->size(), 0u);
}

TEST(SharedBufferTest, MemoryOutlivesTheBufferItCameFrom) {
  std::shared_ptr<SharedBuffer> view;
  {
    auto buffer = SharedBuffer::create(1 << 20).take_value();
    buffer->data()[1000] = std::byte{9};
    view = buffer->slice(1000, 2000);
  }
  EXPECT_EQ(view->data()[0], std::byte{9});
}

TEST(SharedBufferTest, CopyOfCopiesAndCanFreeze) {
  const char text[] = "hello, interpreters";
  auto copy = SharedBuffer::copy_of(text, sizeof text, true).take_value();
  EXPECT_EQ(std::memcmp(copy->data(), text, sizeof text), 0);
  EXPECT_TRUE(copy->readonly());
  EXPECT_FALSE(copy->memory()->begin_writable_export());
  EXPECT_FALSE(SharedBuffer::copy_of(text, sizeof text, false).value()->readonly());
}

TEST(SharedBufferTest, FreezeFailsWhileAWritableExportExistsThenSucceeds) {
  auto buffer = SharedBuffer::create(10).take_value();
  ASSERT_TRUE(buffer->memory()->begin_writable_export());
  EXPECT_EQ(buffer->memory()->freeze().code(), StatusCode::kBusy);
  EXPECT_FALSE(buffer->readonly());
  buffer->memory()->end_writable_export();
  EXPECT_TRUE(buffer->memory()->freeze().ok());
  EXPECT_TRUE(buffer->slice(0, 5)->readonly());  // every view of the memory
  EXPECT_TRUE(buffer->memory()->freeze().ok());  // idempotent
}

TEST(SharedBufferTest, ConcurrentExportsAndFreezeNeverLeaveAWriterBehind) {
  auto buffer = SharedBuffer::create(10).take_value();
  std::atomic<bool> stop{false};
  std::atomic<int> writers_after_freeze{0};
  std::thread exporter([&] {
    while (!stop) {
      if (buffer->memory()->begin_writable_export()) {
        if (buffer->readonly()) ++writers_after_freeze;
        buffer->memory()->end_writable_export();
      }
    }
  });
  while (!buffer->memory()->freeze().ok()) std::this_thread::yield();
  stop = true;
  exporter.join();
  EXPECT_EQ(writers_after_freeze.load(), 0);
}

TEST(SharedBufferTest, ImpossibleSizesAreRefused) {
  EXPECT_EQ(SharedBuffer::create(SIZE_MAX).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace manycore
