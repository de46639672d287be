// tests/cpp/queue_test.cc: Queue and select(), the cross-interpreter FIFO, driven from plain C++ threads (no GIL).
#include "manycore/queue.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "gate.h"

namespace manycore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

TEST(QueueTest, IdsAreUniqueAndKeepTheirSettings) {
  Queue a, b(3);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(a.maxsize(), 0u);
  EXPECT_EQ(b.maxsize(), 3u);
  EXPECT_STREQ(a.type_name(), "Queue");
}

TEST(QueueTest, FindReturnsTheLiveQueueByIdUntilItsLastOwnerLetsGo) {
  auto queue = std::make_shared<Queue>(4);
  const int64_t id = queue->id();
  Result<std::shared_ptr<Queue>> found = Queue::find(id);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found.value().get(), queue.get());
  bool listed = false;
  for (const auto& live : Queue::list_all()) listed = listed || live.get() == queue.get();
  EXPECT_TRUE(listed);
  found = Result<std::shared_ptr<Queue>>(Status(StatusCode::kNotFound, "released"));
  queue.reset();
  EXPECT_EQ(Queue::find(id).status().code(), StatusCode::kNotFound);
  for (const auto& live : Queue::list_all()) EXPECT_NE(live->id(), id);
  EXPECT_EQ(Queue::find(1'000'000'000).status().code(), StatusCode::kNotFound);
}

TEST(QueueTest, QueueNotOwnedBySharedPtrIsNotFound) {
  Queue on_stack;
  EXPECT_EQ(Queue::find(on_stack.id()).status().code(), StatusCode::kNotFound);
}

TEST(QueueTest, FindRacesWithTheLastOwnerSafely) {
  for (int round = 0; round < 200; ++round) {
    auto queue = std::make_shared<Queue>();
    const int64_t id = queue->id();
    std::thread finder([id] {
      for (int i = 0; i < 50; ++i) {
        Result<std::shared_ptr<Queue>> found = Queue::find(id);
        if (found.ok()) {
          EXPECT_EQ(found.value()->id(), id);
        }
      }
    });
    queue.reset();
    finder.join();
    EXPECT_EQ(Queue::find(id).status().code(), StatusCode::kNotFound);
  }
}

TEST(QueueTest, FifoWithSizeAndNonBlockingForms) {
  Queue queue;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(queue.put(Value::Int(i), false).ok());
  EXPECT_EQ(queue.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    Result<Value> got = queue.get(false);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got.value().as_int(), i);
  }
  EXPECT_EQ(queue.get(false).status().code(), StatusCode::kEmpty);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(QueueTest, BoundedQueueRefusesWhenFullAndLeavesItUnchanged) {
  Queue queue(2);
  ASSERT_TRUE(queue.put(Value::Str("a"), false).ok());
  ASSERT_TRUE(queue.put(Value::Str("b"), false).ok());
  EXPECT_EQ(queue.put(Value::Str("c"), false).code(), StatusCode::kFull);
  auto start = Clock::now();
  EXPECT_EQ(queue.put(Value::Str("c"), true, 0.05).code(), StatusCode::kFull);
  EXPECT_GE(seconds_since(start), 0.05);
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.get(false).value().text(), "a");
  EXPECT_TRUE(queue.put(Value::Str("c"), false).ok());
}

TEST(QueueTest, TimedGetHonoursFractionsOfASecond) {
  Queue queue;
  auto start = Clock::now();
  EXPECT_EQ(queue.get(true, 0.08).status().code(), StatusCode::kEmpty);
  double waited = seconds_since(start);
  EXPECT_GE(waited, 0.08);
  EXPECT_LT(waited, 1.0);
  start = Clock::now();
  EXPECT_EQ(queue.get(true, 0.0).status().code(), StatusCode::kEmpty);
  EXPECT_LT(seconds_since(start), 0.05);
}

TEST(QueueTest, BlockedGetWakesOnPutFromAnotherThread) {
  Queue queue;
  std::thread producer([&queue] {
    std::this_thread::sleep_for(milliseconds(30));
    (void)queue.put(Value::Int(42));
  });
  Result<Value> got = queue.get(true, 5.0);
  producer.join();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().as_int(), 42);
}

TEST(QueueTest, BlockedPutWakesWhenRoomAppears) {
  Queue queue(1);
  ASSERT_TRUE(queue.put(Value::Int(1)).ok());
  std::thread consumer([&queue] {
    std::this_thread::sleep_for(milliseconds(30));
    (void)queue.get(false);
  });
  EXPECT_TRUE(queue.put(Value::Int(2), true, 5.0).ok());
  consumer.join();
  EXPECT_EQ(queue.get(false).value().as_int(), 2);
}

TEST(QueueTest, CloseRefusesPutsDrainsGetsAndWakesWaiters) {
  Queue queue;
  ASSERT_TRUE(queue.put(Value::Int(1)).ok());
  queue.close();
  queue.close();  // idempotent
  EXPECT_TRUE(queue.is_closed());
  EXPECT_EQ(queue.put(Value::Int(2)).code(), StatusCode::kClosed);
  EXPECT_EQ(queue.get().value().as_int(), 1);
  EXPECT_EQ(queue.get().status().code(), StatusCode::kClosed);

  Queue idle;
  Result<Value> seen = Value::None();
  std::thread getter([&] { seen = idle.get(true, 5.0); });
  std::this_thread::sleep_for(milliseconds(30));
  idle.close();
  getter.join();
  EXPECT_EQ(seen.status().code(), StatusCode::kClosed);
}

TEST(QueueTest, ItemsOutliveTheProducerThread) {
  Queue queue;
  std::thread([&queue] {
    std::vector<Value> items = {Value::Bytes(std::string(1000, 'x')), Value::Str("made elsewhere")};
    (void)queue.put(Value::Tuple(std::move(items)));
  }).join();
  Result<Value> got = queue.get(false);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().items().at(0).text().size(), 1000u);
  EXPECT_EQ(got.value().items().at(1).text(), "made elsewhere");
}

TEST(QueueTest, WhatTheProducerWroteIsVisibleToTheConsumer) {
  // Plain (non-atomic) writes before put must be seen after get (checked by TSan builds).
  Queue queue;
  std::vector<int64_t> shared(1000, 0);
  std::thread producer([&] {
    for (size_t i = 0; i < shared.size(); ++i) shared[i] = static_cast<int64_t>(i) * 3;
    (void)queue.put(Value::None());
  });
  ASSERT_TRUE(queue.get(true, 5.0).ok());
  for (size_t i = 0; i < shared.size(); ++i) ASSERT_EQ(shared[i], static_cast<int64_t>(i) * 3);
  producer.join();
}

TEST(QueueTest, ManyProducersAndConsumersLoseNothingAndKeepPerProducerOrder) {
  constexpr int kProducers = 4, kConsumers = 3, kPerProducer = 5000;
  Queue queue(64);  // bounded: producers also wait
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&queue, p] {
      for (int seq = 0; seq < kPerProducer; ++seq) {
        ASSERT_TRUE(queue.put(Value::Tuple({Value::Int(p), Value::Int(seq)}), true, 10.0).ok());
      }
    });
  }
  std::vector<std::vector<std::pair<int, int>>> received(kConsumers);
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&queue, &received, c] {
      while (true) {
        Result<Value> got = queue.get(true, 10.0);
        if (got.status().code() == StatusCode::kClosed) return;
        ASSERT_TRUE(got.ok()) << got.status().message();
        received[c].emplace_back(got.value().items()[0].as_int(), got.value().items()[1].as_int());
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  queue.close();
  for (int c = 0; c < kConsumers; ++c) threads[kProducers + c].join();

  int64_t count = 0, checksum = 0;
  std::set<std::pair<int, int>> unique;
  for (const auto& items : received) {
    std::vector<int> last(kProducers, -1);
    for (auto [producer, seq] : items) {
      EXPECT_GT(seq, last[producer]) << "producer " << producer << " out of order";
      last[producer] = seq;
      ++count;
      checksum += producer * 1000003LL + seq;
      unique.emplace(producer, seq);
    }
  }
  int64_t expected_checksum = 0;
  for (int p = 0; p < kProducers; ++p) {
    for (int seq = 0; seq < kPerProducer; ++seq) expected_checksum += p * 1000003LL + seq;
  }
  EXPECT_EQ(count, kProducers * kPerProducer);
  EXPECT_EQ(unique.size(), static_cast<size_t>(kProducers * kPerProducer));
  EXPECT_EQ(checksum, expected_checksum);
}

TEST(SelectTest, ReturnsTheFirstQueueWithAnItem) {
  auto a = std::make_shared<Queue>(), b = std::make_shared<Queue>(), c = std::make_shared<Queue>();
  ASSERT_TRUE(c->put(Value::Int(1)).ok());
  ASSERT_TRUE(b->put(Value::Int(2)).ok());
  Result<size_t> chosen = select({a, b, c}, 0.0);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen.value(), 1u);
}

TEST(SelectTest, TimesOutAndRejectsAnEmptyList) {
  auto a = std::make_shared<Queue>();
  auto start = Clock::now();
  EXPECT_EQ(select({a}, 0.05).status().code(), StatusCode::kTimeout);
  EXPECT_GE(seconds_since(start), 0.05);
  EXPECT_EQ(select({}, 0.0).status().code(), StatusCode::kInvalidArgument);
}

TEST(SelectTest, WakesOnAPutFromAnotherThreadAndUnsubscribes) {
  auto a = std::make_shared<Queue>(), b = std::make_shared<Queue>();
  std::thread producer([b] {
    std::this_thread::sleep_for(milliseconds(30));
    (void)b->put(Value::Int(7));
  });
  Result<size_t> chosen = select({a, b}, 5.0);
  producer.join();
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen.value(), 1u);
  // select() left no subscriber behind: a put notifies nothing (a Notifier with a
  // pipe subscribed afterwards sees only its own events).
  auto notifier = Notifier::with_pipe().take_value();
  a->subscribe(notifier, Queue::Event::kReadable);
  EXPECT_FALSE(notifier->take());
  ASSERT_TRUE(a->put(Value::Int(1)).ok());
  EXPECT_TRUE(notifier->take());
  a->unsubscribe(notifier.get());
  ASSERT_TRUE(a->put(Value::Int(2)).ok());
  EXPECT_FALSE(notifier->take());
}

TEST(SelectTest, SkipsClosedDrainedQueuesAndReportsWhenAllAre) {
  auto a = std::make_shared<Queue>(), b = std::make_shared<Queue>();
  a->close();
  ASSERT_TRUE(b->put(Value::Int(1)).ok());
  b->close();
  Result<size_t> chosen = select({a, b}, 0.0);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen.value(), 1u);
  ASSERT_TRUE(b->get(false).ok());
  EXPECT_EQ(select({a, b}, 1.0).status().code(), StatusCode::kClosed);

  auto c = std::make_shared<Queue>();
  std::thread closer([c] {
    std::this_thread::sleep_for(milliseconds(30));
    c->close();
  });
  EXPECT_EQ(select({c}, 5.0).status().code(), StatusCode::kClosed);
  closer.join();
}

TEST(NotifierTest, PipeBecomesReadableOnNotifyAndQuietAfterTake) {
  auto notifier = Notifier::with_pipe().take_value();
  ASSERT_GE(notifier->read_fd(), 0);
  pollfd watched{notifier->read_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&watched, 1, 0), 0);
  notifier->notify();
  notifier->notify();  // coalesced
  EXPECT_EQ(poll(&watched, 1, 0), 1);
  EXPECT_TRUE(notifier->take());
  EXPECT_EQ(poll(&watched, 1, 0), 0);
  EXPECT_FALSE(notifier->take());
}

TEST(NotifierTest, WaitReturnsOnNotifyAndTimesOut) {
  Notifier notifier;
  EXPECT_EQ(notifier.wait(0.02).code(), StatusCode::kTimeout);
  std::thread waker([&notifier] {
    std::this_thread::sleep_for(milliseconds(20));
    notifier.notify();
  });
  EXPECT_TRUE(notifier.wait(5.0).ok());
  waker.join();
  EXPECT_TRUE(notifier.take());
}

}  // namespace
}  // namespace manycore
