// src/module/timeout.cc: parsing of the `timeout` argument shared by blocking calls (calls, queues, channels, select, pools).
#include "timeout.h"

#include <cmath>

namespace manycore::module {

bool parse_timeout(PyObject* arg, std::optional<double>& seconds) {
  seconds.reset();
  if (arg == nullptr || arg == Py_None) return true;
  // bool is an int, but timeout=True is almost surely a mix-up with `block`.
  if (PyBool_Check(arg) || !(PyFloat_Check(arg) || PyLong_Check(arg) || PyIndex_Check(arg))) {
    PyErr_Format(PyExc_TypeError, "timeout must be a number of seconds or None, not %.200s", Py_TYPE(arg)->tp_name);
    return false;
  }
  double value = PyFloat_AsDouble(arg);
  if (value == -1.0 && PyErr_Occurred()) return false;
  if (std::isnan(value) || value < 0) {
    PyErr_Format(PyExc_ValueError, "timeout must be a non-negative number of seconds, got %R", arg);
    return false;
  }
  seconds = value;
  return true;
}

}  // namespace manycore::module
