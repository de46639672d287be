// src/module/register_interpreter.cc: interpreter lifecycle and calls (create, close, call, call_async, PendingCall).
#include <atomic>
#include <csignal>
#include <new>
#include <optional>

#include "errors.h"
#include "manycore/interpreter.h"
#include "manycore/message.h"
#include "manycore/pool.h"
#include "manycore/runtime.h"
#include "pyref.h"
#include "state.h"
#include "timeout.h"

namespace manycore::module {

using internal::PyRef;

namespace {

int64_t main_interpreter_id() { return PyInterpreterState_GetID(PyInterpreterState_Main()); }

// The live interpreter `id`, or nullptr with InterpreterNotFoundError (or
// InterpreterError for the main/current interpreter, which manycore does not own).
std::shared_ptr<Interpreter> find_or_raise(ModuleState* state, long long id) {
  std::shared_ptr<Interpreter> interpreter = runtime::find(id);
  if (interpreter) return interpreter;
  if (id == main_interpreter_id() || id == runtime::current_interpreter_id()) {
    PyErr_Format(state->InterpreterError, "interpreter %lld is not a manycore interpreter", id);
  } else {
    PyErr_Format(state->InterpreterNotFoundError, "interpreter %lld does not exist (it was closed or never created)",
                 id);
  }
  return nullptr;
}

// Encodes (callable, args, kwargs); nullopt with NotShareableError raised.
struct EncodedCall {
  Value callable, args, kwargs;
};
std::optional<EncodedCall> encode_call(ModuleState* state, PyObject* callable, PyObject* args, PyObject* kwargs) {
  if (!PyCallable_Check(callable)) {
    PyErr_Format(PyExc_TypeError, "expected a callable, got %.200s", Py_TYPE(callable)->tp_name);
    return std::nullopt;
  }
  if (!PyTuple_Check(args) || (kwargs != Py_None && !PyDict_Check(kwargs))) {
    PyErr_SetString(PyExc_TypeError, "call needs a tuple of arguments and a dict of keywords (or None)");
    return std::nullopt;
  }
  // One message, a segment each: a small call's encoding is mostly allocations.
  MessageBuilder builder;
  for (PyObject* part : {callable, args, kwargs}) {
    if (part == kwargs && kwargs == Py_None) break;
    Status encoded = builder.add(part);
    if (!encoded.ok()) return raise_status(state, encoded), std::nullopt;
  }
  const bool has_kwargs = builder.segment_count() == 3;
  std::shared_ptr<const Message> message = builder.finish();
  EncodedCall call;
  call.callable = Value::Encoded(message, 0);
  call.args = Value::Encoded(message, 1);
  if (has_kwargs) call.kwargs = Value::Encoded(message, 2);
  return call;
}

// ---- PendingCall: the handle of call_async ------------------------------------------
//
// Lives in the calling interpreter. Owns a shared_ptr to the Completion the worker
// sets; the result Value is kept (C++ data) so result() can be asked more than once.
struct PendingCall {
  PyObject_HEAD
  std::shared_ptr<Completion> completion;
  std::optional<Result<Value>> outcome;  // taken from completion once it is done
  bool raise_original;
};

PendingCall* as_pending(PyObject* self) { return reinterpret_cast<PendingCall*>(self); }

void pending_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  as_pending(self)->completion.~shared_ptr<Completion>();
  as_pending(self)->outcome.~optional<Result<Value>>();
  type->tp_free(self);
  Py_DECREF(type);
}

// Waits for the outcome: 1 when ready, 0 on timeout, -1 with an error set.
int pending_wait_for(PyObject* self, PyObject* timeout) {
  PendingCall* pending = as_pending(self);
  if (pending->outcome) return 1;
  std::optional<double> seconds;
  if (!parse_timeout(timeout, seconds)) return -1;
  Status waited = pending->completion->wait(seconds);
  if (waited.code() == StatusCode::kTimeout) return 0;
  if (!waited.ok()) {
    raise_status(current_state(), waited);
    return -1;
  }
  // Another thread of this interpreter may have waited on the same handle and taken
  // the result while this one waited with the GIL released: take it only once.
  if (!pending->outcome) pending->outcome.emplace(pending->completion->take());
  return 1;
}

PyObject* pending_done(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_pending(self)->outcome.has_value() || as_pending(self)->completion->done());
}

PyObject* pending_wait(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", const_cast<char**>(keywords), &timeout)) return nullptr;
  int ready = pending_wait_for(self, timeout);
  if (ready < 0) return nullptr;
  return PyBool_FromLong(ready);
}

PyObject* pending_result(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:result", const_cast<char**>(keywords), &timeout)) return nullptr;
  int ready = pending_wait_for(self, timeout);
  if (ready < 0) return nullptr;
  if (ready == 0) return PyErr_Format(PyExc_TimeoutError, "the call did not finish in time");
  const Result<Value>& outcome = *as_pending(self)->outcome;
  if (!outcome.ok()) {
    ModuleState* state = current_state();
    if (state == nullptr) return nullptr;
    return raise_status(state, outcome.status(),
                        as_pending(self)->raise_original ? RemoteRaise::kOriginal : RemoteRaise::kExecutionFailed);
  }
  return decode(outcome.value());
}

PyObject* pending_exception(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:exception", const_cast<char**>(keywords), &timeout)) {
    return nullptr;
  }
  int ready = pending_wait_for(self, timeout);
  if (ready < 0) return nullptr;
  if (ready == 0) return PyErr_Format(PyExc_TimeoutError, "the call did not finish in time");
  const Result<Value>& outcome = *as_pending(self)->outcome;
  if (outcome.ok()) Py_RETURN_NONE;
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  return exception_for(state, outcome.status(),
                       as_pending(self)->raise_original ? RemoteRaise::kOriginal : RemoteRaise::kExecutionFailed);
}

PyMethodDef pending_methods[] = {
    {"done", pending_done, METH_NOARGS, "True once the call has finished."},
    {"wait", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(pending_wait)), METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool: wait for the call to finish; False if timeout passed first."},
    {"result", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(pending_result)),
     METH_VARARGS | METH_KEYWORDS, "result(timeout=None): the call's return value, or raise its exception."},
    {"exception", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(pending_exception)),
     METH_VARARGS | METH_KEYWORDS, "exception(timeout=None): the exception the call raised, or None."},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot pending_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(pending_dealloc)},
    {Py_tp_methods, pending_methods},
    {Py_tp_doc, const_cast<char*>("Handle of a call running in another interpreter (see call_async).")},
    {0, nullptr},
};

PyType_Spec pending_spec = {
    "manycore._core.PendingCall",
    sizeof(PendingCall),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    pending_slots,
};

// ---- module functions ---------------------------------------------------------------

PyObject* create_unguarded(PyObject* module) {
  ModuleState* state = get_state(module);
  Result<InterpreterConfig> config = worker_interpreter_config();
  if (!config.ok()) return raise_status(state, config.status());
  Result<std::shared_ptr<Interpreter>> created = Interpreter::create(config.value());
  if (!created.ok()) return raise_status(state, created.status());
  return PyLong_FromLongLong(created.value()->id());
}

PyObject* create(PyObject* module, PyObject*) {
  return without_cpp_exceptions([&] { return create_unguarded(module); });
}

PyObject* close_interpreter(PyObject* module, PyObject* arg) {
  ModuleState* state = get_state(module);
  long long id = PyLong_AsLongLong(arg);
  if (id == -1 && PyErr_Occurred()) return nullptr;
  if (id == main_interpreter_id()) return PyErr_Format(state->InterpreterError, "the main interpreter cannot be closed");
  if (id == runtime::current_interpreter_id()) {
    return PyErr_Format(state->InterpreterError, "interpreter %lld cannot close itself", id);
  }
  std::shared_ptr<Interpreter> interpreter = find_or_raise(state, id);
  if (!interpreter) return nullptr;
  Status closed = interpreter->close();
  if (!closed.ok()) return raise_status(state, closed);
  Py_RETURN_NONE;
}

PyObject* interrupt_interpreter(PyObject* module, PyObject* arg) {
  ModuleState* state = get_state(module);
  long long id = PyLong_AsLongLong(arg);
  if (id == -1 && PyErr_Occurred()) return nullptr;
  if (id == runtime::current_interpreter_id()) {
    return PyErr_Format(state->InterpreterError, "interpreter %lld cannot interrupt itself: raise instead", id);
  }
  std::shared_ptr<Interpreter> interpreter = find_or_raise(state, id);
  if (!interpreter) return nullptr;
  Result<bool> raised = interpreter->interrupt();
  if (!raised.ok()) return raise_status(state, raised.status());
  return PyBool_FromLong(raised.value());
}

PyObject* close_all(PyObject* module, PyObject*) {
  // From here on no interpreter or pool can start (a daemon thread may still try), and
  // those being created now are waited for, so the joins below see all of them.
  Status gate_closed = runtime::begin_exit();
  if (!gate_closed.ok()) return raise_status(get_state(module), gate_closed);
  // Worker pools first: their interpreters run serving loops that end only when asked.
  Status pools_joined = WorkerPool::join_all();
  if (!pools_joined.ok()) return raise_status(get_state(module), pools_joined);
  Status closed = runtime::close_all();
  if (!closed.ok()) return raise_status(get_state(module), closed);
  Py_RETURN_NONE;
}

PyObject* interrupt_all(PyObject*, PyObject*) {
  size_t interrupted = WorkerPool::interrupt_all("the task was interrupted at interpreter exit (Ctrl-C)");
  interrupted += runtime::interrupt_all();
  return PyLong_FromSize_t(interrupted);
}

// Called by CPython at the very end of Py_FinalizeEx (Py_AtExit): no Python API here.
// Ends the process the way CPython does after an unhandled KeyboardInterrupt.
void die_of_sigint() {
  std::signal(SIGINT, SIG_DFL);
  std::raise(SIGINT);
}

// exit_as_interrupted(): once finalization is over, the process dies of SIGINT (exit
// status 130 in a shell), as after a KeyboardInterrupt that reached the top level:
// for a Ctrl-C during the exit wait, which ends no script. Main interpreter only.
PyObject* exit_as_interrupted(PyObject* module, PyObject*) {
  static std::atomic<bool> registered{false};  // C++ only: Py_AtExit takes a function once
  if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
    return PyErr_Format(get_state(module)->InterpreterError, "exit_as_interrupted() is for the main interpreter");
  }
  if (!registered.exchange(true) && Py_AtExit(die_of_sigint) < 0) {
    registered = false;
    return PyErr_Format(PyExc_RuntimeError, "no room left for another Py_AtExit function");
  }
  Py_RETURN_NONE;
}

PyObject* live_count(PyObject*, PyObject*) { return PyLong_FromSize_t(Interpreter::live_count()); }

PyObject* list_all(PyObject*, PyObject*) {
  PyRef ids = PyRef::steal(PyList_New(0));
  if (!ids) return nullptr;
  std::vector<int64_t> all = {main_interpreter_id()};
  for (int64_t id : runtime::list_ids()) all.push_back(id);
  for (int64_t id : all) {
    PyRef item = PyRef::steal(PyLong_FromLongLong(id));
    if (!item || PyList_Append(ids.get(), item.get()) < 0) return nullptr;
  }
  return ids.release();
}

PyObject* get_current(PyObject*, PyObject*) { return PyLong_FromLongLong(runtime::current_interpreter_id()); }
PyObject* get_main(PyObject*, PyObject*) { return PyLong_FromLongLong(main_interpreter_id()); }

PyObject* is_running(PyObject* module, PyObject* arg) {
  long long id = PyLong_AsLongLong(arg);
  if (id == -1 && PyErr_Occurred()) return nullptr;
  if (id == runtime::current_interpreter_id()) Py_RETURN_TRUE;  // it is running this
  if (id == main_interpreter_id()) Py_RETURN_TRUE;
  std::shared_ptr<Interpreter> interpreter = find_or_raise(get_state(module), id);
  if (!interpreter) return nullptr;
  return PyBool_FromLong(interpreter->is_running());
}

PyObject* exists(PyObject*, PyObject* arg) {
  long long id = PyLong_AsLongLong(arg);
  if (id == -1 && PyErr_Occurred()) return nullptr;
  return PyBool_FromLong(id == main_interpreter_id() || runtime::find(id) != nullptr);
}

// Shared by call and call_async: parses (id, callable, args, kwargs, raise_original).
struct CallArguments {
  long long id;
  PyObject* callable;
  PyObject* args;
  PyObject* kwargs = Py_None;
  int raise_original = 1;
};
bool parse_call(PyObject* args, PyObject* kwargs, const char* format, CallArguments& out) {
  static const char* keywords[] = {"id", "callable", "args", "kwargs", "raise_original", nullptr};
  return PyArg_ParseTupleAndKeywords(args, kwargs, format, const_cast<char**>(keywords), &out.id, &out.callable,
                                     &out.args, &out.kwargs, &out.raise_original) != 0;
}

PyObject* call_async_unguarded(PyObject* module, PyObject* args, PyObject* kwargs) {
  ModuleState* state = get_state(module);
  CallArguments parsed;
  if (!parse_call(args, kwargs, "LOO|Op:call_async", parsed)) return nullptr;
  std::shared_ptr<Interpreter> interpreter = find_or_raise(state, parsed.id);
  if (!interpreter) return nullptr;
  std::optional<EncodedCall> call = encode_call(state, parsed.callable, parsed.args, parsed.kwargs);
  if (!call) return nullptr;
  auto* type = reinterpret_cast<PyTypeObject*>(state->PendingCallType);
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  PendingCall* pending = as_pending(self);
  new (&pending->completion) std::shared_ptr<Completion>(
      interpreter->submit_call(std::move(call->callable), std::move(call->args), std::move(call->kwargs)));
  new (&pending->outcome) std::optional<Result<Value>>();
  pending->raise_original = parsed.raise_original != 0;
  return self;
}

PyObject* call_async(PyObject* module, PyObject* args, PyObject* kwargs) {
  return without_cpp_exceptions([&] { return call_async_unguarded(module, args, kwargs); });
}

PyObject* call_parsed(PyObject* module, const CallArguments& parsed) {
  ModuleState* state = get_state(module);
  std::shared_ptr<Interpreter> interpreter = find_or_raise(state, parsed.id);
  if (!interpreter) return nullptr;
  std::optional<EncodedCall> encoded = encode_call(state, parsed.callable, parsed.args, parsed.kwargs);
  if (!encoded) return nullptr;
  Result<Value> result =
      interpreter->call(std::move(encoded->callable), std::move(encoded->args), std::move(encoded->kwargs));
  if (!result.ok()) {
    return raise_status(state, result.status(),
                        parsed.raise_original ? RemoteRaise::kOriginal : RemoteRaise::kExecutionFailed);
  }
  return decode(result.value());
}

PyObject* call_unguarded(PyObject* module, PyObject* args, PyObject* kwargs) {
  CallArguments parsed;
  if (!parse_call(args, kwargs, "LOO|Op:call", parsed)) return nullptr;
  return call_parsed(module, parsed);
}

// call(id, callable, args, kwargs=None, raise_original=True). Interpreter.call passes
// the first four by position: that case is read straight from the vector (the
// keyword parser's tuple and format string cost a tenth of a small call); any other
// goes through the parser, for its checks and messages.
PyObject* call(PyObject* module, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return without_cpp_exceptions([&]() -> PyObject* {
    if (kwnames == nullptr && nargs == 4 && PyLong_CheckExact(args[0])) {
      long long id = PyLong_AsLongLong(args[0]);
      if (id == -1 && PyErr_Occurred()) return nullptr;
      CallArguments parsed{id, args[1], args[2], args[3], 1};
      return call_parsed(module, parsed);
    }
    PyRef positional = PyRef::steal(PyTuple_New(nargs));
    if (!positional) return nullptr;
    for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(positional.get(), i, Py_NewRef(args[i]));
    PyRef keywords;
    if (kwnames != nullptr) {
      keywords = PyRef::steal(PyDict_New());
      if (!keywords) return nullptr;
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
        if (PyDict_SetItem(keywords.get(), PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) return nullptr;
      }
    }
    return call_unguarded(module, positional.get(), keywords.get());
  });
}

PyMethodDef interpreter_functions[] = {
    {"create", create, METH_NOARGS, "create() -> int: start a new isolated interpreter (own GIL); its id."},
    {"close", close_interpreter, METH_O, "close(id): end an idle interpreter."},
    {"close_all", close_all, METH_NOARGS,
     "close_all(): end every manycore interpreter and pool (waits for running calls; Ctrl-C interrupts the wait)."},
    {"interrupt_all", interrupt_all, METH_NOARGS,
     "interrupt_all() -> int: KeyboardInterrupt in every running call and pool task; how many."},
    {"exit_as_interrupted", exit_as_interrupted, METH_NOARGS,
     "exit_as_interrupted(): after finalization the process dies of SIGINT, as after an unhandled Ctrl-C."},
    {"live_count", live_count, METH_NOARGS,
     "live_count() -> int: manycore interpreters that exist now, pool workers included."},
    {"list_all", list_all, METH_NOARGS, "list_all() -> list[int]: the main interpreter and live manycore ones."},
    {"get_current", get_current, METH_NOARGS, "get_current() -> int: id of the calling interpreter."},
    {"get_main", get_main, METH_NOARGS, "get_main() -> int: id of the main interpreter."},
    {"is_running", is_running, METH_O, "is_running(id) -> bool: whether a call runs or waits in it."},
    {"interrupt", interrupt_interpreter, METH_O,
     "interrupt(id) -> bool: raise KeyboardInterrupt in the call running there; whether one ran."},
    {"exists", exists, METH_O, "exists(id) -> bool: whether the interpreter is alive."},
    {"call", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call)), METH_FASTCALL | METH_KEYWORDS,
     "call(id, callable, args, kwargs=None, raise_original=True): run callable(*args, **kwargs) there; "
     "the caller's GIL is released while it waits."},
    {"call_async", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call_async)),
     METH_VARARGS | METH_KEYWORDS, "call_async(id, callable, args, kwargs=None, raise_original=True) -> PendingCall"},
    {nullptr, nullptr, 0, nullptr},
};

Result<std::vector<std::string>> current_sys_path() {
  PyObject* path = PySys_GetObject("path");  // borrowed
  std::vector<std::string> entries;
  if (path == nullptr || !PyList_Check(path)) return entries;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(path); ++i) {
    PyObject* entry = PyList_GET_ITEM(path, i);
    if (!PyUnicode_Check(entry)) continue;
    PyRef encoded = PyRef::steal(PyUnicode_EncodeFSDefault(entry));
    if (!encoded) return capture_python_error();
    entries.emplace_back(PyBytes_AS_STRING(encoded.get()), PyBytes_GET_SIZE(encoded.get()));
  }
  return entries;
}

}  // namespace

Result<InterpreterConfig> worker_interpreter_config() {
  Result<std::vector<std::string>> path = current_sys_path();
  if (!path.ok()) return path.take_status();
  InterpreterConfig config;
  config.sys_path = path.take_value();
  config.startup_module = "manycore._worker";
  // What a worker needs (the codec hooks, the import hint) matters only once it runs
  // something: create() and close() of an idle one cost what the stdlib's do.
  config.startup_module_on_first_job = true;
  config.end_hook = "before_end";
  return config;
}

int register_interpreter(PyObject* module, ModuleState* state) {
  state->PendingCallType = PyType_FromModuleAndSpec(module, &pending_spec, nullptr);
  if (state->PendingCallType == nullptr) return -1;
  return PyModule_AddFunctions(module, interpreter_functions);
}

}  // namespace manycore::module
