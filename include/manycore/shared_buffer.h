// include/manycore/shared_buffer.h: SharedBuffer, bytes owned by the C++ core that every interpreter (and a process) can map.
//
// What it offers: a fixed-size block of memory (zero-filled at creation) reference
// counted by std::shared_ptr, so handing it to another interpreter is O(1) whatever
// its size: the receiver gets a new view object over the same bytes. Views
// (slice()) share the memory; the memory is unmapped when the last view is gone.
//
// Backing: from 64 KiB up, a memfd (memfd_create, MAP_SHARED): pages are the kernel's
// zero pages until written, so allocating 1 GiB costs no page faults up front, and
// fd() lets another process map the same bytes (through /proc/<pid>/fd/<fd> or fd
// passing). At most 256 memfds are kept open; past that, or where memfd fails, an
// anonymous shared mapping (fd() is -1). Smaller buffers come from the heap (no fd, no
// mapping: thousands of small Values must not use up file descriptors). Decision and
// measurements: docs/shared.md.
//
// Guarantees:
// - data() stays valid while any SharedBuffer over the memory exists.
// - freeze() makes the memory read-only for every view in every interpreter, forever;
//   it fails with kBusy while a writable export (a writable memoryview, say) exists,
//   so no writer can outlive it. begin_writable_export() fails once frozen.
// - No ordering is implied by plain reads and writes of the bytes: publish them with a
//   manycore synchronization primitive (Lock, Event, Queue, ...) as docs/shared.md says.
//
// Lifetime and threading rules: any thread, with or without a GIL; holds no PyObject*.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

// The mapping itself; shared by every SharedBuffer view over it.
class SharedMemory {
 public:
  // Zero-filled memory of nbytes (0 is allowed: no mapping). kInvalidArgument for
  // sizes no mapping can have, kInternal when the kernel refuses (errno text given).
  static Result<std::shared_ptr<SharedMemory>> allocate(size_t nbytes);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  // The memfd, or -1 (heap, anonymous mapping, empty). Owned here: do not close.
  int fd() const { return fd_; }

  bool frozen() const { return writable_exports_.load(std::memory_order_acquire) < 0; }
  // Makes the memory read-only from now on. kBusy while writable exports exist.
  Status freeze();
  // Counts a writable export (a writable Py_buffer); false once frozen.
  bool begin_writable_export();
  void end_writable_export();

 private:
  enum class Backing { kStatic, kHeap, kMapped };
  SharedMemory(std::byte* data, size_t size, int fd, Backing backing)
      : data_(data), size_(size), fd_(fd), backing_(backing) {}
  std::byte* const data_;
  const size_t size_;
  const int fd_;
  const Backing backing_;
  // >= 0: number of writable exports; -1: frozen. Changed by compare-exchange only.
  std::atomic<int64_t> writable_exports_{0};
};

class SharedBuffer final : public Shareable {
 public:
  SharedBuffer(std::shared_ptr<SharedMemory> memory, size_t offset, size_t length)
      : memory_(std::move(memory)), offset_(offset), length_(length) {}
  const char* type_name() const override { return "SharedBuffer"; }

  // New zero-filled memory of nbytes, seen whole.
  static Result<std::shared_ptr<SharedBuffer>> create(size_t nbytes);
  // New memory holding a copy of [data, data + nbytes); frozen when `readonly`.
  static Result<std::shared_ptr<SharedBuffer>> copy_of(const void* data, size_t nbytes, bool readonly);

  std::byte* data() const { return memory_->data() + offset_; }
  size_t size() const { return length_; }
  size_t offset() const { return offset_; }
  bool readonly() const { return memory_->frozen(); }
  const std::shared_ptr<SharedMemory>& memory() const { return memory_; }
  // A view of bytes [start, stop) of this view (clamped to it) over the same memory.
  std::shared_ptr<SharedBuffer> slice(size_t start, size_t stop) const;

 private:
  const std::shared_ptr<SharedMemory> memory_;
  const size_t offset_;
  const size_t length_;
};

}  // namespace manycore
