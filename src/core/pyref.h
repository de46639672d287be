// src/core/pyref.h: PyRef, an owning PyObject* handle for code that holds the right GIL.
//
// A PyRef belongs to the interpreter whose GIL was held when it was made, and must be
// destroyed under that same GIL. It never crosses interpreters (Values do).
#pragma once

#include <Python.h>

#include <utility>

namespace manycore::internal {

class PyRef {
 public:
  PyRef() = default;
  static PyRef steal(PyObject* object) { return PyRef(object); }
  static PyRef borrow(PyObject* object) { Py_XINCREF(object); return PyRef(object); }
  ~PyRef() { Py_XDECREF(object_); }
  PyRef(PyRef&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  PyRef& operator=(PyRef&& other) noexcept {
    if (this != &other) {
      Py_XDECREF(object_);
      object_ = std::exchange(other.object_, nullptr);
    }
    return *this;
  }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;

  PyObject* get() const { return object_; }
  PyObject* release() { return std::exchange(object_, nullptr); }
  explicit operator bool() const { return object_ != nullptr; }

 private:
  explicit PyRef(PyObject* object) : object_(object) {}
  PyObject* object_ = nullptr;
};

// The module `name`: from sys.modules when already imported (the common, fast
// case), otherwise imported. Null with a Python error set on failure.
inline PyRef import_module(const char* name) {
  PyRef key = PyRef::steal(PyUnicode_FromString(name));
  if (!key) return PyRef();
  PyRef found = PyRef::steal(PyImport_GetModule(key.get()));
  if (found || PyErr_Occurred()) return found;
  return PyRef::steal(PyImport_Import(key.get()));
}

}  // namespace manycore::internal
