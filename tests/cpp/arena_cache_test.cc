// tests/cpp/arena_cache_test.cc: the process-wide arena cache (install, reuse across interpreters, the limit).
#include "arena_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "manycore/interpreter.h"
#include "python_env.h"

namespace manycore {
namespace {

using test::MainGil;
using test::PyRef;

// Builds and drops a list of `count` distinct ints in the calling interpreter (its
// GIL held): about count * 32 bytes of obmalloc arenas, all empty again afterwards.
void churn_ints(long count) {
  PyRef length = test::eval("len(list(range(1000, 1000 + " + std::to_string(count) + ")))");
  ASSERT_TRUE(length);
  EXPECT_EQ(PyLong_AsLong(length.get()), count);
}

// Churns `count` ints in the main interpreter (taking its GIL; main thread only).
void churn_ints_in_main(long count) {
  MainGil gil;
  churn_ints(count);
}

// Each test runs in its own process (tests/cpp/CMakeLists.txt), so each starts with the
// cache not installed.
TEST(ArenaCacheTest, TheFirstInterpreterInstallsIt) {
  EXPECT_FALSE(arena_cache::stats().installed);
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  arena_cache::Stats stats = arena_cache::stats();
  EXPECT_TRUE(stats.installed);
  EXPECT_EQ(stats.limit_bytes, arena_cache::default_limit_bytes());
  arena_cache::install();  // idempotent
  EXPECT_TRUE(arena_cache::stats().installed);
  ASSERT_TRUE(worker->close().ok());
}

TEST(ArenaCacheTest, ArenasFreedInOneInterpreterServeAnother) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  churn_ints_in_main(500'000);  // ~16 MiB freed in the main interpreter
  arena_cache::Stats after_main = arena_cache::stats();
  EXPECT_GE(after_main.cached_bytes, size_t{8} << 20);
  EXPECT_LE(after_main.cached_bytes, after_main.limit_bytes);
  std::shared_ptr<Completion> built = worker->submit([] {
    churn_ints(250'000);  // ~8 MiB: served from the main's arenas
    return Result<Value>(Value::None());
  });
  ASSERT_TRUE(built->wait().ok());
  Result<Value> outcome = built->take();
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  arena_cache::Stats after_worker = arena_cache::stats();
  EXPECT_GE(after_worker.reused - after_main.reused, uint64_t{4});
  ASSERT_TRUE(worker->close().ok());
}

TEST(ArenaCacheTest, ALowerLimitGivesTheExcessBack) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  churn_ints_in_main(1'000'000);
  arena_cache::Stats full = arena_cache::stats();
  ASSERT_GT(full.cached_bytes, size_t{4} << 20);
  arena_cache::set_limit_bytes(size_t{2} << 20);
  arena_cache::Stats trimmed = arena_cache::stats();
  EXPECT_LE(trimmed.cached_bytes, size_t{2} << 20);
  EXPECT_GT(trimmed.released, full.released);
  arena_cache::set_limit_bytes(0);
  EXPECT_EQ(arena_cache::stats().cached_bytes, 0u);
  churn_ints_in_main(500'000);  // with limit 0 every freed arena goes straight back
  EXPECT_EQ(arena_cache::stats().cached_bytes, 0u);
  arena_cache::set_limit_bytes(arena_cache::default_limit_bytes());
  churn_ints_in_main(500'000);
  EXPECT_GT(arena_cache::stats().cached_bytes, 0u);
  ASSERT_TRUE(worker->close().ok());
}

TEST(ArenaCacheTest, ArenasNobodyTakesGoBackAfterTheDecay) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  churn_ints_in_main(500'000);
  arena_cache::Stats cached = arena_cache::stats();
  ASSERT_GT(cached.cached_bytes, 0u);
  // The purger gives them back kDecay after they were freed; allow a loaded machine
  // ten times that.
  auto give_up = std::chrono::steady_clock::now() + 10 * arena_cache::kDecay;
  while (arena_cache::stats().cached_bytes != 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  arena_cache::Stats decayed = arena_cache::stats();
  EXPECT_EQ(decayed.cached_bytes, 0u);
  EXPECT_GE(decayed.released - cached.released, cached.cached_bytes >> 20);
  ASSERT_TRUE(worker->close().ok());
}

}  // namespace
}  // namespace manycore
