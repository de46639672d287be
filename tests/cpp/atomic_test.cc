// tests/cpp/atomic_test.cc: AtomicInt arithmetic and its futex-style wait/notify, from plain C++ threads.
#include "manycore/atomic.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace manycore {
namespace {

using std::chrono::milliseconds;

TEST(AtomicIntTest, ArithmeticAndCompareExchange) {
  AtomicInt value(5);
  EXPECT_EQ(value.add(3), 8);
  EXPECT_EQ(value.fetch_add(2), 8);
  EXPECT_EQ(value.load(), 10);
  int64_t expected = 9;
  EXPECT_FALSE(value.compare_exchange(expected, 0));
  EXPECT_EQ(expected, 10);
  EXPECT_TRUE(value.compare_exchange(expected, 0));
  EXPECT_EQ(value.exchange(INT64_MAX), 0);
  EXPECT_EQ(value.add(1), INT64_MIN);  // wraps in two's complement
}

TEST(AtomicIntTest, ConcurrentAddsLoseNothing) {
  AtomicInt value;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) value.add(1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(value.load(), 400000);
}

TEST(AtomicIntTest, WaitReportsNotEqualTimeoutAndWakeups) {
  AtomicInt value(1);
  EXPECT_EQ(value.wait(0).value(), AtomicInt::WaitOutcome::kNotEqual);
  EXPECT_EQ(value.wait(1, 0.02).value(), AtomicInt::WaitOutcome::kTimedOut);
  EXPECT_EQ(value.notify(), 0u);
  std::thread waiter([&] { EXPECT_EQ(value.wait(1, 5.0).value(), AtomicInt::WaitOutcome::kWoken); });
  std::this_thread::sleep_for(milliseconds(80));
  value.store(2);
  EXPECT_EQ(value.notify(), 1u);
  waiter.join();
}

TEST(AtomicIntTest, NotifyWakesExactlyNOldestFirst) {
  AtomicInt value(0);
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      if (value.wait(0, 5.0).value() == AtomicInt::WaitOutcome::kWoken) ++woken;
    });
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(value.notify(2), 2u);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(woken.load(), 2);
  EXPECT_EQ(value.notify(SIZE_MAX), 1u);
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(woken.load(), 3);
}

TEST(AtomicIntTest, AStoreBeforeTheWaitIsNeverMissed) {
  // The waiter's check and its enlisting are one step against notify.
  for (int round = 0; round < 200; ++round) {
    AtomicInt value(0);
    std::thread waiter([&] {
      auto outcome = value.wait(0, 5.0).value();
      EXPECT_NE(outcome, AtomicInt::WaitOutcome::kTimedOut);
    });
    value.store(1);
    value.notify();
    waiter.join();
  }
}

}  // namespace
}  // namespace manycore
