// tests/cpp/pool_test.cc: WorkerPool (shared queue, chunks, failures, cancellation, initializer, stop) and TaskResults.
#include "manycore/pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "manycore/runtime.h"
#include "python_env.h"

namespace manycore {
namespace {

constexpr double kWaitLimit = 30.0;  // seconds; every wait below ends long before

std::shared_ptr<const Value> reference(const char* module, const char* qualname) {
  return std::make_shared<const Value>(Value::Reference(module, qualname));
}

Value args(std::vector<Value> items) { return Value::Tuple(std::move(items)); }

std::shared_ptr<WorkerPool> make_pool(size_t workers, std::optional<Value> initializer = std::nullopt,
                                      Value initargs = Value::Tuple({})) {
  PoolOptions options;
  options.workers = workers;
  options.initializer = std::move(initializer);
  options.initargs = std::move(initargs);
  Result<std::shared_ptr<WorkerPool>> created = WorkerPool::create(std::move(options));
  EXPECT_TRUE(created.ok()) << created.status().message();
  return created.ok() ? created.take_value() : nullptr;
}

// One task per call (chunk 1) or `chunk` calls per task; every ticket issued by results.
std::vector<PoolTask> tasks_for(const std::shared_ptr<TaskResults>& results, std::shared_ptr<const Value> callable,
                                std::vector<Value> calls, size_t chunk = 1) {
  Result<uint64_t> first = results->issue(calls.size());
  EXPECT_TRUE(first.ok());
  std::vector<PoolTask> tasks;
  for (size_t start = 0; start < calls.size(); start += chunk) {
    PoolTask task;
    task.callable = callable;
    for (size_t i = start; i < std::min(calls.size(), start + chunk); ++i) task.arguments.push_back(calls[i]);
    task.first_ticket = first.value() + start;
    task.results = results;
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// A single tracked task, as the executor's submit() makes.
PoolTask tracked_task(const std::shared_ptr<TaskResults>& results, std::shared_ptr<const Value> callable,
                      Value arguments) {
  Result<uint64_t> ticket = results->issue(1);
  EXPECT_TRUE(ticket.ok());
  results->track(ticket.value());
  PoolTask task;
  task.callable = std::move(callable);
  task.arguments.push_back(std::move(arguments));
  task.first_ticket = ticket.value();
  task.tracked = true;
  task.results = results;
  return task;
}

std::vector<Result<Value>> take_all_in_order(TaskResults& results) {
  std::vector<Result<Value>> all;
  while (true) {
    Result<std::vector<Result<Value>>> taken = results.take_in_order(kWaitLimit, SIZE_MAX);
    EXPECT_TRUE(taken.ok()) << taken.status().message();
    if (!taken.ok() || taken.value().empty()) return all;
    for (auto& item : taken.value()) all.push_back(std::move(item));
  }
}

std::map<uint64_t, Result<Value>> take_all_arrived(TaskResults& results) {
  std::map<uint64_t, Result<Value>> all;
  while (true) {
    Result<std::vector<TaskResults::Arrival>> taken = results.take_arrived(kWaitLimit);
    EXPECT_TRUE(taken.ok()) << taken.status().message();
    if (!taken.ok() || taken.value().empty()) return all;
    for (auto& [ticket, result] : taken.value()) all.emplace(ticket, std::move(result));
  }
}

TEST(WorkerPoolTest, NeedsAtLeastOneWorker) {
  PoolOptions options;
  options.workers = 0;
  EXPECT_EQ(WorkerPool::create(options).status().code(), StatusCode::kInvalidArgument);
}

TEST(WorkerPoolTest, WorkersBelongToThePoolNotTheRegistry) {
  auto pool = make_pool(2);
  ASSERT_TRUE(pool);
  std::vector<int64_t> ids = pool->interpreter_ids();
  ASSERT_EQ(ids.size(), 2u);
  for (int64_t id : ids) EXPECT_EQ(runtime::find(id), nullptr);
  EXPECT_TRUE(pool->join().ok());
  EXPECT_TRUE(pool->join().ok());  // idempotent
}

TEST(WorkerPoolTest, MapResultsComeInTicketOrderWhateverTheChunk) {
  auto pool = make_pool(2);
  ASSERT_TRUE(pool);
  for (size_t chunk : {1u, 7u, 1000u}) {
    auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
    std::vector<Value> calls;
    for (int i = -100; i < 100; ++i) calls.push_back(args({Value::Int(i)}));
    ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "abs"), calls, chunk)).ok());
    results->close();
    std::vector<Result<Value>> all = take_all_in_order(*results);
    ASSERT_EQ(all.size(), 200u) << "chunk " << chunk;
    for (int i = -100; i < 100; ++i) {
      ASSERT_TRUE(all[i + 100].ok());
      EXPECT_EQ(all[i + 100].value().as_int(), std::abs(i)) << "chunk " << chunk;
    }
  }
}

TEST(WorkerPoolTest, ARaisingTaskFailsAloneAndTheWorkerGoesOn) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<Value> calls = {args({Value::Int(7), Value::Int(2)}), args({Value::Int(1), Value::Int(0)}),
                              args({Value::Int(9), Value::Int(4)})};
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "divmod"), calls, 3)).ok());
  results->close();
  // A failure is returned alone, after every success before it.
  Result<std::vector<Result<Value>>> first = results->take_in_order(kWaitLimit, SIZE_MAX);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.value().size(), 1u);
  EXPECT_TRUE(first.value()[0].ok());
  std::vector<Result<Value>> rest = take_all_in_order(*results);
  ASSERT_EQ(rest.size(), 2u);
  ASSERT_EQ(rest[0].status().code(), StatusCode::kRemoteException);
  EXPECT_EQ(rest[0].status().remote()->type_qualname, "ZeroDivisionError");
  EXPECT_TRUE(rest[1].ok());
}

TEST(WorkerPoolTest, TakeInOrderHonoursMaxAndStopsAtAFailureInsideAChunk) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<Value> calls;
  for (int divisor : {1, 2, 0, 4, 5, 6, 7}) calls.push_back(args({Value::Int(60), Value::Int(divisor)}));
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "divmod"), calls, 5)).ok());  // chunks 5 + 2
  results->close();
  std::vector<size_t> sizes;
  std::vector<bool> failed;
  while (true) {
    Result<std::vector<Result<Value>>> taken = results->take_in_order(kWaitLimit, 1 + sizes.size() % 2);
    ASSERT_TRUE(taken.ok());
    if (taken.value().empty()) break;
    sizes.push_back(taken.value().size());
    failed.push_back(!taken.value()[0].ok());
  }
  // max 1, 2, 1, 2, ... : [60/1] [60/2] then the failure alone, then [60/4, 60/5], [60/6], [60/7].
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 1, 1, 2, 1, 1}));
  EXPECT_EQ(failed, (std::vector<bool>{false, false, true, false, false, false}));
}

TEST(WorkerPoolTest, KeywordsReachEveryCall) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<PoolTask> tasks = tasks_for(results, reference("builtins", "int"),
                                          {args({Value::Str("ff")}), args({Value::Str("10")})}, 2);
  tasks[0].keywords = Value::Dict({Value::Str("base"), Value::Int(16)});
  ASSERT_TRUE(pool->submit(std::move(tasks)).ok());
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].value().as_int(), 255);
  EXPECT_EQ(all[1].value().as_int(), 16);
}

TEST(WorkerPoolTest, TrackedTasksArriveByTicketAndCanBeCancelledWhileQueued) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kArrival);
  std::vector<PoolTask> tasks;
  tasks.push_back(tracked_task(results, reference("time", "sleep"), args({Value::Float(0.3)})));
  tasks.push_back(tracked_task(results, reference("builtins", "abs"), args({Value::Int(-5)})));
  tasks.push_back(tracked_task(results, reference("builtins", "abs"), args({Value::Int(-6)})));
  ASSERT_TRUE(pool->submit(std::move(tasks)).ok());
  // The single worker takes the sleep; the others wait in the queue.
  for (int spins = 0; spins < 1000 && !results->is_running(0); ++spins) usleep(1000);
  EXPECT_TRUE(results->is_running(0));
  EXPECT_FALSE(results->cancel(0));  // running
  EXPECT_TRUE(results->cancel(1));   // queued: it will never run
  EXPECT_FALSE(results->cancel(1));  // already ended
  results->close();
  std::map<uint64_t, Result<Value>> all = take_all_arrived(*results);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(all.at(0).ok());
  EXPECT_EQ(all.at(2).value().as_int(), 6);
  EXPECT_EQ(results->outstanding(), 0u);
}

TEST(WorkerPoolTest, ACancelledTicketKeepsAnOrderedStreamGoing) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<PoolTask> tasks;
  tasks.push_back(tracked_task(results, reference("time", "sleep"), args({Value::Float(0.2)})));
  tasks.push_back(tracked_task(results, reference("builtins", "abs"), args({Value::Int(-4)})));
  tasks.push_back(tracked_task(results, reference("builtins", "abs"), args({Value::Int(-5)})));
  ASSERT_TRUE(pool->submit(std::move(tasks)).ok());
  EXPECT_TRUE(results->cancel(1));
  results->close();
  std::vector<Result<Value>> all;
  while (true) {
    Result<std::vector<Result<Value>>> taken = results->take_in_order(kWaitLimit, SIZE_MAX);
    ASSERT_TRUE(taken.ok());
    if (taken.value().empty()) break;
    for (auto& item : taken.value()) all.push_back(std::move(item));
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[0].ok());
  EXPECT_EQ(all[1].status().code(), StatusCode::kCancelled);
  EXPECT_EQ(all[2].value().as_int(), 5);
}

TEST(WorkerPoolTest, CancelQueuedEndsTicketsAsCancelled) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto busy = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  auto dropped = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  ASSERT_TRUE(pool->submit(tasks_for(busy, reference("time", "sleep"), {args({Value::Float(0.2)})})).ok());
  std::vector<Value> calls(5, args({Value::Int(1)}));
  ASSERT_TRUE(pool->submit(tasks_for(dropped, reference("builtins", "abs"), calls)).ok());
  EXPECT_EQ(pool->cancel_queued(dropped.get()), 5u);
  dropped->close();
  busy->close();
  for (int i = 0; i < 5; ++i) {
    Result<std::vector<Result<Value>>> taken = dropped->take_in_order(kWaitLimit, SIZE_MAX);
    ASSERT_TRUE(taken.ok());
    ASSERT_EQ(taken.value().size(), 1u);  // failures come one at a time
    EXPECT_EQ(taken.value()[0].status().code(), StatusCode::kCancelled);
  }
  EXPECT_TRUE(take_all_in_order(*dropped).empty());
  EXPECT_EQ(take_all_in_order(*busy).size(), 1u);  // the other stream was left alone
}

TEST(WorkerPoolTest, TakeTimesOutWhileATaskRuns) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("time", "sleep"), {args({Value::Float(0.3)})})).ok());
  EXPECT_EQ(results->take_in_order(0.02, SIZE_MAX).status().code(), StatusCode::kTimeout);
  results->close();
  EXPECT_EQ(take_all_in_order(*results).size(), 1u);
}

TEST(WorkerPoolTest, InitializerRunsInEachWorkerBeforeTasks) {
  // exec(source, {}) sets a flag in each worker's sys module; every task reads it.
  Value initargs = args({Value::Str("import sys; sys.manycore_pool_flag = 41"), Value::Dict({})});
  auto pool = make_pool(2, Value::Reference("builtins", "exec"), initargs);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<Value> calls(20, args({Value::Str("__import__('sys').manycore_pool_flag + 1"), Value::Dict({})}));
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "eval"), calls)).ok());
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  ASSERT_EQ(all.size(), 20u);
  for (const auto& result : all) {
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_EQ(result.value().as_int(), 42);
  }
  EXPECT_TRUE(pool->broken().ok());
}

TEST(WorkerPoolTest, AFailingInitializerBreaksThePool) {
  auto pool = make_pool(1, Value::Reference("builtins", "int"), args({Value::Str("not a number")}));
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<PoolTask> tasks = tasks_for(results, reference("builtins", "abs"), {args({Value::Int(-1)})});
  Status submitted = pool->submit(std::move(tasks));
  if (submitted.ok()) {
    // Queued before the initializer failed: the ticket ends as kBroken.
    results->close();
    std::vector<Result<Value>> all = take_all_in_order(*results);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].status().code(), StatusCode::kBroken);
  }
  for (int spins = 0; spins < 1000 && pool->broken().ok(); ++spins) usleep(1000);
  Status broken = pool->broken();
  EXPECT_EQ(broken.code(), StatusCode::kBroken);
  EXPECT_NE(broken.message().find("ValueError"), std::string::npos) << broken.message();
  auto later = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  EXPECT_EQ(pool->submit(tasks_for(later, reference("builtins", "abs"), {args({Value::Int(1)})})).code(),
            StatusCode::kBroken);
  EXPECT_TRUE(pool->join().ok());
}

TEST(WorkerPoolTest, StopFinishesQueuedWorkAndRefusesNewTasks) {
  auto pool = make_pool(2);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<Value> calls(20, args({Value::Float(0.001)}));
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("time", "sleep"), calls)).ok());
  pool->stop(/*cancel_queued=*/false);
  EXPECT_TRUE(pool->stopped());
  auto late = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  EXPECT_EQ(pool->submit(tasks_for(late, reference("builtins", "abs"), {args({Value::Int(1)})})).code(),
            StatusCode::kClosed);
  EXPECT_TRUE(pool->join().ok());
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  ASSERT_EQ(all.size(), 20u);
  for (const auto& result : all) EXPECT_TRUE(result.ok());
}

TEST(WorkerPoolTest, JoinRightAfterCreateStillRunsQueuedTasks) {
  // A worker's serving loop may still wait in its interpreter's job queue when join()
  // comes: join waits for the loop instead of dropping it with the tasks unrun.
  for (int round = 0; round < 10; ++round) {
    auto pool = make_pool(1);
    ASSERT_TRUE(pool);
    auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
    ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "abs"), {args({Value::Int(-3)})})).ok());
    ASSERT_TRUE(pool->join().ok());
    results->close();
    std::vector<Result<Value>> all = take_all_in_order(*results);
    ASSERT_EQ(all.size(), 1u) << "round " << round;
    EXPECT_EQ(all[0].value().as_int(), 3);
  }
}

TEST(WorkerPoolTest, JoinAllEndsLivePoolsAndDropsQueuedTasks) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<Value> calls(10, args({Value::Float(0.05)}));
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("time", "sleep"), calls)).ok());
  EXPECT_TRUE(WorkerPool::join_all().ok());
  EXPECT_TRUE(pool->stopped());
  results->close();
  std::vector<Result<Value>> all;
  while (true) {
    Result<std::vector<Result<Value>>> taken = results->take_in_order(kWaitLimit, SIZE_MAX);
    ASSERT_TRUE(taken.ok());
    if (taken.value().empty()) break;
    for (auto& item : taken.value()) all.push_back(std::move(item));
  }
  ASSERT_EQ(all.size(), 10u);
  std::set<StatusCode> codes;
  for (const auto& result : all) codes.insert(result.status().code());
  EXPECT_TRUE(codes.count(StatusCode::kCancelled));  // most were still queued
}

TEST(TaskResultsTest, IssueAfterCloseIsRefused) {
  TaskResults results(TaskResults::Order::kArrival);
  results.close();
  EXPECT_EQ(results.issue(1).status().code(), StatusCode::kClosed);
  Result<std::vector<TaskResults::Arrival>> taken = results.take_arrived(0.0);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken.value().empty());  // closed, nothing outstanding: finished
}

TEST(TaskResultsTest, WrongOrderIsAnInvalidArgument) {
  TaskResults ordered(TaskResults::Order::kByTicket);
  TaskResults arrival(TaskResults::Order::kArrival);
  EXPECT_EQ(ordered.take_arrived(0.0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(arrival.take_in_order(0.0, 1).status().code(), StatusCode::kInvalidArgument);
}

// ---- packed chunks ------------------------------------------------------------------

// One task over `items` passed as one list (packed_count), fn(item) each.
PoolTask packed_task(const std::shared_ptr<TaskResults>& results, std::shared_ptr<const Value> callable,
                     std::vector<Value> items) {
  Result<uint64_t> first = results->issue(items.size());
  EXPECT_TRUE(first.ok());
  PoolTask task;
  task.callable = std::move(callable);
  task.packed_count = items.size();
  task.arguments.push_back(Value::List(std::move(items)));
  task.single_argument = true;
  task.first_ticket = first.value();
  task.results = results;
  return task;
}

TEST(TaskResultsTest, APlainChunkComesBackAsOnePackedList) {
  auto pool = make_pool(1);
  ASSERT_NE(pool, nullptr);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket, /*packed_results=*/true);
  std::vector<PoolTask> tasks;
  tasks.push_back(packed_task(results, reference("builtins", "abs"), {Value::Int(-1), Value::Int(-2), Value::Int(3)}));
  ASSERT_TRUE(pool->submit(std::move(tasks)).ok());
  results->close();
  EXPECT_EQ(results->take_in_order(kWaitLimit, SIZE_MAX).status().code(), StatusCode::kInvalidArgument);
  std::vector<int64_t> taken;
  while (true) {
    Result<TaskResults::Run> run = results->take_run_in_order(kWaitLimit, 2);
    ASSERT_TRUE(run.ok()) << run.status().message();
    if (run.value().empty()) break;
    ASSERT_EQ(run.value().packed_count > 0, true) << "a chunk of ints comes back packed";
    EXPECT_LE(run.value().packed_count, 2u);  // max_results slices the packed block
    const std::vector<Value>& list = run.value().packed.items();
    ASSERT_EQ(list.size(), 3u);
    for (size_t i = 0; i < run.value().packed_count; ++i) taken.push_back(list[run.value().packed_from + i].as_int());
  }
  EXPECT_EQ(taken, (std::vector<int64_t>{1, 2, 3}));
}

TEST(TaskResultsTest, APackedChunkWithAFailureComesBackPerTicket) {
  auto pool = make_pool(1);
  ASSERT_NE(pool, nullptr);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket, /*packed_results=*/true);
  std::vector<PoolTask> tasks;
  // abs("x") raises TypeError; the results on either side of it are kept.
  tasks.push_back(packed_task(results, reference("builtins", "abs"), {Value::Int(-4), Value::Str("x"), Value::Int(5)}));
  ASSERT_TRUE(pool->submit(std::move(tasks)).ok());
  results->close();
  std::vector<Result<Value>> all;
  while (true) {
    Result<TaskResults::Run> run = results->take_run_in_order(kWaitLimit, SIZE_MAX);
    ASSERT_TRUE(run.ok());
    if (run.value().empty()) break;
    EXPECT_EQ(run.value().packed_count, 0u);
    for (auto& item : run.value().each) all.push_back(std::move(item));
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].value().as_int(), 4);
  ASSERT_FALSE(all[1].ok());
  ASSERT_NE(all[1].status().remote(), nullptr);
  EXPECT_EQ(all[1].status().remote()->type_qualname, "TypeError");
  EXPECT_EQ(all[2].value().as_int(), 5);
}

TEST(TaskResultsTest, AStreamWithoutPackedResultsGetsOneResultPerTicket) {
  auto pool = make_pool(1);
  ASSERT_NE(pool, nullptr);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<PoolTask> tasks;
  tasks.push_back(packed_task(results, reference("builtins", "abs"), {Value::Int(-7), Value::Int(8)}));
  ASSERT_TRUE(pool->submit(std::move(tasks)).ok());
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].value().as_int(), 7);
  EXPECT_EQ(all[1].value().as_int(), 8);
}

// ---- interrupt_running --------------------------------------------------------------

// A module of Python tasks that run bytecode until interrupted, importable by the
// workers of spinning_pool().
constexpr const char* kSpinModule = R"(import time

def spin(seconds, started):
    open(started, "w").close()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"

def spin_catching(seconds, started):
    try:
        return spin(seconds, started)
    except KeyboardInterrupt:
        return "caught"
)";

std::string spin_directory() {
  const std::string directory = ::testing::TempDir() + "manycore_spin_" + std::to_string(::getpid());
  std::filesystem::create_directories(directory);
  std::ofstream(directory + "/manycore_spin_tasks.py") << kSpinModule;
  return directory;
}

std::shared_ptr<WorkerPool> spinning_pool(size_t workers) {
  PoolOptions options;
  options.workers = workers;
  {
    test::MainGil gil;
    options.interpreter.sys_path = test::main_sys_path();
  }
  options.interpreter.sys_path.insert(options.interpreter.sys_path.begin(), spin_directory());
  Result<std::shared_ptr<WorkerPool>> created = WorkerPool::create(std::move(options));
  EXPECT_TRUE(created.ok()) << created.status().message();
  return created.ok() ? created.take_value() : nullptr;
}

// A fresh path for a task's "started" file; bounded wait for it to appear.
std::string started_path(const char* name) {
  std::string path = spin_directory() + "/" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove(path);
  return path;
}
bool wait_for_file(const std::string& path) {
  for (int i = 0; i < 2000 && !std::filesystem::exists(path); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::filesystem::exists(path);
}

// Runs callable(*arguments) as the one task of a stream of its own; its result.
Result<Value> run_alone(WorkerPool& pool, std::shared_ptr<const Value> callable, Value arguments) {
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  Status submitted = pool.submit(tasks_for(results, std::move(callable), {std::move(arguments)}));
  if (!submitted.ok()) return submitted;
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  if (all.size() != 1) return Status(StatusCode::kInternal, std::to_string(all.size()) + " results for one task");
  return std::move(all[0]);
}

TEST(WorkerPoolTest, InterruptRunningStopsOneStreamsTaskAndCancelsTheRestOfItsChunk) {
  auto pool = spinning_pool(2);
  ASSERT_TRUE(pool);
  auto stopped = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  auto spared = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  const std::string stopped_started = started_path("stopped"), spared_started = started_path("spared");
  auto spin = reference("manycore_spin_tasks", "spin");
  // One chunk of three calls: 60 s (far beyond kWaitLimit) then two that never start.
  std::vector<Value> calls = {args({Value::Float(60), Value::Str(stopped_started)}),
                              args({Value::Float(0), Value::Str(stopped_started)}),
                              args({Value::Float(0), Value::Str(stopped_started)})};
  ASSERT_TRUE(pool->submit(tasks_for(stopped, spin, calls, /*chunk=*/3)).ok());
  ASSERT_TRUE(pool->submit(tasks_for(spared, spin, {args({Value::Float(0.5), Value::Str(spared_started)})})).ok());
  ASSERT_TRUE(wait_for_file(stopped_started));
  ASSERT_TRUE(wait_for_file(spared_started));
  EXPECT_EQ(pool->interrupt_running(stopped.get(), "stopped by the test"), 1u);
  stopped->close();
  spared->close();
  std::vector<Result<Value>> all = take_all_in_order(*stopped);
  ASSERT_EQ(all.size(), 3u);
  for (const auto& result : all) {
    EXPECT_EQ(result.status().code(), StatusCode::kCancelled) << test::describe(result);
    EXPECT_EQ(result.status().message(), "stopped by the test");
  }
  std::vector<Result<Value>> other = take_all_in_order(*spared);
  ASSERT_EQ(other.size(), 1u);
  ASSERT_TRUE(other[0].ok()) << test::describe(other[0]);
  EXPECT_EQ(other[0].value(), Value::Str("finished"));
}

TEST(WorkerPoolTest, ATaskThatCatchesTheInterruptKeepsItsResultAndTheWorkerGoesOn) {
  auto pool = spinning_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  const std::string started = started_path("catching");
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("manycore_spin_tasks", "spin_catching"),
                                     {args({Value::Float(60), Value::Str(started)})}))
                  .ok());
  ASSERT_TRUE(wait_for_file(started));
  EXPECT_EQ(pool->interrupt_running(nullptr, "unused"), 1u);
  results->close();
  std::vector<Result<Value>> caught = take_all_in_order(*results);
  ASSERT_EQ(caught.size(), 1u);
  ASSERT_TRUE(caught[0].ok()) << test::describe(caught[0]);
  EXPECT_EQ(caught[0].value(), Value::Str("caught"));

  // The worker serves the next task, with nothing pending from the interrupt.
  Result<Value> next = run_alone(*pool, reference("manycore_spin_tasks", "spin"),
                                 args({Value::Float(0.05), Value::Str(started)}));
  ASSERT_TRUE(next.ok()) << test::describe(next);
  EXPECT_EQ(next.value(), Value::Str("finished"));
}

TEST(WorkerPoolTest, InterruptRunningOnAnIdlePoolInterruptsNothing) {
  auto pool = make_pool(2);
  ASSERT_TRUE(pool);
  EXPECT_EQ(pool->interrupt_running(nullptr, "nothing runs"), 0u);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  std::vector<Value> calls(20, args({Value::Int(-3)}));
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "abs"), calls)).ok());
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  ASSERT_EQ(all.size(), 20u);
  for (const auto& result : all) EXPECT_TRUE(result.ok()) << test::describe(result);
}

TEST(WorkerPoolTest, StopCancellingThenInterruptEndsThePoolAtOnce) {
  // Pool.terminate(): drop what is queued, interrupt what runs, join.
  auto pool = spinning_pool(1);
  ASSERT_TRUE(pool);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  const std::string started = started_path("terminated");
  std::vector<Value> calls(4, args({Value::Float(60), Value::Str(started)}));
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("manycore_spin_tasks", "spin"), calls)).ok());
  ASSERT_TRUE(wait_for_file(started));
  pool->stop(/*cancel_queued=*/true);
  EXPECT_EQ(pool->interrupt_running(nullptr, "terminated"), 1u);
  EXPECT_TRUE(pool->join().ok());
  results->close();
  std::vector<Result<Value>> all = take_all_in_order(*results);
  ASSERT_EQ(all.size(), 4u);
  for (const auto& result : all) EXPECT_EQ(result.status().code(), StatusCode::kCancelled);
}

TEST(WorkerPoolTest, AWorkerThatCannotStartFailsCreateAndLeavesNothing) {
  size_t live_before = Interpreter::live_count();
  PoolOptions options;
  options.workers = 2;
  options.interpreter.startup_module = "no_such_startup_module_xyz";
  options.interpreter.startup_module_on_first_job = true;  // a pool imports at start all the same
  Result<std::shared_ptr<WorkerPool>> created = WorkerPool::create(std::move(options));
  ASSERT_FALSE(created.ok());
  ASSERT_TRUE(created.status().remote() != nullptr);
  EXPECT_EQ(created.status().remote()->type_qualname, "ModuleNotFoundError");
  EXPECT_EQ(Interpreter::live_count(), live_before);
}

TEST(WorkerPoolTest, WorkersStartTogetherAndServeAtOnce) {
  auto pool = make_pool(3);
  ASSERT_TRUE(pool);
  std::vector<int64_t> ids = pool->interpreter_ids();
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 3u);
  auto results = std::make_shared<TaskResults>(TaskResults::Order::kByTicket);
  ASSERT_TRUE(pool->submit(tasks_for(results, reference("builtins", "abs"), {args({Value::Int(-4)})})).ok());
  Result<std::vector<Result<Value>>> taken = results->take_in_order(30.0, 1);
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  ASSERT_EQ(taken.value().size(), 1u);
  ASSERT_TRUE(taken.value()[0].ok());
  EXPECT_EQ(taken.value()[0].value(), Value::Int(4));
  EXPECT_TRUE(pool->join().ok());
}

}  // namespace
}  // namespace manycore
