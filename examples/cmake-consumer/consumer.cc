// examples/cmake-consumer/consumer.cc: embeds CPython and runs math.factorial in two own-GIL interpreters through the installed manycore package.
//
// Exits 0 when both interpreters return 20! and close cleanly; prints what failed
// otherwise. Built by tests/cmake/consumer_test.cmake against a fresh `cmake --install`.
#include <Python.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "manycore/interpreter.h"
#include "manycore/runtime.h"

namespace {

constexpr int64_t kFactorialOf20 = 2432902008176640000;

bool report(const char* what, const manycore::Status& status) {
  std::fprintf(stderr, "%s failed: %s\n", what, status.message().c_str());
  if (status.remote()) std::fprintf(stderr, "%s", status.remote()->traceback.c_str());
  return false;
}

// With the main GIL held: manycore's blocking calls release it while they wait.
bool run() {
  std::vector<std::shared_ptr<manycore::Interpreter>> interpreters;
  for (int i = 0; i < 2; ++i) {
    auto created = manycore::Interpreter::create(manycore::InterpreterConfig{});
    if (!created.ok()) return report("Interpreter::create", created.status());
    interpreters.push_back(created.value());
  }
  const manycore::Value factorial = manycore::Value::Reference("math", "factorial");
  const manycore::Value args = manycore::Value::Tuple({manycore::Value::Int(20)});
  std::vector<std::shared_ptr<manycore::Completion>> running;
  for (const auto& interpreter : interpreters) {
    running.push_back(interpreter->submit_call(factorial, args, manycore::Value::None()));
  }
  bool ok = true;
  for (size_t i = 0; i < running.size(); ++i) {
    manycore::Status waited = running[i]->wait();
    if (!waited.ok()) { ok = report("waiting for math.factorial", waited); continue; }
    manycore::Result<manycore::Value> result = running[i]->take();
    if (!result.ok()) { ok = report("math.factorial", result.status()); continue; }
    if (result.value().kind() != manycore::Value::Kind::kInt || result.value().as_int() != kFactorialOf20) {
      std::fprintf(stderr, "interpreter %lld returned a wrong value for math.factorial(20)\n",
                   static_cast<long long>(interpreters[i]->id()));
      ok = false;
      continue;
    }
    std::printf("interpreter %lld: math.factorial(20) = %lld\n", static_cast<long long>(interpreters[i]->id()),
                static_cast<long long>(result.value().as_int()));
  }
  for (const auto& interpreter : interpreters) {
    manycore::Status closed = interpreter->close();
    if (!closed.ok()) ok = report("Interpreter::close", closed);
  }
  return ok;
}

}  // namespace

int main() {
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);

  bool ok = run();
  if (!manycore::runtime::close_all().ok()) ok = false;  // any interpreter left after an early error
  if (Py_FinalizeEx() < 0) ok = false;
  return ok ? 0 : 1;
}
