// src/module/hooks.cc: the codec hooks of interpreters that import manycore: pickle via manycore._transport, shared wrappers.
#include <new>

#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

std::string describe_error(PyObject* obj) {
  PyObject* raised = PyErr_GetRaisedException();
  std::string text = "object of type ";
  PyRef type_name = PyRef::steal(PyType_GetQualName(Py_TYPE(obj)));
  const char* name = type_name ? PyUnicode_AsUTF8(type_name.get()) : nullptr;
  text += name != nullptr ? name : Py_TYPE(obj)->tp_name;
  text += " cannot cross interpreters";
  if (raised != nullptr) {
    PyRef reason = PyRef::steal(PyObject_Str(raised));
    const char* reason_utf8 = reason ? PyUnicode_AsUTF8(reason.get()) : nullptr;
    if (reason_utf8 != nullptr && *reason_utf8 != '\0') text += std::string(": ") + reason_utf8;
    Py_DECREF(raised);
  }
  PyErr_Clear();
  return text;
}

PyRef transport_function(const char* name) {
  PyRef module = internal::import_module("manycore._transport");
  if (!module) return PyRef();
  return PyRef::steal(PyObject_GetAttrString(module.get(), name));
}

// Stateless: everything per interpreter is looked up through the current
// interpreter's modules, so one instance serves all interpreters safely.
class BindingHooks final : public CodecHooks {
 public:
  Result<std::string> pickle(PyObject* obj) override {
    PyRef dumps = transport_function("dumps");
    PyRef data = dumps ? PyRef::steal(PyObject_CallOneArg(dumps.get(), obj)) : PyRef();
    if (!data || !PyBytes_Check(data.get())) return Status(StatusCode::kNotShareable, describe_error(obj));
    return std::string(PyBytes_AS_STRING(data.get()), PyBytes_GET_SIZE(data.get()));
  }

  PyObject* unpickle(std::string_view data) override {
    PyRef loads = transport_function("loads");
    if (!loads) return nullptr;
    PyRef bytes = PyRef::steal(PyBytes_FromStringAndSize(data.data(), data.size()));
    if (!bytes) return nullptr;
    return PyObject_CallOneArg(loads.get(), bytes.get());
  }

  std::shared_ptr<Shareable> as_shareable(PyObject* obj) override {
    if (PyType_Check(obj) || Py_TYPE(obj)->tp_basicsize != sizeof(SharedWrapper)) return nullptr;
    ModuleState* state = current_state();
    if (state == nullptr) {
      PyErr_Clear();
      return nullptr;
    }
    PyObject* key;
    PyObject* type;
    Py_ssize_t position = 0;
    while (PyDict_Next(state->shareable_types, &position, &key, &type)) {
      if (reinterpret_cast<PyObject*>(Py_TYPE(obj)) == type) return reinterpret_cast<SharedWrapper*>(obj)->object;
    }
    return nullptr;
  }

  PyObject* wrap_shareable(const std::shared_ptr<Shareable>& object) override {
    ModuleState* state = current_state();
    if (state == nullptr) return nullptr;
    PyObject* type = PyDict_GetItemString(state->shareable_types, object->type_name());  // borrowed
    if (type == nullptr) {
      PyErr_Format(PyExc_TypeError, "manycore: no wrapper type for %s", object->type_name());
      return nullptr;
    }
    return new_shared_wrapper(reinterpret_cast<PyTypeObject*>(type), object);
  }
};

BindingHooks& binding_hooks() {
  static BindingHooks hooks;  // holds no PyObject*
  return hooks;
}

}  // namespace

int add_shareable_type(ModuleState* state, const char* type_name, PyObject* type) {
  return PyDict_SetItemString(state->shareable_types, type_name, type);
}

PyObject* new_shared_wrapper(PyTypeObject* type, std::shared_ptr<Shareable> object) {
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  new (&reinterpret_cast<SharedWrapper*>(self)->object) std::shared_ptr<Shareable>(std::move(object));
  return self;
}

void destroy_shared_wrapper(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  reinterpret_cast<SharedWrapper*>(self)->object.~shared_ptr<Shareable>();
  type->tp_free(self);
  Py_DECREF(type);
}

int install_hooks(ModuleState* state) {
  state->shareable_types = PyDict_New();
  if (state->shareable_types == nullptr) return -1;
  install_codec_hooks(&binding_hooks());
  return 0;
}

}  // namespace manycore::module
