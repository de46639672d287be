// src/module/register_sync.cc: manycore._core.Lock, RLock, Condition, Event, Semaphore, BoundedSemaphore, Barrier, AtomicInt.
//
// Lifetime and threading rules: each interpreter has its own type objects (module
// state); an instance is a SharedWrapper owning a std::shared_ptr to the process-wide
// primitive (src/core/sync.cc, atomic.cc), so every interpreter holding one keeps it
// alive. Instances are touched only under their interpreter's GIL; blocking calls
// release it while they wait. Argument rules and exception types follow threading's.
#include <cmath>
#include <memory>
#include <optional>

#include "errors.h"
#include "manycore/atomic.h"
#include "manycore/sync.h"
#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

template <typename T>
T& object_of(PyObject* self) {
  return static_cast<T&>(*reinterpret_cast<SharedWrapper*>(self)->object);
}
template <typename T>
std::shared_ptr<T> shared_of(PyObject* self) {
  return std::static_pointer_cast<T>(reinterpret_cast<SharedWrapper*>(self)->object);
}

PyObject* raise_core(const Status& status) {
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  return raise_status(state, status);
}


bool is_number(PyObject* arg) { return PyFloat_Check(arg) || PyLong_Check(arg) || PyIndex_Check(arg); }

// Lock.acquire / RLock.acquire: (blocking=True, timeout=-1) with threading's checks.
// `timeout` is nullopt for "forever"; `blocking` false means try once.
bool parse_lock_acquire(PyObject* args, PyObject* kwargs, bool& blocking, std::optional<double>& timeout) {
  static const char* keywords[] = {"blocking", "timeout", nullptr};
  int blocking_flag = 1;
  PyObject* timeout_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|pO:acquire", const_cast<char**>(keywords), &blocking_flag,
                                   &timeout_arg)) {
    return false;
  }
  blocking = blocking_flag != 0;
  timeout.reset();
  if (timeout_arg == nullptr) return true;
  if (!is_number(timeout_arg)) {
    PyErr_Format(PyExc_TypeError, "timeout must be a number of seconds, not %.200s", Py_TYPE(timeout_arg)->tp_name);
    return false;
  }
  double seconds = PyFloat_AsDouble(timeout_arg);
  if (seconds == -1.0 && PyErr_Occurred()) return false;
  if (std::isnan(seconds)) {
    PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
    return false;
  }
  if (seconds != -1.0 && !blocking) {
    PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
    return false;
  }
  if (seconds < 0 && seconds != -1.0) {
    PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
    return false;
  }
  if (seconds >= 0) timeout = seconds;
  return true;
}

// timeout=None of Condition.wait, Event.wait, Semaphore.acquire, Barrier.wait: None
// waits forever; a negative number (or NaN) means do not wait, as in threading.
bool parse_wait_timeout(PyObject* arg, std::optional<double>& timeout) {
  timeout.reset();
  if (arg == nullptr || arg == Py_None) return true;
  if (PyBool_Check(arg) || !is_number(arg)) {
    PyErr_Format(PyExc_TypeError, "timeout must be a number of seconds or None, not %.200s", Py_TYPE(arg)->tp_name);
    return false;
  }
  double seconds = PyFloat_AsDouble(arg);
  if (seconds == -1.0 && PyErr_Occurred()) return false;
  timeout = (std::isnan(seconds) || seconds < 0) ? 0.0 : seconds;
  return true;
}

PyObject* acquired(const Status& status) {
  if (status.ok()) Py_RETURN_TRUE;
  if (status.code() == StatusCode::kTimeout) Py_RETURN_FALSE;
  return raise_core(status);
}

PyObject* released(const Status& status) {
  if (!status.ok()) return raise_core(status);
  Py_RETURN_NONE;
}

template <typename T>
PyObject* lock_acquire(PyObject* self, PyObject* args, PyObject* kwargs) {
  T& lock = object_of<T>(self);
  bool no_arguments = PyTuple_GET_SIZE(args) == 0 && (kwargs == nullptr || PyDict_GET_SIZE(kwargs) == 0);
  if (no_arguments && lock.try_acquire()) Py_RETURN_TRUE;  // the uncontended path parses nothing
  bool blocking = true;
  std::optional<double> timeout;
  if (!parse_lock_acquire(args, kwargs, blocking, timeout)) return nullptr;
  if (lock.try_acquire()) Py_RETURN_TRUE;
  if (!blocking) Py_RETURN_FALSE;
  return acquired(lock.acquire(timeout));
}

template <typename T>
PyObject* lock_enter(PyObject* self, PyObject*) {
  T& lock = object_of<T>(self);
  if (lock.try_acquire()) Py_RETURN_TRUE;
  return acquired(lock.acquire(std::nullopt));
}

template <typename T>
PyObject* lock_release(PyObject* self, PyObject*) {
  return released(object_of<T>(self).release());
}

template <typename T>
PyObject* lock_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return released(object_of<T>(self).release());
}

// Wrappers (in any interpreter) of one primitive are equal. Every type using this slot
// is laid out as SharedWrapper.
PyObject* same_object(PyObject* self, PyObject* other, int op) {
  if ((op != Py_EQ && op != Py_NE) || Py_TYPE(other)->tp_richcompare != Py_TYPE(self)->tp_richcompare) {
    Py_RETURN_NOTIMPLEMENTED;
  }
  bool same = reinterpret_cast<SharedWrapper*>(self)->object == reinterpret_cast<SharedWrapper*>(other)->object;
  return PyBool_FromLong(op == Py_EQ ? same : !same);
}

Py_hash_t object_hash(PyObject* self) {
  Py_hash_t hash = static_cast<Py_hash_t>(reinterpret_cast<uintptr_t>(reinterpret_cast<SharedWrapper*>(self)->object.get()) >> 4);
  return hash == -1 ? -2 : hash;
}

PyObject* refuse_pickle(PyObject* self, PyObject*) {
  return PyErr_Format(PyExc_TypeError,
                      "cannot pickle a manycore.%s: it crosses interpreters by itself (as an argument, a result, "
                      "in a queue, a container or Pool initargs), not through pickle or to other processes",
                      reinterpret_cast<SharedWrapper*>(self)->object->type_name());
}

#define MANYCORE_KW(function) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function))
#define MANYCORE_FAST(function) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function))

PyObject* make_type(PyObject* module, PyType_Spec* spec, PyObject* base = nullptr) {
  return PyType_FromModuleAndSpec(module, spec, base);
}

// ---- Lock ---------------------------------------------------------------------------------

PyObject* lock_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  if (!PyArg_ParseTuple(args, ":Lock") || (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0)) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Lock() takes no arguments");
    return nullptr;
  }
  return new_shared_wrapper(type, std::make_shared<Lock>());
}

PyObject* lock_locked(PyObject* self, PyObject*) { return PyBool_FromLong(object_of<Lock>(self).locked()); }

PyObject* lock_repr(PyObject* self) {
  return PyUnicode_FromFormat("<manycore.Lock %s>", object_of<Lock>(self).locked() ? "locked" : "unlocked");
}

PyMethodDef lock_methods[] = {
    {"acquire", MANYCORE_KW(lock_acquire<Lock>), METH_VARARGS | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool: as threading.Lock.acquire; the GIL is released while waiting."},
    {"release", lock_release<Lock>, METH_NOARGS,
     "release(): unlock (any thread, any interpreter may). RuntimeError if it is not locked."},
    {"locked", lock_locked, METH_NOARGS, "locked() -> bool"},
    {"__enter__", lock_enter<Lock>, METH_NOARGS, nullptr},
    {"__exit__", MANYCORE_FAST(lock_exit<Lock>), METH_FASTCALL, nullptr},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot lock_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(lock_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, lock_methods},
    {Py_tp_repr, reinterpret_cast<void*>(lock_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("Lock(): threading.Lock for every thread of every interpreter.")},
    {0, nullptr},
};

PyType_Spec lock_spec = {"manycore._core.Lock", sizeof(SharedWrapper), 0,
                         Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, lock_slots};

// ---- RLock --------------------------------------------------------------------------------

PyObject* rlock_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  if (PyTuple_GET_SIZE(args) != 0 || (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0)) {
    return PyErr_Format(PyExc_TypeError, "RLock() takes no arguments");
  }
  return new_shared_wrapper(type, std::make_shared<RLock>());
}

PyObject* rlock_is_owned(PyObject* self, PyObject*) { return PyBool_FromLong(object_of<RLock>(self).owned_by_caller()); }
PyObject* rlock_locked(PyObject* self, PyObject*) { return PyBool_FromLong(object_of<RLock>(self).locked()); }

PyObject* rlock_repr(PyObject* self) {
  RLock& lock = object_of<RLock>(self);
  return PyUnicode_FromFormat("<manycore.RLock %s%s>", lock.locked() ? "locked" : "unlocked",
                              lock.owned_by_caller() ? " (by this thread)" : "");
}

PyMethodDef rlock_methods[] = {
    {"acquire", MANYCORE_KW(lock_acquire<RLock>), METH_VARARGS | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool: as threading.RLock.acquire (the owner may acquire again)."},
    {"release", lock_release<RLock>, METH_NOARGS,
     "release(): undo one acquire. RuntimeError unless the calling thread owns the lock."},
    {"locked", rlock_locked, METH_NOARGS, "locked() -> bool: whether some thread owns it."},
    {"_is_owned", rlock_is_owned, METH_NOARGS, "_is_owned() -> bool: whether the calling thread owns it."},
    {"__enter__", lock_enter<RLock>, METH_NOARGS, nullptr},
    {"__exit__", MANYCORE_FAST(lock_exit<RLock>), METH_FASTCALL, nullptr},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot rlock_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(rlock_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, rlock_methods},
    {Py_tp_repr, reinterpret_cast<void*>(rlock_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("RLock(): threading.RLock for every thread of every interpreter.")},
    {0, nullptr},
};

PyType_Spec rlock_spec = {"manycore._core.RLock", sizeof(SharedWrapper), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, rlock_slots};

// ---- Condition ----------------------------------------------------------------------------

PyObject* condition_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"lock", nullptr};
  PyObject* lock_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Condition", const_cast<char**>(keywords), &lock_arg)) {
    return nullptr;
  }
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  if (lock_arg == Py_None) return new_shared_wrapper(type, std::make_shared<Condition>(std::make_shared<RLock>()));
  if (PyObject_TypeCheck(lock_arg, reinterpret_cast<PyTypeObject*>(state->RLockType))) {
    return new_shared_wrapper(type, std::make_shared<Condition>(shared_of<RLock>(lock_arg)));
  }
  if (PyObject_TypeCheck(lock_arg, reinterpret_cast<PyTypeObject*>(state->LockType))) {
    return new_shared_wrapper(type, std::make_shared<Condition>(shared_of<Lock>(lock_arg)));
  }
  return PyErr_Format(PyExc_TypeError,
                      "Condition(lock) takes a manycore.Lock or manycore.RLock (or None for a new RLock), not "
                      "%.200s: threading and multiprocessing locks cannot be shared across interpreters",
                      Py_TYPE(lock_arg)->tp_name);
}

Condition& condition_of(PyObject* self) { return object_of<Condition>(self); }

// The lock's own method, so Condition.acquire(...) behaves exactly as the lock's.
PyObject* condition_lock_method(PyObject* self, const char* name, PyObject* args, PyObject* kwargs) {
  PyRef lock = PyRef::steal(wrap_registered(self, condition_of(self).lock()));
  if (!lock) return nullptr;
  PyRef method = PyRef::steal(PyObject_GetAttrString(lock.get(), name));
  if (!method) return nullptr;
  return PyObject_Call(method.get(), args, kwargs);
}

PyObject* condition_acquire(PyObject* self, PyObject* args, PyObject* kwargs) {
  return condition_lock_method(self, "acquire", args, kwargs);
}

Status release_condition_lock(PyObject* self) {
  std::shared_ptr<Shareable> lock = condition_of(self).lock();
  if (auto rlock = std::dynamic_pointer_cast<RLock>(lock)) return rlock->release();
  return std::static_pointer_cast<Lock>(lock)->release();
}

Status acquire_condition_lock(PyObject* self) {
  std::shared_ptr<Shareable> lock = condition_of(self).lock();
  if (auto rlock = std::dynamic_pointer_cast<RLock>(lock)) return rlock->try_acquire() ? Status::Ok() : rlock->acquire();
  auto plain = std::static_pointer_cast<Lock>(lock);
  return plain->try_acquire() ? Status::Ok() : plain->acquire();
}

PyObject* condition_enter(PyObject* self, PyObject*) { return acquired(acquire_condition_lock(self)); }
PyObject* condition_release(PyObject* self, PyObject*) { return released(release_condition_lock(self)); }
PyObject* condition_exit(PyObject* self, PyObject* const*, Py_ssize_t) { return released(release_condition_lock(self)); }

PyObject* condition_wait(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", const_cast<char**>(keywords), &timeout_arg)) return nullptr;
  std::optional<double> timeout;
  if (!parse_wait_timeout(timeout_arg, timeout)) return nullptr;
  Result<bool> woken = condition_of(self).wait(timeout);
  if (!woken.ok()) return raise_core(woken.status());
  return PyBool_FromLong(woken.value());
}

PyObject* condition_notify(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"n", nullptr};
  Py_ssize_t n = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n:notify", const_cast<char**>(keywords), &n)) return nullptr;
  return released(condition_of(self).notify(n < 0 ? 0 : static_cast<size_t>(n)));
}

PyObject* condition_notify_all(PyObject* self, PyObject*) { return released(condition_of(self).notify_all()); }

PyObject* condition_is_owned(PyObject* self, PyObject*) {
  std::shared_ptr<Shareable> lock = condition_of(self).lock();
  if (auto rlock = std::dynamic_pointer_cast<RLock>(lock)) return PyBool_FromLong(rlock->owned_by_caller());
  return PyBool_FromLong(std::static_pointer_cast<Lock>(lock)->locked());
}

PyObject* condition_get_lock(PyObject* self, void*) { return wrap_registered(self, condition_of(self).lock()); }

PyObject* condition_repr(PyObject* self) {
  return PyUnicode_FromFormat("<manycore.Condition(%s)>", condition_of(self).lock()->type_name());
}

PyMethodDef condition_methods[] = {
    {"acquire", MANYCORE_KW(condition_acquire), METH_VARARGS | METH_KEYWORDS, "acquire(*args): the lock's acquire."},
    {"release", condition_release, METH_NOARGS, "release(): the lock's release."},
    {"wait", MANYCORE_KW(condition_wait), METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool: release the lock, wait for notify() (or the timeout), take the lock back. "
     "RuntimeError if the lock is not held."},
    {"notify", MANYCORE_KW(condition_notify), METH_VARARGS | METH_KEYWORDS,
     "notify(n=1): wake up to n waiters, oldest first. RuntimeError if the lock is not held."},
    {"notify_all", condition_notify_all, METH_NOARGS, "notify_all(): wake every waiter."},
    {"notifyAll", condition_notify_all, METH_NOARGS, "Deprecated alias of notify_all()."},
    {"_is_owned", condition_is_owned, METH_NOARGS, nullptr},
    {"__enter__", condition_enter, METH_NOARGS, nullptr},
    {"__exit__", MANYCORE_FAST(condition_exit), METH_FASTCALL, nullptr},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef condition_getset[] = {
    {"_lock", condition_get_lock, nullptr, "The underlying manycore Lock or RLock.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot condition_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(condition_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, condition_methods},
    {Py_tp_getset, condition_getset},
    {Py_tp_repr, reinterpret_cast<void*>(condition_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("Condition(lock=None): threading.Condition over a manycore Lock or RLock.")},
    {0, nullptr},
};

PyType_Spec condition_spec = {"manycore._core.Condition", sizeof(SharedWrapper), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, condition_slots};

// ---- Event --------------------------------------------------------------------------------

PyObject* event_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  if (PyTuple_GET_SIZE(args) != 0 || (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0)) {
    return PyErr_Format(PyExc_TypeError, "Event() takes no arguments");
  }
  return new_shared_wrapper(type, std::make_shared<Event>());
}

PyObject* event_is_set(PyObject* self, PyObject*) { return PyBool_FromLong(object_of<Event>(self).is_set()); }
PyObject* event_set(PyObject* self, PyObject*) {
  object_of<Event>(self).set();
  Py_RETURN_NONE;
}
PyObject* event_clear(PyObject* self, PyObject*) {
  object_of<Event>(self).clear();
  Py_RETURN_NONE;
}

PyObject* event_wait(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", const_cast<char**>(keywords), &timeout_arg)) return nullptr;
  std::optional<double> timeout;
  if (!parse_wait_timeout(timeout_arg, timeout)) return nullptr;
  Result<bool> set = object_of<Event>(self).wait(timeout);
  if (!set.ok()) return raise_core(set.status());
  return PyBool_FromLong(set.value());
}

PyObject* event_repr(PyObject* self) {
  return PyUnicode_FromFormat("<manycore.Event %s>", object_of<Event>(self).is_set() ? "set" : "unset");
}

PyMethodDef event_methods[] = {
    {"is_set", event_is_set, METH_NOARGS, "is_set() -> bool"},
    {"isSet", event_is_set, METH_NOARGS, "Deprecated alias of is_set()."},
    {"set", event_set, METH_NOARGS, "set(): set the flag and wake every waiter, in every interpreter."},
    {"clear", event_clear, METH_NOARGS, "clear(): reset the flag."},
    {"wait", MANYCORE_KW(event_wait), METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool: wait until the flag is set; False if the timeout passed first."},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot event_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(event_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, event_methods},
    {Py_tp_repr, reinterpret_cast<void*>(event_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("Event(): threading.Event for every thread of every interpreter.")},
    {0, nullptr},
};

PyType_Spec event_spec = {"manycore._core.Event", sizeof(SharedWrapper), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, event_slots};

// ---- Semaphore / BoundedSemaphore ---------------------------------------------------------

PyObject* semaphore_make(PyTypeObject* type, PyObject* args, PyObject* kwargs, bool bounded) {
  static const char* keywords[] = {"value", nullptr};
  PyObject* value_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, bounded ? "|O:BoundedSemaphore" : "|O:Semaphore",
                                   const_cast<char**>(keywords), &value_arg)) {
    return nullptr;
  }
  long long value = 1;
  if (value_arg != nullptr) {
    PyRef index = PyRef::steal(PyNumber_Index(value_arg));
    if (!index) return nullptr;
    int overflow = 0;
    value = PyLong_AsLongLongAndOverflow(index.get(), &overflow);
    if (value == -1 && PyErr_Occurred()) return nullptr;
    if (overflow < 0) value = -1;
    if (overflow > 0) return PyErr_Format(PyExc_OverflowError, "semaphore value %R does not fit in 64 bits", value_arg);
  }
  Result<std::shared_ptr<Semaphore>> made = Semaphore::create(value, bounded);
  if (!made.ok()) return raise_core(made.status());
  return new_shared_wrapper(type, made.take_value());
}

PyObject* semaphore_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  return semaphore_make(type, args, kwargs, false);
}
PyObject* bounded_semaphore_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  return semaphore_make(type, args, kwargs, true);
}

PyObject* semaphore_acquire(PyObject* self, PyObject* args, PyObject* kwargs) {
  Semaphore& semaphore = object_of<Semaphore>(self);
  static const char* keywords[] = {"blocking", "timeout", nullptr};
  int blocking = 1;
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|pO:acquire", const_cast<char**>(keywords), &blocking, &timeout_arg)) {
    return nullptr;
  }
  if (!blocking && timeout_arg != Py_None) {
    return PyErr_Format(PyExc_ValueError, "can't specify timeout for non-blocking acquire");
  }
  std::optional<double> timeout;
  if (!parse_wait_timeout(timeout_arg, timeout)) return nullptr;
  if (semaphore.try_acquire()) Py_RETURN_TRUE;
  if (!blocking) Py_RETURN_FALSE;
  return acquired(semaphore.acquire(timeout));
}

PyObject* semaphore_enter(PyObject* self, PyObject*) {
  Semaphore& semaphore = object_of<Semaphore>(self);
  if (semaphore.try_acquire()) Py_RETURN_TRUE;
  return acquired(semaphore.acquire(std::nullopt));
}

PyObject* semaphore_release(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"n", nullptr};
  long long n = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|L:release", const_cast<char**>(keywords), &n)) return nullptr;
  return released(object_of<Semaphore>(self).release(n));
}

PyObject* semaphore_exit(PyObject* self, PyObject* const*, Py_ssize_t) {
  return released(object_of<Semaphore>(self).release(1));
}

PyObject* semaphore_get_value(PyObject* self, void*) { return PyLong_FromLongLong(object_of<Semaphore>(self).value()); }
PyObject* semaphore_get_initial(PyObject* self, void*) {
  return PyLong_FromLongLong(object_of<Semaphore>(self).initial_value());
}

PyObject* semaphore_repr(PyObject* self) {
  Semaphore& semaphore = object_of<Semaphore>(self);
  return PyUnicode_FromFormat("<manycore.%s value=%lld>", semaphore.type_name(),
                              static_cast<long long>(semaphore.value()));
}

PyMethodDef semaphore_methods[] = {
    {"acquire", MANYCORE_KW(semaphore_acquire), METH_VARARGS | METH_KEYWORDS,
     "acquire(blocking=True, timeout=None) -> bool: as threading.Semaphore.acquire."},
    {"release", MANYCORE_KW(semaphore_release), METH_VARARGS | METH_KEYWORDS,
     "release(n=1): add n; ValueError for n < 1, or (BoundedSemaphore) past the initial value."},
    {"__enter__", semaphore_enter, METH_NOARGS, nullptr},
    {"__exit__", MANYCORE_FAST(semaphore_exit), METH_FASTCALL, nullptr},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef semaphore_getset[] = {
    {"_value", semaphore_get_value, nullptr, "The counter now.", nullptr},
    {"_initial_value", semaphore_get_initial, nullptr, "The counter at creation.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot semaphore_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(semaphore_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, semaphore_methods},
    {Py_tp_getset, semaphore_getset},
    {Py_tp_repr, reinterpret_cast<void*>(semaphore_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("Semaphore(value=1): threading.Semaphore for every thread of every interpreter.")},
    {0, nullptr},
};

PyType_Spec semaphore_spec = {"manycore._core.Semaphore", sizeof(SharedWrapper), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, semaphore_slots};

PyType_Slot bounded_semaphore_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(bounded_semaphore_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_doc, const_cast<char*>("BoundedSemaphore(value=1): a Semaphore that refuses to pass its initial value.")},
    {0, nullptr},
};

PyType_Spec bounded_semaphore_spec = {"manycore._core.BoundedSemaphore", sizeof(SharedWrapper), 0,
                                      Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, bounded_semaphore_slots};

// ---- Barrier ------------------------------------------------------------------------------

PyObject* barrier_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"parties", "action", "timeout", nullptr};
  PyObject* parties_arg;
  PyObject* action_arg = Py_None;
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:Barrier", const_cast<char**>(keywords), &parties_arg,
                                   &action_arg, &timeout_arg)) {
    return nullptr;
  }
  PyRef index = PyRef::steal(PyNumber_Index(parties_arg));
  if (!index) return nullptr;
  int overflow = 0;
  long long parties = PyLong_AsLongLongAndOverflow(index.get(), &overflow);
  if (parties == -1 && PyErr_Occurred()) return nullptr;
  if (overflow != 0) parties = overflow < 0 ? 0 : INT64_MAX;
  if (action_arg != Py_None && !PyCallable_Check(action_arg)) {
    return PyErr_Format(PyExc_TypeError, "Barrier action must be callable or None, not %.200s",
                        Py_TYPE(action_arg)->tp_name);
  }
  std::optional<double> timeout;
  if (!parse_wait_timeout(timeout_arg, timeout)) return nullptr;
  // The action runs in whichever interpreter arrives last, so it travels as a Value.
  Result<Value> action = encode(action_arg);
  if (!action.ok()) return raise_core(action.status());
  Result<std::shared_ptr<Barrier>> made = Barrier::create(parties, action.take_value(), timeout);
  if (!made.ok()) return raise_core(made.status());
  return new_shared_wrapper(type, made.take_value());
}

PyObject* barrier_wait(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", const_cast<char**>(keywords), &timeout_arg)) return nullptr;
  std::optional<double> timeout;
  if (!parse_wait_timeout(timeout_arg, timeout)) return nullptr;
  // Runs the action in this interpreter; a raising action leaves its exception set
  // (kInterrupted tells raise_status to keep it), and the barrier breaks.
  auto run_action = [](const Value& action) -> Status {
    PyRef callable = PyRef::steal(decode(action));
    PyRef result = callable ? PyRef::steal(PyObject_CallNoArgs(callable.get())) : PyRef();
    if (!result) return Status(StatusCode::kInterrupted, "the barrier action raised");
    return Status::Ok();
  };
  Result<int64_t> index = object_of<Barrier>(self).wait(timeout, run_action);
  if (!index.ok()) return raise_core(index.status());
  return PyLong_FromLongLong(index.value());
}

PyObject* barrier_reset(PyObject* self, PyObject*) {
  object_of<Barrier>(self).reset();
  Py_RETURN_NONE;
}
PyObject* barrier_abort(PyObject* self, PyObject*) {
  object_of<Barrier>(self).abort();
  Py_RETURN_NONE;
}
PyObject* barrier_get_parties(PyObject* self, void*) { return PyLong_FromLongLong(object_of<Barrier>(self).parties()); }
PyObject* barrier_get_n_waiting(PyObject* self, void*) {
  return PyLong_FromLongLong(object_of<Barrier>(self).n_waiting());
}
PyObject* barrier_get_broken(PyObject* self, void*) { return PyBool_FromLong(object_of<Barrier>(self).broken()); }

PyObject* barrier_repr(PyObject* self) {
  Barrier& barrier = object_of<Barrier>(self);
  if (barrier.broken()) return PyUnicode_FromFormat("<manycore.Barrier broken>");
  return PyUnicode_FromFormat("<manycore.Barrier waiters=%lld/%lld>", static_cast<long long>(barrier.n_waiting()),
                              static_cast<long long>(barrier.parties()));
}

PyMethodDef barrier_methods[] = {
    {"wait", MANYCORE_KW(barrier_wait), METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> int: wait for every party; returns this party's arrival index. "
     "threading.BrokenBarrierError if the barrier breaks (abort, reset, timeout, interrupt, failing action)."},
    {"reset", barrier_reset, METH_NOARGS, "reset(): break the current cycle (waiters get BrokenBarrierError), then "
                                          "make the barrier usable again."},
    {"abort", barrier_abort, METH_NOARGS, "abort(): break the barrier until reset()."},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef barrier_getset[] = {
    {"parties", barrier_get_parties, nullptr, "Parties needed to pass.", nullptr},
    {"n_waiting", barrier_get_n_waiting, nullptr, "Parties waiting now.", nullptr},
    {"broken", barrier_get_broken, nullptr, "Whether the barrier is broken.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot barrier_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(barrier_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, barrier_methods},
    {Py_tp_getset, barrier_getset},
    {Py_tp_repr, reinterpret_cast<void*>(barrier_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("Barrier(parties, action=None, timeout=None): threading.Barrier across interpreters.")},
    {0, nullptr},
};

PyType_Spec barrier_spec = {"manycore._core.Barrier", sizeof(SharedWrapper), 0,
                            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, barrier_slots};

// ---- AtomicInt ----------------------------------------------------------------------------

bool parse_int64(PyObject* arg, int64_t& value) {
  PyRef index = PyRef::steal(PyNumber_Index(arg));
  if (!index) return false;
  int overflow = 0;
  long long parsed = PyLong_AsLongLongAndOverflow(index.get(), &overflow);
  if (parsed == -1 && PyErr_Occurred()) return false;
  if (overflow != 0) {
    PyErr_Format(PyExc_OverflowError, "AtomicInt holds a signed 64-bit integer; %R is out of range", arg);
    return false;
  }
  value = parsed;
  return true;
}

PyObject* atomic_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"initial", nullptr};
  PyObject* initial_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:AtomicInt", const_cast<char**>(keywords), &initial_arg)) {
    return nullptr;
  }
  int64_t initial = 0;
  if (initial_arg != nullptr && !parse_int64(initial_arg, initial)) return nullptr;
  return new_shared_wrapper(type, std::make_shared<AtomicInt>(initial));
}

AtomicInt& atomic_of(PyObject* self) { return object_of<AtomicInt>(self); }

PyObject* atomic_load(PyObject* self, PyObject*) { return PyLong_FromLongLong(atomic_of(self).load()); }

PyObject* atomic_store(PyObject* self, PyObject* arg) {
  int64_t value;
  if (!parse_int64(arg, value)) return nullptr;
  atomic_of(self).store(value);
  Py_RETURN_NONE;
}

PyObject* atomic_exchange(PyObject* self, PyObject* arg) {
  int64_t value;
  if (!parse_int64(arg, value)) return nullptr;
  return PyLong_FromLongLong(atomic_of(self).exchange(value));
}

PyObject* atomic_add(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  int64_t delta = 1;
  if (nargs > 1) return PyErr_Format(PyExc_TypeError, "add() takes at most 1 argument (%zd given)", nargs);
  if (nargs == 1 && !parse_int64(args[0], delta)) return nullptr;
  return PyLong_FromLongLong(atomic_of(self).add(delta));
}

PyObject* atomic_fetch_add(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  int64_t delta = 1;
  if (nargs > 1) return PyErr_Format(PyExc_TypeError, "fetch_add() takes at most 1 argument (%zd given)", nargs);
  if (nargs == 1 && !parse_int64(args[0], delta)) return nullptr;
  return PyLong_FromLongLong(atomic_of(self).fetch_add(delta));
}

PyObject* atomic_compare_exchange(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "compare_exchange(expected, new) takes 2 arguments (%zd given)", nargs);
  int64_t expected, desired;
  if (!parse_int64(args[0], expected) || !parse_int64(args[1], desired)) return nullptr;
  return PyBool_FromLong(atomic_of(self).compare_exchange(expected, desired));
}

PyObject* atomic_wait(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"expected", "timeout", nullptr};
  PyObject* expected_arg;
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:wait", const_cast<char**>(keywords), &expected_arg,
                                   &timeout_arg)) {
    return nullptr;
  }
  int64_t expected;
  if (!parse_int64(expected_arg, expected)) return nullptr;
  std::optional<double> timeout;
  if (!parse_wait_timeout(timeout_arg, timeout)) return nullptr;
  Result<AtomicInt::WaitOutcome> outcome = atomic_of(self).wait(expected, timeout);
  if (!outcome.ok()) return raise_core(outcome.status());
  switch (outcome.value()) {
    case AtomicInt::WaitOutcome::kWoken: return PyUnicode_FromString("ok");
    case AtomicInt::WaitOutcome::kNotEqual: return PyUnicode_FromString("not-equal");
    case AtomicInt::WaitOutcome::kTimedOut: return PyUnicode_FromString("timed-out");
  }
  return PyUnicode_FromString("ok");
}

PyObject* atomic_notify(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"n", nullptr};
  PyObject* n_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:notify", const_cast<char**>(keywords), &n_arg)) return nullptr;
  size_t n = 1;
  if (n_arg == Py_None) {
    n = SIZE_MAX;
  } else if (n_arg != nullptr) {
    Py_ssize_t count = PyNumber_AsSsize_t(n_arg, PyExc_OverflowError);
    if (count == -1 && PyErr_Occurred()) return nullptr;
    if (count < 0) return PyErr_Format(PyExc_ValueError, "notify(n) needs n >= 0 (or None for all), got %zd", count);
    n = static_cast<size_t>(count);
  }
  return PyLong_FromSize_t(atomic_of(self).notify(n));
}

PyObject* atomic_repr(PyObject* self) {
  return PyUnicode_FromFormat("<manycore.AtomicInt %lld>", static_cast<long long>(atomic_of(self).load()));
}

PyObject* atomic_int(PyObject* self) { return PyLong_FromLongLong(atomic_of(self).load()); }

PyMethodDef atomic_methods[] = {
    {"load", atomic_load, METH_NOARGS, "load() -> int: the value now."},
    {"store", atomic_store, METH_O, "store(value): set the value (wakes nobody; see notify)."},
    {"exchange", atomic_exchange, METH_O, "exchange(value) -> int: set the value, return the old one."},
    {"add", MANYCORE_FAST(atomic_add), METH_FASTCALL, "add(delta=1) -> int: add atomically, return the new value."},
    {"fetch_add", MANYCORE_FAST(atomic_fetch_add), METH_FASTCALL,
     "fetch_add(delta=1) -> int: add atomically, return the old value."},
    {"compare_exchange", MANYCORE_FAST(atomic_compare_exchange), METH_FASTCALL,
     "compare_exchange(expected, new) -> bool: set new if the value equals expected; whether it did."},
    {"wait", MANYCORE_KW(atomic_wait), METH_VARARGS | METH_KEYWORDS,
     "wait(expected, timeout=None) -> str: as JS Atomics.wait: 'not-equal' at once if the value differs from "
     "expected, else park until notify() ('ok') or the timeout ('timed-out'). The GIL is released."},
    {"notify", MANYCORE_KW(atomic_notify), METH_VARARGS | METH_KEYWORDS,
     "notify(n=1) -> int: wake up to n waiters (None: all), oldest first; returns how many were woken."},
    {"__reduce__", refuse_pickle, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot atomic_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(atomic_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, atomic_methods},
    {Py_tp_repr, reinterpret_cast<void*>(atomic_repr)},
    {Py_nb_int, reinterpret_cast<void*>(atomic_int)},
    {Py_tp_richcompare, reinterpret_cast<void*>(same_object)},
    {Py_tp_hash, reinterpret_cast<void*>(object_hash)},
    {Py_tp_doc, const_cast<char*>("AtomicInt(initial=0): a signed 64-bit integer shared by every interpreter.")},
    {0, nullptr},
};

PyType_Spec atomic_spec = {"manycore._core.AtomicInt", sizeof(SharedWrapper), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, atomic_slots};

}  // namespace

int register_sync(PyObject* module, ModuleState* state) {
  struct {
    const char* name;
    PyType_Spec* spec;
    PyObject** slot;
    PyObject** base;
  } types[] = {
      {"Lock", &lock_spec, &state->LockType, nullptr},
      {"RLock", &rlock_spec, &state->RLockType, nullptr},
      {"Condition", &condition_spec, &state->ConditionType, nullptr},
      {"Event", &event_spec, &state->EventType, nullptr},
      {"Semaphore", &semaphore_spec, &state->SemaphoreType, nullptr},
      {"BoundedSemaphore", &bounded_semaphore_spec, &state->BoundedSemaphoreType, &state->SemaphoreType},
      {"Barrier", &barrier_spec, &state->BarrierType, nullptr},
      {"AtomicInt", &atomic_spec, &state->AtomicIntType, nullptr},
  };
  for (auto& [name, spec, slot, base] : types) {
    *slot = make_type(module, spec, base != nullptr ? *base : nullptr);
    if (*slot == nullptr) return -1;
    if (PyModule_AddObjectRef(module, name, *slot) < 0) return -1;
    if (add_shareable_type(state, name, *slot) < 0) return -1;
  }
  return 0;
}

}  // namespace manycore::module
