// src/core/channel.cc: rendezvous channels: blocked senders' offers meet blocked receivers' slots.
#include "manycore/channel.h"

#include <algorithm>
#include <string>

#include "wait.h"

namespace manycore {
namespace {

std::atomic<int64_t> next_channel_id{1};

}  // namespace

ChannelState::ChannelState() : id_(next_channel_id.fetch_add(1, std::memory_order_relaxed)) {}

std::pair<std::shared_ptr<ChannelEnd>, std::shared_ptr<ChannelEnd>> Channel::create() {
  auto state = std::make_shared<ChannelState>();
  return {std::make_shared<ChannelEnd>(ChannelEnd::Side::kRecv, state),
          std::make_shared<ChannelEnd>(ChannelEnd::Side::kSend, state)};
}

bool ChannelState::give_to_waiting_receiver(Value& item) {
  if (receivers_.empty()) return false;
  Handoff* receiver = receivers_.front();
  receivers_.pop_front();
  receiver->item = std::move(item);
  receiver->state.store(Handoff::kDone, std::memory_order_release);
  // With mutex_ held: the receiver cannot destroy its slot before it retakes mutex_.
  receiver->resolved.notify_one();
  return true;
}

Status ChannelState::send(Value item, std::optional<double> timeout_seconds) {
  auto deadline = internal::deadline_after(timeout_seconds);
  Handoff offer;
  {
    std::lock_guard lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) {
      return Status(StatusCode::kClosed, "channel " + std::to_string(id_) + " is closed");
    }
    if (give_to_waiting_receiver(item)) return Status::Ok();
    offer.item = std::move(item);
    offers_.push_back(&offer);
  }
  Status waited = internal::wait_released(
      mutex_, offer.resolved, [&offer] { return offer.state.load(std::memory_order_acquire) != Handoff::kWaiting; },
      deadline);
  // Taken before the offer leaves this frame: a receiver may still be touching it.
  std::lock_guard lock(mutex_);
  switch (offer.state.load(std::memory_order_relaxed)) {
    case Handoff::kDone: return waited.code() == StatusCode::kInterrupted ? waited : Status::Ok();
    case Handoff::kClosed:
      return Status(StatusCode::kClosed, "channel " + std::to_string(id_) + " was closed before the object was received");
    default: break;
  }
  std::erase(offers_, &offer);  // withdrawn: nobody will receive it
  if (waited.code() == StatusCode::kTimeout) {
    return Status(StatusCode::kTimeout, "no receiver took the object before the timeout");
  }
  return waited.ok() ? Status(StatusCode::kInternal, "channel send woke up unresolved") : waited;
}

Result<bool> ChannelState::send_nowait(Value item) {
  std::lock_guard lock(mutex_);
  if (closed_.load(std::memory_order_relaxed)) {
    return Status(StatusCode::kClosed, "channel " + std::to_string(id_) + " is closed");
  }
  return give_to_waiting_receiver(item);
}

Result<Value> ChannelState::recv(bool block, std::optional<double> timeout_seconds) {
  auto deadline = internal::deadline_after(timeout_seconds);
  Handoff slot;
  {
    std::lock_guard lock(mutex_);
    if (!offers_.empty()) {
      Handoff* offer = offers_.front();
      offers_.pop_front();
      Value item = std::move(*offer->item);
      offer->state.store(Handoff::kDone, std::memory_order_release);
      offer->resolved.notify_one();  // with mutex_ held, as in give_to_waiting_receiver
      return item;
    }
    if (closed_.load(std::memory_order_relaxed)) {
      return Status(StatusCode::kClosed, "channel " + std::to_string(id_) + " is closed");
    }
    if (!block) return Status(StatusCode::kEmpty, "no object is waiting in channel " + std::to_string(id_));
    receivers_.push_back(&slot);
  }
  Status waited = internal::wait_released(
      mutex_, slot.resolved, [&slot] { return slot.state.load(std::memory_order_acquire) != Handoff::kWaiting; },
      deadline);
  std::lock_guard lock(mutex_);
  switch (slot.state.load(std::memory_order_relaxed)) {
    case Handoff::kDone:
      // An interrupt that arrives after the hand-over wins: the object is dropped
      // (documented in channel.h), since a Python error cannot travel with a value.
      if (waited.code() == StatusCode::kInterrupted) return waited;
      return std::move(*slot.item);
    case Handoff::kClosed: return Status(StatusCode::kClosed, "channel " + std::to_string(id_) + " was closed");
    default: break;
  }
  std::erase(receivers_, &slot);
  if (waited.code() == StatusCode::kTimeout) {
    return Status(StatusCode::kTimeout, "no object arrived in channel " + std::to_string(id_) + " before the timeout");
  }
  return waited.ok() ? Status(StatusCode::kInternal, "channel recv woke up unresolved") : waited;
}

void ChannelState::close() {
  std::lock_guard lock(mutex_);
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  for (std::deque<Handoff*>* waiting : {&offers_, &receivers_}) {
    for (Handoff* handoff : *waiting) {
      handoff->state.store(Handoff::kClosed, std::memory_order_release);
      handoff->resolved.notify_one();
    }
    waiting->clear();
  }
}

}  // namespace manycore
