// src/module/register_shared.cc: manycore._core.SharedBuffer, the buffer-protocol wrapper of the process-wide SharedBuffer.
//
// Lifetime and threading rules: each interpreter has its own SharedBuffer type (module
// state); an instance is a SharedWrapper owning a std::shared_ptr to a C++ SharedBuffer
// (a view: memory, offset, length). A memoryview (or any Py_buffer) holds a reference
// to the wrapper, so the memory lives while any export exists in any interpreter.
// Writable exports are counted in the SharedMemory, so freeze() can refuse while one
// exists; instances are touched only under their interpreter's GIL.
#include <cstring>
#include <memory>

#include "errors.h"
#include "manycore/shared_buffer.h"
#include "pyref.h"
#include "state.h"

namespace manycore::module {

using internal::PyRef;

namespace {

SharedBuffer& buffer_of(PyObject* self) { return static_cast<SharedBuffer&>(*reinterpret_cast<SharedWrapper*>(self)->object); }

// Marks a Py_buffer whose export was counted as writable (view->internal).
char writable_export_marker;

PyObject* raise_core(const Status& status) {
  ModuleState* state = current_state();
  if (state == nullptr) return nullptr;
  return raise_status(state, status);
}

PyObject* wrap(PyTypeObject* type, Result<std::shared_ptr<SharedBuffer>> buffer) {
  if (!buffer.ok()) return raise_core(buffer.status());
  return new_shared_wrapper(type, buffer.take_value());
}

// nbytes as bytearray(n) takes it: an int (or __index__), >= 0.
bool parse_nbytes(PyObject* arg, size_t& nbytes) {
  if (PyBool_Check(arg) || !PyIndex_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "SharedBuffer() takes the size in bytes as an int, not %.200s; "
                 "use SharedBuffer.copy_of(data) to copy a bytes-like object", Py_TYPE(arg)->tp_name);
    return false;
  }
  PyRef index = PyRef::steal(PyNumber_Index(arg));
  if (!index) return false;
  int overflow = 0;
  long long value = PyLong_AsLongLongAndOverflow(index.get(), &overflow);
  if (value == -1 && PyErr_Occurred()) return false;
  if (overflow > 0) {
    PyErr_Format(PyExc_OverflowError, "SharedBuffer size %R is too large", arg);
    return false;
  }
  if (overflow < 0 || value < 0) {
    PyErr_Format(PyExc_ValueError, "SharedBuffer size must be >= 0, got %R", arg);
    return false;
  }
  nbytes = static_cast<size_t>(value);
  return true;
}

PyObject* buffer_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"nbytes", nullptr};
  PyObject* nbytes_arg;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:SharedBuffer", const_cast<char**>(keywords), &nbytes_arg)) {
    return nullptr;
  }
  size_t nbytes = 0;
  if (!parse_nbytes(nbytes_arg, nbytes)) return nullptr;
  PyThreadState* saved = PyEval_SaveThread();  // a heap block may be large: calloc without the GIL
  Result<std::shared_ptr<SharedBuffer>> buffer = SharedBuffer::create(nbytes);
  PyEval_RestoreThread(saved);
  return wrap(type, std::move(buffer));
}

PyObject* buffer_copy_of(PyObject* cls, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"data", "readonly", nullptr};
  Py_buffer source;
  int readonly = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|$p:copy_of", const_cast<char**>(keywords), &source, &readonly)) {
    return nullptr;
  }
  if (!PyBuffer_IsContiguous(&source, 'C')) {
    PyBuffer_Release(&source);
    return PyErr_Format(PyExc_BufferError, "copy_of() needs a C-contiguous buffer");
  }
  Result<std::shared_ptr<SharedBuffer>> buffer = SharedBuffer::copy_of(source.buf, source.len, readonly != 0);
  PyBuffer_Release(&source);
  return wrap(reinterpret_cast<PyTypeObject*>(cls), std::move(buffer));
}

// ---- buffer protocol ----------------------------------------------------------------------

int buffer_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  SharedBuffer& buffer = buffer_of(self);
  bool writable = buffer.memory()->begin_writable_export();
  if (!writable && (flags & PyBUF_WRITABLE)) {
    PyErr_SetString(PyExc_BufferError, "the SharedBuffer is read-only (frozen)");
    view->obj = nullptr;
    return -1;
  }
  if (PyBuffer_FillInfo(view, self, buffer.data(), static_cast<Py_ssize_t>(buffer.size()), writable ? 0 : 1, flags) < 0) {
    if (writable) buffer.memory()->end_writable_export();
    return -1;
  }
  view->internal = writable ? &writable_export_marker : nullptr;
  return 0;
}

void buffer_releasebuffer(PyObject* self, Py_buffer* view) {
  if (view->internal == &writable_export_marker) buffer_of(self).memory()->end_writable_export();
}

// ---- sequence-like access -----------------------------------------------------------------

Py_ssize_t buffer_length(PyObject* self) { return static_cast<Py_ssize_t>(buffer_of(self).size()); }

bool normalize_index(PyObject* self, PyObject* key, size_t& index) {
  Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
  if (i == -1 && PyErr_Occurred()) return false;
  Py_ssize_t size = buffer_length(self);
  if (i < 0) i += size;
  if (i < 0 || i >= size) {
    PyErr_SetString(PyExc_IndexError, "SharedBuffer index out of range");
    return false;
  }
  index = static_cast<size_t>(i);
  return true;
}

bool contiguous_slice(PyObject* self, PyObject* key, size_t& start, size_t& stop) {
  Py_ssize_t begin, end, step;
  if (PySlice_Unpack(key, &begin, &end, &step) < 0) return false;
  Py_ssize_t count = PySlice_AdjustIndices(buffer_length(self), &begin, &end, step);
  if (step != 1) {
    PyErr_SetString(PyExc_ValueError,
                    "SharedBuffer slices are views and must have step 1; use memoryview(buf)[start:stop:step]");
    return false;
  }
  start = static_cast<size_t>(begin);
  stop = static_cast<size_t>(begin + count);
  return true;
}

PyObject* buffer_subscript(PyObject* self, PyObject* key) {
  SharedBuffer& buffer = buffer_of(self);
  if (PySlice_Check(key)) {
    size_t start, stop;
    if (!contiguous_slice(self, key, start, stop)) return nullptr;
    return new_shared_wrapper(Py_TYPE(self), buffer.slice(start, stop));
  }
  if (!PyIndex_Check(key)) {
    return PyErr_Format(PyExc_TypeError, "SharedBuffer indices must be integers or slices, not %.200s",
                        Py_TYPE(key)->tp_name);
  }
  size_t index;
  if (!normalize_index(self, key, index)) return nullptr;
  return PyLong_FromLong(static_cast<unsigned char>(buffer.data()[index]));
}

int buffer_ass_subscript(PyObject* self, PyObject* key, PyObject* value) {
  SharedBuffer& buffer = buffer_of(self);
  if (value == nullptr) {
    PyErr_SetString(PyExc_TypeError, "cannot delete SharedBuffer items (its size is fixed)");
    return -1;
  }
  if (buffer.readonly()) {
    PyErr_SetString(PyExc_TypeError, "cannot modify read-only memory (the SharedBuffer is frozen)");
    return -1;
  }
  if (PySlice_Check(key)) {
    size_t start, stop;
    if (!contiguous_slice(self, key, start, stop)) return -1;
    Py_buffer source;
    if (PyObject_GetBuffer(value, &source, PyBUF_SIMPLE) < 0) return -1;
    if (static_cast<size_t>(source.len) != stop - start) {
      PyBuffer_Release(&source);
      PyErr_Format(PyExc_ValueError, "SharedBuffer slice assignment must keep the size: %zu bytes into a slice of %zu",
                   static_cast<size_t>(source.len), stop - start);
      return -1;
    }
    std::memmove(buffer.data() + start, source.buf, stop - start);
    PyBuffer_Release(&source);
    return 0;
  }
  if (!PyIndex_Check(key)) {
    PyErr_Format(PyExc_TypeError, "SharedBuffer indices must be integers or slices, not %.200s", Py_TYPE(key)->tp_name);
    return -1;
  }
  size_t index;
  if (!normalize_index(self, key, index)) return -1;
  long byte = PyLong_AsLong(value);
  if (byte == -1 && PyErr_Occurred()) return -1;
  if (byte < 0 || byte > 255) {
    PyErr_SetString(PyExc_ValueError, "byte must be in range(0, 256)");
    return -1;
  }
  buffer.data()[index] = static_cast<std::byte>(byte);
  return 0;
}

// ---- methods and attributes -----------------------------------------------------------------

PyObject* buffer_freeze(PyObject* self, PyObject*) {
  Status frozen = buffer_of(self).memory()->freeze();
  if (!frozen.ok()) return raise_core(frozen);
  Py_RETURN_NONE;
}

PyObject* buffer_tobytes(PyObject* self, PyObject*) {
  SharedBuffer& buffer = buffer_of(self);
  return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(buffer.data()), static_cast<Py_ssize_t>(buffer.size()));
}

PyObject* buffer_fileno(PyObject* self, PyObject*) {
  int fd = buffer_of(self).memory()->fd();
  if (fd < 0) {
    return PyErr_Format(PyExc_OSError, "this SharedBuffer has no file descriptor (buffers under 64 KiB live on the "
                        "heap; past 256 open memfds an anonymous mapping is used)");
  }
  return PyLong_FromLong(fd);
}

PyObject* buffer_get_nbytes(PyObject* self, void*) { return PyLong_FromSize_t(buffer_of(self).size()); }
PyObject* buffer_get_readonly(PyObject* self, void*) { return PyBool_FromLong(buffer_of(self).readonly()); }
PyObject* buffer_get_offset(PyObject* self, void*) { return PyLong_FromSize_t(buffer_of(self).offset()); }

PyObject* buffer_repr(PyObject* self) {
  SharedBuffer& buffer = buffer_of(self);
  return PyUnicode_FromFormat("<manycore.SharedBuffer nbytes=%zu offset=%zu%s>", buffer.size(), buffer.offset(),
                              buffer.readonly() ? " readonly" : "");
}

PyObject* buffer_reduce(PyObject*, PyObject*) {
  return PyErr_Format(PyExc_TypeError, "cannot pickle a SharedBuffer: it crosses interpreters by itself (as an "
                      "argument, a result, in a queue or a container); for a process, use fileno()");
}

#define MANYCORE_KW(function) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function))

PyMethodDef buffer_methods[] = {
    {"copy_of", MANYCORE_KW(buffer_copy_of), METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "copy_of(data, *, readonly=False): a new SharedBuffer holding a copy of the bytes-like data; frozen if readonly."},
    {"freeze", buffer_freeze, METH_NOARGS,
     "freeze(): make the memory read-only for every view in every interpreter, for good. BufferError while a "
     "writable memoryview of it exists."},
    {"tobytes", buffer_tobytes, METH_NOARGS, "tobytes($self, /)\n--\n\nA copy of the bytes, as bytes."},
    {"fileno", buffer_fileno, METH_NOARGS,
     "fileno($self, /)\n--\n\nThe memfd behind the buffer (an int), which a process can mmap (os.open('/proc/<pid>/fd/<fd>')). "
     "OSError if the buffer has none."},
    {"__reduce__", buffer_reduce, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef buffer_getset[] = {
    {"nbytes", buffer_get_nbytes, nullptr, "Size of this view in bytes (also len()).", nullptr},
    {"readonly", buffer_get_readonly, nullptr, "Whether the memory is frozen.", nullptr},
    {"offset", buffer_get_offset, nullptr, "Where this view starts in the underlying memory.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot buffer_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(buffer_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(destroy_shared_wrapper)},
    {Py_tp_methods, buffer_methods},
    {Py_tp_getset, buffer_getset},
    {Py_tp_repr, reinterpret_cast<void*>(buffer_repr)},
    {Py_bf_getbuffer, reinterpret_cast<void*>(buffer_getbuffer)},
    {Py_bf_releasebuffer, reinterpret_cast<void*>(buffer_releasebuffer)},
    {Py_mp_length, reinterpret_cast<void*>(buffer_length)},
    {Py_mp_subscript, reinterpret_cast<void*>(buffer_subscript)},
    {Py_mp_ass_subscript, reinterpret_cast<void*>(buffer_ass_subscript)},
    {Py_sq_length, reinterpret_cast<void*>(buffer_length)},
    {Py_tp_doc, const_cast<char*>(
        "SharedBuffer(nbytes): zero-filled bytes owned by manycore's C++ core and shared by every interpreter.\n\n"
        "Passing it to another interpreter hands over the same memory in O(1). It supports the buffer protocol "
        "(memoryview, struct, hashlib, zlib, re, readinto, ...); buf[i:j] is a view; freeze() makes it read-only.")},
    {0, nullptr},
};

PyType_Spec buffer_spec = {
    "manycore.SharedBuffer",
    sizeof(SharedWrapper),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    buffer_slots,
};

}  // namespace

namespace {

PyObject* wrap_registered_in(ModuleState* state, const std::shared_ptr<Shareable>& object) {
  if (state == nullptr) return nullptr;
  PyObject* type = wrapper_type_for(state, object->type_name());
  if (type == nullptr) return nullptr;
  return new_shared_wrapper(reinterpret_cast<PyTypeObject*>(type), object);
}

}  // namespace

PyObject* wrap_registered(PyObject* wrapper, const std::shared_ptr<Shareable>& object) {
  return wrap_registered_in(state_of_type(Py_TYPE(wrapper)), object);
}

int register_shared(PyObject* module, ModuleState* state) {
  PyObject* type = PyType_FromModuleAndSpec(module, &buffer_spec, nullptr);
  if (type == nullptr) return -1;
  state->SharedBufferType = type;
  if (PyModule_AddObjectRef(module, "SharedBuffer", type) < 0) return -1;
  return add_shareable_type(state, "SharedBuffer", type);
}

}  // namespace manycore::module
