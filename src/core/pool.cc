// src/core/pool.cc: WorkerPool (interpreters serving one shared task queue) and TaskResults (where results wait).
#include "manycore/pool.h"

#include <algorithm>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>

#include "call.h"
#include "manycore/message.h"
#include "manycore/runtime.h"
#include "pyref.h"
#include "wait.h"

namespace manycore {

using internal::PyRef;

// ---- TaskResults --------------------------------------------------------------------

Result<uint64_t> TaskResults::issue(size_t count) {
  std::lock_guard lock(mutex_);
  if (closed_) return Status(StatusCode::kClosed, "no more tasks can be added to these results");
  uint64_t first = next_ticket_;
  next_ticket_ += count;
  outstanding_ += count;
  return first;
}

void TaskResults::track(uint64_t ticket) {
  std::lock_guard lock(mutex_);
  tracked_.emplace(ticket, false);
}

bool TaskResults::cancel(uint64_t ticket) {
  bool notify;
  {
    std::lock_guard lock(mutex_);
    auto found = tracked_.find(ticket);
    if (found == tracked_.end() || found->second) return false;
    tracked_.erase(found);
    --outstanding_;
    if (drain_waiters_ > 0) drained_cv_.notify_all();
    if (order_ == Order::kByTicket) {
      // An ordered consumer waits for every ticket in turn: it gets the cancellation.
      std::vector<Result<Value>> cancelled;
      cancelled.emplace_back(Status(StatusCode::kCancelled, "the task was cancelled before it ran"));
      store_locked(ticket, std::move(cancelled));
    }
    notify = update_wake_locked();
  }
  if (notify) cv_.notify_all();
  return true;
}

bool TaskResults::is_running(uint64_t ticket) const {
  std::lock_guard lock(mutex_);
  auto found = tracked_.find(ticket);
  return found != tracked_.end() && found->second;
}

void TaskResults::close() {
  bool notify;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    notify = update_wake_locked();
  }
  if (notify) cv_.notify_all();
}

size_t TaskResults::outstanding() const {
  std::lock_guard lock(mutex_);
  return outstanding_;
}

void TaskResults::abandon() {
  abandoned_.store(true, std::memory_order_release);
  std::lock_guard lock(mutex_);
  if (drain_waiters_ > 0) drained_cv_.notify_all();
}

Status TaskResults::wait_outstanding_at_most(size_t count, std::optional<double> timeout_seconds) {
  auto deadline = internal::deadline_after(timeout_seconds);
  std::unique_lock lock(mutex_);
  ++drain_waiters_;
  lock.unlock();
  Status waited = internal::wait_released(
      mutex_, drained_cv_, [this, count] { return outstanding_ <= count || abandoned(); }, deadline,
      /*spin=*/false);
  lock.lock();
  --drain_waiters_;
  return waited;
}

bool TaskResults::consumer_should_wake_locked() const {
  if (order_ == Order::kByTicket) {
    bool next_ready = !by_ticket_.empty() && by_ticket_.begin()->first + next_taken_in_block_ == next_to_take_;
    return next_ready || (closed_ && next_to_take_ == next_ticket_);
  }
  return !arrived_.empty() || (closed_ && outstanding_ == 0);
}

bool TaskResults::update_wake_locked() {
  bool wake = consumer_should_wake_locked();
  bool was = wake_.exchange(wake, std::memory_order_acq_rel);
  return wake && !was;
}

void TaskResults::store_locked(uint64_t first_ticket, std::vector<Result<Value>> results) {
  if (order_ == Order::kByTicket) {
    Block block;
    block.each = std::move(results);
    by_ticket_.emplace(first_ticket, std::move(block));
  } else {
    for (size_t i = 0; i < results.size(); ++i) arrived_.emplace_back(first_ticket + i, std::move(results[i]));
  }
}

TaskResults::Block* TaskResults::next_block_locked() {
  if (by_ticket_.empty()) return nullptr;
  auto lowest = by_ticket_.begin();
  return lowest->first + next_taken_in_block_ == next_to_take_ ? &lowest->second : nullptr;
}

namespace {
// take_in_order gathers small ready blocks (chunksize 1: one result each) up to this
// many results per call; a larger block is always moved whole.
constexpr size_t kTakeBatch = 256;
}  // namespace

bool TaskResults::take_ready_locked(size_t limit, Run& taken) {
  Block* block = next_block_locked();
  if (block == nullptr) return false;
  if (block->packed_count > 0) {
    // A packed block goes alone: its consumer decodes the one list.
    size_t from = next_taken_in_block_;
    size_t count = std::min(limit, block->packed_count - from);
    taken.packed = block->packed;
    taken.packed_from = from;
    taken.packed_count = count;
    next_to_take_ += count;
    if (from + count == block->packed_count) {
      by_ticket_.erase(by_ticket_.begin());
      next_taken_in_block_ = 0;
    } else {
      next_taken_in_block_ = from + count;
    }
    update_wake_locked();
    return true;
  }
  std::vector<Result<Value>>& each = taken.each;
  // A failure is returned alone, so the consumer sees every success before it.
  bool first_failed = !block->each[next_taken_in_block_].ok();
  while (block != nullptr && block->packed_count == 0 && each.size() < (first_failed ? 1 : limit)) {
    size_t from = next_taken_in_block_;
    size_t end = from;
    while (end < block->each.size() && each.size() + (end - from) < limit && (first_failed || block->each[end].ok())) {
      ++end;
      if (first_failed) break;
    }
    const bool block_done = end == block->each.size();
    if (from == 0 && block_done && each.empty()) {
      each = std::move(block->each);  // the common case: a whole chunk, one move
    } else {
      for (size_t i = from; i < end; ++i) each.push_back(std::move(block->each[i]));
    }
    next_to_take_ += end - from;
    if (block_done) {
      by_ticket_.erase(by_ticket_.begin());
      next_taken_in_block_ = 0;
      // Whole blocks beyond kTakeBatch results wait for the next call: appending
      // them would move every result again, into an ever larger vector.
      block = first_failed || each.size() >= kTakeBatch ? nullptr : next_block_locked();
    } else {
      next_taken_in_block_ = end;
      break;  // stopped at a failure or at the limit
    }
  }
  update_wake_locked();
  return true;
}

Result<TaskResults::Run> TaskResults::take_run_in_order(std::optional<double> timeout_seconds, size_t max_results) {
  if (order_ != Order::kByTicket) return Status(StatusCode::kInvalidArgument, "these results arrive unordered");
  auto deadline = internal::deadline_after(timeout_seconds);
  const size_t limit = std::max<size_t>(max_results, 1);
  while (true) {
    {
      std::lock_guard lock(mutex_);
      Run taken;
      if (take_ready_locked(limit, taken)) return taken;
      if (closed_ && next_to_take_ == next_ticket_) return Run{};
      wake_.store(false, std::memory_order_release);
    }
    Status waited = internal::wait_released(
        mutex_, cv_, [this] { return wake_.load(std::memory_order_acquire); }, deadline);
    if (!waited.ok()) return waited;
  }
}

Result<std::vector<Result<Value>>> TaskResults::take_in_order(std::optional<double> timeout_seconds,
                                                               size_t max_results) {
  if (packed_results_) {
    return Status(StatusCode::kInvalidArgument, "these results may be packed: take them with take_run_in_order");
  }
  Result<Run> taken = take_run_in_order(timeout_seconds, max_results);
  if (!taken.ok()) return taken.take_status();
  return std::move(taken.value().each);
}

Result<std::vector<TaskResults::Arrival>> TaskResults::take_arrived(std::optional<double> timeout_seconds) {
  if (order_ != Order::kArrival) return Status(StatusCode::kInvalidArgument, "these results arrive in order");
  auto deadline = internal::deadline_after(timeout_seconds);
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (!arrived_.empty()) {
        std::vector<Arrival> taken(std::make_move_iterator(arrived_.begin()), std::make_move_iterator(arrived_.end()));
        arrived_.clear();
        update_wake_locked();
        return taken;
      }
      if (closed_ && outstanding_ == 0) return std::vector<Arrival>{};
      wake_.store(false, std::memory_order_release);
    }
    Status waited = internal::wait_released(
        mutex_, cv_, [this] { return wake_.load(std::memory_order_acquire); }, deadline);
    if (!waited.ok()) return waited;
  }
}

bool TaskResults::start(uint64_t ticket, bool tracked) {
  if (!tracked) return true;
  std::lock_guard lock(mutex_);
  auto found = tracked_.find(ticket);
  if (found == tracked_.end()) return false;  // cancelled while queued
  found->second = true;
  return true;
}

void TaskResults::deliver(uint64_t first_ticket, std::vector<Result<Value>> results, bool tracked) {
  bool notify;
  {
    std::lock_guard lock(mutex_);
    if (tracked) tracked_.erase(first_ticket);
    outstanding_ -= results.size();
    store_locked(first_ticket, std::move(results));
    notify = update_wake_locked();
    if (drain_waiters_ > 0) drained_cv_.notify_all();
  }
  if (notify) cv_.notify_all();
}

void TaskResults::deliver_packed(uint64_t first_ticket, Value list, size_t count, bool tracked) {
  bool notify;
  {
    std::lock_guard lock(mutex_);
    if (tracked) tracked_.erase(first_ticket);
    outstanding_ -= count;
    Block block;
    block.packed = std::move(list);
    block.packed_count = count;
    by_ticket_.emplace(first_ticket, std::move(block));
    notify = update_wake_locked();
    if (drain_waiters_ > 0) drained_cv_.notify_all();
  }
  if (notify) cv_.notify_all();
}

void TaskResults::discard(uint64_t first_ticket, size_t count, bool tracked, const Status& why) {
  bool notify;
  {
    std::lock_guard lock(mutex_);
    if (tracked && tracked_.erase(first_ticket) == 0) return;  // cancel() already ended it
    store_locked(first_ticket, std::vector<Result<Value>>(count, Result<Value>(why)));
    outstanding_ -= count;
    notify = update_wake_locked();
    if (drain_waiters_ > 0) drained_cv_.notify_all();
  }
  if (notify) cv_.notify_all();
}

// ---- worker-side helpers ------------------------------------------------------------

namespace {

// Rebuilt callables of one worker, so a map does not rebuild its function per item.
// Lives on that worker's thread; its PyRefs belong to the worker's interpreter and are
// dropped (clear) under its GIL before the interpreter ends.
class FunctionCache {
 public:
  // Borrowed, valid until the next get or clear; nullptr with a Python error set.
  PyObject* get(const std::shared_ptr<const Value>& callable) {
    if (callable == last_callable_ && last_function_) return last_function_.get();
    std::string key = content_key(*callable);
    PyRef function;
    if (!key.empty()) {
      auto found = by_content_.find(key);
      if (found != by_content_.end()) function = PyRef::borrow(found->second.get());
    }
    if (!function) {
      function = PyRef::steal(decode(*callable));
      if (!function) return nullptr;
      if (!key.empty()) {
        if (by_content_.size() >= kLimit) by_content_.clear();
        by_content_.emplace(std::move(key), PyRef::borrow(function.get()));
      }
    }
    last_callable_ = callable;
    last_function_ = std::move(function);
    return last_function_.get();
  }

  void clear() {
    last_function_ = PyRef();
    last_callable_.reset();
    by_content_.clear();
  }

 private:
  static constexpr size_t kLimit = 256;

  // Same content, same callable: module-level references and pickled payloads (whose
  // function part manycore._transport already caches by payload). An encoded callable
  // is keyed by its segment's bytes, never read as a tree (the workers share it).
  static std::string content_key(const Value& callable) {
    if (callable.encoded()) {
      Value::Kind kind = callable.kind();
      if (kind != Value::Kind::kReference && kind != Value::Kind::kPickled) return {};
      if (callable.message()->shareable_count() != 0) return {};
      std::string key = "m";
      key += internal::segment_bytes(*callable.message(), callable.segment());
      // A pickled payload of 64 KiB or more is out of line: the stream holds its index.
      for (size_t i = 0; i < callable.message()->payload_count(); ++i) {
        const Message::Payload& payload = callable.message()->payload(i);
        key.append(reinterpret_cast<const char*>(payload.data.get()), payload.size);
      }
      return key;
    }
    switch (callable.kind()) {
      case Value::Kind::kReference: return "r" + callable.text() + '\0' + callable.qualname();
      case Value::Kind::kPickled: return "p" + callable.text();
      default: return {};
    }
  }

  std::shared_ptr<const Value> last_callable_;
  PyRef last_function_;
  std::unordered_map<std::string, PyRef> by_content_;
};

// The result of function(argument) (single_argument) or function(*argument), or null
// with `failure` set.
PyRef call_with(PyObject* function, PyObject* argument, bool single_argument, PyObject* keywords, Status& failure) {
  PyRef result;
  if (single_argument && keywords == nullptr && !internal::needs_main_frame(function)) {
    result = PyRef::steal(PyObject_CallOneArg(function, argument));
  } else if (single_argument) {
    PyRef positional = PyRef::steal(PyTuple_Pack(1, argument));
    if (!positional) return failure = capture_python_error(), PyRef();
    result = PyRef::steal(internal::call_callable(function, positional.get(), keywords));
  } else if (!PyTuple_Check(argument)) {
    failure = Status(StatusCode::kInvalidArgument, "task arguments must be a tuple");
    return PyRef();
  } else {
    result = PyRef::steal(internal::call_callable(function, argument, keywords));
  }
  if (!result) failure = capture_python_error();
  return result;
}

// The results of one chunk, as its calls return. While every call returned a plain
// value (and the stream takes packed results) they are kept as one list, encoded as
// one segment at the end; the first other outcome turns what was kept into one
// segment per result, as every later result is.
class ChunkResults {
 public:
  ChunkResults(size_t count, bool may_pack) : count_(count) {
    results_.reserve(count);
    if (may_pack) packed_ = PyRef::steal(PyList_New(0));
    if (may_pack && !packed_) PyErr_Clear();  // no memory for the list: go on unpacked
  }

  // `result` is borrowed (null when `failure` is set).
  void add(PyObject* result, Status failure) {
    if (packed_ && failure.ok() && internal::is_plain(result)) {
      if (PyList_Append(packed_.get(), result) == 0) return;
      PyErr_Clear();
    }
    unpack();
    if (failure.ok()) failure = encoded_.add(result);
    if (!failure.ok()) {
      results_.push_back(std::move(failure));
      return;
    }
    encoded_at_.push_back(results_.size());
    results_.push_back(Value());  // filled in by finish, once the message is finished
  }

  // How many results were added.
  size_t size() const { return packed_ ? size_t(PyList_GET_SIZE(packed_.get())) : results_.size(); }

  // True when the whole chunk went into one list: `list` is its encoded form.
  bool finish_packed(Value& list) {
    if (packed_ && size() == count_) {
      MessageBuilder encoded;
      if (encoded.add(packed_.get()).ok()) {
        list = std::move(encoded.finish_values().front());
        return true;  // packed_ stays: freed after the results are delivered
      }
    }
    unpack();
    return false;
  }

  // The per-ticket results (after finish_packed returned false).
  std::vector<Result<Value>> finish() {
    unpack();
    std::vector<Value> values = encoded_.finish_values();
    for (size_t i = 0; i < values.size(); ++i) results_[encoded_at_[i]] = std::move(values[i]);
    return std::move(results_);
  }

 private:
  void unpack() {
    if (!packed_) return;
    PyRef kept = std::move(packed_);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(kept.get()); ++i) {
      add(PyList_GET_ITEM(kept.get(), i), Status::Ok());
    }
  }

  const size_t count_;
  PyRef packed_;  // while packing: the results so far, all plain
  MessageBuilder encoded_;
  std::vector<size_t> encoded_at_;  // results_ index of each segment of encoded_
  std::vector<Result<Value>> results_;
};

// `interrupted` is set (under this worker's GIL) when interrupt_running raised in
// this task: the rest of its chunk is skipped, and its failures become kCancelled.
void run_task(PoolTask& task, FunctionCache& cache, const std::atomic<bool>& interrupted, const std::string& why) {
  const size_t count = task.item_count();
  if (!task.results->start(task.first_ticket, task.tracked)) return;  // cancelled while queued
  if (task.results->abandoned()) {
    task.results->discard(task.first_ticket, count, task.tracked,
                          Status(StatusCode::kCancelled, "nobody waits for this result any more"));
    return;
  }
  // One result gains nothing from a list; unpacked, the consumer takes many at once.
  ChunkResults results(count, task.results->packed_results() && count > 1);
  PyObject* function = cache.get(task.callable);
  PyRef keywords;
  if (function != nullptr && task.keywords.kind() != Value::Kind::kNone) {
    keywords = PyRef::steal(decode(task.keywords));
    if (keywords && !PyDict_Check(keywords.get())) {
      keywords = PyRef();
      PyErr_SetString(PyExc_TypeError, "task keywords must be a dict");
    }
  }
  PyRef packed_items;
  // The last call's argument and result are freed after the results are delivered,
  // not before: the caller decodes meanwhile (a 1M-item list takes ~10 ms to free).
  PyRef last_argument;
  PyRef last_result;
  if (function != nullptr && !PyErr_Occurred() && task.packed_count > 0) {
    packed_items = PyRef::steal(decode(task.arguments.front()));
    if (packed_items && (!PyList_Check(packed_items.get()) ||
                         size_t(PyList_GET_SIZE(packed_items.get())) != task.packed_count)) {
      packed_items = PyRef();
      PyErr_SetString(PyExc_TypeError, "a packed task's arguments must be a list of its items");
    }
  }
  if (PyErr_Occurred() || function == nullptr) {
    Status failed = capture_python_error();
    for (size_t i = 0; i < count; ++i) results.add(nullptr, failed);
  } else {
    for (size_t i = 0; i < count; ++i) {
      if (interrupted.load(std::memory_order_acquire)) break;
      Status failure;
      PyRef result;
      if (packed_items) {
        result = call_with(function, PyList_GET_ITEM(packed_items.get(), Py_ssize_t(i)), task.single_argument,
                           keywords.get(), failure);
      } else {
        last_argument = PyRef::steal(decode(task.arguments[i]));
        if (last_argument) {
          result = call_with(function, last_argument.get(), task.single_argument, keywords.get(), failure);
        } else {
          failure = capture_python_error();
        }
      }
      results.add(result.get(), std::move(failure));
      last_result = std::move(result);
    }
  }
  Value list;
  if (!interrupted.load(std::memory_order_acquire) && results.finish_packed(list)) {
    task.results->deliver_packed(task.first_ticket, std::move(list), count, task.tracked);
    return;
  }
  std::vector<Result<Value>> delivered = results.finish();
  if (interrupted.load(std::memory_order_acquire)) {
    // The KeyboardInterrupt was ours, not the task's: what it stopped was cancelled.
    // (An interrupt that fired in our own code, e.g. while a result was pickled,
    // leaves the same failure.)
    if (PyErr_Occurred()) PyErr_Clear();
    Status cancelled(StatusCode::kCancelled, why);
    for (Result<Value>& result : delivered) {
      if (!result.ok()) result = Result<Value>(cancelled);
    }
    delivered.resize(count, Result<Value>(cancelled));
  }
  task.results->deliver(task.first_ticket, std::move(delivered), task.tracked);
}

// serve() is noexcept: a C++ exception out of a task (std::bad_alloc for a huge
// result, say) fails that task's tickets instead of calling std::terminate.
void run_task_guarded(PoolTask& task, FunctionCache& cache, const std::atomic<bool>& interrupted,
                      const std::string& why) {
  std::string what;
  try {
    run_task(task, cache, interrupted, why);
    return;
  } catch (const std::bad_alloc&) {
    what = "out of memory while running a pool task";
  } catch (const std::exception& error) {
    what = std::string("C++ exception while running a pool task: ") + error.what();
  }
  if (PyErr_Occurred()) PyErr_Clear();
  // run_task delivers a task's results together, as its last step: none were delivered.
  task.results->discard(task.first_ticket, task.item_count(), task.tracked,
                        Status(StatusCode::kInternal, what));
}

}  // namespace

// ---- WorkerPool ---------------------------------------------------------------------

namespace {

// Process-global, C++ only: every pool created and not yet destroyed, for join_all.
// `mutex` guards `pools`; it is never held while joining.
struct PoolRegistry {
  std::mutex mutex;
  std::vector<std::weak_ptr<WorkerPool>> pools;  // guarded by mutex
  // Destructors still joining a pool that was never joined: join_all cannot see those
  // pools (their weak_ptr expired) and waits for them here, or their workers would
  // outlive the exit hook. Changed under mutex; atomic so the wait may read it unlocked.
  std::atomic<size_t> ending{0};
  std::condition_variable ended;  // notified when `ending` drops
};

PoolRegistry& pool_registry() {
  static PoolRegistry* instance = new PoolRegistry();  // never destroyed: used by exit hooks
  return *instance;
}

std::vector<std::shared_ptr<WorkerPool>> live_pools() {
  std::vector<std::shared_ptr<WorkerPool>> live;
  PoolRegistry& registry = pool_registry();
  std::lock_guard lock(registry.mutex);
  for (const auto& weak : registry.pools) {
    if (auto pool = weak.lock()) live.push_back(std::move(pool));
  }
  return live;
}

}  // namespace

Status WorkerPool::join_all() {
  Status first_failure;
  // A joined pool stays registered until it is destroyed: joining it again is free.
  for (const auto& pool : live_pools()) {
    pool->stop(/*cancel_queued=*/true);
    Status joined = pool->join();
    if (joined.code() == StatusCode::kInterrupted) return joined;
    if (!joined.ok() && first_failure.ok()) first_failure = joined;
  }
  // A pool whose last reference went away on another thread (a daemon thread at exit)
  // is being joined by its destructor: wait for that too.
  PoolRegistry& registry = pool_registry();
  Status ended = internal::wait_released(
      registry.mutex, registry.ended, [&registry] { return registry.ending.load(std::memory_order_acquire) == 0; },
      std::nullopt, /*spin=*/false);
  if (!ended.ok()) return ended;
  return first_failure;
}

size_t WorkerPool::interrupt_all(const std::string& why) {
  size_t interrupted = 0;
  for (const auto& pool : live_pools()) interrupted += pool->interrupt_running(nullptr, why);
  return interrupted;
}

Result<std::shared_ptr<WorkerPool>> WorkerPool::create(PoolOptions options) {
  if (options.workers == 0) return Status(StatusCode::kInvalidArgument, "a pool needs at least one worker");
  // Held until the pool is registered, so that close_all at exit either sees it or
  // refuses it (runtime.h: the exit gate).
  runtime::CreationScope creation;
  if (!creation.admitted()) {
    return Status(StatusCode::kInterpreterError, "the program is exiting: no new worker pool can start");
  }
  std::shared_ptr<WorkerPool> pool(new WorkerPool());
  pool->options_ = std::move(options);
  pool->slots_ = std::make_unique<WorkerSlot[]>(pool->options_.workers);
  // A serving loop is each worker's first job, so deferring the start-up module to it
  // would save nothing, and a failed import would leave a worker that never serves:
  // import it at start, where a failure fails create().
  pool->options_.interpreter.startup_module_on_first_job = false;
  // The workers start at once, so W of them take about the time of one (as
  // Interpreter::create_many). Each serving loop is queued before its interpreter
  // exists: it starts as soon as the interpreter does, with no wake-up in between.
  for (size_t i = 0; i < pool->options_.workers; ++i) {
    std::shared_ptr<Interpreter> interpreter = Interpreter::launch(pool->options_.interpreter);
    pool->interpreters_.push_back(interpreter);
    // The loop runs until join(); the pool outlives it (join runs before destruction).
    pool->loops_.push_back(interpreter->submit(
        [raw = pool.get(), i, worker = interpreter.get()] { return raw->serve(raw->slots_[i], *worker); }));
  }
  PyObject* interrupt = nullptr;
  Status first_failure;
  for (const auto& interpreter : pool->interpreters_) {
    Status started = Interpreter::finish_launch(interpreter, interrupt);
    if (started.ok()) {
      // The pool owns its workers: close_all() must not end them under a running loop.
      runtime::unregister_interpreter(interpreter->id());
    } else if (first_failure.ok()) {
      first_failure = std::move(started);
    }
  }
  if (interrupt != nullptr || !first_failure.ok()) {
    // The loops that run end once the pool stops; those of failed workers failed.
    pool->stop(/*cancel_queued=*/true);
    pool->join_to_the_end();
    if (interrupt != nullptr) {
      PyErr_SetRaisedException(interrupt);
      return Status(StatusCode::kInterrupted, "interrupted");
    }
    return first_failure;
  }
  {
    PoolRegistry& registry = pool_registry();
    std::lock_guard lock(registry.mutex);
    std::erase_if(registry.pools, [](const auto& weak) { return weak.expired(); });
    registry.pools.push_back(pool);
  }
  return pool;
}

WorkerPool::~WorkerPool() {
  stop(/*cancel_queued=*/true);
  if (joined_.load(std::memory_order_acquire)) return;
  PoolRegistry& registry = pool_registry();
  {
    std::lock_guard lock(registry.mutex);
    registry.ending.fetch_add(1, std::memory_order_relaxed);
  }
  join_to_the_end();
  {
    std::lock_guard lock(registry.mutex);
    registry.ending.fetch_sub(1, std::memory_order_release);
  }
  registry.ended.notify_all();
}

void WorkerPool::join_to_the_end() {
  if (joined_.load(std::memory_order_acquire)) return;  // the usual case: nothing to wait for, no GIL to drop
  // With no GIL held, join's waits run no signal handlers, so nothing cuts them short:
  // the serving loops must be over before the pool they run on goes away.
  internal::GilRelease released;
  (void)join();
}

std::vector<int64_t> WorkerPool::interpreter_ids() const {
  std::vector<int64_t> ids;
  for (const auto& interpreter : interpreters_) ids.push_back(interpreter->id());
  return ids;
}

Status WorkerPool::submit(std::vector<PoolTask> tasks) {
  size_t count = tasks.size();
  {
    std::lock_guard lock(mutex_);
    if (broken_) return *broken_;
    if (stopping_) return Status(StatusCode::kClosed, "the pool is shut down: it takes no new tasks");
    for (PoolTask& task : tasks) queue_.push_back(std::move(task));
    queued_.fetch_add(count, std::memory_order_release);
  }
  if (count == 1) {
    cv_.notify_one();
  } else if (count > 1) {
    cv_.notify_all();
  }
  return Status::Ok();
}

size_t WorkerPool::cancel_queued(const TaskResults* only) {
  std::vector<PoolTask> dropped;
  {
    std::lock_guard lock(mutex_);
    auto keep = std::stable_partition(queue_.begin(), queue_.end(), [only](const PoolTask& task) {
      return only != nullptr && task.results.get() != only;
    });
    std::move(keep, queue_.end(), std::back_inserter(dropped));
    queue_.erase(keep, queue_.end());
    queued_.store(queue_.size(), std::memory_order_release);
  }
  Status why(StatusCode::kCancelled, "the task was cancelled before it ran");
  for (PoolTask& task : dropped) task.results->discard(task.first_ticket, task.item_count(), task.tracked, why);
  return dropped.size();
}

void WorkerPool::stop(bool cancel_queued_tasks) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (cancel_queued_tasks) cancel_queued(nullptr);
  cv_.notify_all();
}

size_t WorkerPool::interrupt_running(const TaskResults* only, const std::string& why) {
  size_t interrupted = 0;
  for (size_t i = 0; i < interpreters_.size(); ++i) {
    WorkerSlot& slot = slots_[i];
    const TaskResults* seen = slot.running.load(std::memory_order_acquire);
    if (seen == nullptr || (only != nullptr && seen != only)) continue;  // idle, or another stream's
    Result<bool> raised = interpreters_[i]->interrupt([&slot, only, &why] {
      // This worker's GIL is held: its task cannot start or end meanwhile.
      const TaskResults* running = slot.running.load(std::memory_order_acquire);
      if (running == nullptr || (only != nullptr && running != only)) return false;
      slot.why = why;
      slot.interrupted.store(true, std::memory_order_release);
      return true;
    });
    if (raised.ok() && raised.value()) ++interrupted;
  }
  return interrupted;
}

bool WorkerPool::stopped() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

Status WorkerPool::broken() const {
  std::lock_guard lock(mutex_);
  return broken_ ? *broken_ : Status::Ok();
}

Status WorkerPool::join() {
  // Joined already: return without touching any GIL (a destructor may run this on a
  // daemon thread while CPython finalizes, where retaking a GIL ends the thread).
  if (joined_.load(std::memory_order_acquire)) return Status::Ok();
  for (const auto& interpreter : interpreters_) {
    if (interpreter->on_worker_thread()) {
      return Status(StatusCode::kInterpreterError, "a pool cannot wait for its own end from one of its workers");
    }
  }
  stop(/*cancel_queued=*/false);
  // Each loop ends once the queue is empty. Wait for the loop itself, not only for the
  // interpreter: a loop still queued in its interpreter (a pool joined right after it
  // was created) would be dropped by close() with the pool's tasks never run.
  // Completion::wait runs signal handlers, so Ctrl-C interrupts a join that waits for
  // a long task (kInterrupted); the pool stays stopped and a later join finishes.
  for (const auto& loop : loops_) {
    Status waited = loop->wait();
    if (waited.code() == StatusCode::kInterrupted) return waited;
  }
  // The GIL is released before join_mutex_ is taken: a second joiner blocked on the
  // mutex must not hold a GIL that an ending worker may need (3.13 takes the main GIL).
  internal::GilRelease released;
  std::lock_guard join_lock(join_mutex_);
  if (joined_.load(std::memory_order_relaxed)) return Status::Ok();
  Status first_failure;
  for (const auto& interpreter : interpreters_) {
    Status closed = interpreter->close(/*even_if_running=*/true);
    if (!closed.ok() && closed.code() != StatusCode::kNotFound && first_failure.ok()) first_failure = closed;
  }
  joined_.store(true, std::memory_order_release);
  return first_failure;
}

void WorkerPool::mark_broken(const Status& initializer_error) {
  std::string why = "a worker's initializer failed, the pool is not usable any more: " + initializer_error.message();
  if (initializer_error.remote()) why += "\n\n" + initializer_error.remote()->traceback;
  std::deque<PoolTask> dropped;
  Status broken;
  {
    std::lock_guard lock(mutex_);
    if (!broken_) broken_ = Status(StatusCode::kBroken, why);
    broken = *broken_;
    dropped.swap(queue_);
    queued_.store(0, std::memory_order_release);
  }
  cv_.notify_all();  // the other workers stop serving
  for (PoolTask& task : dropped) {
    task.results->discard(task.first_ticket, task.item_count(), task.tracked, broken);
  }
}

Status WorkerPool::run_initializer() {
  PyRef function = PyRef::steal(decode(*options_.initializer));
  if (!function) return capture_python_error();
  PyRef arguments = PyRef::steal(decode(options_.initargs));
  if (!arguments) return capture_python_error();
  if (!PyTuple_Check(arguments.get())) return Status(StatusCode::kInvalidArgument, "initargs must be a tuple");
  PyRef result = PyRef::steal(internal::call_callable(function.get(), arguments.get(), nullptr));
  if (!result) return capture_python_error();
  return Status::Ok();
}

std::optional<PoolTask> WorkerPool::next_task() {
  // Spin briefly (GIL released) before parking: a map hands out its next task within
  // microseconds, and waking a parked thread costs 20-25 us (DESIGN.md section 4).
  // Yielding each turn lets the submitter run if it shares this core (wait.h).
  auto spin_end = internal::Clock::now() + internal::kSpinFor;
  while (queued_.load(std::memory_order_acquire) == 0 && internal::Clock::now() < spin_end) {
    std::this_thread::yield();
  }
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return !queue_.empty() || stopping_ || broken_; });
  if (broken_ || queue_.empty()) return std::nullopt;
  PoolTask task = std::move(queue_.front());
  queue_.pop_front();
  queued_.fetch_sub(1, std::memory_order_acq_rel);
  return task;
}

Result<Value> WorkerPool::serve(WorkerSlot& slot, Interpreter& interpreter) noexcept {
  if (options_.initializer) {
    Status initialized = run_initializer();
    if (!initialized.ok()) {
      mark_broken(initialized);
      return Value::None();
    }
  }
  FunctionCache cache;
  PyThreadState* saved = PyEval_SaveThread();  // wait for tasks without holding this GIL
  while (std::optional<PoolTask> task = next_task()) {
    PyEval_RestoreThread(saved);
    slot.running.store(task->results.get(), std::memory_order_release);
    run_task_guarded(*task, cache, slot.interrupted, slot.why);  // never leaves a Python error set
    slot.running.store(nullptr, std::memory_order_release);
    // Still under this GIL: an interrupt meant for this task never fires in the next.
    interpreter.drop_pending_interrupt();
    slot.interrupted.store(false, std::memory_order_release);
    saved = PyEval_SaveThread();
  }
  PyEval_RestoreThread(saved);
  cache.clear();  // its PyRefs belong to this interpreter: drop them under its GIL
  return Value::None();
}

}  // namespace manycore
