// tests/cpp/futex_wait_test.cc: the spin and park helpers under Lock, RLock and Semaphore (src/core/futex_wait.h).
#include "futex_wait.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace manycore::internal {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(SpinTest, UsableCpusFollowTheAffinityMask) {
  EXPECT_GE(usable_cpus(), 1u);
  EXPECT_LE(usable_cpus(), std::max(1u, std::thread::hardware_concurrency()));
  std::thread pinned([] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(current_cpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);  // this thread only
    EXPECT_EQ(usable_cpus(), 1u);                            // so a one-CPU process never spins
  });
  pinned.join();
}

TEST(SpinTest, ALockThatFreesUpIsWonAndABudgetEndsTheSpin) {
  std::atomic<bool> held{true};
  auto looks_free = [&] { return !held.load(std::memory_order_relaxed); };
  auto attempt = [&] {
    bool expected = false;
    return held.compare_exchange_strong(expected, true);
  };
  auto unknown_cpu = [] { return -1; };
  auto start = Clock::now();
  EXPECT_EQ(spin_for(microseconds(200), std::nullopt, looks_free, attempt, unknown_cpu), SpinOutcome::kLost);
  EXPECT_GE(Clock::now() - start, microseconds(200));
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(2));
    held.store(false);
  });
  EXPECT_EQ(spin_for(std::chrono::seconds(10), std::nullopt, looks_free, attempt, unknown_cpu), SpinOutcome::kWon);
  releaser.join();
  EXPECT_TRUE(held.load());
}

TEST(SpinTest, TheDeadlineCutsTheSpinAndAHolderOnThisCpuEndsItAtOnce) {
  auto never_free = [] { return false; };
  auto never_wins = [] { return false; };
  auto start = Clock::now();
  auto deadline = start + microseconds(300);
  EXPECT_EQ(spin_for(std::chrono::seconds(10), deadline, never_free, never_wins, [] { return -1; }),
            SpinOutcome::kLost);
  EXPECT_GE(Clock::now(), deadline);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  if (current_cpu() < 0) GTEST_SKIP() << "the CPU number is unknown here";
  // Pinned, so that the thread cannot move between reading its CPU and spinning.
  std::thread pinned([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(current_cpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    auto here = Clock::now();
    EXPECT_EQ(spin_for(std::chrono::seconds(10), std::nullopt, never_free, never_wins, [] { return current_cpu(); }),
              SpinOutcome::kHolderHere);
    EXPECT_LT(Clock::now() - here, milliseconds(100));
  });
  pinned.join();
}

TEST(ParkTest, AReleaseWakesOnlyWhenSomeoneIsParked) {
  std::atomic<uint32_t> sequence{0};
  std::atomic<int> parked{0};
  EXPECT_FALSE(wake_sequence(sequence, parked, 1));  // no waiter asleep: no system call
  parked.store(1);
  EXPECT_TRUE(wake_sequence(sequence, parked, 1));
  EXPECT_EQ(sequence.load(), 2u);  // each release moves the futex word
}

TEST(ParkTest, AParkedWaiterTakesAReleaseAndATimeoutEndsThePark) {
  std::atomic<bool> held{true};
  std::atomic<uint32_t> sequence{0};
  std::atomic<int> parked{0};
  auto attempt = [&] {
    bool expected = false;
    return held.compare_exchange_strong(expected, true);
  };
  GilRelease no_gil;  // this thread holds no GIL: a no-op
  auto start = Clock::now();
  EXPECT_EQ(park_on_sequence(sequence, parked, attempt, start + milliseconds(30), no_gil).code(),
            StatusCode::kTimeout);
  EXPECT_GE(Clock::now() - start, milliseconds(30));
  EXPECT_EQ(parked.load(), 0);
  std::thread releaser([&] {
    while (parked.load() == 0) std::this_thread::yield();
    held.store(false);
    wake_sequence(sequence, parked, 1);  // false if the waiter saw the release before sleeping
  });
  EXPECT_TRUE(park_on_sequence(sequence, parked, attempt, std::nullopt, no_gil).ok());
  releaser.join();
  EXPECT_EQ(parked.load(), 0);
}

}  // namespace
}  // namespace manycore::internal
