// benchmarks/cpp/shared_floor.cc: the C++ floors under `bench shared`: work over the halves of one SharedMemory by 1 and 2 std::threads, and lock ping-pong.
//
// What Python cannot hide or add: the same zlib crc32 and OpenSSL SHA-256 that
// zlib.crc32 and hashlib.sha256 call, run over the two halves of one manycore
// SharedMemory (the memfd mapping behind SharedBuffer) one after the other and by two
// std::threads at once; the same for crc32 over a block that stays in the L2 cache (no
// memory traffic), a plain read of every 8-byte word (memory bandwidth alone), and
// integer multiplies with no memory traffic, latency-bound and throughput-bound (do
// the two threads get two cores' execution units, or share one core's?).
// If crc32 scales here no better than through two interpreters, the interpreters are
// not the limit. Then lock ping-pong between two std::threads: manycore::Lock against a
// sem_t (what multiprocessing.Lock is), and how often both threads ran on one CPU.
//
// Usage: shared_floor [--mib N] [--repeat R] [--rounds K]. Prints a table per repeat;
// exits 1 if two runs of the same work disagree (ctest runs it small as a smoke test).
#include <openssl/evp.h>
#include <sched.h>
#include <semaphore.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "manycore/shared_buffer.h"
#include "manycore/sync.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename Work>
double seconds_of(Work work) {
  auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs job(0) on a new thread and job(1) on this one, at once.
template <typename Job>
void on_two_threads(Job job) {
  std::thread other([&] { job(0); });
  job(1);
  other.join();
}

uint64_t crc_of(const unsigned char* data, size_t size) {
  uint64_t crc = 0;
  while (size > 0) {  // zlib takes a uInt length
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(static_cast<uLong>(crc), data, chunk);
    data += chunk;
    size -= chunk;
  }
  return crc;
}

uint64_t sha256_of(const unsigned char* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr);
  uint64_t head;
  std::memcpy(&head, digest, sizeof head);
  return head;
}

uint64_t sum_of(const unsigned char* data, size_t size) {
  uint64_t sum = 0;
  for (size_t i = 0; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    sum += word;
  }
  return sum;
}

// Integer multiply-adds with no memory traffic, `steps` of them per chain. One
// dependent chain waits on each multiply's latency and leaves the core's multiplier
// mostly idle; eight independent chains keep it busy every cycle. Two threads on two
// cores scale both 2x; two threads sharing one core's execution units (SMT siblings)
// scale the first well and the second hardly at all.
template <int kChains>
uint64_t multiply_chains(uint64_t seed, size_t steps) {
  uint64_t chain[kChains];
  for (int c = 0; c < kChains; ++c) chain[c] = seed + static_cast<uint64_t>(c);
  for (size_t i = 0; i < steps; ++i) {
    for (int c = 0; c < kChains; ++c) chain[c] = chain[c] * 6364136223846793005ull + 1442695040888963407ull;
  }
  uint64_t folded = 0;
  for (int c = 0; c < kChains; ++c) folded ^= chain[c];
  return folded;
}

// crc32 of a `block`-byte block at `data`, `times` times over (stays in cache).
uint64_t crc_in_cache(const unsigned char* data, size_t block, size_t times) {
  uint64_t total = 0;
  for (size_t i = 0; i < times; ++i) total += crc_of(data, block);
  return total;
}

struct Row {
  const char* name;
  double sequential;
  double threads;
  double bytes;
};

bool run_work(const unsigned char* data, size_t size, int repeat) {
  size_t half = size / 2;
  constexpr size_t kBlock = 256 << 10;  // in the 1 MiB L2 of an EPYC core, with room to spare
  size_t times = half / kBlock;
  bool agree = true;
  using Kernel = uint64_t (*)(const unsigned char*, size_t);
  struct Case {
    const char* name;
    Kernel kernel;
  };
  const Case over_halves[] = {{"zlib crc32 over the halves", crc_of},
                              {"OpenSSL SHA-256 over the halves", sha256_of},
                              {"read every 8-byte word (bandwidth)", sum_of}};
  for (int r = 0; r < repeat; ++r) {
    std::vector<Row> rows;
    for (const Case& work : over_halves) {
      uint64_t expected[2], got[2];
      double sequential = seconds_of([&] {
        expected[0] = work.kernel(data, half);
        expected[1] = work.kernel(data + half, half);
      });
      double threads = seconds_of([&] { on_two_threads([&](int i) { got[i] = work.kernel(data + i * half, half); }); });
      agree = agree && expected[0] == got[0] && expected[1] == got[1];
      rows.push_back({work.name, sequential, threads, static_cast<double>(2 * half)});
    }
    uint64_t expected[2], got[2];
    double sequential = seconds_of([&] {
      expected[0] = crc_in_cache(data, kBlock, times);
      expected[1] = crc_in_cache(data + kBlock, kBlock, times);
    });
    double threads =
        seconds_of([&] { on_two_threads([&](int i) { got[i] = crc_in_cache(data + i * kBlock, kBlock, times); }); });
    agree = agree && expected[0] == got[0] && expected[1] == got[1];
    rows.push_back({"zlib crc32 of a 256 KiB block (in L2), as many bytes", sequential, threads,
                    static_cast<double>(2 * times * kBlock)});

    struct Compute {
      const char* name;
      uint64_t (*kernel)(uint64_t, size_t);
      size_t steps;
    };
    const Compute computes[] = {{"1 dependent multiply chain (latency-bound)", multiply_chains<1>, 100000000},
                                {"8 independent multiply chains (throughput-bound)", multiply_chains<8>, 25000000}};
    for (const Compute& work : computes) {
      uint64_t alone[2], together[2];
      double sequential = seconds_of([&] {
        alone[0] = work.kernel(1, work.steps);
        alone[1] = work.kernel(2, work.steps);
      });
      double threads = seconds_of([&] { on_two_threads([&](int i) { together[i] = work.kernel(i + 1, work.steps); }); });
      agree = agree && alone[0] == together[0] && alone[1] == together[1];
      rows.push_back({work.name, sequential, threads, 0});
    }

    std::printf("\n%-52s %12s %10s %12s %8s\n", "work (repeat)", "sequential", "GB/s", "2 threads", "speed-up");
    for (const Row& row : rows) {
      char rate[32] = "-";
      if (row.bytes > 0) std::snprintf(rate, sizeof rate, "%.2f", row.bytes / row.sequential / 1e9);
      std::printf("%-52s %9.1f ms %10s %9.1f ms %7.2fx\n", row.name, 1e3 * row.sequential, rate,
                  1e3 * row.threads, row.sequential / row.threads);
    }
  }
  return agree;
}

// Ping-pong: two locks held by the main thread; the peer waits for `mine`, then
// releases `theirs`. Returns microseconds per round trip; counts the rounds in which
// both threads last ran on the same CPU.
template <typename Release, typename Acquire>
double ping_pong(int rounds, Release release, Acquire acquire, int& same_cpu) {
  std::vector<int> peer_cpu(rounds, -1);
  std::thread peer([&] {
    for (int i = 0; i < rounds; ++i) {
      acquire(0);
      peer_cpu[i] = sched_getcpu();
      release(1);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the peer is waiting
  same_cpu = 0;
  double seconds = seconds_of([&] {
    for (int i = 0; i < rounds; ++i) {
      release(0);
      acquire(1);
      if (sched_getcpu() == peer_cpu[i]) ++same_cpu;
    }
  });
  peer.join();
  return 1e6 * seconds / rounds;
}

void run_ping_pong(int rounds, int repeat) {
  std::printf("\n%-28s %12s %18s\n", "lock ping-pong (repeat)", "round trip", "rounds on 1 CPU");
  for (int r = 0; r < repeat; ++r) {
    int same = 0;
    manycore::Lock locks[2];
    (void)locks[0].try_acquire();
    (void)locks[1].try_acquire();
    double ours = ping_pong(
        rounds, [&](int i) { (void)locks[i].release(); }, [&](int i) { (void)locks[i].acquire(); }, same);
    std::printf("%-28s %9.2f us %11d of %d\n", "manycore::Lock", ours, same, rounds);
    sem_t semaphores[2];
    sem_init(&semaphores[0], 0, 0);
    sem_init(&semaphores[1], 0, 0);
    double theirs = ping_pong(
        rounds, [&](int i) { sem_post(&semaphores[i]); },
        [&](int i) {
          while (sem_wait(&semaphores[i]) != 0) {
          }
        },
        same);
    std::printf("%-28s %9.2f us %11d of %d\n", "sem_t (multiprocessing.Lock)", theirs, same, rounds);
    sem_destroy(&semaphores[0]);
    sem_destroy(&semaphores[1]);
  }
}

long option(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  long mib = option(argc, argv, "--mib", 256);
  int repeat = static_cast<int>(option(argc, argv, "--repeat", 3));
  int rounds = static_cast<int>(option(argc, argv, "--rounds", 20000));
  if (mib < 1 || repeat < 1 || rounds < 1) {
    std::fprintf(stderr, "usage: shared_floor [--mib N>=1] [--repeat R>=1] [--rounds K>=1]\n");
    return 2;
  }
  size_t size = static_cast<size_t>(mib) << 20;
  auto memory = manycore::SharedMemory::allocate(size);
  if (!memory.ok()) {
    std::fprintf(stderr, "cannot allocate %ld MiB: %s\n", mib, memory.status().message().c_str());
    return 1;
  }
  auto* data = reinterpret_cast<unsigned char*>(memory.value()->data());
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<unsigned char>(i);  // faults every page in, untimed
  std::printf("shared_floor: %ld MiB SharedMemory (%s), %u CPUs usable\n", mib,
              memory.value()->fd() >= 0 ? "memfd" : "anonymous shared mapping", std::thread::hardware_concurrency());
  bool agree = run_work(data, size, repeat);
  run_ping_pong(rounds, repeat);
  if (!agree) {
    std::fprintf(stderr, "sequential and threaded runs disagree\n");
    return 1;
  }
  return 0;
}
