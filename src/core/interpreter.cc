// src/core/interpreter.cc: the worker thread that creates, serves and ends one own-GIL subinterpreter.
#include "manycore/interpreter.h"

#include <new>
#include <system_error>

#include "call.h"
#include "futex_wait.h"
#include "manycore/runtime.h"
#include "pyref.h"
#include "wait.h"

namespace manycore {

using internal::PyRef;

// ---- Completion ---------------------------------------------------------------------

void Completion::set(Result<Value> result) {
  std::function<void()> callback;
  {
    std::lock_guard lock(mutex_);
    if (done_.load(std::memory_order_relaxed)) return;
    result_.emplace(std::move(result));
    done_.store(true, std::memory_order_release);
    callback = std::move(callback_);
  }
  cv_.notify_all();
  if (callback) callback();
}

Status Completion::wait(std::optional<double> timeout_seconds) {
  return internal::wait_released(
      mutex_, cv_, [this] { return done_.load(std::memory_order_acquire); }, internal::deadline_after(timeout_seconds));
}

Result<Value> Completion::take() {
  std::lock_guard lock(mutex_);
  if (!result_) return Status(StatusCode::kInternal, "Completion::take before the result was set");
  Result<Value> result = std::move(*result_);
  result_.reset();
  return result;
}

void Completion::on_done(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!done_.load(std::memory_order_relaxed)) {
      callback_ = std::move(callback);
      return;
    }
  }
  callback();
}

// ---- Interpreter --------------------------------------------------------------------

namespace {

// Process-global, C++ only: interpreters between Py_NewInterpreterFromConfig and
// Py_EndInterpreter, counted by their worker threads.
std::atomic<size_t> live_interpreters{0};

}  // namespace

size_t Interpreter::live_count() { return live_interpreters.load(std::memory_order_acquire); }

std::shared_ptr<Interpreter> Interpreter::launch(const InterpreterConfig& config) {
  std::shared_ptr<Interpreter> interpreter(new Interpreter());
  interpreter->started_ = std::make_shared<Completion>();
  try {
    interpreter->thread_ = std::thread(
        [raw = interpreter.get(), config, started = interpreter->started_] { raw->run_worker(config, started); });
  } catch (const std::system_error& error) {
    // std::thread throws when the OS refuses a thread (EAGAIN: the thread limit, or
    // no address space left for its stack): a failure to report, not to abort on.
    Status refused(StatusCode::kCreateFailed,
                   std::string("the operating system refused to start a thread for a new interpreter (") +
                       error.what() +
                       "): the process is at its thread limit or out of address space (ulimit -u / -v)");
    interpreter->fail_queued_jobs(refused);
    interpreter->started_->set(std::move(refused));
  }
  return interpreter;
}

Status Interpreter::finish_launch(const std::shared_ptr<Interpreter>& interpreter, PyObject*& interrupt) {
  std::shared_ptr<Completion> started = std::move(interpreter->started_);
  // The caller's GIL is released while waiting: on 3.13 creating an interpreter
  // imports _imp under the main GIL, so holding it here deadlocks (DESIGN.md 1).
  // Creation cannot be abandoned half-way: an interrupt is kept until it is done.
  while (!started->done()) {
    if (started->wait().code() == StatusCode::kInterrupted) {
      if (interrupt == nullptr) {
        interrupt = PyErr_GetRaisedException();
      } else {
        PyErr_Clear();  // one interrupt is reported; later ones add nothing
      }
    }
  }
  Result<Value> outcome = started->take();
  if (!outcome.ok()) {
    internal::GilRelease released;
    if (interpreter->thread_.joinable()) interpreter->thread_.join();  // not when the OS refused the thread
    interpreter->closed_ = true;
    return outcome.take_status();
  }
  runtime::register_interpreter(interpreter);
  return Status::Ok();
}

Result<std::shared_ptr<Interpreter>> Interpreter::create(const InterpreterConfig& config) {
  Result<std::vector<std::shared_ptr<Interpreter>>> created = create_many(config, 1);
  if (!created.ok()) return created.take_status();
  return std::move(created.value().front());
}

Result<std::vector<std::shared_ptr<Interpreter>>> Interpreter::create_many(const InterpreterConfig& config,
                                                                           size_t count) {
  // Held until every interpreter is registered, so that close_all at exit either sees
  // them or refuses them (runtime.h: the exit gate).
  runtime::CreationScope creation;
  if (!creation.admitted()) {
    return Status(StatusCode::kInterpreterError, "the program is exiting: no new interpreter can start");
  }
  // All worker threads start before any is waited for: creating an interpreter is
  // mostly its own thread's work (own GIL), so W creations on W cores take about
  // the time of one (docs/benchmarks.md, bench startup).
  std::vector<std::shared_ptr<Interpreter>> launched;
  launched.reserve(count);
  for (size_t i = 0; i < count; ++i) launched.push_back(launch(config));
  PyObject* interrupt = nullptr;
  Status first_failure;
  std::vector<std::shared_ptr<Interpreter>> created;
  created.reserve(count);
  for (const auto& interpreter : launched) {
    Status started = finish_launch(interpreter, interrupt);
    if (started.ok()) {
      created.push_back(interpreter);
    } else if (first_failure.ok()) {
      first_failure = std::move(started);
    }
  }
  if (interrupt == nullptr && first_failure.ok()) return created;
  for (const auto& interpreter : created) (void)interpreter->close(/*even_if_running=*/true);
  if (interrupt != nullptr) {
    PyErr_SetRaisedException(interrupt);
    return Status(StatusCode::kInterrupted, "interrupted");
  }
  return first_failure;
}

Interpreter::~Interpreter() {
  if (!thread_.joinable()) return;
  if (on_worker_thread()) {
    thread_.detach();  // cannot join itself; the worker ends on its own
    return;
  }
  (void)stop_and_join();
}

bool Interpreter::is_running() const {
  std::lock_guard lock(mutex_);
  return running_job_ || !jobs_.empty();
}

bool Interpreter::is_closed() const { return closed_.load(std::memory_order_acquire); }

std::shared_ptr<Completion> Interpreter::submit(Job job) {
  auto completion = std::make_shared<Completion>();
  if (on_worker_thread()) {
    size_t kept = released_after_job_.size();  // the enclosing job's
    completion->set(job());  // a call into itself: run inline instead of deadlocking
    release_after_job(kept);
    return completion;
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      completion->set(Status(StatusCode::kNotFound, "interpreter " + std::to_string(id_) + " is closed"));
      return completion;
    }
    jobs_.emplace_back(std::move(job), completion);
    queued_.fetch_add(1, std::memory_order_release);
  }
  submitter_cpu_.store(internal::current_cpu(), std::memory_order_relaxed);
  cv_.notify_one();
  return completion;
}

std::shared_ptr<Completion> Interpreter::submit_call(Value callable, Value args, Value kwargs) {
  return submit([this, callable = std::move(callable), args = std::move(args), kwargs = std::move(kwargs)]() -> Result<Value> {
    PyRef function = PyRef::steal(decode(callable));
    if (!function) return capture_python_error();
    PyRef positional = PyRef::steal(decode(args));
    if (!positional) return capture_python_error();
    PyRef keywords = kwargs.kind() == Value::Kind::kNone ? PyRef() : PyRef::steal(decode(kwargs));
    if (kwargs.kind() != Value::Kind::kNone && !keywords) return capture_python_error();
    if (!PyTuple_Check(positional.get()) || (keywords && !PyDict_Check(keywords.get()))) {
      return Status(StatusCode::kInvalidArgument, "submit_call needs a tuple of arguments and a dict of keywords");
    }
    PyRef result = PyRef::steal(internal::call_callable(function.get(), positional.get(), keywords.get()));
    if (!result) return capture_python_error();
    Result<Value> encoded = encode(result.get());
    // Freed once the caller has its result (run_worker, submit).
    for (PyRef* given_up : {&positional, &keywords, &result}) {
      if (*given_up) released_after_job_.push_back(given_up->release());
    }
    return encoded;
  });
}

void Interpreter::release_after_job(size_t keep) {
  while (released_after_job_.size() > keep) {
    PyObject* given_up = released_after_job_.back();
    released_after_job_.pop_back();
    Py_DECREF(given_up);
  }
}

Result<Value> Interpreter::call(Value callable, Value args, Value kwargs) {
  std::shared_ptr<Completion> completion = submit_call(std::move(callable), std::move(args), std::move(kwargs));
  // A small call is back within microseconds: wait for it with this GIL kept first.
  internal::spin_until_ready(
      internal::kHeldSpinFor, [&completion] { return completion->done(); },
      [this] { return worker_cpu_.load(std::memory_order_relaxed); });
  Status waited = completion->wait();
  if (!waited.ok()) return waited;
  return completion->take();
}

Status Interpreter::close(bool even_if_running) {
  if (on_worker_thread()) {
    return Status(StatusCode::kInterpreterError, "an interpreter cannot close itself");
  }
  std::unique_lock close_lock(close_mutex_, std::defer_lock);
  {
    // Taken with the GIL released: the holder retakes its GIL while waiting below, and
    // a second closer must not sit on that GIL while it waits for this mutex.
    internal::GilRelease released;
    close_lock.lock();
  }
  if (closed_.load()) return Status(StatusCode::kNotFound, "interpreter " + std::to_string(id_) + " is closed");
  std::deque<std::pair<Job, std::shared_ptr<Completion>>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (!even_if_running && (running_job_ || !jobs_.empty())) {
      return Status(StatusCode::kInterpreterError, "interpreter " + std::to_string(id_) + " is running");
    }
    dropped.swap(jobs_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& [job, completion] : dropped) {
    completion->set(Status(StatusCode::kNotFound, "interpreter " + std::to_string(id_) + " was closed"));
  }
  dropped.clear();
  if (even_if_running) {
    // The running job may take long, or never end: wait so that Ctrl-C interrupts the
    // wait (kInterrupted, error set). The interpreter stays stopping; close() again
    // finishes the job (the exit hook interrupts the running call, then does that).
    Status ended = internal::wait_released(
        mutex_, worker_done_cv_, [this] { return worker_done_.load(std::memory_order_acquire); }, std::nullopt,
        /*spin=*/false);
    if (!ended.ok()) return ended;
  }
  Status status = stop_and_join();
  runtime::unregister_interpreter(id_);
  return status;
}

Status Interpreter::stop_and_join() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    // Ending an interpreter may need the main GIL (3.13): never join holding a GIL.
    internal::GilRelease released;
    thread_.join();
  }
  closed_.store(true, std::memory_order_release);
  return Status::Ok();
}

namespace {

Status set_sys_path(const std::vector<std::string>& entries) {
  PyRef list = PyRef::steal(PyList_New(0));
  if (!list) return capture_python_error();
  for (const std::string& entry : entries) {
    PyRef item = PyRef::steal(PyUnicode_DecodeFSDefaultAndSize(entry.data(), entry.size()));
    if (!item || PyList_Append(list.get(), item.get()) < 0) return capture_python_error();
  }
  if (PySys_SetObject("path", list.get()) < 0) return capture_python_error();
  return Status::Ok();
}

Status import_startup_module(const InterpreterConfig& config) {
  PyRef module = PyRef::steal(PyImport_ImportModule(config.startup_module.c_str()));
  return module ? Status::Ok() : capture_python_error();
}

// Runs a job on the worker thread (its GIL held). run_worker is noexcept: a C++
// exception leaving a job (std::bad_alloc while encoding a large value, say) becomes
// that job's failure instead of std::terminate.
Result<Value> run_guarded(const Interpreter::Job& job) {
  try {
    return job();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& error) {
    PyErr_Format(PyExc_SystemError, "manycore: C++ exception in a job: %s", error.what());
  }
  try {
    return capture_python_error();
  } catch (...) {
    PyErr_Clear();
    return Status(StatusCode::kInternal, "out of memory while reporting a failed job");
  }
}

// Py_EndInterpreter clears this thread's state after the modules are torn down, so
// a finalizer reached only from there (3.13's threading._DeleteDummyThreadOnDel)
// finds its module globals gone and prints "Exception ignored": the hook lets
// Python code release such objects first.
void run_end_hook(const InterpreterConfig& config) {
  if (config.startup_module.empty() || config.end_hook.empty()) return;
  // Only where the start-up module was imported (an idle interpreter whose import was
  // deferred to its first job never imports it just to end).
  PyRef name = PyRef::steal(PyUnicode_FromString(config.startup_module.c_str()));
  PyRef module = name ? PyRef::steal(PyImport_GetModule(name.get())) : PyRef();
  PyRef result = module ? PyRef::steal(PyObject_CallMethod(module.get(), config.end_hook.c_str(), nullptr)) : PyRef();
  if (!result) PyErr_Clear();  // the interpreter ends either way
}

}  // namespace

void Interpreter::run_worker(const InterpreterConfig& config, std::shared_ptr<Completion> started) noexcept {
  PyInterpreterConfig interpreter_config = {};
  interpreter_config.use_main_obmalloc = 0;
  interpreter_config.allow_fork = 0;
  interpreter_config.allow_exec = 0;
  interpreter_config.allow_threads = 1;
  interpreter_config.allow_daemon_threads = 0;
  interpreter_config.check_multi_interp_extensions = 1;
  interpreter_config.gil = PyInterpreterConfig_OWN_GIL;

  // This thread has no thread state yet: Py_NewInterpreterFromConfig returns with the
  // new interpreter's thread state current and its (new, own) GIL held.
  PyThreadState* tstate = nullptr;
  PyStatus created = Py_NewInterpreterFromConfig(&tstate, &interpreter_config);
  if (PyStatus_Exception(created)) {
    std::string why = created.err_msg != nullptr ? created.err_msg : "Py_NewInterpreterFromConfig failed";
    fail_queued_jobs(Status(StatusCode::kCreateFailed, why));
    announce_worker_done();
    started->set(Status(StatusCode::kCreateFailed, why));
    return;
  }
  live_interpreters.fetch_add(1, std::memory_order_acq_rel);
  state_ = PyThreadState_GetInterpreter(tstate);
  id_ = PyInterpreterState_GetID(state_);
  worker_ident_ = PyThread_get_thread_ident();

  Status ready = config.sys_path.empty() ? Status::Ok() : set_sys_path(config.sys_path);
  // Imported before the first job instead, when the config says so (below).
  bool startup_pending = !config.startup_module.empty() && config.startup_module_on_first_job;
  if (ready.ok() && !config.startup_module.empty() && !startup_pending) ready = import_startup_module(config);
  if (!ready.ok()) {
    Py_EndInterpreter(tstate);
    live_interpreters.fetch_sub(1, std::memory_order_acq_rel);
    fail_queued_jobs(ready);
    announce_worker_done();
    started->set(std::move(ready));
    return;
  }
  started->set(Value::None());

  PyThreadState* saved = PyEval_SaveThread();
  bool holding_gil = false;  // true when the held spin below saw the next job queued
  while (true) {
    Job job;
    std::shared_ptr<Completion> completion;
    {
      // Spin briefly (GIL released) before parking: a caller waiting on a result
      // usually submits the next job within microseconds.
      auto spin_end = internal::Clock::now() + internal::kSpinFor;
      while (!holding_gil && queued_.load(std::memory_order_acquire) == 0 && internal::Clock::now() < spin_end) {
        std::this_thread::yield();  // the submitter may share this core: let it run (wait.h)
      }
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return !jobs_.empty() || stopping_; });
      if (jobs_.empty()) {  // stopping, nothing left (a close took the job the spin saw)
        lock.unlock();
        if (holding_gil) saved = PyEval_SaveThread();
        break;
      }
      job = std::move(jobs_.front().first);
      completion = std::move(jobs_.front().second);
      jobs_.pop_front();
      queued_.fetch_sub(1, std::memory_order_acq_rel);
      running_job_ = true;
    }
    if (!holding_gil) PyEval_RestoreThread(saved);
    holding_gil = false;
    worker_cpu_.store(internal::current_cpu(), std::memory_order_relaxed);
    Result<Value> result = Value::None();
    if (startup_pending) {
      // A failure (an interrupt, say) fails this job; the next one tries again.
      Status imported = import_startup_module(config);
      startup_pending = !imported.ok();
      if (!imported.ok()) result = std::move(imported);
    }
    if (!startup_pending) result = run_guarded(job);
    if (PyErr_Occurred()) {
      // A job must report through its Result; a stray error is a bug in the job,
      // reported rather than left to poison the next one.
      Status stray = capture_python_error();
      if (result.ok()) result = Status(StatusCode::kInternal, "job left a Python error set: " + stray.message());
    }
    job = nullptr;  // its captures may own PyObjects: drop them under this GIL
    {
      std::lock_guard lock(mutex_);
      running_job_ = false;
    }
    drop_pending_interrupt();  // after running_job_: interrupt() no longer confirms this job
    completion->set(std::move(result));
    release_after_job(0);
    // A caller that waited for this result usually sends the next call within
    // microseconds: keep the GIL for a few, so neither side pays a GIL hand-off.
    holding_gil = internal::spin_until_ready(
        internal::kHeldSpinFor, [this] { return queued_.load(std::memory_order_acquire) != 0; },
        [this] { return submitter_cpu_.load(std::memory_order_relaxed); });
    if (!holding_gil) saved = PyEval_SaveThread();
  }
  {
    // No interrupt() may hold a thread state of this interpreter from here on:
    // Py_EndInterpreter aborts while another thread state exists.
    std::lock_guard lock(visit_mutex_);
    ending_ = true;
  }
  PyEval_RestoreThread(saved);
  run_end_hook(config);
  Py_EndInterpreter(tstate);
  live_interpreters.fetch_sub(1, std::memory_order_acq_rel);
  announce_worker_done();
}

void Interpreter::fail_queued_jobs(const Status& why) {
  std::deque<std::pair<Job, std::shared_ptr<Completion>>> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;  // later submits fail at once
    dropped.swap(jobs_);
    queued_.store(0, std::memory_order_release);
  }
  for (auto& [job, completion] : dropped) completion->set(why);
}

void Interpreter::announce_worker_done() {
  {
    std::lock_guard lock(mutex_);
    worker_done_.store(true, std::memory_order_release);
  }
  worker_done_cv_.notify_all();
}

Result<bool> Interpreter::interrupt(const std::function<bool()>& confirm) {
  if (on_worker_thread()) {
    return Status(StatusCode::kInterpreterError, "an interpreter cannot interrupt itself");
  }
  // Never hold one GIL while taking another: the worker may be waiting for ours.
  internal::GilRelease released;
  std::lock_guard lock(visit_mutex_);
  if (ending_ || closed_.load(std::memory_order_acquire)) {
    return Status(StatusCode::kNotFound, "interpreter " + std::to_string(id_) + " is closed");
  }
  // A thread state of our own, on this thread, for this interpreter (DESIGN.md 1:
  // never PyGILState_*). Restoring it takes this interpreter's GIL.
  PyThreadState* visitor = PyThreadState_New(state_);
  if (visitor == nullptr) return Status(StatusCode::kInternal, "PyThreadState_New failed");
  PyEval_RestoreThread(visitor);
  bool wanted;
  if (confirm) {
    wanted = confirm();
  } else {
    std::lock_guard jobs_lock(mutex_);  // the worker, too, takes mutex_ with its GIL held
    wanted = running_job_;
  }
  bool raised = false;
  if (wanted) {
    // A type, not an instance: 3.12 raises pending async exceptions with
    // _PyErr_SetNone. Built-in exception types are shared by all interpreters.
    raised = PyThreadState_SetAsyncExc(worker_ident_, PyExc_KeyboardInterrupt) == 1;
    if (raised) interrupt_pending_.store(true, std::memory_order_release);
  }
  PyThreadState_Clear(visitor);
  PyThreadState_DeleteCurrent();  // releases this interpreter's GIL
  return raised;
}

void Interpreter::drop_pending_interrupt() {
  if (!interrupt_pending_.exchange(false, std::memory_order_acq_rel)) return;
  (void)PyThreadState_SetAsyncExc(worker_ident_, nullptr);
}

}  // namespace manycore
