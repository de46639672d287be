// src/module/register_queue.cc: manycore._core.Queue (wrapper of the process-wide Queue), QueueWatch, select().
//
// Lifetime and threading rules: each interpreter has its own Queue type (module
// state); an instance is a SharedWrapper owning a std::shared_ptr to the C++ Queue, so
// every interpreter holding a wrapper keeps the queue alive. Instances are touched
// only under their interpreter's GIL; blocking calls release it while they wait.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "manycore/notifier.h"
#include "manycore/queue.h"
#include "pyref.h"
#include "state.h"
#include "timeout.h"

namespace manycore::module {

using internal::PyRef;

namespace {

Queue& queue_of(PyObject* self) { return static_cast<Queue&>(*reinterpret_cast<SharedWrapper*>(self)->object); }
std::shared_ptr<Queue> shared_queue_of(PyObject* self) {
  return std::static_pointer_cast<Queue>(reinterpret_cast<SharedWrapper*>(self)->object);
}

PyObject* raise_queue_status(const Status& status) {
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  return raise_status(state, status, ErrorDomain::kQueue);
}

// ---- Queue --------------------------------------------------------------------------

// Queue(id, /): the existing queue with that id (PEP 734); Queue() or
// Queue(maxsize=N): a new one (queue.Queue's spelling; create_queue(maxsize) too).
PyObject* queue_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  Py_ssize_t positional = PyTuple_GET_SIZE(args);
  bool has_keywords = kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0;
  if (positional > 1 || (positional == 1 && has_keywords)) {
    return PyErr_Format(PyExc_TypeError,
                        "Queue(id) takes one queue id and attaches to that queue; create a new queue with "
                        "create_queue(maxsize) or Queue(maxsize=N)");
  }
  if (positional == 1) {
    PyObject* id_arg = PyTuple_GET_ITEM(args, 0);
    if (PyBool_Check(id_arg) || !PyLong_Check(id_arg)) {
      return PyErr_Format(PyExc_TypeError, "queue id must be an int, not %.200s (create a queue with "
                          "create_queue(maxsize) or Queue(maxsize=N))", Py_TYPE(id_arg)->tp_name);
    }
    int overflow = 0;
    long long id = PyLong_AsLongLongAndOverflow(id_arg, &overflow);
    if (id == -1 && PyErr_Occurred()) return nullptr;
    if (overflow != 0) id = -1;  // no queue has an id beyond int64
    Result<std::shared_ptr<Queue>> found = Queue::find(id);
    if (!found.ok()) return raise_queue_status(found.status());
    return new_shared_wrapper(type, found.take_value());
  }
  static const char* keywords[] = {"maxsize", nullptr};
  PyObject* maxsize_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$O:Queue", const_cast<char**>(keywords), &maxsize_arg)) {
    return nullptr;
  }
  long long maxsize = 0;
  if (maxsize_arg != nullptr) {
    if (PyBool_Check(maxsize_arg) || !PyLong_Check(maxsize_arg)) {
      return PyErr_Format(PyExc_TypeError, "maxsize must be an int, not %.200s", Py_TYPE(maxsize_arg)->tp_name);
    }
    int overflow = 0;
    maxsize = PyLong_AsLongLongAndOverflow(maxsize_arg, &overflow);
    if (maxsize == -1 && PyErr_Occurred()) return nullptr;
    if (overflow > 0) {
      return PyErr_Format(PyExc_ValueError, "maxsize must be at most 2**63-1 (or <= 0 for unbounded), got %R",
                          maxsize_arg);
    }
    if (overflow < 0 || maxsize < 0) maxsize = 0;  // as queue.Queue and PEP 734: <= 0 is unbounded
  }
  return new_shared_wrapper(type, std::make_shared<Queue>(static_cast<size_t>(maxsize)));
}

// Parses (block=True, timeout=None) after `leading` positional names.
bool parse_block_timeout(PyObject* args, PyObject* kwargs, const char* format, const char** keywords,
                         PyObject** leading, bool& block, std::optional<double>& timeout) {
  int block_flag = 1;
  PyObject* timeout_arg = Py_None;
  bool parsed = leading != nullptr
                    ? PyArg_ParseTupleAndKeywords(args, kwargs, format, const_cast<char**>(keywords), leading,
                                                  &block_flag, &timeout_arg)
                    : PyArg_ParseTupleAndKeywords(args, kwargs, format, const_cast<char**>(keywords), &block_flag,
                                                  &timeout_arg);
  if (!parsed || !parse_timeout(timeout_arg, timeout)) return false;
  block = block_flag != 0;
  return true;
}

PyObject* put_value(PyObject* self, PyObject* obj, bool block, std::optional<double> timeout) {
  Result<Value> encoded = encode(obj);
  if (!encoded.ok()) return raise_queue_status(encoded.status());  // the queue is unchanged
  Status put = queue_of(self).put(encoded.take_value(), block, timeout);
  if (!put.ok()) return raise_queue_status(put);
  Py_RETURN_NONE;
}

PyObject* get_value(PyObject* self, bool block, std::optional<double> timeout) {
  Result<Value> got = queue_of(self).get(block, timeout);
  if (!got.ok()) return raise_queue_status(got.status());
  return decode(got.value());
}

PyObject* queue_put(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"obj", "block", "timeout", nullptr};
  PyObject* obj = nullptr;
  bool block;
  std::optional<double> timeout;
  if (!parse_block_timeout(args, kwargs, "O|pO:put", keywords, &obj, block, timeout)) return nullptr;
  return put_value(self, obj, block, timeout);
}

PyObject* queue_put_nowait(PyObject* self, PyObject* obj) { return put_value(self, obj, false, std::nullopt); }

PyObject* queue_get(PyObject* self, PyObject* args, PyObject* kwargs) {
  bool block = true;
  std::optional<double> timeout;
  if (PyTuple_GET_SIZE(args) != 0 || kwargs != nullptr) {  // get() with no arguments skips parsing
    static const char* keywords[] = {"block", "timeout", nullptr};
    if (!parse_block_timeout(args, kwargs, "|pO:get", keywords, nullptr, block, timeout)) return nullptr;
  }
  return get_value(self, block, timeout);
}

PyObject* queue_get_nowait(PyObject* self, PyObject*) { return get_value(self, false, std::nullopt); }

PyObject* queue_iternext(PyObject* self) {
  Result<Value> got = queue_of(self).get(true, std::nullopt);
  if (got.status().code() == StatusCode::kClosed) return nullptr;  // StopIteration: closed and drained
  if (!got.ok()) return raise_queue_status(got.status());
  return decode(got.value());
}

PyObject* queue_qsize(PyObject* self, PyObject*) { return PyLong_FromSize_t(queue_of(self).size()); }
PyObject* queue_empty(PyObject* self, PyObject*) { return PyBool_FromLong(queue_of(self).size() == 0); }
PyObject* queue_full(PyObject* self, PyObject*) {
  const Queue& queue = queue_of(self);
  return PyBool_FromLong(queue.maxsize() != 0 && queue.size() >= queue.maxsize());
}
PyObject* queue_close(PyObject* self, PyObject*) {
  queue_of(self).close();
  Py_RETURN_NONE;
}

PyObject* queue_watch(PyObject* self, PyObject* arg);

PyObject* queue_get_id(PyObject* self, void*) { return PyLong_FromLongLong(queue_of(self).id()); }
PyObject* queue_get_maxsize(PyObject* self, void*) { return PyLong_FromSize_t(queue_of(self).maxsize()); }
PyObject* queue_get_closed(PyObject* self, void*) { return PyBool_FromLong(queue_of(self).is_closed()); }

PyObject* queue_repr(PyObject* self) {
  const Queue& queue = queue_of(self);
  return PyUnicode_FromFormat("<manycore.Queue id=%lld maxsize=%zu size=%zu%s>",
                              static_cast<long long>(queue.id()), queue.maxsize(), queue.size(),
                              queue.is_closed() ? " closed" : "");
}

// Wrappers in different interpreters (or made at different times) of one queue are equal.
PyObject* queue_richcompare(PyObject* self, PyObject* other, int op) {
  if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(other, Py_TYPE(self))) Py_RETURN_NOTIMPLEMENTED;
  bool same = &queue_of(self) == &queue_of(other);
  return PyBool_FromLong(op == Py_EQ ? same : !same);
}

Py_hash_t queue_hash(PyObject* self) {
  Py_hash_t hash = static_cast<Py_hash_t>(queue_of(self).id());
  return hash == -1 ? -2 : hash;
}

PyObject* iter_self(PyObject* self) { return Py_NewRef(self); }

// Pickled by id, as PEP 734 queues are: unpickling in any interpreter of this process
// attaches to the same queue while it lives (QueueNotFoundError once it is gone).
PyObject* queue_reduce(PyObject* self, PyObject*) {
  return Py_BuildValue("(O(L))", reinterpret_cast<PyObject*>(Py_TYPE(self)), static_cast<long long>(queue_of(self).id()));
}

#define MANYCORE_KW(function) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function))

PyMethodDef queue_methods[] = {
    {"put", MANYCORE_KW(queue_put), METH_VARARGS | METH_KEYWORDS,
     "put(obj, block=True, timeout=None): append obj (copied across interpreters). QueueFull if there is no room "
     "(without block, or once timeout seconds passed); QueueClosed after close(); NotShareableError if obj "
     "cannot cross interpreters (the queue is unchanged)."},
    {"put_nowait", queue_put_nowait, METH_O, "put_nowait(obj): put(obj, block=False)."},
    {"get", MANYCORE_KW(queue_get), METH_VARARGS | METH_KEYWORDS,
     "get(block=True, timeout=None): remove and return the oldest item. QueueEmpty if none (without block, or once "
     "timeout seconds passed); QueueClosed once closed and drained. The GIL is released while waiting."},
    {"get_nowait", queue_get_nowait, METH_NOARGS, "get_nowait(): get(block=False)."},
    {"qsize", queue_qsize, METH_NOARGS, "qsize() -> int: items in the queue now."},
    {"empty", queue_empty, METH_NOARGS, "empty() -> bool: whether the queue holds no item now."},
    {"full", queue_full, METH_NOARGS, "full() -> bool: whether a bounded queue has no room now."},
    {"close", queue_close, METH_NOARGS,
     "close(): refuse further puts (QueueClosed); gets drain the remaining items, then raise QueueClosed; "
     "iteration ends. Every blocked call wakes up. Idempotent; affects every interpreter."},
    {"__reduce__", queue_reduce, METH_NOARGS, "Pickled by id: unpickling attaches to the same live queue."},
    {"_watch", queue_watch, METH_O,
     "_watch(event) -> QueueWatch: a pipe that becomes readable when an item is put ('get') or taken ('put'), "
     "or the queue closes (for event loops)."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef queue_getset[] = {
    {"id", queue_get_id, nullptr, "Process-unique id of the queue (the same in every interpreter).", nullptr},
    {"maxsize", queue_get_maxsize, nullptr, "The bound given at creation (0: unbounded).", nullptr},
    {"closed", queue_get_closed, nullptr, "Whether close() was called.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef queue_members[] = {
    SHARED_WRAPPER_WEAKREF_MEMBER,
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot queue_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(queue_new)},
    {Py_tp_members, queue_members},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, queue_methods},
    {Py_tp_getset, queue_getset},
    {Py_tp_repr, reinterpret_cast<void*>(queue_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(queue_richcompare)},
    {Py_tp_hash, reinterpret_cast<void*>(queue_hash)},
    {Py_tp_iter, reinterpret_cast<void*>(iter_self)},
    {Py_tp_iternext, reinterpret_cast<void*>(queue_iternext)},
    {Py_tp_doc, const_cast<char*>("Queue(id): the existing queue with that id; Queue(maxsize=0): a new FIFO shared "
                                  "by every interpreter of the process.")},
    {0, nullptr},
};

// BASETYPE so manycore.Queue (Python) can add asyncio methods; such subclasses keep
// the SharedWrapper layout (__slots__ = ()), which use_wrapper_class checks.
PyType_Spec queue_spec = {
    "manycore._core.Queue",
    sizeof(SharedWrapper),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    queue_slots,
};

// ---- QueueWatch: a Notifier with a pipe, subscribed to one queue --------------------

struct QueueWatch {
  PyObject_HEAD
  std::shared_ptr<Queue> queue;        // null once closed
  std::shared_ptr<Notifier> notifier;  // null once closed
};

QueueWatch* as_watch(PyObject* self) { return reinterpret_cast<QueueWatch*>(self); }

void watch_unsubscribe(QueueWatch* watch) {
  if (watch->queue) watch->queue->unsubscribe(watch->notifier.get());
  watch->queue.reset();
  watch->notifier.reset();
}

void watch_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  watch_unsubscribe(as_watch(self));
  as_watch(self)->queue.~shared_ptr<Queue>();
  as_watch(self)->notifier.~shared_ptr<Notifier>();
  type->tp_free(self);
  Py_DECREF(type);
}

PyObject* watch_fileno(PyObject* self, PyObject*) {
  if (!as_watch(self)->notifier) return PyErr_Format(PyExc_ValueError, "the QueueWatch is closed");
  return PyLong_FromLong(as_watch(self)->notifier->read_fd());
}

PyObject* watch_take(PyObject* self, PyObject*) {
  if (!as_watch(self)->notifier) return PyErr_Format(PyExc_ValueError, "the QueueWatch is closed");
  return PyBool_FromLong(as_watch(self)->notifier->take());
}

PyObject* watch_close(PyObject* self, PyObject*) {
  watch_unsubscribe(as_watch(self));
  Py_RETURN_NONE;
}

PyMethodDef watch_methods[] = {
    {"fileno", watch_fileno, METH_NOARGS, "fileno() -> int: the pipe's read end, for loop.add_reader()."},
    {"take", watch_take, METH_NOARGS, "take() -> bool: clear (and drain) the signal; whether it was set."},
    {"close", watch_close, METH_NOARGS, "close(): unsubscribe from the queue and close the pipe."},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot watch_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(watch_dealloc)},
    {Py_tp_methods, watch_methods},
    {Py_tp_doc, const_cast<char*>("A pipe signalled by one queue (see Queue._watch); used by get_async/put_async.")},
    {0, nullptr},
};

PyType_Spec watch_spec = {
    "manycore._core.QueueWatch",
    sizeof(QueueWatch),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    watch_slots,
};

PyObject* queue_watch(PyObject* self, PyObject* arg) {
  const char* event_name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : nullptr;
  if (event_name == nullptr && PyErr_Occurred()) return nullptr;
  std::string event = event_name != nullptr ? event_name : "";
  if (event != "get" && event != "put") return PyErr_Format(PyExc_ValueError, "event must be 'get' or 'put', not %R", arg);
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  Result<std::shared_ptr<Notifier>> notifier = Notifier::with_pipe();
  if (!notifier.ok()) return raise_status(state, notifier.status(), ErrorDomain::kQueue);
  auto* type = reinterpret_cast<PyTypeObject*>(state->QueueWatchType);
  PyObject* watch = type->tp_alloc(type, 0);
  if (watch == nullptr) return nullptr;
  new (&as_watch(watch)->queue) std::shared_ptr<Queue>(shared_queue_of(self));
  new (&as_watch(watch)->notifier) std::shared_ptr<Notifier>(notifier.take_value());
  as_watch(watch)->queue->subscribe(as_watch(watch)->notifier,
                                    event == "get" ? Queue::Event::kReadable : Queue::Event::kWritable);
  return watch;
}

// ---- select -------------------------------------------------------------------------

PyObject* select_queue(PyObject* module, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"queues", "timeout", nullptr};
  PyObject* queues_arg;
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:select", const_cast<char**>(keywords), &queues_arg,
                                   &timeout_arg)) {
    return nullptr;
  }
  std::optional<double> timeout;
  if (!parse_timeout(timeout_arg, timeout)) return nullptr;
  ModuleState* state = get_state(module);
  // A queue is iterable (it yields its items): iterating it here would consume them.
  if (PyObject_TypeCheck(queues_arg, reinterpret_cast<PyTypeObject*>(state->QueueType))) {
    return PyErr_Format(PyExc_TypeError, "select() takes a list of queues, not a single queue");
  }
  PyRef sequence = PyRef::steal(PySequence_Fast(queues_arg, "select() takes an iterable of queues"));
  if (!sequence) return nullptr;
  std::vector<std::shared_ptr<Queue>> queues;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence.get()); ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(sequence.get(), i);
    if (!PyObject_TypeCheck(item, reinterpret_cast<PyTypeObject*>(state->QueueType))) {
      return PyErr_Format(PyExc_TypeError, "select() takes manycore queues, got %.200s", Py_TYPE(item)->tp_name);
    }
    queues.push_back(shared_queue_of(item));
  }
  if (queues.empty()) return PyErr_Format(PyExc_ValueError, "select() needs at least one queue");
  Result<size_t> chosen = select(queues, timeout);
  if (chosen.status().code() == StatusCode::kTimeout) Py_RETURN_NONE;
  if (!chosen.ok()) return raise_status(state, chosen.status(), ErrorDomain::kQueue);
  return Py_NewRef(PySequence_Fast_GET_ITEM(sequence.get(), chosen.value()));
}

PyObject* list_queues(PyObject* module, PyObject*) {
  ModuleState* state = get_state(module);
  PyObject* type = PyDict_GetItemString(state->shareable_types, "Queue");  // borrowed: manycore.Queue once registered
  if (type == nullptr) type = state->QueueType;
  PyRef queues = PyRef::steal(PyList_New(0));
  if (!queues) return nullptr;
  for (std::shared_ptr<Queue>& queue : Queue::list_all()) {
    PyRef wrapper = PyRef::steal(new_shared_wrapper(reinterpret_cast<PyTypeObject*>(type), std::move(queue)));
    if (!wrapper || PyList_Append(queues.get(), wrapper.get()) < 0) return nullptr;
  }
  return queues.release();
}

PyMethodDef queue_functions[] = {
    {"list_queues", list_queues, METH_NOARGS, "list_queues() -> list[Queue]: every queue that exists, in id order."},
    {"select", MANYCORE_KW(select_queue), METH_VARARGS | METH_KEYWORDS,
     "select(queues, timeout=None): the first of queues that has an item, waiting for one (GIL released); None "
     "if timeout seconds pass first. Closed, drained queues are skipped; QueueClosed if all are."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_queue(PyObject* module, ModuleState* state) {
  state->QueueType = PyType_FromModuleAndSpec(module, &queue_spec, nullptr);
  if (state->QueueType == nullptr) return -1;
  state->QueueWatchType = PyType_FromModuleAndSpec(module, &watch_spec, nullptr);
  if (state->QueueWatchType == nullptr) return -1;
  if (PyModule_AddObjectRef(module, "Queue", state->QueueType) < 0) return -1;
  if (add_shareable_type(state, "Queue", state->QueueType) < 0) return -1;
  return PyModule_AddFunctions(module, queue_functions);
}

}  // namespace manycore::module
