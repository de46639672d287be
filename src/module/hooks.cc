// src/module/hooks.cc: the codec hooks of interpreters that import manycore: pickle via manycore._transport, shared wrappers.
#include <new>
#include <string_view>

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

// True for a wrapper type defined here (manycore._core.Queue, ...) rather than its
// public Python subclass (manycore.Queue, ...).
bool is_core_base_type(PyObject* type) {
  return std::string_view(reinterpret_cast<PyTypeObject*>(type)->tp_name).starts_with("manycore._core.");
}

// The public classes load on first use (manycore/__init__.py), and loading one
// registers it as the wrapper (use_wrapper_class): a queue, lock or shared value
// received before its class was ever touched in this interpreter still arrives as
// that class. manycore._load_wrapper_class imports the module that registers it.
// Returns the registered type (borrowed); `base` if nothing registers another.
PyObject* load_public_class(ModuleState* state, const char* type_name, PyObject* base) {
  PyRef package = internal::import_module("manycore");
  PyRef loaded =
      package ? PyRef::steal(PyObject_CallMethod(package.get(), "_load_wrapper_class", "s", type_name)) : PyRef();
  if (!loaded) {
    PyErr_Clear();
    return base;
  }
  PyObject* type = PyDict_GetItemString(state->shareable_types, type_name);  // borrowed
  return type != nullptr ? type : base;
}

}  // namespace

PyObject* wrapper_type_for(ModuleState* state, const char* type_name) {
  PyObject* type = PyDict_GetItemString(state->shareable_types, type_name);  // borrowed
  if (type != nullptr && is_core_base_type(type)) type = load_public_class(state, type_name, type);
  if (type == nullptr) PyErr_Format(PyExc_TypeError, "manycore: no wrapper type for %s", type_name);
  return type;
}

namespace {

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
    PyObject* type = wrapper_type_for(state, object->type_name());
    if (type == nullptr) return nullptr;
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

namespace {

// The live wrapper a weakref points to (new reference), or nullptr (no error) if it is dead.
PyObject* weakref_target(PyObject* ref) {
#if PY_VERSION_HEX >= 0x030D0000
  PyObject* target = nullptr;
  if (PyWeakref_GetRef(ref, &target) < 0) PyErr_Clear();
  return target;
#else
  PyObject* target = PyWeakref_GetObject(ref);  // borrowed; deprecated in 3.13
  return target == Py_None ? nullptr : Py_NewRef(target);
#endif
}

// Drops entries whose wrapper is gone, once the dict has doubled since the last prune.
int prune_wrappers(PyObject* wrappers) {
  PyRef dead = PyRef::steal(PyList_New(0));
  if (!dead) return -1;
  PyObject* key;
  PyObject* ref;
  Py_ssize_t position = 0;
  while (PyDict_Next(wrappers, &position, &key, &ref)) {
    PyObject* target = weakref_target(ref);
    if (target == nullptr && PyList_Append(dead.get(), key) < 0) return -1;
    Py_XDECREF(target);
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(dead.get()); ++i) {
    if (PyDict_DelItem(wrappers, PyList_GET_ITEM(dead.get(), i)) < 0) return -1;
  }
  return 0;
}

}  // namespace

PyObject* new_shared_wrapper(PyTypeObject* type, std::shared_ptr<Shareable> object) {
  bool unique = type->tp_weaklistoffset != 0;
  ModuleState* state = unique ? current_state() : nullptr;
  if (unique && state == nullptr) return nullptr;
  PyRef key = unique ? PyRef::steal(PyLong_FromVoidPtr(object.get())) : PyRef();
  if (unique) {
    if (!key) return nullptr;
    PyObject* ref = PyDict_GetItemWithError(state->wrappers, key.get());  // borrowed
    if (ref == nullptr && PyErr_Occurred()) return nullptr;
    // While a wrapper lives it owns the Shareable, so its address cannot belong to another one.
    if (PyObject* existing = ref != nullptr ? weakref_target(ref) : nullptr) {
      if (Py_TYPE(existing) == type) return existing;
      Py_DECREF(existing);
    }
  }
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  new (&reinterpret_cast<SharedWrapper*>(self)->object) std::shared_ptr<Shareable>(std::move(object));
  if (unique) {
    PyRef ref = PyRef::steal(PyWeakref_NewRef(self, nullptr));
    if (!ref || PyDict_SetItem(state->wrappers, key.get(), ref.get()) < 0) {
      Py_DECREF(self);
      return nullptr;
    }
    Py_ssize_t size = PyDict_GET_SIZE(state->wrappers);
    if (size >= 2 * state->wrappers_after_prune + 64) {
      if (prune_wrappers(state->wrappers) < 0) {
        Py_DECREF(self);
        return nullptr;
      }
      state->wrappers_after_prune = PyDict_GET_SIZE(state->wrappers);
    }
  }
  return self;
}

void destroy_shared_wrapper(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (type->tp_weaklistoffset != 0) PyObject_ClearWeakRefs(self);
  reinterpret_cast<SharedWrapper*>(self)->object.~shared_ptr<Shareable>();
  type->tp_free(self);
  Py_DECREF(type);
}

int install_hooks(ModuleState* state) {
  state->shareable_types = PyDict_New();
  if (state->shareable_types == nullptr) return -1;
  state->wrappers = PyDict_New();
  if (state->wrappers == nullptr) return -1;
  install_codec_hooks(&binding_hooks());
  return 0;
}

}  // namespace manycore::module
