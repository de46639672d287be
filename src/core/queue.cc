// src/core/queue.cc: Queue, the FIFO of transferable values shared by all interpreters, and select().
#include "manycore/queue.h"

#include <algorithm>
#include <map>
#include <string>

#include "wait.h"

namespace manycore {
namespace {

std::atomic<int64_t> next_queue_id{1};

// Every Queue alive in the process, by id. A Queue registers itself in its
// constructor and leaves in its destructor; find() turns the raw pointer into an
// owner only through weak_from_this(), which is empty once the last owner is gone
// (the destructor then waits for registry_mutex before the memory goes away).
struct QueueRegistry {
  std::mutex mutex;
  std::map<int64_t, Queue*> queues;  // guarded by mutex
};

QueueRegistry& registry() {
  static QueueRegistry* instance = new QueueRegistry();  // never destroyed: queues may outlive static teardown
  return *instance;
}

Status closed_status(int64_t id) { return Status(StatusCode::kClosed, "queue " + std::to_string(id) + " is closed"); }

}  // namespace

Queue::Queue(size_t maxsize) : id_(next_queue_id.fetch_add(1, std::memory_order_relaxed)), maxsize_(maxsize) {
  std::lock_guard lock(registry().mutex);
  registry().queues.emplace(id_, this);
}

Queue::~Queue() {
  std::lock_guard lock(registry().mutex);
  registry().queues.erase(id_);
}

Result<std::shared_ptr<Queue>> Queue::find(int64_t id) {
  std::lock_guard lock(registry().mutex);
  auto found = registry().queues.find(id);
  std::shared_ptr<Queue> queue = found == registry().queues.end() ? nullptr : found->second->weak_from_this().lock();
  if (!queue) return Status(StatusCode::kNotFound, "queue " + std::to_string(id) + " does not exist (any more)");
  return queue;
}

std::vector<std::shared_ptr<Queue>> Queue::list_all() {
  std::lock_guard lock(registry().mutex);
  std::vector<std::shared_ptr<Queue>> queues;
  for (const auto& [id, queue] : registry().queues) {
    if (std::shared_ptr<Queue> owner = queue->weak_from_this().lock()) queues.push_back(std::move(owner));
  }
  return queues;
}

Status Queue::put(Value item, bool block, std::optional<double> timeout_seconds) {
  auto deadline = internal::deadline_after(timeout_seconds);
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (closed_.load(std::memory_order_relaxed)) return closed_status(id_);
      if (maxsize_ == 0 || items_.size() < maxsize_) {
        items_.push_back(std::move(item));
        size_.store(items_.size(), std::memory_order_release);
        notify_subscribers(Event::kReadable);
        // Notified with the lock held: a getter cannot miss it, and glibc's notify
        // with no parked waiter is a load and a branch.
        not_empty_.notify_one();
        return Status::Ok();
      }
      if (!block) return Status(StatusCode::kFull, "queue " + std::to_string(id_) + " is full");
    }
    Status waited = internal::wait_released(
        mutex_, not_full_,
        [this] { return size_.load(std::memory_order_acquire) < maxsize_ || closed_.load(std::memory_order_acquire); },
        deadline);
    if (waited.code() == StatusCode::kTimeout) {
      return Status(StatusCode::kFull, "queue " + std::to_string(id_) + " stayed full until the timeout");
    }
    if (!waited.ok()) return waited;
    // Room appeared, but another putter may take it first: try again.
  }
}

Result<Value> Queue::get(bool block, std::optional<double> timeout_seconds) {
  auto deadline = internal::deadline_after(timeout_seconds);
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (!items_.empty()) {
        Value item = std::move(items_.front());
        items_.pop_front();
        size_.store(items_.size(), std::memory_order_release);
        if (maxsize_ != 0) {
          notify_subscribers(Event::kWritable);
          not_full_.notify_one();
        }
        return item;
      }
      if (closed_.load(std::memory_order_relaxed)) return closed_status(id_);
      if (!block) return Status(StatusCode::kEmpty, "queue " + std::to_string(id_) + " is empty");
    }
    Status waited = internal::wait_released(
        mutex_, not_empty_,
        [this] { return size_.load(std::memory_order_acquire) > 0 || closed_.load(std::memory_order_acquire); },
        deadline);
    if (waited.code() == StatusCode::kTimeout) {
      return Status(StatusCode::kEmpty, "no item arrived in queue " + std::to_string(id_) + " before the timeout");
    }
    if (!waited.ok()) return waited;
    // An item appeared, but another getter may take it first: try again.
  }
}

void Queue::close() {
  std::lock_guard lock(mutex_);
  if (closed_.load(std::memory_order_relaxed)) return;
  closed_.store(true, std::memory_order_release);
  notify_subscribers(Event::kReadable);
  notify_subscribers(Event::kWritable);
  not_empty_.notify_all();
  not_full_.notify_all();
}

void Queue::subscribe(std::shared_ptr<Notifier> notifier, Event event) {
  std::lock_guard lock(mutex_);
  subscribers_.emplace_back(std::move(notifier), event);
}

void Queue::unsubscribe(const Notifier* notifier) {
  std::lock_guard lock(mutex_);
  std::erase_if(subscribers_, [notifier](const auto& entry) { return entry.first.get() == notifier; });
}

void Queue::notify_subscribers(Event event) {
  // Lock order queue mutex -> notifier mutex; a Notifier never takes a queue's mutex.
  for (auto& [notifier, wanted] : subscribers_) {
    if (wanted == event) notifier->notify();
  }
}

Result<size_t> select(const std::vector<std::shared_ptr<Queue>>& queues, std::optional<double> timeout_seconds) {
  if (queues.empty()) return Status(StatusCode::kInvalidArgument, "select() needs at least one queue");
  for (const auto& queue : queues) {
    if (!queue) return Status(StatusCode::kInvalidArgument, "select() got a null queue");
  }
  // The first queue with an item; kClosed if all are closed and drained; nullopt otherwise.
  auto scan = [&queues]() -> std::optional<Result<size_t>> {
    bool all_done = true;
    for (size_t i = 0; i < queues.size(); ++i) {
      if (queues[i]->size() > 0) return Result<size_t>(i);
      if (!queues[i]->is_closed()) all_done = false;
    }
    if (all_done) return Result<size_t>(StatusCode::kClosed, "every queue given to select() is closed and drained");
    return std::nullopt;
  };
  if (auto found = scan()) return std::move(*found);

  auto deadline = internal::deadline_after(timeout_seconds);
  auto notifier = std::make_shared<Notifier>();
  for (const auto& queue : queues) queue->subscribe(notifier, Queue::Event::kReadable);
  std::optional<Result<size_t>> outcome;
  while (!outcome) {
    // Scan after subscribing (and after each take): a put that happened before the
    // subscription is seen by the scan, one after it notifies.
    notifier->take();
    if ((outcome = scan())) break;
    std::optional<double> remaining;
    if (deadline) {
      remaining = std::chrono::duration<double>(*deadline - internal::Clock::now()).count();
      if (*remaining <= 0) {
        outcome = Result<size_t>(StatusCode::kTimeout, "no queue got an item before the timeout");
        break;
      }
    }
    Status waited = notifier->wait(remaining);
    if (waited.code() == StatusCode::kTimeout) continue;  // the next turn scans once more, then times out
    if (!waited.ok()) outcome = Result<size_t>(waited);
  }
  for (const auto& queue : queues) queue->unsubscribe(notifier.get());
  return std::move(*outcome);
}

}  // namespace manycore
