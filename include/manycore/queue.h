// include/manycore/queue.h: Queue, a FIFO of transferable values shared by every interpreter of the process.
//
// What it offers: put/get with the blocking, timeout and non-blocking forms of Python's
// queue.Queue, an optional bound (maxsize), close(), and select() over several queues.
// One Queue object is shared by std::shared_ptr: each interpreter reaches it through
// its own wrapper (manycore.Queue), so passing a queue to another interpreter (as a
// call argument, through prepare_main, inside another queue) refers to the same
// queue, which lives while anything holds it.
//
// Guarantees:
// - Items are Values: plain C++ data owned by the queue. An item stays valid after the
//   interpreter that put it has been closed (the stdlib's "unbounditems" question does
//   not arise: no item is bound to an interpreter).
// - Every item put is got exactly once; items from one producer come out in the order
//   that producer put them (one mutex orders all puts and gets).
// - Everything a producer did before put() returned is visible to the consumer whose
//   get() returned that item.
// - After close(): put fails with kClosed; get returns the remaining items, then fails
//   with kClosed; every blocked call wakes up.
// - A blocked call releases the caller's GIL, spins briefly, then parks (no polling);
//   a timed-out get reports kEmpty and a timed-out put kFull, as queue.Queue does.
//
// - A queue owned by a std::shared_ptr can be found by its id (Queue::find) from any
//   interpreter while it lives, and is listed by Queue::list_all; once the last
//   owner lets go, find reports kNotFound. Ids are never reused.
//
// Lifetime and threading rules: any thread, with or without a GIL. The destructor may
// run on any thread (Values hold no PyObject*); it unregisters the id.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "manycore/notifier.h"
#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

class Queue final : public Shareable, public std::enable_shared_from_this<Queue> {
 public:
  // What a subscribed Notifier is told about.
  enum class Event : uint8_t {
    kReadable,  // an item was put, or the queue closed
    kWritable,  // an item was taken, or the queue closed
  };

  // maxsize 0 means unbounded.
  explicit Queue(size_t maxsize = 0);
  ~Queue() override;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  const char* type_name() const override { return "Queue"; }

  // The live queue with this id, or kNotFound (never created, or already destroyed).
  static Result<std::shared_ptr<Queue>> find(int64_t id);
  // Every live queue (owned by a std::shared_ptr), in id order.
  static std::vector<std::shared_ptr<Queue>> list_all();

  // Unique in the process, never reused.
  int64_t id() const { return id_; }
  size_t maxsize() const { return maxsize_; }
  size_t size() const { return size_.load(std::memory_order_acquire); }
  bool is_closed() const { return closed_.load(std::memory_order_acquire); }

  // Appends item. Without block, kFull when there is no room; with block, waits for
  // room (at most timeout_seconds, then kFull). kClosed after close(); kInterrupted
  // when a signal handler raised while waiting (Python error set). On failure the
  // queue is unchanged.
  Status put(Value item, bool block = true, std::optional<double> timeout_seconds = std::nullopt);
  // Takes the oldest item. Without block, kEmpty when there is none; with block, waits
  // (at most timeout_seconds, then kEmpty). kClosed once closed and drained.
  Result<Value> get(bool block = true, std::optional<double> timeout_seconds = std::nullopt);
  // Refuses further puts and wakes every waiter. Idempotent.
  void close();

  // `notifier` is notified on `event` until unsubscribe. Notifications may be spurious.
  void subscribe(std::shared_ptr<Notifier> notifier, Event event);
  void unsubscribe(const Notifier* notifier);

 private:
  // Requires mutex_ held.
  void notify_subscribers(Event event);

  const int64_t id_;
  const size_t maxsize_;
  std::mutex mutex_;
  std::condition_variable not_empty_;  // getters park here
  std::condition_variable not_full_;   // putters park here (bounded queues)
  std::deque<Value> items_;            // guarded by mutex_
  std::atomic<size_t> size_{0};        // mirrors items_.size(): written under mutex_, read racily by spinners
  std::atomic<bool> closed_{false};    // written under mutex_, read racily by spinners
  std::vector<std::pair<std::shared_ptr<Notifier>, Event>> subscribers_;  // guarded by mutex_
};

// Waits until one of `queues` has an item and returns its index: the first such queue
// in list order. Closed, drained queues are skipped; kClosed when every queue is
// closed and drained. kTimeout when timeout_seconds pass first; kInterrupted (Python
// error set).
// An empty list is kInvalidArgument. Releases the caller's GIL while waiting.
// With several consumers, the item may be gone by the time the caller gets it.
Result<size_t> select(const std::vector<std::shared_ptr<Queue>>& queues, std::optional<double> timeout_seconds);

}  // namespace manycore
