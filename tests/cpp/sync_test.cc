// tests/cpp/sync_test.cc: Lock, RLock, Condition, Event, Semaphore, Barrier from plain C++ threads (no GIL).
#include "manycore/sync.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace manycore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

TEST(LockTest, ExclusiveAndReleasableByAnyThread) {
  Lock lock;
  EXPECT_TRUE(lock.try_acquire());
  EXPECT_FALSE(lock.try_acquire());
  EXPECT_TRUE(lock.locked());
  std::thread other([&] { EXPECT_TRUE(lock.release().ok()); });
  other.join();
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(lock.release().code(), StatusCode::kNotOwner);
}

TEST(LockTest, TimedAcquireTimesOutAndZeroDoesNotWait) {
  Lock lock;
  ASSERT_TRUE(lock.try_acquire());
  auto start = Clock::now();
  EXPECT_EQ(lock.acquire(0.05).code(), StatusCode::kTimeout);
  EXPECT_GE(seconds_since(start), 0.05);
  EXPECT_EQ(lock.acquire(0.0).code(), StatusCode::kTimeout);
}

TEST(LockTest, MutualExclusionUnderContentionAndEveryWaiterWakes) {
  Lock lock;
  int64_t counter = 0;  // guarded by lock
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        ASSERT_TRUE(lock.acquire().ok());
        ++counter;
        ASSERT_TRUE(lock.release().ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter, 80000);
}

TEST(LockTest, ParkedWaiterWakesOnRelease) {
  Lock lock;
  ASSERT_TRUE(lock.try_acquire());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    EXPECT_TRUE(lock.acquire(10.0).ok());
    got = true;
  });
  std::this_thread::sleep_for(milliseconds(120));  // past the spin: parked
  EXPECT_FALSE(got);
  ASSERT_TRUE(lock.release().ok());
  waiter.join();
  EXPECT_TRUE(got);
}

// Many more threads than CPUs: waiters spin, lose, park and are woken in every
// order. Nobody is ever inside with another, nobody is lost, every thread finishes.
TEST(LockTest, HeavyContentionFromManyThreadsStaysExclusiveAndEveryThreadFinishes) {
  Lock lock;
  std::atomic<int> inside{0};
  int64_t counter = 0;  // guarded by lock
  constexpr int kThreads = 12, kRounds = 4000;
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        // A few timed acquires too: a timeout must never leave the lock held.
        if (i % 7 == t % 7) {
          if (!lock.acquire(0.0001).ok()) continue;
        } else {
          ASSERT_TRUE(lock.acquire().ok());
        }
        EXPECT_EQ(inside.fetch_add(1), 0);
        ++counter;
        if (i % 64 == 0) std::this_thread::yield();  // sometimes a holder is preempted
        inside.fetch_sub(1);
        ASSERT_TRUE(lock.release().ok());
      }
      ++finished;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(finished.load(), kThreads);
  EXPECT_LE(counter, int64_t{kThreads} * kRounds);
  EXPECT_GE(counter, int64_t{kThreads} * kRounds * 6 / 7);
  EXPECT_FALSE(lock.locked());
}

TEST(LockTest, TimeoutsShorterThanTheSpinAreHonoured) {
  Lock lock;
  ASSERT_TRUE(lock.try_acquire());
  for (double timeout : {0.00002, 0.0002, 0.002}) {
    auto start = Clock::now();
    EXPECT_EQ(lock.acquire(timeout).code(), StatusCode::kTimeout);
    double waited = seconds_since(start);
    EXPECT_GE(waited, timeout);
    EXPECT_LT(waited, timeout + 0.5);  // not the whole spin, nor a signal slice, on top
  }
  ASSERT_TRUE(lock.release().ok());
}

// A lock used as a signal (acquired by one thread, released by another), handed back
// and forth: every hand-off arrives, spinning or parked.
TEST(LockTest, PingPongBetweenTwoThreadsHandsEveryRoundOver) {
  Lock mine, theirs;
  ASSERT_TRUE(mine.try_acquire());
  ASSERT_TRUE(theirs.try_acquire());
  constexpr int kRounds = 20000;
  int peer_rounds = 0;
  std::thread peer([&] {
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_TRUE(mine.acquire(10.0).ok());
      ++peer_rounds;
      ASSERT_TRUE(theirs.release().ok());
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(mine.release().ok());
    ASSERT_TRUE(theirs.acquire(10.0).ok());
    EXPECT_EQ(peer_rounds, i + 1);
  }
  peer.join();
}

TEST(RLockTest, OwnerMayReenterOthersMayNotReleaseOrTake) {
  RLock lock;
  EXPECT_TRUE(lock.acquire().ok());
  EXPECT_TRUE(lock.acquire().ok());
  EXPECT_TRUE(lock.owned_by_caller());
  std::thread other([&] {
    EXPECT_FALSE(lock.owned_by_caller());
    EXPECT_EQ(lock.release().code(), StatusCode::kNotOwner);
    EXPECT_FALSE(lock.try_acquire());
  });
  other.join();
  EXPECT_TRUE(lock.release().ok());
  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(lock.release().ok());
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(lock.release().code(), StatusCode::kNotOwner);
}

TEST(RLockTest, ContendedOwnersExcludeEachOtherAtEveryDepth) {
  RLock lock;
  std::atomic<int> inside{0};
  int64_t counter = 0;  // guarded by lock
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        ASSERT_TRUE(lock.acquire().ok());
        ASSERT_TRUE(lock.acquire().ok());
        EXPECT_EQ(inside.fetch_add(1), 0);
        ++counter;
        inside.fetch_sub(1);
        ASSERT_TRUE(lock.release().ok());
        EXPECT_TRUE(lock.owned_by_caller());
        ASSERT_TRUE(lock.release().ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter, 6 * 3000);
  EXPECT_FALSE(lock.locked());
}

TEST(ConditionTest, WaitNeedsTheLockAndNotifyWakesExactlyN) {
  auto lock = std::make_shared<RLock>();
  Condition condition(lock);
  EXPECT_EQ(condition.wait(0.0).status().code(), StatusCode::kNotOwner);
  EXPECT_EQ(condition.notify().code(), StatusCode::kNotOwner);
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      ASSERT_TRUE(lock->acquire().ok());
      ASSERT_TRUE(lock->acquire().ok());  // recursion is restored after the wait
      Result<bool> notified = condition.wait(5.0);
      EXPECT_TRUE(lock->owned_by_caller());
      if (notified.ok() && notified.value()) ++woken;
      ASSERT_TRUE(lock->release().ok());
      ASSERT_TRUE(lock->release().ok());
    });
  }
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(lock->acquire().ok());
  ASSERT_TRUE(condition.notify(2).ok());
  ASSERT_TRUE(lock->release().ok());
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(woken.load(), 2);
  ASSERT_TRUE(lock->acquire().ok());
  ASSERT_TRUE(condition.notify_all().ok());
  ASSERT_TRUE(lock->release().ok());
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(woken.load(), 3);
}

TEST(ConditionTest, TimedWaitReturnsFalseWithTheLockHeldAgain) {
  auto lock = std::make_shared<Lock>();
  Condition condition(lock);
  ASSERT_TRUE(lock->acquire().ok());
  Result<bool> notified = condition.wait(0.03);
  ASSERT_TRUE(notified.ok());
  EXPECT_FALSE(notified.value());
  EXPECT_TRUE(lock->locked());
  EXPECT_TRUE(lock->release().ok());
}

TEST(EventTest, WaitReturnsOnceSetAndTimesOutOtherwise) {
  Event event;
  EXPECT_FALSE(event.wait(0.02).value());
  std::thread setter([&] {
    std::this_thread::sleep_for(milliseconds(60));
    event.set();
  });
  EXPECT_TRUE(event.wait(5.0).value());
  setter.join();
  event.clear();
  EXPECT_FALSE(event.is_set());
}

TEST(SemaphoreTest, CountsAndBoundedRefusesTooManyReleases) {
  EXPECT_EQ(Semaphore::create(-1, false).status().code(), StatusCode::kInvalidArgument);
  auto semaphore = Semaphore::create(2, true).take_value();
  EXPECT_STREQ(semaphore->type_name(), "BoundedSemaphore");
  EXPECT_TRUE(semaphore->try_acquire());
  EXPECT_TRUE(semaphore->try_acquire());
  EXPECT_FALSE(semaphore->try_acquire());
  EXPECT_EQ(semaphore->acquire(0.02).code(), StatusCode::kTimeout);
  EXPECT_TRUE(semaphore->release(2).ok());
  EXPECT_EQ(semaphore->release().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(semaphore->release(0).code(), StatusCode::kInvalidArgument);
  auto unbounded = Semaphore::create(0, false).take_value();
  EXPECT_TRUE(unbounded->release(3).ok());
  EXPECT_EQ(unbounded->value(), 3);
}

TEST(SemaphoreTest, ReleaseOfNWakesNWaiters) {
  auto semaphore = Semaphore::create(0, false).take_value();
  std::atomic<int> passed{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      if (semaphore->acquire(5.0).ok()) ++passed;
    });
  }
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(semaphore->release(3).ok());
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(passed.load(), 3);
}

TEST(SemaphoreTest, ContendedPermitsNeverExceedTheValue) {
  auto semaphore = Semaphore::create(2, true).take_value();
  std::atomic<int> holders{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        ASSERT_TRUE(semaphore->acquire().ok());
        int now = holders.fetch_add(1) + 1;
        EXPECT_LE(now, 2);
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        holders.fetch_sub(1);
        ASSERT_TRUE(semaphore->release().ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(semaphore->value(), 2);
  EXPECT_GE(most.load(), 1);
}

Status no_action(const Value&) { return Status::Ok(); }

TEST(BarrierTest, PartiesPassTogetherWithDistinctIndicesAndCyclesRepeat) {
  auto barrier = Barrier::create(3, Value::None(), std::nullopt).take_value();
  for (int cycle = 0; cycle < 3; ++cycle) {
    std::vector<int64_t> indices(3, -1);
    std::vector<std::thread> parties;
    for (int i = 0; i < 3; ++i) {
      parties.emplace_back([&, i] {
        Result<int64_t> index = barrier->wait(5.0, no_action);
        ASSERT_TRUE(index.ok()) << index.status().message();
        indices[i] = index.value();
      });
    }
    for (auto& party : parties) party.join();
    std::sort(indices.begin(), indices.end());
    EXPECT_EQ(indices, (std::vector<int64_t>{0, 1, 2}));
  }
}

TEST(BarrierTest, TimeoutAbortAndResetBreakItForEveryParty) {
  EXPECT_EQ(Barrier::create(0, Value::None(), std::nullopt).status().code(), StatusCode::kInvalidArgument);
  auto barrier = Barrier::create(2, Value::None(), 0.05).take_value();
  EXPECT_EQ(barrier->wait(std::nullopt, no_action).status().code(), StatusCode::kBrokenBarrier);  // default timeout
  EXPECT_TRUE(barrier->broken());
  EXPECT_EQ(barrier->wait(5.0, no_action).status().code(), StatusCode::kBrokenBarrier);
  barrier->reset();
  EXPECT_FALSE(barrier->broken());
  std::thread waiter([&] { EXPECT_EQ(barrier->wait(5.0, no_action).status().code(), StatusCode::kBrokenBarrier); });
  while (barrier->n_waiting() == 0) std::this_thread::yield();
  barrier->abort();
  waiter.join();
  EXPECT_TRUE(barrier->broken());
}

TEST(BarrierTest, TheLastPartyRunsTheActionAndAFailingActionBreaksIt) {
  auto barrier = Barrier::create(2, Value::Int(1), std::nullopt).take_value();
  std::atomic<int> runs{0};
  auto count = [&](const Value& action) {
    EXPECT_EQ(action.as_int(), 1);
    ++runs;
    return Status::Ok();
  };
  std::thread other([&] { EXPECT_TRUE(barrier->wait(5.0, count).ok()); });
  EXPECT_TRUE(barrier->wait(5.0, count).ok());
  other.join();
  EXPECT_EQ(runs.load(), 1);
  auto fail = [](const Value&) { return Status(StatusCode::kInternal, "action failed"); };
  std::thread waiter([&] { EXPECT_EQ(barrier->wait(5.0, fail).status().code(), StatusCode::kBrokenBarrier); });
  while (barrier->n_waiting() == 0) std::this_thread::yield();
  EXPECT_EQ(barrier->wait(5.0, fail).status().code(), StatusCode::kInternal);
  waiter.join();
  EXPECT_TRUE(barrier->broken());
}

}  // namespace
}  // namespace manycore
