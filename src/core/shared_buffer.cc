// src/core/shared_buffer.cc: SharedMemory (memfd or anonymous shared mapping) and SharedBuffer views over it.
#include "manycore/shared_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace manycore {

namespace {

// Below this size the memory comes from the heap: a mapping costs a system call, a
// page and (memfd) a file descriptor, which thousands of small Values would exhaust.
constexpr size_t kMappedFrom = 64 * 1024;
// memfds kept open at once; later buffers get anonymous mappings (no fd()), so that
// manycore never starves the process of file descriptors.
constexpr int kMaxOpenMemfds = 256;
std::atomic<int> open_memfds{0};
alignas(64) std::byte empty_bytes[1];

Status errno_status(const char* what, size_t nbytes, int error) {
  return Status(StatusCode::kInternal, std::string("cannot ") + what + " a SharedBuffer of " + std::to_string(nbytes) +
                                           " bytes: " + std::strerror(error));
}

int open_memfd(size_t nbytes) {
#ifdef MFD_CLOEXEC
  if (open_memfds.fetch_add(1) >= kMaxOpenMemfds) {
    open_memfds.fetch_sub(1);
    return -1;
  }
  int fd = memfd_create("manycore.SharedBuffer", MFD_CLOEXEC);
  if (fd >= 0 && ftruncate(fd, static_cast<off_t>(nbytes)) == 0) return fd;
  if (fd >= 0) close(fd);
  open_memfds.fetch_sub(1);
#else
  (void)nbytes;
#endif
  return -1;  // any failure (EMFILE, seccomp, old kernel): an anonymous mapping instead
}

}  // namespace

Result<std::shared_ptr<SharedMemory>> SharedMemory::allocate(size_t nbytes) {
  if (nbytes == 0) return std::shared_ptr<SharedMemory>(new SharedMemory(empty_bytes, 0, -1, Backing::kStatic));
  if (nbytes > static_cast<size_t>(PTRDIFF_MAX)) {
    return Status(StatusCode::kInvalidArgument, "a SharedBuffer can hold at most " + std::to_string(PTRDIFF_MAX) +
                                                    " bytes, not " + std::to_string(nbytes));
  }
  if (nbytes < kMappedFrom) {
    void* heap = std::calloc(1, (nbytes + 63) / 64 * 64);
    if (heap == nullptr) return errno_status("allocate", nbytes, ENOMEM);
    return std::shared_ptr<SharedMemory>(new SharedMemory(static_cast<std::byte*>(heap), nbytes, -1, Backing::kHeap));
  }
  int fd = open_memfd(nbytes);
  int flags = fd >= 0 ? MAP_SHARED : (MAP_SHARED | MAP_ANONYMOUS);
  void* mapped = mmap(nullptr, nbytes, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (mapped == MAP_FAILED) {
    int saved = errno;
    if (fd >= 0) {
      close(fd);
      open_memfds.fetch_sub(1);
    }
    return errno_status("map", nbytes, saved);
  }
  return std::shared_ptr<SharedMemory>(new SharedMemory(static_cast<std::byte*>(mapped), nbytes, fd, Backing::kMapped));
}

SharedMemory::~SharedMemory() {
  if (backing_ == Backing::kHeap) std::free(data_);
  if (backing_ == Backing::kMapped) munmap(data_, size_);
  if (fd_ >= 0) {
    close(fd_);
    open_memfds.fetch_sub(1);
  }
}

Status SharedMemory::freeze() {
  int64_t exports = writable_exports_.load(std::memory_order_acquire);
  while (exports >= 0) {
    if (exports > 0) {
      return Status(StatusCode::kBusy, "cannot freeze a SharedBuffer while " + std::to_string(exports) +
                                           " writable export(s) of it exist (release the memoryviews first)");
    }
    if (writable_exports_.compare_exchange_weak(exports, -1, std::memory_order_acq_rel)) return Status::Ok();
  }
  return Status::Ok();  // already frozen
}

bool SharedMemory::begin_writable_export() {
  int64_t exports = writable_exports_.load(std::memory_order_acquire);
  while (exports >= 0) {
    if (writable_exports_.compare_exchange_weak(exports, exports + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void SharedMemory::end_writable_export() { writable_exports_.fetch_sub(1, std::memory_order_acq_rel); }

Result<std::shared_ptr<SharedBuffer>> SharedBuffer::create(size_t nbytes) {
  Result<std::shared_ptr<SharedMemory>> memory = SharedMemory::allocate(nbytes);
  if (!memory.ok()) return memory.take_status();
  return std::make_shared<SharedBuffer>(memory.take_value(), 0, nbytes);
}

Result<std::shared_ptr<SharedBuffer>> SharedBuffer::copy_of(const void* data, size_t nbytes, bool readonly) {
  Result<std::shared_ptr<SharedBuffer>> buffer = create(nbytes);
  if (!buffer.ok()) return buffer;
  if (nbytes != 0) std::memcpy(buffer.value()->data(), data, nbytes);
  if (readonly) (void)buffer.value()->memory()->freeze();  // nothing is exported yet
  return buffer;
}

std::shared_ptr<SharedBuffer> SharedBuffer::slice(size_t start, size_t stop) const {
  if (stop > length_) stop = length_;
  if (start > stop) start = stop;
  return std::make_shared<SharedBuffer>(memory_, offset_ + start, stop - start);
}

}  // namespace manycore
