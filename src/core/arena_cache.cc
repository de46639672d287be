// src/core/arena_cache.cc: a process-wide cache of freed obmalloc arenas that every interpreter reuses.
#include "arena_cache.h"

#include <Python.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace manycore::arena_cache {
namespace {

// Process-global, C++ only; never destroyed (the hooks may run until the process ends).
struct Cache {
  std::mutex mutex;
  // Written once by install() before the hooks are set, read-only after.
  PyObjectArenaAllocator previous{};
  std::atomic<bool> installed{false};
  // guarded by mutex: the faulted-in arenas, all of arena_size bytes.
  std::vector<void*> arenas;
  // guarded by mutex: the size of the first arena freed; another size passes through.
  size_t arena_size = 0;
  // guarded by mutex.
  size_t limit_bytes = kDefaultLimitBytes;
  std::atomic<uint64_t> reused{0};
  std::atomic<uint64_t> fresh{0};
  std::atomic<uint64_t> released{0};
};

Cache& cache() {
  static Cache* instance = new Cache();
  return *instance;
}

void* allocate_arena(void*, size_t size) {
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    if (size == c.arena_size && !c.arenas.empty()) {
      void* arena = c.arenas.back();
      c.arenas.pop_back();
      c.reused.fetch_add(1, std::memory_order_relaxed);
      return arena;
    }
  }
  c.fresh.fetch_add(1, std::memory_order_relaxed);
  return c.previous.alloc(c.previous.ctx, size);
}

void free_arena(void*, void* arena, size_t size) {
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    if (c.arena_size == 0) c.arena_size = size;
    // push_back cannot throw here: capacity covers the limit (set_limit_bytes reserves).
    if (size == c.arena_size && (c.arenas.size() + 1) * size <= c.limit_bytes &&
        c.arenas.size() < c.arenas.capacity()) {
      c.arenas.push_back(arena);
      return;
    }
  }
  c.released.fetch_add(1, std::memory_order_relaxed);
  c.previous.free(c.previous.ctx, arena, size);
}

size_t limit_from_environment() {
  const char* text = std::getenv("MANYCORE_ARENA_CACHE_MIB");
  if (text == nullptr || *text == '\0') return kDefaultLimitBytes;
  for (const char* digit = text; *digit != '\0'; ++digit) {
    if (*digit < '0' || *digit > '9') return kDefaultLimitBytes;  // manycore/_memory.py warns
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long mib = std::strtoull(text, &end, 10);
  // A malformed value keeps the default: this runs where no exception can be raised.
  if (errno != 0 || *end != '\0' || mib > (size_t{1} << 24)) return kDefaultLimitBytes;
  return static_cast<size_t>(mib) << 20;
}

// Arenas are 1 MiB in every build this targets; the reserve is sized from that and
// grows with the limit, so the free hook never allocates.
constexpr size_t kSmallestArena = size_t{256} << 10;

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    Cache& c = cache();
    size_t limit = limit_from_environment();
    {
      std::lock_guard lock(c.mutex);
      c.limit_bytes = limit;
      c.arenas.reserve(limit / kSmallestArena + 1);
    }
    if (limit == 0) return;
    PyObject_GetArenaAllocator(&c.previous);
    PyObjectArenaAllocator hooks{nullptr, allocate_arena, free_arena};
    PyObject_SetArenaAllocator(&hooks);
    c.installed.store(true, std::memory_order_release);
  });
}

Stats stats() {
  Cache& c = cache();
  Stats result;
  result.installed = c.installed.load(std::memory_order_acquire);
  {
    std::lock_guard lock(c.mutex);
    result.limit_bytes = result.installed ? c.limit_bytes : 0;
    result.cached_bytes = c.arenas.size() * c.arena_size;
  }
  result.reused = c.reused.load(std::memory_order_relaxed);
  result.fresh = c.fresh.load(std::memory_order_relaxed);
  result.released = c.released.load(std::memory_order_relaxed);
  return result;
}

void set_limit_bytes(size_t limit) {
  Cache& c = cache();
  std::vector<void*> excess;
  size_t size = 0;
  std::vector<void*> grown;
  grown.reserve(limit / kSmallestArena + 1);  // allocated outside the lock
  {
    std::lock_guard lock(c.mutex);
    c.limit_bytes = limit;
    size = c.arena_size;
    while (!c.arenas.empty() && c.arenas.size() * size > limit) {
      excess.push_back(c.arenas.back());
      c.arenas.pop_back();
    }
    if (grown.capacity() > c.arenas.capacity()) {
      grown.assign(c.arenas.begin(), c.arenas.end());
      c.arenas.swap(grown);
    }
  }
  if (!c.installed.load(std::memory_order_acquire)) return;
  for (void* arena : excess) {
    c.released.fetch_add(1, std::memory_order_relaxed);
    c.previous.free(c.previous.ctx, arena, size);
  }
}

}  // namespace manycore::arena_cache
