// src/module/module.cc: manycore._core, the extension module: module state and the wiring of each concern.
#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

int load_exceptions(ModuleState* state) {
  PyRef errors = PyRef::steal(PyImport_ImportModule("manycore._errors"));
  if (!errors) return -1;
  struct {
    const char* name;
    PyObject** slot;
  } wanted[] = {
      {"InterpreterError", &state->InterpreterError},
      {"InterpreterNotFoundError", &state->InterpreterNotFoundError},
      {"ExecutionFailed", &state->ExecutionFailed},
      {"NotShareableError", &state->NotShareableError},
      {"QueueError", &state->QueueError},
      {"QueueNotFoundError", &state->QueueNotFoundError},
      // QueueEmpty, QueueFull and QueueClosed are loaded when first raised (errors.cc).
      {"ChannelError", &state->ChannelError},
      {"ChannelClosedError", &state->ChannelClosedError},
      {"ChannelEmptyError", &state->ChannelEmptyError},
  };
  for (auto& [name, slot] : wanted) {
    *slot = PyObject_GetAttrString(errors.get(), name);
    if (*slot == nullptr) return -1;
  }
  return 0;
}

int module_exec(PyObject* module) {
  ModuleState* state = get_state(module);
  if (load_exceptions(state) < 0) return -1;
  if (install_hooks(state) < 0) return -1;
  if (register_interpreter(module, state) < 0) return -1;
  if (register_value(module, state) < 0) return -1;
  if (register_pool(module, state) < 0) return -1;
  if (register_queue(module, state) < 0) return -1;
  if (register_channel(module, state) < 0) return -1;
  if (register_shared(module, state) < 0) return -1;
  if (register_sync(module, state) < 0) return -1;
  if (register_sharedctypes(module, state) < 0) return -1;
  if (register_shared_dict(module, state) < 0) return -1;
  if (register_sleep(module, state) < 0) return -1;
  if (register_frames(module, state) < 0) return -1;
  if (register_arena_cache(module, state) < 0) return -1;
  return 0;
}

#define MANYCORE_STATE_MEMBERS(X) \
  X(InterpreterError)             \
  X(InterpreterNotFoundError)     \
  X(ExecutionFailed)              \
  X(NotShareableError)            \
  X(QueueError)                   \
  X(QueueNotFoundError)           \
  X(QueueEmpty)                   \
  X(QueueFull)                    \
  X(QueueClosed)                  \
  X(ChannelError)                 \
  X(ChannelClosedError)           \
  X(ChannelEmptyError)            \
  X(QueueType)                    \
  X(QueueWatchType)               \
  X(RecvChannelType)              \
  X(SendChannelType)              \
  X(PendingCallType)              \
  X(WorkerPoolType)               \
  X(TaskResultsType)              \
  X(SharedBufferType)             \
  X(LockType)                     \
  X(RLockType)                    \
  X(ConditionType)                \
  X(EventType)                    \
  X(SemaphoreType)                \
  X(BoundedSemaphoreType)         \
  X(BarrierType)                  \
  X(AtomicIntType)                \
  X(SharedValueType)              \
  X(SharedArrayType)              \
  X(SharedDictType)               \
  X(shareable_types)              \
  X(wrappers)

int module_traverse(PyObject* module, visitproc visit, void* arg) {
  ModuleState* state = get_state(module);
#define MANYCORE_VISIT(member) Py_VISIT(state->member);
  MANYCORE_STATE_MEMBERS(MANYCORE_VISIT)
#undef MANYCORE_VISIT
  return 0;
}

int module_clear(PyObject* module) {
  ModuleState* state = get_state(module);
#define MANYCORE_CLEAR(member) Py_CLEAR(state->member);
  MANYCORE_STATE_MEMBERS(MANYCORE_CLEAR)
#undef MANYCORE_CLEAR
  return 0;
}

void module_free(void* module) { module_clear(static_cast<PyObject*>(module)); }

PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, reinterpret_cast<void*>(module_exec)},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "manycore._core",
    "C++ core of manycore: interpreters with their own GIL, values across them.",
    sizeof(ModuleState),
    nullptr,
    module_slots,
    module_traverse,
    module_clear,
    module_free,
};

}  // namespace

ModuleState* get_state(PyObject* module) { return static_cast<ModuleState*>(PyModule_GetState(module)); }

ModuleState* state_of_type(PyTypeObject* type) {
  PyObject* module = PyType_GetModuleByDef(type, &module_def);  // borrowed; walks the MRO (subclasses)
  return module == nullptr ? nullptr : get_state(module);
}

ModuleState* current_state() {
  // A caller may come with an exception pending (an interrupted wait's
  // KeyboardInterrupt, which raise_status passes on): the lookup must not lose it, and
  // 3.12's _PyType_Lookup clears a pending error on a type-cache miss.
  PyObject* pending = PyErr_GetRaisedException();
  PyRef module = internal::import_module("manycore._core");
  if (pending != nullptr) {
    if (!module) PyErr_Clear();  // the pending exception is the one to report
    PyErr_SetRaisedException(pending);
  }
  if (!module) return nullptr;
  if (PyModule_GetDef(module.get()) != &module_def) {
    PyErr_SetString(PyExc_ImportError, "manycore._core is not the manycore extension module");
    return nullptr;
  }
  return get_state(module.get());  // kept alive by sys.modules
}

}  // namespace manycore::module

PyMODINIT_FUNC PyInit__core() { return PyModuleDef_Init(&manycore::module::module_def); }
