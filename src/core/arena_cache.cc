// src/core/arena_cache.cc: a process-wide cache of freed obmalloc arenas that every interpreter reuses.
#include "arena_cache.h"

#include <Python.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __unix__
#include <pthread.h>
#include <unistd.h>
#endif

namespace manycore::arena_cache {
namespace {

using Clock = std::chrono::steady_clock;

// obmalloc's arena (ARENA_SIZE: 1 MiB, ARENA_BITS 20, on the 64-bit builds of 3.12 and
// 3.13). The same hooks also allocate other blocks (a thread's frame-stack chunks,
// 16 KiB and up, through _PyObject_VirtualAlloc): those pass straight through.
constexpr size_t kArenaBytes = size_t{1} << 20;

struct CachedArena {
  void* address;
  Clock::time_point freed;
};

// Process-global, C++ only; never destroyed (the hooks may run until the process ends).
struct Cache {
  std::mutex mutex;
  // The purger waits here for the oldest cached arena to come due.
  std::condition_variable purge_wanted;
  // Written once by install() before the hooks are set, read-only after.
  PyObjectArenaAllocator previous{};
  std::atomic<bool> installed{false};
  // guarded by mutex: the faulted-in arenas, all of kArenaBytes, oldest first.
  std::vector<CachedArena> arenas;
  // guarded by mutex.
  size_t limit_bytes = 0;
  // guarded by mutex: a purger thread runs in this process (false again in a fork's
  // child, which has no such thread).
  bool purger_running = false;
  std::atomic<uint64_t> reused{0};
  std::atomic<uint64_t> fresh{0};
  std::atomic<uint64_t> released{0};
};

Cache& cache() {
  static Cache* instance = new Cache();
  return *instance;
}

void give_back(Cache& c, const std::vector<void*>& arenas, size_t size) {
  for (void* arena : arenas) c.previous.free(c.previous.ctx, arena, size);
  c.released.fetch_add(arenas.size(), std::memory_order_relaxed);
}

// Gives back, kDecay after they were freed, the arenas nobody asked for again. Holds
// no GIL and runs no Python: the previous allocator's free is munmap.
[[noreturn]] void purge_forever() {
  Cache& c = cache();
  std::unique_lock lock(c.mutex);
  while (true) {
    if (c.arenas.empty()) {
      c.purge_wanted.wait(lock);
      continue;
    }
    const Clock::time_point due = c.arenas.front().freed + kDecay;
    if (Clock::now() < due) {
      c.purge_wanted.wait_until(lock, due);
      continue;
    }
    const Clock::time_point now = Clock::now();
    auto first_kept = std::find_if(c.arenas.begin(), c.arenas.end(),
                                   [now](const CachedArena& arena) { return arena.freed + kDecay > now; });
    std::vector<void*> expired;
    expired.reserve(static_cast<size_t>(first_kept - c.arenas.begin()));
    for (auto it = c.arenas.begin(); it != first_kept; ++it) expired.push_back(it->address);
    c.arenas.erase(c.arenas.begin(), first_kept);
    lock.unlock();
    give_back(c, expired, kArenaBytes);
    lock.lock();
  }
}

// Under c.mutex. False when no thread could be started: the cache then keeps nothing.
bool ensure_purger(Cache& c) {
  if (c.purger_running) return true;
  try {
    std::thread(purge_forever).detach();
  } catch (const std::system_error&) {
    return false;
  }
  c.purger_running = true;
  return true;
}

void* allocate_arena(void*, size_t size) {
  Cache& c = cache();
  if (size != kArenaBytes) return c.previous.alloc(c.previous.ctx, size);
  {
    std::lock_guard lock(c.mutex);
    if (!c.arenas.empty()) {
      void* arena = c.arenas.back().address;  // the most recently freed: the warmest
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
  if (arena == nullptr) return;  // 3.12 and 3.13 "free" the unused slots of an ending interpreter
  if (size != kArenaBytes) return c.previous.free(c.previous.ctx, arena, size);
  bool wake_purger = false;
  {
    std::lock_guard lock(c.mutex);
    // push_back cannot throw here: capacity covers the limit (install and
    // set_limit_bytes reserve it outside the hooks).
    if ((c.arenas.size() + 1) * size <= c.limit_bytes &&
        c.arenas.size() < c.arenas.capacity() && ensure_purger(c)) {
      wake_purger = c.arenas.empty();  // the purger sleeps until there is something to age
      c.arenas.push_back({arena, Clock::now()});
      arena = nullptr;
    }
  }
  if (wake_purger) c.purge_wanted.notify_one();
  if (arena == nullptr) return;  // cached
  c.released.fetch_add(1, std::memory_order_relaxed);
  c.previous.free(c.previous.ctx, arena, size);
}

}  // namespace

size_t default_limit_bytes() {
  size_t limit = kMaxDefaultLimitBytes;
#ifdef _SC_PHYS_PAGES
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    limit = std::min(limit, static_cast<size_t>(pages) / 16 * static_cast<size_t>(page_size));
  }
#endif
  return limit;
}

namespace {

size_t limit_from_environment() {
  const char* text = std::getenv("MANYCORE_ARENA_CACHE_MIB");
  if (text == nullptr || *text == '\0') return default_limit_bytes();
  for (const char* digit = text; *digit != '\0'; ++digit) {
    if (*digit < '0' || *digit > '9') return default_limit_bytes();  // manycore/_memory.py warns
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long mib = std::strtoull(text, &end, 10);
  // A malformed value keeps the default: this runs where no exception can be raised.
  if (errno != 0 || *end != '\0' || mib > (size_t{1} << 24)) return default_limit_bytes();
  return static_cast<size_t>(mib) << 20;
}


#ifdef __unix__
// A fork's child inherits the cache and its arenas (copy-on-write) but not the purger
// thread, and must not inherit the mutex locked by a thread that does not exist there.
void before_fork() { cache().mutex.lock(); }
void after_fork_in_parent() { cache().mutex.unlock(); }
void after_fork_in_child() {
  Cache& c = cache();
  c.purger_running = false;  // the next cached arena starts one
  c.mutex.unlock();
}
#endif

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    Cache& c = cache();
    size_t limit = limit_from_environment();
    {
      std::lock_guard lock(c.mutex);
      c.limit_bytes = limit;
      c.arenas.reserve(limit / kArenaBytes + 1);  // so the free hook never allocates
    }
    if (limit == 0) return;
    {
      std::lock_guard lock(c.mutex);
      if (!ensure_purger(c)) return;  // no thread for the decay: no cache
    }
#ifdef __unix__
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
#endif
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
    result.cached_bytes = c.arenas.size() * kArenaBytes;
  }
  result.reused = c.reused.load(std::memory_order_relaxed);
  result.fresh = c.fresh.load(std::memory_order_relaxed);
  result.released = c.released.load(std::memory_order_relaxed);
  return result;
}

void set_limit_bytes(size_t limit) {
  Cache& c = cache();
  std::vector<void*> excess;
  std::vector<CachedArena> grown;
  grown.reserve(limit / kArenaBytes + 1);  // allocated outside the lock
  {
    std::lock_guard lock(c.mutex);
    c.limit_bytes = limit;
    // The oldest go first, as the purger would take them.
    size_t keep = std::min(c.arenas.size(), limit / kArenaBytes);
    size_t drop = c.arenas.size() - keep;
    for (size_t i = 0; i < drop; ++i) excess.push_back(c.arenas[i].address);
    c.arenas.erase(c.arenas.begin(), c.arenas.begin() + static_cast<std::ptrdiff_t>(drop));
    if (grown.capacity() > c.arenas.capacity()) {
      grown.assign(c.arenas.begin(), c.arenas.end());
      c.arenas.swap(grown);
    }
  }
  if (c.installed.load(std::memory_order_acquire)) give_back(c, excess, kArenaBytes);
}

}  // namespace manycore::arena_cache
