// src/module/timeout.h: parsing of the `timeout` argument shared by blocking calls (calls, queues, channels, select, pools).
#pragma once

#include <Python.h>

#include <optional>

namespace manycore::module {

// None (or nullptr: not given) -> nullopt, meaning wait forever; a real number >= 0
// -> that many seconds (fractions honoured). Otherwise false with TypeError (not a
// number) or ValueError (negative or NaN) set, naming the argument.
bool parse_timeout(PyObject* arg, std::optional<double>& seconds);

}  // namespace manycore::module
