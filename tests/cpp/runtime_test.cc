// tests/cpp/runtime_test.cc: the process-wide registry (find, list_ids, close_all, current_interpreter_id).
#include "manycore/runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "gate.h"
#include "python_env.h"

namespace manycore {
namespace {

using test::Gate;
using test::MainGil;

bool contains(const std::vector<int64_t>& ids, int64_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

TEST(RuntimeTest, FindReturnsTheLiveInterpreter) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  EXPECT_EQ(runtime::find(worker->id()), worker);
  EXPECT_EQ(runtime::find(0), nullptr);   // the main interpreter is not a manycore worker
  EXPECT_EQ(runtime::find(-1), nullptr);
  EXPECT_EQ(runtime::find(worker->id() + 1000), nullptr);
  const int64_t id = worker->id();
  ASSERT_TRUE(worker->close().ok());
  EXPECT_EQ(runtime::find(id), nullptr);
}

TEST(RuntimeTest, ListIdsInCreationOrderWithoutClosedOnes) {
  auto first = test::create_or_fail();
  auto second = test::create_or_fail();
  auto third = test::create_or_fail();
  ASSERT_TRUE(first && second && third);
  std::vector<int64_t> ids = runtime::list_ids();
  auto position = [&ids](int64_t id) { return std::find(ids.begin(), ids.end(), id) - ids.begin(); };
  ASSERT_TRUE(contains(ids, first->id()) && contains(ids, second->id()) && contains(ids, third->id()));
  EXPECT_LT(position(first->id()), position(second->id()));
  EXPECT_LT(position(second->id()), position(third->id()));

  ASSERT_TRUE(second->close().ok());
  ids = runtime::list_ids();
  EXPECT_TRUE(contains(ids, first->id()));
  EXPECT_FALSE(contains(ids, second->id()));
  EXPECT_TRUE(contains(ids, third->id()));
  EXPECT_TRUE(first->close().ok());
  EXPECT_TRUE(third->close().ok());
}

TEST(RuntimeTest, RegistryIsReadableFromManyThreadsAtOnce) {
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  const int64_t id = worker->id();
  std::atomic<int> found{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&found, id] {
      for (int i = 0; i < 500; ++i) {
        if (runtime::find(id) != nullptr && contains(runtime::list_ids(), id)) found.fetch_add(1);
      }
    });
  }
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(found.load(), 2000);
  EXPECT_TRUE(worker->close().ok());
}

TEST(RuntimeTest, CloseAllClosesEveryInterpreterWaitingForRunningJobs) {
  auto older = test::create_or_fail();
  auto newer = test::create_or_fail();
  ASSERT_TRUE(older && newer);
  Gate started, release;
  auto held = older->submit([&]() -> Result<Value> {
    started.open();
    return release.wait() ? Result<Value>(Value::Int(1)) : Result<Value>(StatusCode::kTimeout, "never released");
  });
  auto queued = older->submit([] { return Result<Value>(Value::Int(2)); });
  ASSERT_TRUE(started.wait());

  Status closed(StatusCode::kInternal, "not run");
  std::thread closer([&closed] { closed = runtime::close_all(); });
  // The queued job fails once close_all reached `older`; the held one still runs.
  ASSERT_TRUE(queued->wait(30.0).ok());
  EXPECT_EQ(queued->take().status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(newer->is_closed());  // newest first: `newer` was closed before `older`
  EXPECT_FALSE(older->is_closed());
  release.open();
  closer.join();
  EXPECT_TRUE(closed.ok()) << closed.message();
  EXPECT_TRUE(older->is_closed());
  EXPECT_TRUE(runtime::list_ids().empty());
  EXPECT_EQ(runtime::find(older->id()), nullptr);
  ASSERT_TRUE(held->wait(30.0).ok());
  Result<Value> held_result = held->take();
  ASSERT_TRUE(held_result.ok());
  EXPECT_EQ(held_result.value(), Value::Int(1));
  EXPECT_TRUE(runtime::close_all().ok());  // nothing left: still fine
}

TEST(RuntimeTest, CloseAllWithTheMainGilHeld) {
  auto first = test::create_or_fail();
  auto second = test::create_or_fail();
  ASSERT_TRUE(first && second);
  MainGil gil;
  EXPECT_TRUE(runtime::close_all().ok());
  EXPECT_TRUE(first->is_closed());
  EXPECT_TRUE(second->is_closed());
  EXPECT_TRUE(runtime::list_ids().empty());
  EXPECT_EQ(PyThreadState_Get(), test::main_thread_state());
}

TEST(RuntimeTest, CurrentInterpreterIdFollowsTheHeldGil) {
  EXPECT_EQ(runtime::current_interpreter_id(), -1);  // no thread state attached
  {
    MainGil gil;
    EXPECT_EQ(runtime::current_interpreter_id(), 0);
  }
  EXPECT_EQ(runtime::current_interpreter_id(), -1);
  auto worker = test::create_or_fail();
  ASSERT_TRUE(worker);
  auto completion = worker->submit([] { return Result<Value>(Value::Int(runtime::current_interpreter_id())); });
  ASSERT_TRUE(completion->wait(30.0).ok());
  Result<Value> seen = completion->take();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen.value(), Value::Int(worker->id()));
  EXPECT_TRUE(worker->close().ok());
}

TEST(RuntimeTest, AnInterpreterFindsAnotherAndSubmitsToIt) {
  auto caller = test::create_or_fail();
  auto target = test::create_or_fail();
  ASSERT_TRUE(caller && target);
  const int64_t target_id = target->id();
  // From inside caller's job (its GIL held), look target up by id and call into it.
  auto completion = caller->submit([target_id]() -> Result<Value> {
    std::shared_ptr<Interpreter> found = runtime::find(target_id);
    if (!found) return Status(StatusCode::kNotFound, "target not registered");
    return found->call(Value::Reference("builtins", "pow"), Value::Tuple({Value::Int(2), Value::Int(10)}));
  });
  ASSERT_TRUE(completion->wait(30.0).ok());
  Result<Value> result = completion->take();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value(), Value::Int(1024));
  EXPECT_TRUE(caller->close().ok());
  EXPECT_TRUE(target->close().ok());
}

TEST(RuntimeTest, AnInterpreterCreatesAndClosesAnother) {
  auto parent = test::create_or_fail();
  ASSERT_TRUE(parent);
  const int64_t parent_id = parent->id();
  // Inside parent's job (its GIL held): create, use and close a child interpreter.
  auto completion = parent->submit([parent_id]() -> Result<Value> {
    Result<std::shared_ptr<Interpreter>> child = Interpreter::create();
    if (!child.ok()) return child.take_status();
    if (runtime::current_interpreter_id() != parent_id) return Status(StatusCode::kInternal, "parent GIL not back");
    Result<Value> called = child.value()->call(Value::Reference("builtins", "max"), Value::Tuple({Value::Int(3), Value::Int(9)}));
    Status closed = child.value()->close();
    if (!closed.ok()) return closed;
    if (!called.ok()) return called;
    return Value::Tuple({called.value(), Value::Int(child.value()->id())});
  });
  ASSERT_TRUE(completion->wait(30.0).ok());
  Result<Value> result = completion->take();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value().items()[0], Value::Int(9));
  EXPECT_GT(result.value().items()[1].as_int(), parent_id);
  EXPECT_EQ(runtime::find(result.value().items()[1].as_int()), nullptr);
  EXPECT_TRUE(parent->close().ok());
}

}  // namespace
}  // namespace manycore
