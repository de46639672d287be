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

// Internal: used by Interpreter.
void register_interpreter(std::shared_ptr<Interpreter> interpreter);
std::shared_ptr<Interpreter> unregister_interpreter(int64_t id);

}  // namespace manycore::runtime
