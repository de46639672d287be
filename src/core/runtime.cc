// src/core/runtime.cc: the process-wide registry of live interpreters.
#include "manycore/runtime.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "arena_cache.h"
#include "wait.h"

namespace manycore::runtime {
namespace {

// Process-global, C++ only. `mutex` guards `live`; it is never held while waiting
// for a GIL or for a worker thread.
struct Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<Interpreter>> live;  // guarded by mutex, creation order
};

Registry& registry() {
  static Registry* instance = new Registry();  // never destroyed: used by exit hooks
  return *instance;
}

}  // namespace

std::shared_ptr<Interpreter> find(int64_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (const auto& interpreter : r.live) {
    if (interpreter->id() == id) return interpreter;
  }
  return nullptr;
}

std::vector<int64_t> list_ids() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<int64_t> ids;
  for (const auto& interpreter : r.live) ids.push_back(interpreter->id());
  return ids;
}

namespace {

std::vector<std::shared_ptr<Interpreter>> snapshot() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.live;
}

}  // namespace

Status close_all() {
  std::vector<std::shared_ptr<Interpreter>> live = snapshot();
  Status first_failure;
  // Newest first: an interpreter may be using one created before it.
  for (auto it = live.rbegin(); it != live.rend(); ++it) {
    if ((*it)->is_closed()) continue;
    Status closed = (*it)->close(/*even_if_running=*/true);
    if (closed.code() == StatusCode::kInterrupted) return closed;  // the rest stay registered
    if (!closed.ok() && closed.code() != StatusCode::kNotFound && first_failure.ok()) first_failure = closed;
  }
  return first_failure;
}

size_t interrupt_all() {
  size_t interrupted = 0;
  for (const auto& interpreter : snapshot()) {
    Result<bool> raised = interpreter->interrupt();
    if (raised.ok() && raised.value()) ++interrupted;
  }
  return interrupted;
}

namespace {

// Process-global, C++ only: the exit gate (runtime.h). `mutex` guards `exiting` and
// `creating` (an atomic as well, so the wait may read it unlocked while it spins).
struct ExitGate {
  std::mutex mutex;
  std::condition_variable cv;          // begin_exit waits here for creating == 0
  std::atomic<bool> exiting{false};
  std::atomic<size_t> creating{0};
  // The thread that ran begin_exit (the one that finalizes CPython): written once
  // under mutex before exiting is set, read after exiting was seen true.
  std::thread::id exit_thread;
};

ExitGate& exit_gate() {
  static ExitGate* instance = new ExitGate();  // never destroyed: used at exit
  return *instance;
}

}  // namespace

CreationScope::CreationScope() {
  ExitGate& gate = exit_gate();
  {
    std::lock_guard lock(gate.mutex);
    admitted_ = !gate.exiting.load(std::memory_order_relaxed);
    if (admitted_) gate.creating.fetch_add(1, std::memory_order_relaxed);
  }
  // Every interpreter and pool is created inside a scope: the cache is in place before
  // the first worker allocates, so every arena it frees can be reused (arena_cache.h).
  // A no-op after the first call.
  if (admitted_) arena_cache::install();
}

CreationScope::~CreationScope() {
  if (!admitted_) return;
  ExitGate& gate = exit_gate();
  {
    std::lock_guard lock(gate.mutex);
    gate.creating.fetch_sub(1, std::memory_order_release);
  }
  gate.cv.notify_all();
}

Status begin_exit() {
  ExitGate& gate = exit_gate();
  {
    std::lock_guard lock(gate.mutex);
    if (!gate.exiting.load(std::memory_order_relaxed)) gate.exit_thread = std::this_thread::get_id();
    gate.exiting.store(true, std::memory_order_release);
  }
  // A creation in progress may need the main GIL (3.13 imports under it): the wait
  // releases it, and runs signal handlers every slice so Ctrl-C still works.
  return internal::wait_released(
      gate.mutex, gate.cv, [&gate] { return gate.creating.load(std::memory_order_acquire) == 0; }, std::nullopt,
      /*spin=*/false);
}

bool exiting() { return exit_gate().exiting.load(std::memory_order_acquire); }

}  // namespace manycore::runtime

namespace manycore::internal {

bool finalizing_elsewhere() {
  auto& gate = runtime::exit_gate();
  if (!gate.exiting.load(std::memory_order_acquire)) return false;  // no manycore exit hook ran yet
#if PY_VERSION_HEX >= 0x030D0000
  const bool finalizing = Py_IsFinalizing();
#else
  const bool finalizing = _Py_IsFinalizing();
#endif
  return finalizing && std::this_thread::get_id() != gate.exit_thread;
}

void park_forever() {
  while (true) std::this_thread::sleep_for(std::chrono::hours(24));
}

}  // namespace manycore::internal

namespace manycore::runtime {

int64_t current_interpreter_id() {
  PyThreadState* tstate = internal::attached_thread_state();
  if (tstate == nullptr) return -1;
  return PyInterpreterState_GetID(PyThreadState_GetInterpreter(tstate));
}

void register_interpreter(std::shared_ptr<Interpreter> interpreter) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.live.push_back(std::move(interpreter));
}

std::shared_ptr<Interpreter> unregister_interpreter(int64_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = std::find_if(r.live.begin(), r.live.end(), [id](const auto& i) { return i->id() == id; });
  if (it == r.live.end()) return nullptr;
  std::shared_ptr<Interpreter> found = std::move(*it);
  r.live.erase(it);
  return found;
}

}  // namespace manycore::runtime
