// src/module/register_pool.cc: the worker pool seen from Python (WorkerPool, TaskResults), used by the executors.
//
// manycore._core.WorkerPool wraps a process-wide C++ WorkerPool; manycore._core.TaskResults
// wraps the stream a map call or an executor takes its results from. Both are plain
// per-interpreter wrappers around std::shared_ptr: no PyObject* reaches a worker. The
// Python classes in manycore/_executor.py and manycore/_pool.py build the public API
// on top of these.
#include <new>
#include <optional>
#include <string>

#include "errors.h"
#include "manycore/interpreter.h"
#include "manycore/message.h"
#include "manycore/pool.h"
#include "pyref.h"
#include "state.h"
#include "timeout.h"

namespace manycore::module {

using internal::PyRef;

namespace {

// ---- TaskResults --------------------------------------------------------------------
//
// Lives in the interpreter that created it. Dropping it abandons the stream: queued
// tasks whose results nobody will take are skipped by the workers.
struct ResultsObject {
  PyObject_HEAD
  std::shared_ptr<TaskResults> results;
  PyObject* weakrefs;  // an executor tracks its maps' results weakly (shutdown's cancel_futures)
};

ResultsObject* as_results(PyObject* self) { return reinterpret_cast<ResultsObject*>(self); }

PyObject* results_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"ordered", nullptr};
  int ordered = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:TaskResults", const_cast<char**>(keywords), &ordered)) {
    return nullptr;
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  new (&as_results(self)->results) std::shared_ptr<TaskResults>(
      std::make_shared<TaskResults>(ordered ? TaskResults::Order::kByTicket : TaskResults::Order::kArrival,
                                    /*packed_results=*/true));
  return self;
}

void results_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (as_results(self)->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  as_results(self)->results->abandon();
  as_results(self)->results.~shared_ptr<TaskResults>();
  type->tp_free(self);
  Py_DECREF(type);
}

// (ticket, True, value) for a result decoded here, (ticket, False, exception) for a
// failure, (ticket, None, CancelledError) for a task dropped before it ran; nullptr
// only when even building the exception failed.
PyObject* outcome_triple(ModuleState* state, const Result<Value>& outcome, PyObject* ticket) {
  PyRef payload;
  PyObject* flag = outcome.ok() ? Py_True : Py_False;
  if (outcome.ok()) {
    payload = PyRef::steal(decode(outcome.value()));
    if (!payload) {
      // The value cannot be rebuilt here (e.g. its class does not import): report that.
      flag = Py_False;
      payload = PyRef::steal(PyErr_GetRaisedException());
    }
  } else {
    if (outcome.status().code() == StatusCode::kCancelled) flag = Py_None;
    payload = PyRef::steal(exception_for(state, outcome.status()));
  }
  if (!payload) return nullptr;
  return PyTuple_Pack(3, ticket, flag, payload.get());
}

// take_in_order(timeout=None, max=0) -> list | None
// The next results in ticket order (at least one; [] when timeout passed first), up to
// the first failure, which is raised when it is next. None once the stream is closed
// and every result was taken.
PyObject* results_take_in_order(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", "max", nullptr};
  PyObject* timeout_arg = Py_None;
  Py_ssize_t max_results = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|On:take_in_order", const_cast<char**>(keywords), &timeout_arg,
                                   &max_results)) {
    return nullptr;
  }
  std::optional<double> timeout;
  if (!parse_timeout(timeout_arg, timeout)) return nullptr;
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  Result<TaskResults::Run> taken =
      as_results(self)->results->take_run_in_order(timeout, max_results > 0 ? size_t(max_results) : SIZE_MAX);
  if (!taken.ok()) {
    // A timeout is an answer ([]), not an exception: a task may raise TimeoutError itself.
    if (taken.status().code() == StatusCode::kTimeout) return PyList_New(0);
    return raise_status(state, taken.status());
  }
  TaskResults::Run& run = taken.value();
  if (run.empty()) Py_RETURN_NONE;
  if (run.packed_count > 0) {
    // A whole chunk of plain results: its one list is the batch.
    PyRef list = PyRef::steal(decode(run.packed));
    if (!list) return nullptr;
    if (!PyList_Check(list.get())) return PyErr_Format(PyExc_SystemError, "a packed result is not a list");
    if (run.packed_from == 0 && size_t(PyList_GET_SIZE(list.get())) == run.packed_count) return list.release();
    return PyList_GetSlice(list.get(), Py_ssize_t(run.packed_from), Py_ssize_t(run.packed_from + run.packed_count));
  }
  std::vector<Result<Value>>& outcomes = run.each;
  if (!outcomes.front().ok()) return raise_status(state, outcomes.front().status());
  PyRef list = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(outcomes.size())));
  if (!list) return nullptr;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    PyObject* item = decode(outcomes[i].value());
    if (item == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), item);
  }
  return list.release();
}

// take_arrived(timeout=None) -> list[(ticket, ok, value_or_exception)] | None
// Every result that arrived (at least one; [] when timeout passed first). None once
// the stream is closed and nothing is outstanding.
PyObject* results_take_arrived(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:take_arrived", const_cast<char**>(keywords), &timeout_arg)) {
    return nullptr;
  }
  std::optional<double> timeout;
  if (!parse_timeout(timeout_arg, timeout)) return nullptr;
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  Result<std::vector<TaskResults::Arrival>> taken = as_results(self)->results->take_arrived(timeout);
  if (!taken.ok()) {
    if (taken.status().code() == StatusCode::kTimeout) return PyList_New(0);
    return raise_status(state, taken.status());
  }
  if (taken.value().empty()) Py_RETURN_NONE;
  PyRef list = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(taken.value().size())));
  if (!list) return nullptr;
  Py_ssize_t index = 0;
  for (auto& [ticket_number, outcome] : taken.value()) {
    PyRef ticket = PyRef::steal(PyLong_FromUnsignedLongLong(ticket_number));
    if (!ticket) return nullptr;
    PyObject* item = outcome_triple(state, outcome, ticket.get());
    if (item == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), index++, item);
  }
  return list.release();
}

bool parse_ticket(PyObject* arg, uint64_t& ticket) {
  ticket = PyLong_AsUnsignedLongLong(arg);
  return !(ticket == static_cast<uint64_t>(-1) && PyErr_Occurred());
}

PyObject* results_cancel(PyObject* self, PyObject* arg) {
  uint64_t ticket;
  if (!parse_ticket(arg, ticket)) return nullptr;
  return PyBool_FromLong(as_results(self)->results->cancel(ticket));
}

PyObject* results_running(PyObject* self, PyObject* arg) {
  uint64_t ticket;
  if (!parse_ticket(arg, ticket)) return nullptr;
  return PyBool_FromLong(as_results(self)->results->is_running(ticket));
}

PyObject* results_close(PyObject* self, PyObject*) {
  as_results(self)->results->close();
  Py_RETURN_NONE;
}

PyObject* results_abandon(PyObject* self, PyObject*) {
  as_results(self)->results->abandon();
  Py_RETURN_NONE;
}

// wait_outstanding(count, timeout=None) -> bool: True once at most `count` submitted
// tasks have not ended (or the stream was abandoned), False when timeout passed first.
PyObject* results_wait_outstanding(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"count", "timeout", nullptr};
  Py_ssize_t count;
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|O:wait_outstanding", const_cast<char**>(keywords), &count,
                                   &timeout_arg)) {
    return nullptr;
  }
  if (count < 0) return PyErr_Format(PyExc_ValueError, "count must be >= 0, got %zd", count);
  std::optional<double> timeout;
  if (!parse_timeout(timeout_arg, timeout)) return nullptr;
  Status waited = as_results(self)->results->wait_outstanding_at_most(size_t(count), timeout);
  if (waited.code() == StatusCode::kTimeout) Py_RETURN_FALSE;
  if (!waited.ok()) return raise_status(current_state(), waited);
  Py_RETURN_TRUE;
}

// fail_next(count, message, cancelled=False): issues `count` tickets that end at once,
// in their place in the order, as a NotShareableError with `message` (a lazily
// encoded map's items that could not be sent), or as cancelled.
PyObject* results_fail_next(PyObject* self, PyObject* args) {
  Py_ssize_t count;
  const char* message;
  int cancelled = 0;
  if (!PyArg_ParseTuple(args, "ns|p:fail_next", &count, &message, &cancelled)) return nullptr;
  if (count < 1) return PyErr_Format(PyExc_ValueError, "count must be >= 1, got %zd", count);
  TaskResults& results = *as_results(self)->results;
  Result<uint64_t> first = results.issue(size_t(count));
  if (!first.ok()) return raise_status(current_state(), first.status());
  results.discard(first.value(), size_t(count), /*tracked=*/false,
                  Status(cancelled ? StatusCode::kCancelled : StatusCode::kNotShareable, message));
  Py_RETURN_NONE;
}

PyObject* results_abandoned(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_results(self)->results->abandoned());
}

PyObject* results_outstanding(PyObject* self, void*) {
  return PyLong_FromSize_t(as_results(self)->results->outstanding());
}

PyMethodDef results_methods[] = {
    {"take_in_order", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(results_take_in_order)),
     METH_VARARGS | METH_KEYWORDS,
     "take_in_order(timeout=None, max=0) -> list | None: next results in order ([] on timeout; a failure is "
     "raised when it is next; None when all were taken)."},
    {"take_arrived", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(results_take_arrived)),
     METH_VARARGS | METH_KEYWORDS,
     "take_arrived(timeout=None) -> list[(ticket, ok, value)] | None: results in arrival order; ok is None "
     "for a task dropped before it ran."},
    {"cancel", results_cancel, METH_O, "cancel(ticket) -> bool: drop a submitted task that has not started."},
    {"running", results_running, METH_O, "running(ticket) -> bool: whether a submitted task runs now."},
    {"close", results_close, METH_NOARGS, "close(): no more tasks; takers are told once all results are taken."},
    {"abandon", results_abandon, METH_NOARGS, "abandon(): workers skip queued tasks of this stream."},
    {"abandoned", results_abandoned, METH_NOARGS, "abandoned() -> bool: whether abandon() was called."},
    {"wait_outstanding", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(results_wait_outstanding)),
     METH_VARARGS | METH_KEYWORDS,
     "wait_outstanding(count, timeout=None) -> bool: wait until at most count submitted tasks have not ended."},
    {"fail_next", results_fail_next, METH_VARARGS,
     "fail_next(count, message, cancelled=False): count tickets that end at once as NotShareableError(message) "
     "or cancelled."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef results_getset[] = {
    {"outstanding", results_outstanding, nullptr, "Tasks submitted whose results did not arrive yet.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef results_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(ResultsObject, weakrefs), Py_READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot results_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(results_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(results_dealloc)},
    {Py_tp_methods, results_methods},
    {Py_tp_getset, results_getset},
    {Py_tp_members, results_members},
    {Py_tp_doc, const_cast<char*>("TaskResults(ordered=True): where the results of pool tasks wait to be taken.")},
    {0, nullptr},
};

PyType_Spec results_spec = {
    "manycore._core.TaskResults",
    sizeof(ResultsObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    results_slots,
};

// ---- WorkerPool ---------------------------------------------------------------------
//
// Lives in the interpreter that created it; the C++ pool is joined when the last
// reference goes (normally the Python executors join it explicitly, and at exit).
struct PoolObject {
  PyObject_HEAD
  std::shared_ptr<WorkerPool> pool;
};

PoolObject* as_pool(PyObject* self) { return reinterpret_cast<PoolObject*>(self); }

void pool_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  as_pool(self)->pool.~shared_ptr<WorkerPool>();  // joins if last (GIL released meanwhile)
  type->tp_free(self);
  Py_DECREF(type);
}

// The TaskResults behind `arg`, or nullptr with TypeError.
std::shared_ptr<TaskResults> results_of(ModuleState* state, PyObject* arg) {
  if (!PyObject_TypeCheck(arg, reinterpret_cast<PyTypeObject*>(state->TaskResultsType))) {
    PyErr_Format(PyExc_TypeError, "expected a manycore._core.TaskResults, got %.200s", Py_TYPE(arg)->tp_name);
    return nullptr;
  }
  return as_results(arg)->results;
}

std::shared_ptr<const Value> encode_callable(ModuleState* state, PyObject* callable) {
  if (!PyCallable_Check(callable)) {
    PyErr_Format(PyExc_TypeError, "expected a callable, got %.200s", Py_TYPE(callable)->tp_name);
    return nullptr;
  }
  Result<Value> encoded = encode(callable);
  if (!encoded.ok()) return raise_status(state, encoded.status()), nullptr;
  return std::make_shared<const Value>(encoded.take_value());
}

// Queues tasks whose tickets [first, first + count) were issued by `results`; on
// failure the tickets end with the failure and the exception is raised.
bool submit_or_raise(ModuleState* state, WorkerPool& pool, TaskResults& results, std::vector<PoolTask> tasks,
                     uint64_t first, size_t count, bool tracked) {
  Status submitted = pool.submit(std::move(tasks));
  if (submitted.ok()) return true;
  for (size_t i = 0; i < count; ++i) results.discard(first + i, 1, tracked, submitted);
  raise_status(state, submitted);
  return false;
}

// submit(results, fn, args, kwargs) -> ticket: one call, individually cancellable.
PyObject* pool_submit(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 4) return PyErr_Format(PyExc_TypeError, "submit(results, fn, args, kwargs) takes 4 arguments");
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  std::shared_ptr<TaskResults> results = results_of(state, args[0]);
  if (!results) return nullptr;
  if (!PyTuple_Check(args[2]) || (args[3] != Py_None && !PyDict_Check(args[3]))) {
    return PyErr_Format(PyExc_TypeError, "submit needs a tuple of arguments and a dict of keywords (or None)");
  }
  PoolTask task;
  task.callable = encode_callable(state, args[1]);
  if (!task.callable) return nullptr;
  Result<Value> positional = encode(args[2]);
  if (!positional.ok()) return raise_status(state, positional.status());
  task.arguments.push_back(positional.take_value());
  if (args[3] != Py_None && PyDict_GET_SIZE(args[3]) > 0) {
    Result<Value> keywords = encode(args[3]);
    if (!keywords.ok()) return raise_status(state, keywords.status());
    task.keywords = keywords.take_value();
  }
  Result<uint64_t> ticket = results->issue(1);
  if (!ticket.ok()) return raise_status(state, ticket.status());
  results->track(ticket.value());
  task.first_ticket = ticket.value();
  task.tracked = true;
  task.results = results;
  std::vector<PoolTask> tasks;
  tasks.push_back(std::move(task));
  if (!submit_or_raise(state, *as_pool(self)->pool, *results, std::move(tasks), ticket.value(), 1, true)) {
    return nullptr;
  }
  return PyLong_FromUnsignedLongLong(ticket.value());
}

// submit_map(results, fn, items, chunksize=1, star=False, sized=False) -> count, or
// (count, encoded bytes) with sized
// One call per item (fn(item), or fn(*item) with star), `chunksize` calls per task.
PyObject* pool_submit_map(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"results", "fn", "items", "chunksize", "star", "sized", nullptr};
  PyObject* results_arg;
  PyObject* callable;
  PyObject* items;
  Py_ssize_t chunksize = 1;
  int star = 0;
  int sized = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|npp:submit_map", const_cast<char**>(keywords), &results_arg,
                                   &callable, &items, &chunksize, &star, &sized)) {
    return nullptr;
  }
  if (chunksize < 1) return PyErr_Format(PyExc_ValueError, "chunksize must be >= 1, got %zd", chunksize);
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  std::shared_ptr<TaskResults> results = results_of(state, results_arg);
  if (!results) return nullptr;
  std::shared_ptr<const Value> function = encode_callable(state, callable);
  if (!function) return nullptr;

  // Everything is encoded before any ticket is issued: a bad item fails the whole call.
  // Each chunk is one message: one packed list when its items are all plain values
  // (None, bool, int, float, str, bytes: the worker calls over the list it decodes
  // once), else one segment per item.
  std::vector<PoolTask> tasks;
  size_t count = 0;
  PyRef pending = PyRef::steal(PyList_New(0));  // the items of the chunk being filled
  if (!pending) return nullptr;
  bool pending_plain = !star;
  auto end_chunk = [&]() -> bool {
    Py_ssize_t size = PyList_GET_SIZE(pending.get());
    if (size == 0) return true;
    PoolTask task;
    task.callable = function;
    task.single_argument = !star;
    task.results = results;
    MessageBuilder chunk;
    if (pending_plain && size > 1) {  // one item gains nothing from a list, and would go back alone
      Status encoded = chunk.add(pending.get());
      if (!encoded.ok()) return raise_status(state, encoded), false;
      task.arguments = chunk.finish_values();
      task.packed_count = size_t(size);
    } else {
      for (Py_ssize_t i = 0; i < size; ++i) {
        PyObject* item = PyList_GET_ITEM(pending.get(), i);
        Status encoded;
        if (star) {
          PyRef arguments = PyRef::steal(PySequence_Tuple(item));
          if (!arguments) return false;
          encoded = chunk.add(arguments.get());
        } else {
          encoded = chunk.add(item);
        }
        if (!encoded.ok()) return raise_status(state, encoded), false;
      }
      task.arguments = chunk.finish_values();
    }
    tasks.push_back(std::move(task));
    pending = PyRef::steal(PyList_New(0));
    pending_plain = !star;
    return static_cast<bool>(pending);
  };
  PyRef iterator = PyRef::steal(PyObject_GetIter(items));
  if (!iterator) return nullptr;
  while (PyRef item = PyRef::steal(PyIter_Next(iterator.get()))) {
    pending_plain = pending_plain && internal::is_plain(item.get());
    if (PyList_Append(pending.get(), item.get()) != 0) return nullptr;
    ++count;
    if (PyList_GET_SIZE(pending.get()) == chunksize && !end_chunk()) return nullptr;
  }
  if (PyErr_Occurred()) return nullptr;
  if (!end_chunk()) return nullptr;
  if (count == 0) return sized ? Py_BuildValue("(nn)", Py_ssize_t(0), Py_ssize_t(0)) : PyLong_FromLong(0);

  Result<uint64_t> first = results->issue(count);
  if (!first.ok()) return raise_status(state, first.status());
  uint64_t next_ticket = first.value();
  size_t encoded_bytes = 0;
  for (PoolTask& task : tasks) {
    task.first_ticket = next_ticket;
    next_ticket += task.item_count();
    encoded_bytes += task.arguments.front().message()->byte_size();  // one message per chunk
  }
  if (!submit_or_raise(state, *as_pool(self)->pool, *results, std::move(tasks), first.value(), count, false)) {
    return nullptr;
  }
  if (sized) return Py_BuildValue("(nn)", Py_ssize_t(count), Py_ssize_t(encoded_bytes));
  return PyLong_FromSize_t(count);
}

// The TaskResults an `only` argument names: false with a Python error set if it names
// none; `*only` stays empty for None (every stream).
bool only_results(PyObject* argument, std::shared_ptr<TaskResults>* only) {
  if (argument == Py_None) return true;
  ModuleState* state = current_state();
  if (state == nullptr) return false;
  *only = results_of(state, argument);
  return *only != nullptr;
}

PyObject* pool_cancel_queued(PyObject* self, PyObject* args) {
  PyObject* results_arg = Py_None;
  if (!PyArg_ParseTuple(args, "|O:cancel_queued", &results_arg)) return nullptr;
  std::shared_ptr<TaskResults> only;
  if (!only_results(results_arg, &only)) return nullptr;
  return PyLong_FromSize_t(as_pool(self)->pool->cancel_queued(only.get()));
}

PyObject* pool_interrupt_running(PyObject* self, PyObject* args) {
  PyObject* results_arg = Py_None;
  const char* why = "the task was interrupted";
  if (!PyArg_ParseTuple(args, "|Os:interrupt_running", &results_arg, &why)) return nullptr;
  std::shared_ptr<TaskResults> only;
  if (!only_results(results_arg, &only)) return nullptr;
  return PyLong_FromSize_t(as_pool(self)->pool->interrupt_running(only.get(), why));
}

PyObject* pool_stop(PyObject* self, PyObject* args) {
  int cancel = 0;
  if (!PyArg_ParseTuple(args, "|p:stop", &cancel)) return nullptr;
  as_pool(self)->pool->stop(cancel != 0);
  Py_RETURN_NONE;
}

PyObject* pool_join(PyObject* self, PyObject*) {
  Status joined = as_pool(self)->pool->join();
  if (!joined.ok()) {
    ModuleState* state = current_state();
    return state == nullptr ? nullptr : raise_status(state, joined);
  }
  Py_RETURN_NONE;
}

PyObject* pool_broken(PyObject* self, PyObject*) {
  Status broken = as_pool(self)->pool->broken();
  if (broken.ok()) Py_RETURN_NONE;
  return PyUnicode_FromString(broken.message().c_str());
}

PyObject* pool_size(PyObject* self, void*) { return PyLong_FromSize_t(as_pool(self)->pool->size()); }

PyObject* pool_ids(PyObject* self, void*) {
  std::vector<int64_t> ids = as_pool(self)->pool->interpreter_ids();
  PyRef list = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(ids.size())));
  if (!list) return nullptr;
  for (size_t i = 0; i < ids.size(); ++i) {
    PyObject* id = PyLong_FromLongLong(ids[i]);
    if (id == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), id);
  }
  return list.release();
}

PyObject* pool_stopped(PyObject* self, void*) { return PyBool_FromLong(as_pool(self)->pool->stopped()); }

PyMethodDef pool_methods[] = {
    {"submit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(pool_submit)), METH_FASTCALL,
     "submit(results, fn, args, kwargs) -> int: queue fn(*args, **kwargs); its ticket (cancellable)."},
    {"submit_map", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(pool_submit_map)),
     METH_VARARGS | METH_KEYWORDS,
     "submit_map(results, fn, items, chunksize=1, star=False, sized=False) -> int | (int, int): queue fn over "
     "items, chunksize per task; with sized, also the bytes their encoded chunks hold."},
    {"cancel_queued", pool_cancel_queued, METH_VARARGS,
     "cancel_queued(results=None) -> int: drop queued tasks (of results only); their results become cancelled."},
    {"interrupt_running", pool_interrupt_running, METH_VARARGS,
     "interrupt_running(results=None, why=...) -> int: raise KeyboardInterrupt in the running tasks (of results "
     "only); what they did not finish ends cancelled with why."},
    {"stop", pool_stop, METH_VARARGS, "stop(cancel=False): take no new tasks (dropping queued ones if cancel)."},
    {"join", pool_join, METH_NOARGS, "join(): stop, wait for the workers to finish, end the interpreters."},
    {"broken", pool_broken, METH_NOARGS, "broken() -> str | None: why the pool is broken, or None."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef pool_getset[] = {
    {"size", pool_size, nullptr, "Number of worker interpreters.", nullptr},
    {"interpreter_ids", pool_ids, nullptr, "Ids of the worker interpreters.", nullptr},
    {"stopped", pool_stopped, nullptr, "True once stop() or join() was called.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot pool_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(pool_dealloc)},
    {Py_tp_methods, pool_methods},
    {Py_tp_getset, pool_getset},
    {Py_tp_doc, const_cast<char*>("A pool of worker interpreters sharing one task queue (see create_pool).")},
    {0, nullptr},
};

PyType_Spec pool_spec = {
    "manycore._core.WorkerPool",
    sizeof(PoolObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    pool_slots,
};

// create_pool(workers, initializer=None, initargs=()) -> WorkerPool
PyObject* create_pool_unguarded(PyObject* module, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"workers", "initializer", "initargs", nullptr};
  Py_ssize_t workers;
  PyObject* initializer = Py_None;
  PyObject* initargs = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|OO:create_pool", const_cast<char**>(keywords), &workers,
                                   &initializer, &initargs)) {
    return nullptr;
  }
  ModuleState* state = get_state(module);
  if (workers < 1) return PyErr_Format(PyExc_ValueError, "a pool needs at least one worker, got %zd", workers);
  PoolOptions options;
  options.workers = static_cast<size_t>(workers);
  Result<InterpreterConfig> config = worker_interpreter_config();
  if (!config.ok()) return raise_status(state, config.status());
  options.interpreter = config.take_value();
  if (initializer != Py_None) {
    std::shared_ptr<const Value> function = encode_callable(state, initializer);
    if (!function) return nullptr;
    options.initializer = *function;
    PyRef arguments = PyRef::steal(initargs == nullptr ? PyTuple_New(0) : PySequence_Tuple(initargs));
    if (!arguments) return nullptr;
    Result<Value> encoded = encode(arguments.get());
    if (!encoded.ok()) return raise_status(state, encoded.status());
    options.initargs = encoded.take_value();
  }
  Result<std::shared_ptr<WorkerPool>> created = WorkerPool::create(std::move(options));
  if (!created.ok()) return raise_status(state, created.status());
  auto* type = reinterpret_cast<PyTypeObject*>(state->WorkerPoolType);
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;  // the pool is joined as `created` goes
  new (&as_pool(self)->pool) std::shared_ptr<WorkerPool>(created.take_value());
  return self;
}

PyObject* create_pool(PyObject* module, PyObject* args, PyObject* kwargs) {
  return without_cpp_exceptions([&] { return create_pool_unguarded(module, args, kwargs); });
}

PyMethodDef pool_functions[] = {
    {"create_pool", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(create_pool)),
     METH_VARARGS | METH_KEYWORDS,
     "create_pool(workers, initializer=None, initargs=()) -> WorkerPool: start worker interpreters "
     "(the caller's sys.path; initializer(*initargs) runs once in each)."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_pool(PyObject* module, ModuleState* state) {
  state->WorkerPoolType = PyType_FromModuleAndSpec(module, &pool_spec, nullptr);
  if (state->WorkerPoolType == nullptr) return -1;
  state->TaskResultsType = PyType_FromModuleAndSpec(module, &results_spec, nullptr);
  if (state->TaskResultsType == nullptr) return -1;
  if (PyModule_AddObjectRef(module, "WorkerPool", state->WorkerPoolType) < 0) return -1;
  if (PyModule_AddObjectRef(module, "TaskResults", state->TaskResultsType) < 0) return -1;
  return PyModule_AddFunctions(module, pool_functions);
}

}  // namespace manycore::module
