// include/manycore/runtime.h: the process-wide registry of live interpreters.
//
// Every Interpreter created through Interpreter::create is registered here until it
// is closed. The registry is C++ only (no PyObject*), guarded by one mutex, so any
// interpreter may look up any other by id. Ids are CPython's and never reused: a
// lookup of a closed interpreter's id returns nullptr.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "manycore/interpreter.h"
#include "manycore/status.h"

namespace manycore::runtime {

std::shared_ptr<Interpreter> find(int64_t id);
// Ids of live interpreters, in creation order.
std::vector<int64_t> list_ids();
// Closes every registered interpreter (waiting for running jobs); for exit hooks.
// Call it from the main interpreter with its GIL held, or from a thread with none.
// kInterrupted (the Python error left set) when a signal handler raised while it
// waited for a running job: the interpreters not closed yet stay registered, so
// interrupt_all() and close_all() again end them.
Status close_all();
// Raises KeyboardInterrupt in the running job of every registered interpreter
// (Interpreter::interrupt); returns how many it interrupted. For exit hooks.
size_t interrupt_all();

// Id of the interpreter whose GIL the calling thread holds, or -1 with none.
int64_t current_interpreter_id();

// The exit gate. Interpreter::create and WorkerPool::create each hold a CreationScope
// while they run; begin_exit() closes the gate and waits until every creation already
// inside it has finished, so close_all() after it sees every interpreter that will
// ever exist. A thread (e.g. a daemon thread) that tries to create one later is
// refused: a worker thread still alive when CPython finalizes would be ended by
// pthread_exit under its own noexcept frames and abort the process.
class CreationScope {
 public:
  CreationScope();
  ~CreationScope();
  CreationScope(const CreationScope&) = delete;
  CreationScope& operator=(const CreationScope&) = delete;
  // False once begin_exit() ran: the caller must not create anything.
  bool admitted() const { return admitted_; }

 private:
  bool admitted_;
};
// Closes the gate (idempotent) and waits, the caller's GIL released, until no
// creation is in progress. kInterrupted (the Python error left set) if a signal
// handler raised meanwhile; calling it again goes on waiting.
Status begin_exit();
// True once begin_exit() was called.
bool exiting();

// Internal: used by Interpreter.
void register_interpreter(std::shared_ptr<Interpreter> interpreter);
std::shared_ptr<Interpreter> unregister_interpreter(int64_t id);

}  // namespace manycore::runtime
