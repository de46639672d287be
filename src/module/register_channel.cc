// src/module/register_channel.cc: manycore._core.RecvChannel / SendChannel (PEP 554 channel ends) and create_channel().
//
// Lifetime and threading rules: as for queues (register_queue.cc): each interpreter has
// its own two types; an instance is a SharedWrapper owning a std::shared_ptr to the
// process-wide end (one RecvChannel and one SendChannel object per channel), so every
// interpreter holding an end keeps it alive. When the last holder of one end lets go,
// the channel closes (channel.h).
#include <memory>
#include <optional>

#include "errors.h"
#include "manycore/channel.h"
#include "pyref.h"
#include "state.h"
#include "timeout.h"

namespace manycore::module {

using internal::PyRef;

namespace {

#define MANYCORE_KW(function) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function))

const ChannelEnd* end_of(PyObject* self) {
  return static_cast<const ChannelEnd*>(reinterpret_cast<SharedWrapper*>(self)->object.get());
}
ChannelState& channel_of(PyObject* self) { return end_of(self)->state(); }

PyObject* raise_channel_status(const Status& status) {
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  return raise_status(state, status, ErrorDomain::kChannel);
}

// ---- RecvChannel --------------------------------------------------------------------

PyObject* recv_recv(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:recv", const_cast<char**>(keywords), &timeout_arg)) return nullptr;
  std::optional<double> timeout;
  if (!parse_timeout(timeout_arg, timeout)) return nullptr;
  Result<Value> got = channel_of(self).recv(true, timeout);
  if (!got.ok()) return raise_channel_status(got.status());
  return decode(got.value());
}

PyObject* recv_recv_nowait(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"default", nullptr};
  PyObject* fallback = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:recv_nowait", const_cast<char**>(keywords), &fallback)) {
    return nullptr;
  }
  Result<Value> got = channel_of(self).recv(false, std::nullopt);
  if (got.status().code() == StatusCode::kEmpty && fallback != nullptr) return Py_NewRef(fallback);
  if (!got.ok()) return raise_channel_status(got.status());
  return decode(got.value());
}

PyObject* recv_iternext(PyObject* self) {
  Result<Value> got = channel_of(self).recv(true, std::nullopt);
  if (got.status().code() == StatusCode::kClosed) return nullptr;  // StopIteration
  if (!got.ok()) return raise_channel_status(got.status());
  return decode(got.value());
}

// ---- SendChannel --------------------------------------------------------------------

PyObject* send_send(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"obj", "timeout", nullptr};
  PyObject* obj;
  PyObject* timeout_arg = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:send", const_cast<char**>(keywords), &obj, &timeout_arg)) {
    return nullptr;
  }
  std::optional<double> timeout;
  if (!parse_timeout(timeout_arg, timeout)) return nullptr;
  Result<Value> encoded = encode(obj);
  if (!encoded.ok()) return raise_channel_status(encoded.status());
  Status sent = channel_of(self).send(encoded.take_value(), timeout);
  if (!sent.ok()) return raise_channel_status(sent);
  Py_RETURN_NONE;
}

PyObject* send_send_nowait(PyObject* self, PyObject* obj) {
  Result<Value> encoded = encode(obj);
  if (!encoded.ok()) return raise_channel_status(encoded.status());
  Result<bool> taken = channel_of(self).send_nowait(encoded.take_value());
  if (!taken.ok()) return raise_channel_status(taken.status());
  return PyBool_FromLong(taken.value());
}

// ---- shared by both ends ------------------------------------------------------------

PyObject* end_close(PyObject* self, PyObject*) {
  channel_of(self).close();
  Py_RETURN_NONE;
}

// Two wrappers are equal when they wrap the same end (of the same channel).
PyObject* end_richcompare(PyObject* self, PyObject* other, int op) {
  if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(other, Py_TYPE(self))) Py_RETURN_NOTIMPLEMENTED;
  bool same = end_of(self) == end_of(other);
  return PyBool_FromLong(op == Py_EQ ? same : !same);
}

PyObject* end_get_id(PyObject* self, void*) { return PyLong_FromLongLong(channel_of(self).id()); }
PyObject* end_get_closed(PyObject* self, void*) { return PyBool_FromLong(channel_of(self).is_closed()); }

PyObject* end_repr(PyObject* self) {
  return PyUnicode_FromFormat("<manycore.%s id=%lld%s>", end_of(self)->type_name(),
                              static_cast<long long>(channel_of(self).id()), channel_of(self).is_closed() ? " closed" : "");
}

// The two ends of one channel hash apart; every wrapper of one end hashes alike.
Py_hash_t end_hash(PyObject* self) {
  auto side = end_of(self)->side();
  return static_cast<Py_hash_t>(channel_of(self).id() * 2 + (side == ChannelEnd::Side::kSend ? 1 : 0));
}

PyObject* iter_self(PyObject* self) { return Py_NewRef(self); }

PyMethodDef recv_methods[] = {
    {"recv", MANYCORE_KW(recv_recv), METH_VARARGS | METH_KEYWORDS,
     "recv(timeout=None): wait for a sender and return its object (GIL released while waiting). TimeoutError once "
     "timeout seconds pass; ChannelClosedError when the channel is closed."},
    {"recv_nowait", MANYCORE_KW(recv_recv_nowait), METH_VARARGS | METH_KEYWORDS,
     "recv_nowait(default=...): the object of a sender already waiting, else default (ChannelEmptyError if no "
     "default was given)."},
    {"close", end_close, METH_NOARGS, "close(): close the channel (both ends, in every interpreter)."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef end_getset[] = {
    {"id", end_get_id, nullptr, "Process-unique id of the channel (shared by both ends).", nullptr},
    {"closed", end_get_closed, nullptr, "Whether the channel is closed.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMethodDef send_methods[] = {
    {"send", MANYCORE_KW(send_send), METH_VARARGS | METH_KEYWORDS,
     "send(obj, timeout=None): hand obj to a receiver, waiting until one took it (GIL released). TimeoutError "
     "once timeout seconds pass (obj is withdrawn); ChannelClosedError when closed; NotShareableError if obj "
     "cannot cross interpreters."},
    {"send_nowait", send_send_nowait, METH_O,
     "send_nowait(obj) -> bool: hand obj to a receiver that is already waiting; False (obj dropped) if none is."},
    {"close", end_close, METH_NOARGS, "close(): close the channel (both ends, in every interpreter)."},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot recv_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, recv_methods},
    {Py_tp_getset, end_getset},
    {Py_tp_repr, reinterpret_cast<void*>(end_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(end_richcompare)},
    {Py_tp_hash, reinterpret_cast<void*>(end_hash)},
    {Py_tp_iter, reinterpret_cast<void*>(iter_self)},
    {Py_tp_iternext, reinterpret_cast<void*>(recv_iternext)},
    {Py_tp_doc, const_cast<char*>("The receiving end of a channel (see create_channel).")},
    {0, nullptr},
};

PyType_Slot send_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, send_methods},
    {Py_tp_getset, end_getset},
    {Py_tp_repr, reinterpret_cast<void*>(end_repr)},
    {Py_tp_richcompare, reinterpret_cast<void*>(end_richcompare)},
    {Py_tp_hash, reinterpret_cast<void*>(end_hash)},
    {Py_tp_doc, const_cast<char*>("The sending end of a channel (see create_channel).")},
    {0, nullptr},
};

// BASETYPE for the Python subclasses in manycore/_channels.py (same layout).
constexpr unsigned long kEndFlags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION;
PyType_Spec recv_spec = {"manycore._core.RecvChannel", sizeof(SharedWrapper), 0, kEndFlags, recv_slots};
PyType_Spec send_spec = {"manycore._core.SendChannel", sizeof(SharedWrapper), 0, kEndFlags, send_slots};

// A wrapper for `end` in the type registered under its name (a Python subclass when
// manycore/_channels.py installed one).
PyObject* wrap_end(ModuleState* state, std::shared_ptr<Shareable> end) {
  PyObject* type = PyDict_GetItemString(state->shareable_types, end->type_name());  // borrowed
  if (type == nullptr) return PyErr_Format(PyExc_SystemError, "no wrapper type for %s", end->type_name());
  return new_shared_wrapper(reinterpret_cast<PyTypeObject*>(type), std::move(end));
}

PyObject* create_channel(PyObject* module, PyObject*) {
  ModuleState* state = get_state(module);
  auto [recv_end, send_end] = Channel::create();
  PyRef recv = PyRef::steal(wrap_end(state, std::move(recv_end)));
  if (!recv) return nullptr;
  PyRef send = PyRef::steal(wrap_end(state, std::move(send_end)));
  if (!send) return nullptr;
  return PyTuple_Pack(2, recv.get(), send.get());
}

PyMethodDef channel_functions[] = {
    {"create_channel", create_channel, METH_NOARGS, "create_channel() -> (RecvChannel, SendChannel)"},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

int register_channel(PyObject* module, ModuleState* state) {
  state->RecvChannelType = PyType_FromModuleAndSpec(module, &recv_spec, nullptr);
  if (state->RecvChannelType == nullptr) return -1;
  state->SendChannelType = PyType_FromModuleAndSpec(module, &send_spec, nullptr);
  if (state->SendChannelType == nullptr) return -1;
  if (PyModule_AddObjectRef(module, "RecvChannel", state->RecvChannelType) < 0) return -1;
  if (PyModule_AddObjectRef(module, "SendChannel", state->SendChannelType) < 0) return -1;
  if (add_shareable_type(state, "RecvChannel", state->RecvChannelType) < 0) return -1;
  if (add_shareable_type(state, "SendChannel", state->SendChannelType) < 0) return -1;
  return PyModule_AddFunctions(module, channel_functions);
}

}  // namespace manycore::module
