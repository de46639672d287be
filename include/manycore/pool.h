// include/manycore/pool.h: WorkerPool, long-lived own-GIL interpreters serving one shared task queue, and TaskResults.
//
// What it offers:
// - `WorkerPool::create` starts N Interpreters (manycore/interpreter.h) and gives each
//   one long job: a C++ loop that takes tasks from the pool's one shared queue and runs
//   them under that interpreter's GIL. A task goes from the submitting thread to an
//   idle worker through that queue only: no Python thread in between.
// - A task is `callable(*args, **kwargs)` for one or more argument tuples (a chunk);
//   its results go to a TaskResults, where the submitter (or a thread of its choice)
//   takes them, in ticket order (map, imap) or in arrival order (futures,
//   imap_unordered). Everything that crosses is a Value: no PyObject* leaves the
//   interpreter it was made in.
// - A task that raises never ends its worker: the exception travels as a
//   kRemoteException result. A worker rebuilds a callable once and keeps it (cached by
//   content, and by identity for the tasks of one map).
// - An initializer runs once in each worker before it serves tasks. If it raises, the
//   pool is broken: queued and later tasks fail with kBroken (the binding raises
//   BrokenInterpreterPool), and the workers stop serving.
//
// Guarantees:
// - Every ticket issued by a TaskResults ends exactly once: as a delivered result, as
//   a kCancelled result (its task was dropped by cancel_queued or shutdown), or, in
//   arrival order, silently when `TaskResults::cancel(ticket)` returned true (the
//   caller already knows).
// - Everything a task did before its result is delivered is visible to the thread
//   whose take_* returned that result.
//
// Lifetime and threading rules:
// - The pool's interpreters belong to it: they are removed from the runtime registry
//   (runtime::list_ids and runtime::close_all do not see them). `join()` or the
//   destructor ends them. Live pools are also kept (weakly) in a process-wide list:
//   `WorkerPool::join_all()` ends them all, and the extension's close_all (its exit
//   hook) calls it before runtime::close_all, since 3.12 aborts at exit with live
//   subinterpreters.
// - create, join, the destructor and the TaskResults take_* calls may be made with a
//   GIL held: they release it while they wait, so workers that need the main GIL
//   (3.13 imports) never deadlock against the caller. Waits for results wake every
//   50 ms to run signal handlers (kInterrupted leaves the Python error set).
// - Worker threads never take any GIL but their own interpreter's. A worker waits for
//   tasks with its GIL released: a short spin, then it parks on a condition variable.
// - Do not destroy or join a pool from one of its own workers (a task in the pool
//   cannot wait for the pool to end: kInterpreterError).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "manycore/interpreter.h"
#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

// Where task results go and where a consumer waits for them. One per map/imap call
// (kByTicket) or per executor (kArrival, each ticket one Future). Thread-safe; a
// kByTicket stream has one consumer.
//
// Packed results: a kByTicket stream made with `packed_results` lets a worker deliver
// a whole chunk (of two items or more) whose calls all returned plain values (None,
// bool, int, float, str, bytes) as one Value that decodes to the list of them: one segment to decode for the
// chunk instead of one per item. Its consumer takes with take_run_in_order.
class TaskResults {
 public:
  enum class Order { kByTicket, kArrival };
  using Arrival = std::pair<uint64_t, Result<Value>>;
  // What one take_run_in_order returns: results one per ticket (`each`), or, when
  // packed_count > 0, items [packed_from, packed_from + packed_count) of the list that
  // `packed` decodes to, all successes.
  struct Run {
    std::vector<Result<Value>> each;
    Value packed;
    size_t packed_from = 0;
    size_t packed_count = 0;
    bool empty() const { return each.empty() && packed_count == 0; }
  };

  explicit TaskResults(Order order, bool packed_results = false)
      : order_(order), packed_results_(order == Order::kByTicket && packed_results) {}
  TaskResults(const TaskResults&) = delete;
  TaskResults& operator=(const TaskResults&) = delete;

  Order order() const { return order_; }
  bool packed_results() const { return packed_results_; }

  // ---- producer side (the submitter) ----
  // Reserves `count` consecutive tickets and returns the first; kClosed after close().
  // Tickets whose submission fails are ended with discard(..., the submit status).
  Result<uint64_t> issue(size_t count);
  // Makes `ticket` individually cancellable (call before its task is submitted).
  void track(uint64_t ticket);
  // True if the tracked task had not started: it will never run and never be
  // delivered (a kByTicket consumer gets kCancelled in its place, so the order goes
  // on). False when it runs, has run, or is not tracked.
  bool cancel(uint64_t ticket);
  // True while the tracked task runs on a worker.
  bool is_running(uint64_t ticket) const;
  // No more tickets. A consumer is told "finished" once every issued ticket ended.
  void close();
  // Workers drop queued tasks of an abandoned stream instead of running them.
  void abandon();
  bool abandoned() const { return abandoned_.load(std::memory_order_acquire); }
  // Issued tickets that have not ended yet.
  size_t outstanding() const;
  // Waits (any GIL released) until at most `count` issued tickets have not ended, or
  // the stream is abandoned. kTimeout; kInterrupted (Python error set) when a signal
  // handler raised. For a producer that keeps a bounded window of tasks submitted.
  Status wait_outstanding_at_most(size_t count, std::optional<double> timeout_seconds);

  // ---- consumer side ----
  // kByTicket: waits for the result of the next ticket not yet taken, then returns
  // it and the ready results after it, up to the first failure (a failure is only
  // ever returned alone, first), max_results, and the end of the first chunk's block
  // that reaches 256 results (one chunk's block is never split unless max_results
  // says so; later ones wait for the next call). Empty vector: the stream is closed and every
  // ticket was taken. kTimeout, or kInterrupted (Python error set).
  // kInvalidArgument on a stream made with packed_results: use take_run_in_order.
  Result<std::vector<Result<Value>>> take_in_order(std::optional<double> timeout_seconds, size_t max_results);
  // take_in_order for any kByTicket stream: one packed block (or the part of it that
  // max_results allows) is returned alone, in `packed`; per-ticket results as
  // take_in_order returns them. An empty Run: closed and every ticket taken.
  Result<Run> take_run_in_order(std::optional<double> timeout_seconds, size_t max_results);
  // kArrival: waits until at least one result arrived and returns all that did, in
  // arrival order. Empty vector: closed and nothing outstanding.
  Result<std::vector<Arrival>> take_arrived(std::optional<double> timeout_seconds);

  // ---- worker side ----
  // False if the task's ticket was cancelled (tracked tickets only): skip it.
  bool start(uint64_t ticket, bool tracked);
  // Results of tickets first_ticket, first_ticket+1, ...
  void deliver(uint64_t first_ticket, std::vector<Result<Value>> results, bool tracked);
  // The `count` successful results of tickets first_ticket, ... as one Value that
  // decodes to a list of them (packed_results() streams only).
  void deliver_packed(uint64_t first_ticket, Value list, size_t count, bool tracked);
  // The task was dropped before it ran: each ticket ends with `why` (kCancelled or
  // kBroken); a tracked ticket already ended by cancel() stays silent.
  void discard(uint64_t first_ticket, size_t count, bool tracked, const Status& why);

 private:
  // The results of consecutive tickets, as delivered by one task.
  struct Block {
    std::vector<Result<Value>> each;  // one per ticket, unless packed
    Value packed;                     // packed_count > 0: decodes to the list of them
    size_t packed_count = 0;
    size_t size() const { return packed_count > 0 ? packed_count : each.size(); }
  };
  void store_locked(uint64_t first_ticket, std::vector<Result<Value>> results);
  // kByTicket: the stored block holding next_to_take_, or nullptr.
  Block* next_block_locked();
  // Takes what is ready at next_to_take_ (under mutex_); false when nothing is.
  bool take_ready_locked(size_t limit, Run& taken);
  // Whether the consumer has something to take (or is finished), under mutex_.
  bool consumer_should_wake_locked() const;
  // Sets wake_ from the state, under mutex_; true if the consumer must be notified.
  bool update_wake_locked();

  const Order order_;
  const bool packed_results_;
  std::atomic<bool> abandoned_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;             // the consumer parks here
  std::condition_variable drained_cv_;     // wait_outstanding_at_most parks here
  size_t drain_waiters_ = 0;               // guarded by mutex_: how many park on drained_cv_
  std::atomic<bool> wake_{false};          // set under mutex_ when the consumer has something to take
  uint64_t next_ticket_ = 0;               // guarded by mutex_: next ticket issue() hands out
  // Issued tickets not ended yet: written under mutex_; atomic so that the
  // predicate of wait_outstanding_at_most may read it unlocked.
  std::atomic<size_t> outstanding_{0};
  bool closed_ = false;                    // guarded by mutex_
  uint64_t next_to_take_ = 0;              // guarded by mutex_: kByTicket consumer position
  std::unordered_map<uint64_t, bool> tracked_;                 // guarded by mutex_: ticket -> started
  // guarded by mutex_ (kByTicket): first ticket of a task -> its results (a chunk's
  // results stay one block, so a map moves one vector per chunk, not one per item).
  // The lowest block may be partly taken: its first next_taken_in_block_ items are.
  std::map<uint64_t, Block> by_ticket_;
  size_t next_taken_in_block_ = 0;
  std::deque<Arrival> arrived_;                                // guarded by mutex_ (kArrival)
};

// One unit of work: `callable(*args, **keywords)` for each args tuple in `arguments`
// (or `callable(argument)` for each one when single_argument); result i goes to
// ticket first_ticket + i of `results`. A packed task (packed_count > 0) holds one
// Value in `arguments`, which decodes to the list of its packed_count items.
struct PoolTask {
  std::shared_ptr<const Value> callable;
  std::vector<Value> arguments;  // each a kTuple, or each the one argument
  size_t packed_count = 0;       // > 0: arguments[0] is the list of the items
  bool single_argument = false;  // map's case: no tuple to build per item
  Value keywords;                // kNone or a kDict, passed to every call
  uint64_t first_ticket = 0;
  bool tracked = false;          // a single-ticket task registered with TaskResults::track
  std::shared_ptr<TaskResults> results;

  size_t item_count() const { return packed_count > 0 ? packed_count : arguments.size(); }
};

struct PoolOptions {
  size_t workers = 1;
  InterpreterConfig interpreter;        // how each worker interpreter is created
  std::optional<Value> initializer;     // a callable Value, run once per worker
  Value initargs = Value::Tuple({});    // its arguments (a kTuple)
};

class WorkerPool {
 public:
  // Starts options.workers interpreters (the caller's GIL released while each is
  // created). kInvalidArgument for 0 workers; kCreateFailed / kRemoteException if
  // an interpreter cannot start (those already started are ended).
  static Result<std::shared_ptr<WorkerPool>> create(PoolOptions options);

  // Stops (dropping queued tasks) and joins, the caller's GIL released.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  size_t size() const { return interpreters_.size(); }
  std::vector<int64_t> interpreter_ids() const;

  // Queues tasks (all or none). kClosed once stop() was called; kBroken (with the
  // initializer's error in the message) once an initializer failed.
  Status submit(std::vector<PoolTask> tasks);
  // Drops queued tasks of `only` (every task when nullptr); their tickets end as
  // kCancelled. Running tasks are not interrupted. Returns how many tasks it dropped.
  size_t cancel_queued(const TaskResults* only);
  // Raises KeyboardInterrupt in the tasks of `only` (every task when nullptr) that run
  // now (Interpreter::interrupt: at the next bytecode boundary). The rest of an
  // interrupted chunk is skipped, and every ticket of an interrupted task that did not
  // succeed ends as kCancelled with `why`. Tasks that start later are not touched:
  // call cancel_queued (or stop(true)) first. Returns how many tasks it interrupted.
  // Waits for each busy worker's GIL in turn (the caller's GIL released).
  size_t interrupt_running(const TaskResults* only, const std::string& why);
  // No new tasks; workers end once the queue is empty (at once when cancel_queued,
  // which drops what is queued). Returns without waiting.
  void stop(bool cancel_queued);
  // stop(false) if not stopped yet, then waits for every worker to end and ends the
  // interpreters. Idempotent; the caller's GIL is released while it waits. The wait
  // for running tasks runs signal handlers: kInterrupted (the Python error left set)
  // when one raised, e.g. Ctrl-C; the pool stays stopped and a later join finishes.
  Status join();

  bool stopped() const;
  // Ok, or the kBroken status every task now fails with.
  Status broken() const;

  // Stops every live pool (dropping queued tasks) and joins it: for exit hooks. Call
  // with the main GIL held or no GIL. kInterrupted as join(): the pools not joined yet
  // are joined by a later call.
  static Status join_all();
  // interrupt_running(nullptr, why) on every live pool; returns how many tasks it
  // interrupted. For exit hooks, after a Ctrl-C.
  static size_t interrupt_all(const std::string& why);

 private:
  WorkerPool() = default;
  // join() that no signal handler can interrupt (for the destructor and failed creation).
  void join_to_the_end();
  // What interrupt_running needs to know of one worker. `running` and `interrupted`
  // change only on that worker's thread with its GIL held, or in interrupt_running's
  // confirm callback, which holds that GIL too: the GIL orders them.
  struct WorkerSlot {
    std::atomic<const TaskResults*> running{nullptr};  // the stream of the task it runs
    std::atomic<bool> interrupted{false};              // its running task was interrupted
    std::string why;                                   // the reason, while interrupted
  };

  // The long job each worker runs (its GIL held on entry and exit); `interpreter` is
  // the worker's own (interpreters_ may still grow while the first workers start).
  Result<Value> serve(WorkerSlot& slot, Interpreter& interpreter) noexcept;
  Status run_initializer();
  // Next task to run, waiting with the worker's GIL released; nullopt: end the loop.
  std::optional<PoolTask> next_task();
  void mark_broken(const Status& initializer_error);

  PoolOptions options_;                                  // constant after create
  std::vector<std::shared_ptr<Interpreter>> interpreters_;  // constant after create; ended by join()
  std::vector<std::shared_ptr<Completion>> loops_;          // each worker's serve() job, same order
  std::unique_ptr<WorkerSlot[]> slots_;                     // one per worker, same order; made in create

  mutable std::mutex mutex_;
  std::condition_variable cv_;     // idle workers park here
  std::deque<PoolTask> queue_;     // guarded by mutex_
  bool stopping_ = false;          // guarded by mutex_
  std::optional<Status> broken_;   // guarded by mutex_: set once, by the first failing initializer
  std::atomic<size_t> queued_{0};  // mirrors queue_.size() for the workers' lock-free spin
  std::mutex join_mutex_;          // serializes join() callers
  std::atomic<bool> joined_{false};  // written under join_mutex_; read unlocked by join's fast path
};

}  // namespace manycore
