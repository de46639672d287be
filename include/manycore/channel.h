// include/manycore/channel.h: rendezvous channels (PEP 554): a send completes only when a receiver took the object.
//
// What it offers: Channel::create() returns the two ends of one channel, a receiving
// and a sending ChannelEnd, each a Shareable that any interpreter may hold (through
// its own wrapper: RecvChannel / SendChannel). send() blocks until a receiver has taken the object; send_nowait() hands
// the object over only if a receiver is already waiting; recv() blocks until a sender
// offers one.
//
// Guarantees:
// - An object is delivered exactly once, and only if its send() (or send_nowait()
//   returning true) succeeded: a send that times out or is closed withdraws its
//   object. The exceptions are signals: a send interrupted after a receiver took the
//   object reports the interrupt although the object was delivered, and a recv
//   interrupted just after an object was handed to it reports the interrupt and
//   drops that object (a Python error cannot be returned together with a value).
// - Offers from one sender are received in the order sent; waiting receivers are
//   served in the order they started waiting.
// - Everything a sender did before send() is visible to the receiver that got it.
// - close() on either end closes the channel: blocked and later sends and receives
//   fail with kClosed. Objects already handed to a waiting receiver stay delivered.
// - When either end is gone from every interpreter, the channel closes, so the other
//   side does not wait forever.
//
// Lifetime and threading rules: plain C++ (no PyObject*). The ends share one
// ChannelState by std::shared_ptr; blocking calls release the caller's GIL.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

class ChannelEnd;

// The state both ends share: the offers of blocked senders and the slots of blocked
// receivers (at most one of the two is non-empty at any time).
class ChannelState {
 public:
  ChannelState();
  int64_t id() const { return id_; }
  bool is_closed() const { return closed_.load(std::memory_order_acquire); }

  Status send(Value item, std::optional<double> timeout_seconds);
  // True if a waiting receiver took item; false (item dropped) if none was waiting.
  Result<bool> send_nowait(Value item);
  Result<Value> recv(bool block, std::optional<double> timeout_seconds);
  void close();

 private:
  // A blocked sender's offer, or a blocked receiver's slot. Lives on the waiting
  // thread's stack; it is in offers_ or receivers_ exactly while state is kWaiting,
  // and the waiter leaves only after removing it (or seeing it resolved) under mutex_.
  struct Handoff {
    enum State : int { kWaiting, kDone, kClosed };
    std::optional<Value> item;           // guarded by ChannelState::mutex_
    std::atomic<int> state{kWaiting};    // written under mutex_, read racily by the spinning owner
    std::condition_variable resolved;    // the owner parks here with ChannelState::mutex_
  };
  // Requires mutex_ held: hands item to the oldest waiting receiver, if any.
  bool give_to_waiting_receiver(Value& item);

  const int64_t id_;
  std::mutex mutex_;
  std::deque<Handoff*> offers_;     // guarded by mutex_: blocked senders, oldest first
  std::deque<Handoff*> receivers_;  // guarded by mutex_: blocked receivers, oldest first
  std::atomic<bool> closed_{false};  // written under mutex_
};

// One end of a channel: one object per end, shared by every interpreter that holds it
// (through its wrapper). When the last reference to an end goes, the channel closes.
class ChannelEnd final : public Shareable {
 public:
  enum class Side : uint8_t { kRecv, kSend };
  ChannelEnd(Side side, std::shared_ptr<ChannelState> state) : side_(side), state_(std::move(state)) {}
  ~ChannelEnd() override { state_->close(); }
  const char* type_name() const override { return side_ == Side::kRecv ? "RecvChannel" : "SendChannel"; }
  Side side() const { return side_; }
  ChannelState& state() const { return *state_; }

 private:
  const Side side_;
  std::shared_ptr<ChannelState> state_;
};

class Channel {
 public:
  // A new channel's two ends: {receiving end, sending end}.
  static std::pair<std::shared_ptr<ChannelEnd>, std::shared_ptr<ChannelEnd>> create();
};

}  // namespace manycore
