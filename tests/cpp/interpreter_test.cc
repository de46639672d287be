// tests/cpp/interpreter_test.cc: Interpreter (worker lifecycle, job order, close rules) and Completion.
#include "manycore/interpreter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "gate.h"
#include "manycore/queue.h"
#include "manycore/runtime.h"
#include "python_env.h"

namespace manycore {
namespace {

using test::Gate;
using test::MainGil;
using test::PyRef;

constexpr double kWaitLimit = 30.0;  // seconds; every wait below ends long before

// A job that reports it started, then holds its worker until `release` opens.
Interpreter::Job held_job(Gate& started, Gate& release) {
  return [&started, &release]() -> Result<Value> {
    started.open();
    if (!release.wait()) return Status(StatusCode::kTimeout, "the test never released the job");
    return Value::Str("released");
  };
}

// One fresh worker per test. hold() keeps it busy until release_ opens; TearDown opens
// it and closes the worker unless the test did (a failed close fails the test).
class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = test::create_or_fail();
    ASSERT_TRUE(worker_);
  }
  void TearDown() override {
    release_.open();
    if (worker_ && !worker_->is_closed()) {
      EXPECT_TRUE(worker_->close(/*even_if_running=*/true).ok());
    }
  }
  // Submits a job that holds the worker until release_ opens; returns once it runs.
  std::shared_ptr<Completion> hold() {
    auto held = worker_->submit(held_job(started_, release_));
    EXPECT_TRUE(started_.wait());
    return held;
  }

  std::shared_ptr<Interpreter> worker_;
  Gate started_;
  Gate release_;
};

using CompletionOfAJobTest = WorkerTest;

Result<Value> wait_and_take(const std::shared_ptr<Completion>& completion) {
  Status waited = completion->wait(kWaitLimit);
  if (!waited.ok()) return waited;
  return completion->take();
}

TEST(InterpreterTest, TestsStartWithNoThreadState) {
  EXPECT_EQ(runtime::current_interpreter_id(), -1);
}

TEST(InterpreterTest, CreateAndCloseFromAThreadWithNoGil) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  EXPECT_GT(worker->id(), 0);  // 0 is the main interpreter
  EXPECT_FALSE(worker->is_running());
  EXPECT_FALSE(worker->is_closed());
  EXPECT_FALSE(worker->on_worker_thread());
  EXPECT_EQ(runtime::find(worker->id()), worker);

  EXPECT_TRUE(worker->close().ok());
  EXPECT_TRUE(worker->is_closed());
  EXPECT_FALSE(worker->is_running());
  EXPECT_EQ(runtime::find(worker->id()), nullptr);
  Status again = worker->close();
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
}

TEST(InterpreterTest, CreateCallAndCloseWithTheMainGilHeld) {
  MainGil gil;
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  EXPECT_EQ(PyThreadState_Get(), test::main_thread_state());  // the GIL came back
  Result<Value> result = worker->call(Value::Reference("operator", "add"), Value::Tuple({Value::Int(2), Value::Int(3)}));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value(), Value::Int(5));
  EXPECT_TRUE(worker->close().ok());
  EXPECT_EQ(PyThreadState_Get(), test::main_thread_state());
}

TEST(InterpreterTest, CreateCallAndCloseFromAnotherThread) {
  Result<Value> result = Value::None();
  Status closed(StatusCode::kInternal, "not run");
  std::thread other([&] {
    auto worker = test::create_or_fail();
    if (!worker) return;
    result = worker->call(Value::Reference("builtins", "len"), Value::Tuple({Value::Str("four")}));
    closed = worker->close();
  });
  other.join();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value(), Value::Int(4));
  EXPECT_TRUE(closed.ok()) << closed.message();
}

TEST_F(WorkerTest, JobsRunUnderTheWorkersOwnInterpreter) {
  const int64_t expected_id = worker_->id();
  Result<Value> seen = wait_and_take(worker_->submit([worker_ptr = worker_.get()]() -> Result<Value> {
    if (!worker_ptr->on_worker_thread()) return Status(StatusCode::kInternal, "not on the worker thread");
    int64_t cpython_id = PyInterpreterState_GetID(PyInterpreterState_Get());
    return Value::Tuple({Value::Int(cpython_id), Value::Int(runtime::current_interpreter_id())});
  }));
  ASSERT_TRUE(seen.ok()) << seen.status().message();
  EXPECT_EQ(seen.value(), Value::Tuple({Value::Int(expected_id), Value::Int(expected_id)}));
}

TEST_F(WorkerTest, StateLivesOnBetweenJobsAndStaysInItsInterpreter) {
  auto run = [](const char* code) -> Result<Value> {
    PyObject* main_module = PyImport_AddModule("__main__");  // borrowed
    if (main_module == nullptr) return capture_python_error();
    PyObject* globals = PyModule_GetDict(main_module);  // borrowed
    PyRef result = PyRef::steal(PyRun_String(code, Py_eval_input, globals, globals));
    if (!result) return capture_python_error();
    return encode(result.get());
  };
  ASSERT_TRUE(wait_and_take(worker_->submit([&run] { return run("globals().__setitem__('marker', 41)"); })).ok());
  Result<Value> read = wait_and_take(worker_->submit([&run] { return run("marker + 1"); }));
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read.value(), Value::Int(42));

  MainGil gil;
  Result<Value> in_main = run("'marker' in globals()");
  ASSERT_TRUE(in_main.ok());
  EXPECT_EQ(in_main.value(), Value::Bool(false));
}

TEST(InterpreterTest, IdsAreUniqueAndNeverReused) {
  std::vector<int64_t> ids;
  for (int round = 0; round < 3; ++round) {
    auto worker = test::create_or_fail();
    ASSERT_TRUE(worker);
    ids.push_back(worker->id());
    ASSERT_TRUE(worker->close().ok());  // its id is free now, yet must not come back
  }
  auto first = test::create_or_fail();
  auto second = test::create_or_fail();
  ASSERT_TRUE(first && second);
  ids.push_back(first->id());
  ids.push_back(second->id());
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]) << "id " << ids[i] << " after " << ids[i - 1];
  EXPECT_TRUE(first->close().ok());
  EXPECT_TRUE(second->close().ok());
}

TEST_F(WorkerTest, JobsRunInSubmissionOrder) {
  auto held = hold();
  // Everything below is queued behind the held job, then drained in order.
  std::vector<int> order;  // touched by the worker only, read after the last completion
  std::vector<std::shared_ptr<Completion>> completions;
  for (int i = 0; i < 50; ++i) {
    completions.push_back(worker_->submit([&order, i]() -> Result<Value> {
      order.push_back(i);
      return Value::Int(i);
    }));
  }
  EXPECT_TRUE(worker_->is_running());
  EXPECT_FALSE(completions.front()->done());
  release_.open();
  for (int i = 0; i < 50; ++i) {
    Result<Value> result = wait_and_take(completions[i]);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.value(), Value::Int(i));
  }
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(wait_and_take(held).ok());
}

TEST_F(WorkerTest, IsRunningWhileAJobRunsOrWaits) {
  EXPECT_FALSE(worker_->is_running());
  auto held = hold();
  EXPECT_TRUE(worker_->is_running());  // a job runs
  auto queued = worker_->submit([] { return Result<Value>(Value::None()); });
  release_.open();
  ASSERT_TRUE(wait_and_take(held).ok());
  ASSERT_TRUE(wait_and_take(queued).ok());
  // A completion is set after the worker marks itself idle.
  EXPECT_FALSE(worker_->is_running());
}

TEST_F(WorkerTest, JobSubmittedFromTheWorkerThreadRunsInline) {
  Result<Value> outer = wait_and_take(worker_->submit([self = worker_.get()]() -> Result<Value> {
    std::thread::id outer_thread = std::this_thread::get_id();
    std::thread::id inner_thread;
    auto inner = self->submit([&inner_thread]() -> Result<Value> {
      inner_thread = std::this_thread::get_id();
      return Value::Int(7);
    });
    // A queued job could never run while this one holds the worker: it must be done.
    if (!inner->done()) return Status(StatusCode::kInternal, "the inner job was queued");
    if (inner_thread != outer_thread) return Status(StatusCode::kInternal, "the inner job ran elsewhere");
    if (!inner->wait(0.0).ok()) return Status(StatusCode::kInternal, "wait on a done completion failed");
    return inner->take();
  }));
  ASSERT_TRUE(outer.ok()) << outer.status().message();
  EXPECT_EQ(outer.value(), Value::Int(7));
}

TEST_F(WorkerTest, CallFromInsideTheWorkerRunsInline) {
  Result<Value> outer = wait_and_take(worker_->submit([self = worker_.get()]() -> Result<Value> {
    return self->call(Value::Reference("builtins", "abs"), Value::Tuple({Value::Int(-3)}));
  }));
  ASSERT_TRUE(outer.ok()) << outer.status().message();
  EXPECT_EQ(outer.value(), Value::Int(3));
}

TEST_F(WorkerTest, CloseWhileRunningIsAnInterpreterError) {
  auto held = hold();
  Status refused = worker_->close();
  EXPECT_EQ(refused.code(), StatusCode::kInterpreterError);
  EXPECT_FALSE(worker_->is_closed());
  EXPECT_EQ(runtime::find(worker_->id()), worker_);
  release_.open();
  Result<Value> result = wait_and_take(held);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value(), Value::Str("released"));  // refusing to close left the job alone
}

TEST_F(WorkerTest, CloseWithQueuedJobsIsAnInterpreterErrorToo) {
  auto held = hold();
  auto queued = worker_->submit([] { return Result<Value>(Value::Int(1)); });
  EXPECT_EQ(worker_->close().code(), StatusCode::kInterpreterError);
  release_.open();
  EXPECT_TRUE(wait_and_take(held).ok());
  Result<Value> queued_result = wait_and_take(queued);
  ASSERT_TRUE(queued_result.ok());  // not failed by the refused close
  EXPECT_EQ(queued_result.value(), Value::Int(1));
}

TEST_F(WorkerTest, CloseFromInsideItselfIsAnInterpreterError) {
  Result<Value> inside = wait_and_take(worker_->submit([self = worker_.get()]() -> Result<Value> {
    Status closed = self->close();
    return Value::Int(static_cast<int64_t>(closed.code()));
  }));
  ASSERT_TRUE(inside.ok());
  EXPECT_EQ(inside.value(), Value::Int(static_cast<int64_t>(StatusCode::kInterpreterError)));
  EXPECT_FALSE(worker_->is_closed());
}

TEST_F(WorkerTest, CloseEvenIfRunningWaitsForTheRunningJobAndFailsQueuedOnes) {
  auto held = hold();
  auto queued = worker_->submit([] { return Result<Value>(Value::Int(1)); });

  std::atomic<bool> close_returned{false};
  Status closed(StatusCode::kInternal, "not run");
  std::thread closer([&] {
    closed = worker_->close(/*even_if_running=*/true);
    close_returned = true;
  });
  // close(true) fails queued jobs before it waits: once that happened it is waiting.
  Result<Value> queued_result = wait_and_take(queued);
  EXPECT_EQ(queued_result.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(held->done());
  EXPECT_FALSE(close_returned.load());  // the held job still runs: close cannot be done
  EXPECT_FALSE(worker_->is_closed());
  release_.open();
  closer.join();
  EXPECT_TRUE(closed.ok()) << closed.message();
  EXPECT_TRUE(worker_->is_closed());
  Result<Value> held_result = wait_and_take(held);
  ASSERT_TRUE(held_result.ok()) << held_result.status().message();  // finished, not cancelled
  EXPECT_EQ(held_result.value(), Value::Str("released"));
}

TEST_F(WorkerTest, SubmitAfterCloseIsNotFound) {
  ASSERT_TRUE(worker_->close().ok());
  bool ran = false;
  auto completion = worker_->submit([&ran] {
    ran = true;
    return Result<Value>(Value::None());
  });
  EXPECT_TRUE(completion->done());  // no wait needed: failed at once
  Result<Value> result = completion->take();
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ran);
  Result<Value> called = worker_->call(Value::Reference("builtins", "int"), Value::Tuple({}));
  EXPECT_EQ(called.status().code(), StatusCode::kNotFound);
}

TEST_F(WorkerTest, JobRaisingReturnsRemoteException) {
  Result<Value> result = worker_->call(Value::Reference("operator", "truediv"), Value::Tuple({Value::Int(1), Value::Int(0)}));
  ASSERT_FALSE(result.ok());
  const Status& status = result.status();
  EXPECT_EQ(status.code(), StatusCode::kRemoteException);
  ASSERT_TRUE(status.remote() != nullptr);
  EXPECT_EQ(status.remote()->type_module, "builtins");
  EXPECT_EQ(status.remote()->type_qualname, "ZeroDivisionError");
  EXPECT_EQ(status.remote()->message, "division by zero");
  // operator.truediv is C code: no Python frame, so the traceback is the last line only.
  EXPECT_EQ(status.remote()->traceback, "ZeroDivisionError: division by zero\n");
  EXPECT_TRUE(status.remote()->pickled.has_value());
  EXPECT_EQ(status.message(), "ZeroDivisionError: division by zero");

  // The interpreter goes on serving jobs after one raised.
  Result<Value> next = worker_->call(Value::Reference("operator", "truediv"), Value::Tuple({Value::Int(1), Value::Int(4)}));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), Value::Float(0.25));
}

TEST_F(WorkerTest, TracebackOfARemoteExceptionShowsThePythonFrames) {
  Result<Value> result = worker_->call(Value::Reference("shlex", "split"), Value::Tuple({Value::Str("'unclosed")}));
  ASSERT_EQ(result.status().code(), StatusCode::kRemoteException);
  const RemoteError& error = *result.status().remote();
  EXPECT_EQ(error.type_qualname, "ValueError");
  EXPECT_EQ(error.message, "No closing quotation");
  EXPECT_EQ(error.traceback.rfind("Traceback (most recent call last):\n", 0), 0u) << error.traceback;
  EXPECT_NE(error.traceback.find("shlex.py"), std::string::npos) << error.traceback;
  EXPECT_NE(error.traceback.find("ValueError: No closing quotation\n"), std::string::npos) << error.traceback;
}

TEST_F(WorkerTest, RaisedExceptionOfAModuleTypeNamesItsModule) {
  Result<Value> result = worker_->call(Value::Reference("json", "loads"), Value::Tuple({Value::Str("{oops")}));
  ASSERT_EQ(result.status().code(), StatusCode::kRemoteException);
  EXPECT_EQ(result.status().remote()->type_module, "json.decoder");
  EXPECT_EQ(result.status().remote()->type_qualname, "JSONDecodeError");
  EXPECT_NE(result.status().remote()->traceback.find("json"), std::string::npos);
}

TEST_F(WorkerTest, SubmitCallPassesKeywords) {
  Result<Value> result = worker_->call(Value::Reference("builtins", "int"), Value::Tuple({Value::Str("ff")}),
                                      Value::Dict({Value::Str("base"), Value::Int(16)}));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value(), Value::Int(255));
}

TEST_F(WorkerTest, FrameReadingBuiltinsRunAsIfCalledFromMain) {
  // From C there is no Python frame: without call.h these raise "frame does not exist".
  Result<Value> stored = worker_->call(Value::Reference("builtins", "exec"), Value::Tuple({Value::Str("y = 6 * 7")}));
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  Result<Value> read = worker_->call(Value::Reference("builtins", "eval"), Value::Tuple({Value::Str("y")}));
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read.value(), Value::Int(42));
  Result<Value> module_name = worker_->call(Value::Reference("builtins", "eval"), Value::Tuple({Value::Str("__name__")}));
  ASSERT_TRUE(module_name.ok()) << module_name.status().message();
  EXPECT_EQ(module_name.value(), Value::Str("__main__"));
  Result<Value> failed = worker_->call(Value::Reference("builtins", "eval"), Value::Tuple({Value::Str("1 +")}));
  ASSERT_EQ(failed.status().code(), StatusCode::kRemoteException);
  EXPECT_EQ(failed.status().remote()->type_qualname, "SyntaxError");
  Result<Value> names = worker_->call(Value::Reference("builtins", "eval"),
                                      Value::Tuple({Value::Str("'__manycore_call__' in dir()")}));
  ASSERT_TRUE(names.ok()) << names.status().message();
  EXPECT_EQ(names.value(), Value::Bool(false));
}

TEST_F(WorkerTest, SubmitCallRejectsArgumentsThatAreNotATuple) {
  Result<Value> not_tuple = worker_->call(Value::Reference("builtins", "len"), Value::List({Value::Str("x")}));
  EXPECT_EQ(not_tuple.status().code(), StatusCode::kInvalidArgument);
  Result<Value> not_dict = worker_->call(Value::Reference("builtins", "len"), Value::Tuple({Value::Str("x")}),
                                        Value::List({}));
  EXPECT_EQ(not_dict.status().code(), StatusCode::kInvalidArgument);
  Result<Value> missing = worker_->call(Value::Reference("no_such_module_xyz", "f"), Value::Tuple({}));
  ASSERT_EQ(missing.status().code(), StatusCode::kRemoteException);
  EXPECT_EQ(missing.status().remote()->type_qualname, "ModuleNotFoundError");
}

TEST_F(WorkerTest, ResultThatCannotBeEncodedIsNotShareable) {
  Result<Value> result = worker_->call(Value::Reference("threading", "Lock"), Value::Tuple({}));
  EXPECT_EQ(result.status().code(), StatusCode::kNotShareable) << result.status().message();
}

TEST_F(WorkerTest, JobLeavingAPythonErrorSetIsReportedAndTheNextJobIsClean) {
  Result<Value> sloppy = wait_and_take(worker_->submit([]() -> Result<Value> {
    PyErr_SetString(PyExc_RuntimeError, "forgotten");
    return Value::None();
  }));
  ASSERT_EQ(sloppy.status().code(), StatusCode::kInternal);
  EXPECT_NE(sloppy.status().message().find("forgotten"), std::string::npos) << sloppy.status().message();
  Result<Value> next = wait_and_take(worker_->submit([]() -> Result<Value> { return Value::Bool(PyErr_Occurred() != nullptr); }));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), Value::Bool(false));
}

TEST(InterpreterTest, ConfigSetsSysPathAndImportsTheStartupModule) {
  const std::string directory = ::testing::TempDir() + "manycore_startup_" + std::to_string(::getpid());
  std::filesystem::create_directories(directory);
  {
    std::ofstream module(directory + "/manycore_startup_probe.py");
    module << "import sys\nLOADED_IN = sys.implementation.name\nsys.manycore_probe = 'imported at startup'\n";
  }
  InterpreterConfig config;
  {
    MainGil gil;
    config.sys_path = test::main_sys_path();
  }
  config.sys_path.push_back(directory);
  config.startup_module = "manycore_startup_probe";
  auto worker = test::create_or_fail(config);
  ASSERT_TRUE(worker);
  Result<Value> probe = wait_and_take(worker->submit([directory]() -> Result<Value> {
    PyRef marker = test::eval("(sys.manycore_probe, sys.path[-1])", "import sys");
    if (!marker) return Status(StatusCode::kInternal, "the startup module did not run");
    return encode(marker.get());
  }));
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  EXPECT_EQ(probe.value(), Value::Tuple({Value::Str("imported at startup"), Value::Str(directory)}));
  EXPECT_TRUE(worker->close().ok());
  std::filesystem::remove_all(directory);
}

TEST(InterpreterTest, MissingStartupModuleFailsCreate) {
  std::vector<int64_t> before = runtime::list_ids();
  InterpreterConfig config;
  config.startup_module = "no_such_startup_module_xyz";
  Result<std::shared_ptr<Interpreter>> created = Interpreter::create(config);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kRemoteException);
  ASSERT_TRUE(created.status().remote() != nullptr);
  EXPECT_EQ(created.status().remote()->type_qualname, "ModuleNotFoundError");
  EXPECT_EQ(runtime::list_ids(), before);
}

TEST(InterpreterTest, StartupModuleOnFirstJobIsImportedBeforeTheFirstJobRuns) {
  InterpreterConfig config;
  config.startup_module = "json";  // not loaded by a bare interpreter
  config.startup_module_on_first_job = true;
  auto worker = test::create_or_fail(config);
  ASSERT_TRUE(worker);
  Result<Value> loaded = wait_and_take(worker->submit([]() -> Result<Value> {
    PyRef json = test::eval("'json' in sys.modules", "import sys");
    if (!json) return Status(StatusCode::kInternal, "eval failed");
    return encode(json.get());
  }));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded.value(), Value::Bool(true));
  EXPECT_TRUE(worker->close().ok());
}

TEST(InterpreterTest, StartupModuleOnFirstJobFailsJobsNotCreate) {
  InterpreterConfig config;
  config.startup_module = "no_such_startup_module_xyz";
  config.startup_module_on_first_job = true;
  auto worker = test::create_or_fail(config);
  ASSERT_TRUE(worker);
  for (int attempt = 0; attempt < 2; ++attempt) {  // each job tries again
    Result<Value> ran = wait_and_take(worker->submit([]() -> Result<Value> { return Value::Int(1); }));
    ASSERT_FALSE(ran.ok());
    ASSERT_TRUE(ran.status().remote() != nullptr);
    EXPECT_EQ(ran.status().remote()->type_qualname, "ModuleNotFoundError");
  }
  EXPECT_TRUE(worker->close().ok());
}

TEST(InterpreterTest, CreateManyStartsDistinctLiveInterpreters) {
  size_t live_before = Interpreter::live_count();
  Result<std::vector<std::shared_ptr<Interpreter>>> created = Interpreter::create_many({}, 3);
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_EQ(created.value().size(), 3u);
  EXPECT_EQ(Interpreter::live_count(), live_before + 3);
  std::vector<int64_t> ids;
  for (const auto& worker : created.value()) {
    for (int64_t other : ids) EXPECT_NE(worker->id(), other);
    ids.push_back(worker->id());
    EXPECT_TRUE(runtime::find(worker->id()) != nullptr);  // registered like create()'s
    Result<Value> squared = worker->call(Value::Reference("builtins", "pow"), Value::Tuple({Value::Int(3), Value::Int(2)}));
    ASSERT_TRUE(squared.ok()) << squared.status().message();
    EXPECT_EQ(squared.value(), Value::Int(9));
  }
  for (const auto& worker : created.value()) EXPECT_TRUE(worker->close().ok());
  EXPECT_EQ(Interpreter::live_count(), live_before);
}

TEST(InterpreterTest, CreateManyIsAllOrNothing) {
  std::vector<int64_t> before = runtime::list_ids();
  size_t live_before = Interpreter::live_count();
  InterpreterConfig config;
  config.startup_module = "no_such_startup_module_xyz";
  Result<std::vector<std::shared_ptr<Interpreter>>> created = Interpreter::create_many(config, 2);
  ASSERT_FALSE(created.ok());
  ASSERT_TRUE(created.status().remote() != nullptr);
  EXPECT_EQ(created.status().remote()->type_qualname, "ModuleNotFoundError");
  EXPECT_EQ(runtime::list_ids(), before);
  EXPECT_EQ(Interpreter::live_count(), live_before);
}

TEST(InterpreterTest, CreateFromSeveralThreadsAtOnce) {
  constexpr int kThreads = 3;
  std::vector<Result<Value>> results(kThreads, Result<Value>(StatusCode::kInternal, "not run"));
  std::vector<int64_t> ids(kThreads, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&results, &ids, t] {
      auto worker = test::create_or_fail();
      if (!worker) return;
      ids[t] = worker->id();
      results[t] = worker->call(Value::Reference("builtins", "pow"), Value::Tuple({Value::Int(t), Value::Int(2)}));
      Status closed = worker->close();
      if (!closed.ok()) results[t] = closed;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(results[t].ok()) << results[t].status().message();
    EXPECT_EQ(results[t].value(), Value::Int(t * t));
    for (int other = 0; other < t; ++other) EXPECT_NE(ids[t], ids[other]);
  }
}

TEST_F(WorkerTest, JobsFromManyThreadsAllRunInEachThreadsOrder) {
  constexpr int kThreads = 4;
  constexpr int kJobsEach = 200;
  std::vector<std::pair<int, int>> ran;  // (thread, sequence), appended by the worker only
  std::vector<std::shared_ptr<Completion>> last(kThreads);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([this, &ran, &last, t] {
      for (int i = 0; i < kJobsEach; ++i) {
        last[t] = worker_->submit([&ran, t, i] {
          ran.emplace_back(t, i);
          return Result<Value>(Value::None());
        });
      }
    });
  }
  for (auto& producer : producers) producer.join();
  for (const auto& completion : last) ASSERT_TRUE(wait_and_take(completion).ok());
  ASSERT_EQ(ran.size(), static_cast<size_t>(kThreads * kJobsEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& [thread, sequence] : ran) EXPECT_EQ(sequence, next[thread]++) << "thread " << thread;
}

TEST_F(CompletionOfAJobTest, ManyThreadsWaitForOneCompletion) {
  auto held = hold();
  constexpr int kWaiters = 4;
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&held, &woken] {
      if (held->wait(kWaitLimit).ok() && held->done()) woken.fetch_add(1);
    });
  }
  EXPECT_EQ(woken.load(), 0);  // the job is still held: nobody can be done waiting
  release_.open();
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(woken.load(), kWaiters);
  Result<Value> result = held->take();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.value(), Value::Str("released"));
}

// Both jobs must be inside their interpreters, each holding its own GIL, at the same
// moment: if one interpreter's job could only start after the other's ended, the
// first would wait out the limit alone and report it.
Result<Value> rendezvous(std::atomic<int>& arrived) {
  if (runtime::current_interpreter_id() <= 0) return Status(StatusCode::kInternal, "job runs without its GIL");
  arrived.fetch_add(1);
  auto limit = std::chrono::steady_clock::now() + test::kGateLimit;
  while (arrived.load() < 2) {
    if (std::chrono::steady_clock::now() > limit) return Value::Bool(false);
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // still holding this GIL
  }
  return Value::Bool(true);
}

TEST(InterpreterTest, JobsInTwoInterpretersRunAtTheSameTime) {
  auto first = test::create_or_fail();
  auto second = test::create_or_fail();
  ASSERT_TRUE(first && second);
  std::atomic<int> arrived{0};
  auto a = first->submit([&arrived] { return rendezvous(arrived); });
  auto b = second->submit([&arrived] { return rendezvous(arrived); });
  Result<Value> ra = wait_and_take(a);
  Result<Value> rb = wait_and_take(b);
  ASSERT_TRUE(ra.ok() && rb.ok()) << ra.status().message() << rb.status().message();
  EXPECT_EQ(ra.value(), Value::Bool(true));
  EXPECT_EQ(rb.value(), Value::Bool(true));
  EXPECT_TRUE(first->close().ok());
  EXPECT_TRUE(second->close().ok());
}

TEST(InterpreterTest, WorkersRunPythonWhileTheMainThreadHoldsTheMainGil) {
  auto first = test::create_or_fail();
  auto second = test::create_or_fail();
  ASSERT_TRUE(first && second);
  MainGil gil;  // held while both jobs run: their GILs are their own
  std::atomic<int> arrived{0};
  auto job = [&arrived]() -> Result<Value> {
    PyRef computed = test::eval("sum(i * i for i in range(1000))");  // real bytecode, own GIL
    if (!computed) return Status(StatusCode::kInternal, "eval failed");
    Result<Value> met = rendezvous(arrived);
    if (!met.ok() || met.value() != Value::Bool(true)) return met;
    return encode(computed.get());
  };
  auto a = first->submit(job);
  auto b = second->submit(job);
  Result<Value> ra = wait_and_take(a);
  Result<Value> rb = wait_and_take(b);
  ASSERT_TRUE(ra.ok() && rb.ok()) << ra.status().message() << rb.status().message();
  EXPECT_EQ(ra.value(), Value::Int(332833500));
  EXPECT_EQ(rb.value(), Value::Int(332833500));
  EXPECT_EQ(PyThreadState_Get(), test::main_thread_state());
  EXPECT_TRUE(first->close().ok());
  EXPECT_TRUE(second->close().ok());
}

// ---- Completion ----------------------------------------------------------------------

TEST(CompletionTest, WaitTimesOut) {
  Completion completion;
  EXPECT_FALSE(completion.done());
  EXPECT_EQ(completion.wait(0.0).code(), StatusCode::kTimeout);
  EXPECT_EQ(completion.wait(0.02).code(), StatusCode::kTimeout);
  EXPECT_EQ(completion.wait(-1.0).code(), StatusCode::kTimeout);
  completion.set(Value::Int(1));
  EXPECT_TRUE(completion.done());
  EXPECT_TRUE(completion.wait(0.0).ok());
}

TEST_F(CompletionOfAJobTest, WaitOnARunningJobTimesOutWithTheMainGilHeld) {
  auto held = hold();
  {
    MainGil gil;
    EXPECT_EQ(held->wait(0.05).code(), StatusCode::kTimeout);
    EXPECT_FALSE(PyErr_Occurred());
    EXPECT_EQ(PyThreadState_Get(), test::main_thread_state());
  }
  release_.open();
  EXPECT_TRUE(wait_and_take(held).ok());
}

TEST(CompletionTest, WaitReleasesTheCallersGil) {
  Completion completion;
  MainGil gil;
  // Another OS thread needs the main GIL to set the completion: only a wait that
  // releases the GIL lets it through.
  std::thread setter([&completion] {
    PyThreadState* tstate = PyThreadState_New(PyInterpreterState_Main());
    PyEval_RestoreThread(tstate);
    PyRef answer = test::eval("6 * 7");
    Result<Value> encoded = answer ? encode(answer.get()) : Result<Value>(StatusCode::kInternal, "eval failed");
    answer = PyRef();
    PyThreadState_Clear(tstate);
    PyThreadState_DeleteCurrent();
    completion.set(std::move(encoded));
  });
  Status waited = completion.wait(kWaitLimit);
  EXPECT_TRUE(waited.ok()) << waited.message();
  {
    PyThreadState* saved = PyEval_SaveThread();  // let a stuck setter finish before join
    setter.join();
    PyEval_RestoreThread(saved);
  }
  Result<Value> result = completion.take();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.value(), Value::Int(42));
}

TEST_F(CompletionOfAJobTest, WaitIsInterruptedByASignalHandler) {
  auto held = hold();
  MainGil gil;
  PyRef installed = test::eval("signal.signal(signal.SIGUSR1, raise_interrupt)",
                               "import signal\n"
                               "def raise_interrupt(signum, frame):\n"
                               "    raise KeyboardInterrupt('test signal')\n");
  ASSERT_TRUE(installed);
  std::raise(SIGUSR1);  // the C handler only trips a flag; the Python one runs in wait
  Status waited = held->wait(kWaitLimit);
  EXPECT_EQ(waited.code(), StatusCode::kInterrupted);
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_KeyboardInterrupt));
  PyErr_Clear();
  EXPECT_FALSE(held->done());
  ASSERT_TRUE(test::eval("signal.signal(signal.SIGUSR1, signal.SIG_DFL)", "import signal"));
  release_.open();
  Result<Value> result = wait_and_take(held);
  EXPECT_TRUE(result.ok()) << result.status().message();
}

TEST(CompletionTest, SetOnlyOnceKeepsTheFirstResult) {
  Completion completion;
  completion.set(Value::Int(1));
  completion.set(Value::Int(2));
  completion.set(Status(StatusCode::kInternal, "late"));
  Result<Value> result = completion.take();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.value(), Value::Int(1));
  EXPECT_EQ(completion.take().status().code(), StatusCode::kInternal);  // taken already
}

TEST(CompletionTest, TakeBeforeSetIsInternal) {
  Completion completion;
  EXPECT_EQ(completion.take().status().code(), StatusCode::kInternal);
}

TEST_F(CompletionOfAJobTest, OnDoneRunsOnTheWorkerUnderItsGilOrAtOnce) {
  auto held = hold();
  std::thread::id callback_thread;
  int64_t callback_interpreter = -2;
  bool result_visible = false;
  Gate called;
  held->on_done([&] {
    callback_thread = std::this_thread::get_id();
    callback_interpreter = runtime::current_interpreter_id();
    result_visible = held->done();
    called.open();
  });
  EXPECT_FALSE(called.is_open());
  release_.open();
  ASSERT_TRUE(called.wait());
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  EXPECT_EQ(callback_interpreter, worker_->id());  // the worker's GIL is still held
  EXPECT_TRUE(result_visible);
  Result<Value> result = wait_and_take(held);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.value(), Value::Str("released"));

  // Registered after the result: runs at once, on the registering thread.
  std::thread::id late_thread;
  held->on_done([&late_thread] { late_thread = std::this_thread::get_id(); });
  EXPECT_EQ(late_thread, std::this_thread::get_id());
}

TEST(CompletionTest, OnDoneRunsOnTheThreadThatSets) {
  Completion completion;
  std::thread::id callback_thread;
  completion.on_done([&callback_thread] { callback_thread = std::this_thread::get_id(); });
  std::thread setter([&completion] { completion.set(Value::Int(1)); });
  const std::thread::id setter_thread = setter.get_id();
  setter.join();
  EXPECT_EQ(callback_thread, setter_thread);
}

TEST_F(CompletionOfAJobTest, WaitedResultSeesEverythingTheWorkerDidBefore) {
  std::vector<int> written;  // plain memory, no lock: ordering comes from the completion
  auto completion = worker_->submit([&written]() -> Result<Value> {
    for (int i = 0; i < 1000; ++i) written.push_back(i);
    return Value::None();
  });
  ASSERT_TRUE(wait_and_take(completion).ok());
  ASSERT_EQ(written.size(), 1000u);
  EXPECT_EQ(written.back(), 999);
}

// ---- interrupt ----------------------------------------------------------------------

// Runs Python statements in the worker's __main__ (its GIL held); None or the failure.
Result<Value> run_in_main(const char* code) {
  PyObject* main_module = PyImport_AddModule("__main__");  // borrowed
  if (main_module == nullptr) return capture_python_error();
  PyObject* globals = PyModule_GetDict(main_module);  // borrowed
  PyRef result = PyRef::steal(PyRun_String(code, Py_file_input, globals, globals));
  if (!result) return capture_python_error();
  return Value::None();
}

TEST_F(WorkerTest, InterruptRaisesKeyboardInterruptInTheRunningPythonCode) {
  auto endless = worker_->submit([this]() -> Result<Value> {
    started_.open();
    // 60 s: far beyond kWaitLimit, so only the interrupt ends it in time.
    return run_in_main("import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n");
  });
  ASSERT_TRUE(started_.wait());
  Result<bool> raised = worker_->interrupt();
  ASSERT_TRUE(raised.ok()) << raised.status().message();
  EXPECT_TRUE(raised.value());
  Result<Value> ended = wait_and_take(endless);
  ASSERT_EQ(ended.status().code(), StatusCode::kRemoteException) << test::describe(ended);
  EXPECT_EQ(ended.status().remote()->type_qualname, "KeyboardInterrupt");

  // The worker goes on serving, with nothing left pending.
  Result<Value> next = wait_and_take(worker_->submit([] { return run_in_main("x = sum(range(1000))\n"); }));
  EXPECT_TRUE(next.ok()) << test::describe(next);
}

TEST_F(WorkerTest, InterruptReachesAJobParkedInAManycoreWait) {
  // No bytecode runs while the job is parked in Queue::get: the wait's slices must
  // let the asynchronous exception fire (wait.h, run_pending_python_work).
  auto queue = std::make_shared<Queue>(0);
  auto parked = worker_->submit([this, queue]() -> Result<Value> {
    started_.open();
    Result<Value> got = queue->get(/*block=*/true, /*timeout_seconds=*/60.0);
    if (got.status().code() == StatusCode::kInterrupted) return capture_python_error();
    return got;
  });
  ASSERT_TRUE(started_.wait());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // parked by now
  Result<bool> raised = worker_->interrupt();
  ASSERT_TRUE(raised.ok()) << raised.status().message();
  EXPECT_TRUE(raised.value());
  Result<Value> ended = wait_and_take(parked);
  ASSERT_EQ(ended.status().code(), StatusCode::kRemoteException) << test::describe(ended);
  EXPECT_EQ(ended.status().remote()->type_qualname, "KeyboardInterrupt");
  EXPECT_TRUE(queue->put(Value::Int(1)).ok());
  EXPECT_EQ(queue->size(), 1u);  // the interrupted get took nothing
}

TEST_F(WorkerTest, InterruptOfAnIdleInterpreterRaisesNothing) {
  Result<bool> raised = worker_->interrupt();
  ASSERT_TRUE(raised.ok()) << raised.status().message();
  EXPECT_FALSE(raised.value());
  Result<Value> next = wait_and_take(worker_->submit([] { return run_in_main("x = sum(range(1000))\n"); }));
  EXPECT_TRUE(next.ok()) << test::describe(next);
}

TEST_F(WorkerTest, ConfirmRunsUnderTheWorkersGilAndCanDecline) {
  auto held = worker_->submit([this]() -> Result<Value> {
    started_.open();
    bool released;
    Py_BEGIN_ALLOW_THREADS  // lets interrupt() take this GIL while the job waits
    released = release_.wait();
    Py_END_ALLOW_THREADS
    if (!released) return Status(StatusCode::kTimeout, "never released");
    return Value::Str("released");
  });
  ASSERT_TRUE(started_.wait());
  int64_t seen_id = -1;
  Result<bool> declined = worker_->interrupt([&seen_id] {
    seen_id = PyInterpreterState_GetID(PyInterpreterState_Get());
    return false;
  });
  ASSERT_TRUE(declined.ok()) << declined.status().message();
  EXPECT_FALSE(declined.value());
  EXPECT_EQ(seen_id, worker_->id());
  release_.open();
  Result<Value> result = wait_and_take(held);
  ASSERT_TRUE(result.ok()) << test::describe(result);
  EXPECT_EQ(result.value(), Value::Str("released"));
}

TEST_F(WorkerTest, AnInterruptThatDidNotFireNeverReachesTheNextJob) {
  // The held job runs no bytecode after the interrupt: it ends with it still pending.
  auto held = worker_->submit([this]() -> Result<Value> {
    started_.open();
    bool released;
    Py_BEGIN_ALLOW_THREADS
    released = release_.wait();
    Py_END_ALLOW_THREADS
    if (!released) return Status(StatusCode::kTimeout, "never released");
    return Value::Str("released");
  });
  ASSERT_TRUE(started_.wait());
  Result<bool> raised = worker_->interrupt();
  ASSERT_TRUE(raised.ok()) << raised.status().message();
  EXPECT_TRUE(raised.value());
  release_.open();
  Result<Value> result = wait_and_take(held);
  ASSERT_TRUE(result.ok()) << test::describe(result);
  Result<Value> next = wait_and_take(worker_->submit([] { return run_in_main("x = sum(range(1000))\n"); }));
  EXPECT_TRUE(next.ok()) << test::describe(next);
}

TEST_F(WorkerTest, InterruptAfterCloseIsNotFoundAndFromInsideIsAnInterpreterError) {
  Result<Value> inside = wait_and_take(worker_->submit([worker_ptr = worker_.get()]() -> Result<Value> {
    Result<bool> raised = worker_ptr->interrupt();
    return Value::Int(static_cast<int>(raised.status().code()));
  }));
  ASSERT_TRUE(inside.ok()) << test::describe(inside);
  EXPECT_EQ(inside.value(), Value::Int(static_cast<int>(StatusCode::kInterpreterError)));
  ASSERT_TRUE(worker_->close().ok());
  EXPECT_EQ(worker_->interrupt().status().code(), StatusCode::kNotFound);
}

TEST_F(WorkerTest, InterruptWithTheMainGilHeldReleasesIt) {
  auto endless = worker_->submit([this]() -> Result<Value> {
    started_.open();
    return run_in_main("import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n");
  });
  ASSERT_TRUE(started_.wait());
  MainGil gil;
  Result<bool> raised = worker_->interrupt();
  ASSERT_TRUE(raised.ok()) << raised.status().message();
  EXPECT_TRUE(raised.value());
  EXPECT_EQ(PyThreadState_Get(), test::main_thread_state());  // the main GIL is back
  EXPECT_EQ(wait_and_take(endless).status().code(), StatusCode::kRemoteException);
}

}  // namespace
}  // namespace manycore
