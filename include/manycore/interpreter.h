// include/manycore/interpreter.h: Interpreter, a subinterpreter with its own GIL owned by one worker thread.
//
// What it offers: `Interpreter::create` starts an OS thread that creates an isolated
// interpreter (own GIL, own obmalloc, no fork/exec, no daemon threads) and then runs
// jobs submitted from any thread, one at a time, in submission order, under that
// interpreter's GIL. Jobs in different Interpreters run at the same time on
// different cores. Results travel back as Values: no PyObject* leaves the worker.
//
// Lifetime and threading rules:
// - The worker thread is the only thread that ever holds this interpreter's creator
//   thread state; it creates the interpreter and ends it (Py_EndInterpreter), always
//   on that same thread. Between jobs it releases the GIL (parks on a condvar).
// - The process-wide registry (manycore/runtime.h) keeps every live Interpreter;
//   `close()` or `runtime::close_all()` ends it. Destroying the last shared_ptr of an
//   Interpreter that was never closed closes it (joins the worker thread).
// - Every blocking call here (create, close, Completion::wait) may be made with a
//   GIL held: it releases the caller's GIL while it waits, which CPython 3.13 needs
//   (creating an interpreter takes the main GIL), and wakes every 50 ms to run
//   signal handlers so Ctrl-C interrupts a waiting main thread.
// - A job submitted from the worker thread itself (an interpreter calling into
//   itself) runs inline instead of deadlocking.
// - `interrupt()` is the one way another thread touches this interpreter directly: it
//   enters it with a short-lived thread state of its own (under visit_mutex_, so the
//   worker never ends the interpreter while that thread state exists).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "manycore/status.h"
#include "manycore/value.h"

namespace manycore {

// One-shot result slot: set once by the worker, waited for by any number of threads.
// Everything the worker did before `set` is visible to a thread whose `wait` returned ok.
class Completion {
 public:
  // Any thread, with or without a GIL. Later calls are ignored.
  void set(Result<Value> result);
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Waits until done (ok), until timeout_seconds pass (kTimeout), or until a signal
  // handler raises while waiting (kInterrupted, the Python error left set).
  // Releases the caller's GIL while waiting; spins briefly before parking.
  Status wait(std::optional<double> timeout_seconds = std::nullopt);
  // The result; call once after a successful wait.
  Result<Value> take();
  // Runs callback on the thread that calls set (or now, on the calling thread, if
  // already done). One only: a second call before set replaces the first. For a job's
  // completion that is the worker thread, with the worker interpreter's GIL held and
  // other jobs waiting: keep the callback short, and never make it wait on this
  // interpreter (e.g. Completion::wait on another of its jobs would never end).
  void on_done(std::function<void()> callback);

 private:
  std::atomic<bool> done_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Result<Value>> result_;  // guarded by mutex_; set once
  std::function<void()> callback_;       // guarded by mutex_
};

struct InterpreterConfig {
  // Replaces the new interpreter's sys.path when not empty (a new interpreter's
  // sys.path otherwise comes from the startup config, not from its creator).
  std::vector<std::string> sys_path;
  // Module imported in the new interpreter right after sys.path is set ("" for none).
  std::string startup_module;
  // Import startup_module right before the first job runs instead: an interpreter
  // that runs nothing imports nothing, and create() returns sooner. A failed import
  // then fails that job (the next job tries again) instead of create().
  bool startup_module_on_first_job = false;
  // Function of startup_module called right before the interpreter ends, while its
  // modules are still intact ("" for none); what it raises is dropped.
  std::string end_hook;
};

class Interpreter {
 public:
  // A job runs on the worker thread with the interpreter's GIL held. It must not
  // leave a Python error set: it reports failure through its Result.
  using Job = std::function<Result<Value>()>;

  // Starts the worker and waits until the interpreter exists (GIL released meanwhile).
  static Result<std::shared_ptr<Interpreter>> create(const InterpreterConfig& config = {});
  // Starts `count` workers at once, then waits until every interpreter exists: on W
  // free cores, W interpreters take about the time of one. All or nothing: if one
  // fails (or a signal handler raises while waiting, kInterrupted with the error
  // set), those created are closed and the first failure is returned.
  static Result<std::vector<std::shared_ptr<Interpreter>>> create_many(const InterpreterConfig& config,
                                                                       size_t count);
  // How many interpreters made here exist now (created and not yet ended), pool
  // workers included. Any thread; a snapshot (e.g. for refusing os.fork, which
  // crashes the child while subinterpreters exist: CPython gh-101437).
  static size_t live_count();

  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // CPython's interpreter id: unique in the process, never reused.
  int64_t id() const { return id_; }
  // True while a job runs or is queued.
  bool is_running() const;
  bool is_closed() const;

  // Queues a job. After close, the completion is already set to kNotFound.
  std::shared_ptr<Completion> submit(Job job);
  // Queues `callable(*args, **kwargs)`: args a kTuple, kwargs a kDict (or kNone).
  std::shared_ptr<Completion> submit_call(Value callable, Value args, Value kwargs);
  // submit_call, then wait (GIL released).
  Result<Value> call(Value callable, Value args, Value kwargs = Value::None());

  // Ends the interpreter once its current job is done: kInterpreterError if a job is
  // running or queued (unless `even_if_running`, which waits for the running job and
  // fails queued ones with kNotFound), or when called from inside this interpreter;
  // kNotFound if it is closed already. A refused close changes nothing.
  // With `even_if_running`, the wait for the running job runs signal handlers (as
  // Completion::wait does): kInterrupted, the Python error left set, when one raised.
  // The interpreter then takes no jobs but is not closed yet; a later close ends it.
  Status close(bool even_if_running = false);

  // True on this interpreter's worker thread.
  bool on_worker_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Raises KeyboardInterrupt in the Python code the worker thread runs now, at its
  // next bytecode boundary (code blocked in a C call, e.g. time.sleep, sees it when
  // the call returns). `confirm`, when given, runs right before, on the calling thread
  // with this interpreter's GIL held: returning false leaves the worker alone. State
  // that a job changes only while holding its GIL reads race-free there.
  // Without `confirm`, the running job is interrupted, if any.
  // An interrupt that has not fired when its job ends is dropped, never reaching the
  // next job (for the finer units of a long job, see drop_pending_interrupt).
  // Returns whether it raised; kNotFound once the interpreter is closed (or ending),
  // kInterpreterError on the worker thread itself. Waits for this interpreter's GIL,
  // which a running worker gives up within its switch interval (5 ms) unless it is in
  // a long C call; the caller's GIL is released meanwhile.
  Result<bool> interrupt(const std::function<bool()>& confirm = {});
  // On the worker thread, its GIL held: drops an interrupt raised by `interrupt()`
  // that has not fired yet. For jobs made of smaller units (a pool's tasks): call it
  // between units so an interrupt meant for one never fires in the next.
  void drop_pending_interrupt();

 private:
  // A pool queues each worker's serving loop between launch and finish_launch, so the
  // loop starts as soon as the interpreter exists, without a wake-up (pool.cc).
  friend class WorkerPool;

  Interpreter() = default;
  // Starts the worker thread, which creates the interpreter; finish_launch waits for it
  // (keeping the first interrupt in `interrupt`) and registers it, or joins the thread.
  // Jobs submitted in between run first thing once the interpreter exists; if it
  // cannot be created they fail with its creation error. They run or are destroyed
  // on the worker thread, so they must not own PyObjects.
  static std::shared_ptr<Interpreter> launch(const InterpreterConfig& config);
  static Status finish_launch(const std::shared_ptr<Interpreter>& interpreter, PyObject*& interrupt);
  // On the worker thread when creation failed: no job will ever run.
  void fail_queued_jobs(const Status& why);
  void run_worker(const InterpreterConfig& config, std::shared_ptr<Completion> started) noexcept;
  Status stop_and_join();
  void announce_worker_done();

  int64_t id_ = -1;  // written by the worker before `started` is set, then constant
  PyInterpreterState* state_ = nullptr;  // likewise
  unsigned long worker_ident_ = 0;       // likewise: the worker's PyThread ident
  std::thread thread_;
  std::shared_ptr<Completion> started_;  // set by launch, taken by finish_launch (the creating thread)

  mutable std::mutex mutex_;
  std::condition_variable cv_;  // worker waits here for jobs or stop
  std::condition_variable worker_done_cv_;  // close(even_if_running) waits here for the worker's end
  // Set under mutex_ by the worker thread once it ended its interpreter (an atomic so
  // that wait_released may read it unlocked).
  std::atomic<bool> worker_done_{false};
  std::deque<std::pair<Job, std::shared_ptr<Completion>>> jobs_;  // guarded by mutex_
  bool stopping_ = false;          // guarded by mutex_
  bool running_job_ = false;       // guarded by mutex_
  std::atomic<bool> closed_{false};
  std::atomic<size_t> queued_{0};    // mirrors jobs_.size() for the worker's lock-free spin
  // Hints for the spins of a hand-off (futex_wait.h, spin_until_ready): the CPU the
  // worker last ran a job on, and the one the last submitter ran on (-1: none yet).
  std::atomic<int> worker_cpu_{-1};
  std::atomic<int> submitter_cpu_{-1};
  std::mutex close_mutex_;           // serializes close() callers
  std::mutex visit_mutex_;           // held by interrupt() while it has a thread state here
  bool ending_ = false;              // guarded by visit_mutex_: the worker is ending the interpreter
  // Set by interrupt() (under this interpreter's GIL) when it raised; cleared by the
  // worker (under the GIL) when it drops what did not fire.
  std::atomic<bool> interrupt_pending_{false};
  // Worker thread only, its GIL held: references a call job gave up (its decoded
  // arguments, its result), dropped right after the job's completion is set. The
  // caller gets its result without waiting for them to be freed (freeing a 1M-item
  // list costs about a fifth of receiving it): it decodes while this thread frees.
  std::vector<PyObject*> released_after_job_;
  void release_after_job(size_t keep);  // drops those past the first `keep`
};

}  // namespace manycore
