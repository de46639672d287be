// src/module/register_arena_cache.cc: manycore._core.arena_cache_info and set_arena_cache_limit, the arena cache's knobs.
#include "arena_cache.h"
#include "state.h"
#include "wait.h"

namespace manycore::module {

namespace {

PyObject* arena_cache_info(PyObject*, PyObject*) {
  arena_cache::Stats stats = arena_cache::stats();
  return Py_BuildValue("{s:O,s:n,s:n,s:K,s:K,s:K}", "installed", stats.installed ? Py_True : Py_False,
                       "limit_bytes", static_cast<Py_ssize_t>(stats.limit_bytes), "cached_bytes",
                       static_cast<Py_ssize_t>(stats.cached_bytes), "reused",
                       static_cast<unsigned long long>(stats.reused), "fresh",
                       static_cast<unsigned long long>(stats.fresh), "released",
                       static_cast<unsigned long long>(stats.released));
}

// set_arena_cache_limit(limit_bytes): int >= 0; 0 empties the cache and keeps it empty.
PyObject* set_arena_cache_limit(PyObject*, PyObject* arg) {
  if (!PyLong_Check(arg) || PyBool_Check(arg)) {
    return PyErr_Format(PyExc_TypeError, "set_arena_cache_limit() takes an int number of bytes, not %.100s",
                        Py_TYPE(arg)->tp_name);
  }
  Py_ssize_t limit = PyLong_AsSsize_t(arg);
  if (limit == -1 && PyErr_Occurred()) return nullptr;
  if (limit < 0) {
    return PyErr_Format(PyExc_ValueError, "set_arena_cache_limit() takes a limit >= 0 bytes, not %zd", limit);
  }
  {
    internal::GilRelease released;  // giving arenas back to the system takes munmap calls
    arena_cache::set_limit_bytes(static_cast<size_t>(limit));
  }
  Py_RETURN_NONE;
}

PyMethodDef arena_cache_functions[] = {
    {"arena_cache_info", arena_cache_info, METH_NOARGS,
     "arena_cache_info() -> dict: installed, limit_bytes, cached_bytes, and the counts of arena requests "
     "served from the cache (reused), passed to the system (fresh), and freed arenas given back (released)."},
    {"set_arena_cache_limit", set_arena_cache_limit, METH_O,
     "set_arena_cache_limit(limit_bytes): how many bytes of freed arenas the process keeps for reuse; "
     "0 empties the cache."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

// The cache itself is installed by the first Interpreter::create, not here: a process
// that only imports manycore (a process pool's worker unpickling a task) keeps
// CPython's allocator.
int register_arena_cache(PyObject* module, ModuleState*) {
  return PyModule_AddFunctions(module, arena_cache_functions);
}

}  // namespace manycore::module
