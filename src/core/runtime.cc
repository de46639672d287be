// src/core/runtime.cc: the process-wide registry of live interpreters.
#include "manycore/runtime.h"

#include <algorithm>
#include <mutex>

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
