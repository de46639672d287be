// tests/cpp/channel_test.cc: rendezvous channels: a send completes only when a receiver took the object.
#include "manycore/channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace manycore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

TEST(ChannelTest, EndsShareOneIdAndNameTheirSide) {
  auto [recv, send] = Channel::create();
  EXPECT_EQ(&recv->state(), &send->state());
  EXPECT_STREQ(recv->type_name(), "RecvChannel");
  EXPECT_STREQ(send->type_name(), "SendChannel");
  auto [other_recv, other_send] = Channel::create();
  EXPECT_NE(recv->state().id(), other_recv->state().id());
}

TEST(ChannelTest, SendBlocksUntilAReceiverTookTheObject) {
  auto [recv, send] = Channel::create();
  std::atomic<bool> received{false};
  std::thread receiver([&, recv = recv] {
    std::this_thread::sleep_for(milliseconds(50));
    Result<Value> got = recv->state().recv(true, 5.0);
    received = true;
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got.value().as_int(), 5);
  });
  auto start = Clock::now();
  ASSERT_TRUE(send->state().send(Value::Int(5), 5.0).ok());
  EXPECT_GE(seconds_since(start), 0.04);
  receiver.join();
  EXPECT_TRUE(received);
}

TEST(ChannelTest, SendNowaitOnlyHandsToAWaitingReceiver) {
  auto [recv, send] = Channel::create();
  Result<bool> taken = send->state().send_nowait(Value::Int(1));
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken.value());
  EXPECT_EQ(recv->state().recv(false, std::nullopt).status().code(), StatusCode::kEmpty);

  Result<Value> got = Value::None();
  std::thread receiver([&, recv = recv] { got = recv->state().recv(true, 5.0); });
  bool handed = false;
  for (int attempt = 0; attempt < 500 && !handed; ++attempt) {
    std::this_thread::sleep_for(milliseconds(2));
    handed = send->state().send_nowait(Value::Int(2)).value();
  }
  receiver.join();
  ASSERT_TRUE(handed);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().as_int(), 2);
}

TEST(ChannelTest, TimedOutSendWithdrawsItsObject) {
  auto [recv, send] = Channel::create();
  auto start = Clock::now();
  EXPECT_EQ(send->state().send(Value::Int(1), 0.05).code(), StatusCode::kTimeout);
  EXPECT_GE(seconds_since(start), 0.05);
  EXPECT_EQ(recv->state().recv(false, std::nullopt).status().code(), StatusCode::kEmpty);
  start = Clock::now();
  EXPECT_EQ(recv->state().recv(true, 0.05).status().code(), StatusCode::kTimeout);
  EXPECT_GE(seconds_since(start), 0.05);
}

TEST(ChannelTest, CloseWakesBothSidesAndRefusesLaterCalls) {
  auto [recv, send] = Channel::create();
  Status sent;
  std::thread sender([&, send = send] { sent = send->state().send(Value::Int(1), 5.0); });
  std::this_thread::sleep_for(milliseconds(30));
  recv->state().close();
  sender.join();
  EXPECT_EQ(sent.code(), StatusCode::kClosed);
  EXPECT_EQ(send->state().send(Value::Int(2), 1.0).code(), StatusCode::kClosed);
  EXPECT_EQ(send->state().send_nowait(Value::Int(2)).status().code(), StatusCode::kClosed);
  EXPECT_EQ(recv->state().recv(true, 1.0).status().code(), StatusCode::kClosed);
}

TEST(ChannelTest, DroppingEveryHolderOfOneEndClosesTheChannel) {
  auto [recv, send] = Channel::create();
  Result<Value> got = Value::None();
  std::thread receiver([&got, recv = std::move(recv)] { got = recv->state().recv(true, 5.0); });
  std::this_thread::sleep_for(milliseconds(30));
  send.reset();  // the last sending end: nobody can ever send
  receiver.join();
  EXPECT_EQ(got.status().code(), StatusCode::kClosed);
}

TEST(ChannelTest, ManySendersAndReceiversDeliverEachObjectOnce) {
  constexpr int kSenders = 3, kReceivers = 3, kPerSender = 2000;
  auto [recv, send] = Channel::create();
  std::vector<std::thread> threads;
  std::atomic<int> senders_left{kSenders};
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s, send = send] {
      for (int seq = 0; seq < kPerSender; ++seq) {
        ASSERT_TRUE(send->state().send(Value::Tuple({Value::Int(s), Value::Int(seq)}), 10.0).ok());
      }
      if (--senders_left == 0) send->state().close();
    });
  }
  std::vector<std::vector<std::pair<int, int>>> received(kReceivers);
  for (int r = 0; r < kReceivers; ++r) {
    threads.emplace_back([&, r, recv = recv] {
      while (true) {
        Result<Value> got = recv->state().recv(true, 10.0);
        if (got.status().code() == StatusCode::kClosed) return;
        ASSERT_TRUE(got.ok()) << got.status().message();
        received[r].emplace_back(got.value().items()[0].as_int(), got.value().items()[1].as_int());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::pair<int, int>> unique;
  size_t count = 0;
  for (const auto& items : received) {
    std::vector<int> last(kSenders, -1);
    for (auto [sender, seq] : items) {
      EXPECT_GT(seq, last[sender]);
      last[sender] = seq;
      unique.emplace(sender, seq);
      ++count;
    }
  }
  EXPECT_EQ(count, static_cast<size_t>(kSenders * kPerSender));
  EXPECT_EQ(unique.size(), count);
}

}  // namespace
}  // namespace manycore
