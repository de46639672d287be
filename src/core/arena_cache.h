// src/core/arena_cache.h: a process-wide cache of freed obmalloc arenas that every interpreter reuses.
//
// Why: CPython's small-object allocator takes memory from the system in arenas
// (1 MiB on 64-bit 3.12 and 3.13) and gives every arena that becomes empty back with
// munmap. The next arena is fresh memory, and each of its pages is faulted in on first
// touch. Measured on the 2-CPU VMs of this project a minor fault costs about 3 us, so
// about 30 of the 43 ms that building a list of 1M ints takes are page faults
// (docs/benchmarks.md, "The arena cache"). Moving bulk data between interpreters
// frees on one side what the other side is about to build: a worker frees a decoded
// message while the caller decodes the result, a pool's caller frees a batch while a
// worker builds the next one. The cache keeps freed arenas, already faulted in, and
// hands them to the next arena request of any interpreter, up to a byte limit.
//
// Only blocks of obmalloc's arena size (1 MiB) are cached; the other blocks CPython
// takes through the same hooks (a thread's frame-stack chunks) pass straight through.
//
// Guarantees:
// - An arena is owned by one interpreter's allocator at a time: the cache hands a
//   cached arena to exactly one request, and only arenas that obmalloc freed enter it.
// - Every arena comes from the allocator that was installed before the cache
//   (CPython's mmap one unless someone replaced it) and goes back to it when the cache
//   is over its limit, so chaining is safe.
// - At most limit_bytes stay cached, and none longer than kDecay after it was freed
//   (a purger thread gives them back, as jemalloc's dirty-page decay does): a burst
//   of bulk data is served from memory already faulted in, and an idle process holds
//   nothing extra a second later. A lower limit frees the excess at once.
//
// Threading: obmalloc calls the hooks under the GIL of the interpreter that allocates
// or frees, several interpreters at once; one mutex guards the cache and is never held
// while the previous allocator runs. The purger thread holds no GIL and runs no
// Python. install() is idempotent and thread-safe. A fork's child keeps the cache and
// starts its own purger when it next caches an arena (pthread_atfork).
// Lifetime: installed once per process and never removed (extension modules are not
// unloaded); cached arenas stay mapped until the process ends or the limit drops.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace manycore::arena_cache {

// How long a freed arena stays cached when no request takes it.
inline constexpr auto kDecay = std::chrono::seconds(1);
// The limit when MANYCORE_ARENA_CACHE_MIB is not set: this, or a sixteenth of the
// machine's memory if that is less.
inline constexpr size_t kMaxDefaultLimitBytes = size_t{512} << 20;
size_t default_limit_bytes();

// Installs the cache as CPython's arena allocator (PyObject_SetArenaAllocator), once
// per process; the limit is read from MANYCORE_ARENA_CACHE_MIB at that moment
// (0 turns the cache off: every request and free goes straight through). Any thread,
// any or no GIL, after Py_Initialize.
void install();

struct Stats {
  bool installed = false;
  size_t limit_bytes = 0;
  size_t cached_bytes = 0;   // faulted-in arenas waiting for a request
  uint64_t reused = 0;       // arena requests served from the cache
  uint64_t fresh = 0;        // arena requests passed to the previous allocator
  uint64_t released = 0;     // freed arenas given back because the cache was full
};
Stats stats();

// Sets the limit; the arenas over it go back to the system before it returns.
void set_limit_bytes(size_t limit);

}  // namespace manycore::arena_cache
