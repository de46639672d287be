// include/manycore/status.h: status codes and Result<T>, how the core reports failure.
//
// The core never raises Python exceptions. Every fallible core function returns a
// Status or a Result<T>; only the binding layer (src/module/errors.cc) turns a Status
// into a Python exception, through one mapping. A Status is plain C++ data (no
// PyObject*), so it may be created in one interpreter and read in another.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace manycore {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // caller passed something unusable (maps to ValueError/TypeError)
  kNotShareable,       // a value cannot cross interpreters
  kNotFound,           // interpreter (or queue, channel) id does not exist (any more)
  kInterpreterError,   // lifecycle misuse: closing a running interpreter, ...
  kCreateFailed,       // Py_NewInterpreterFromConfig failed
  kRemoteException,    // the callable raised inside the target interpreter
  kInterrupted,        // a signal handler raised while waiting (the Python error is set)
  kTimeout,            // a deadline passed
  kClosed,             // the object was closed
  kEmpty,              // nothing to take (non-blocking get)
  kFull,               // no room (non-blocking put)
  kBroken,             // a worker pool can run no more tasks (a worker's initializer failed)
  kCancelled,          // a task was dropped before it ran (cancelled, or its pool shut down)
  kInternal,           // a bug or an unexpected CPython failure
  kNotOwner,           // releasing a lock (or waiting on a condition) the caller does not hold (RuntimeError)
  kBrokenBarrier,      // a Barrier was aborted, reset or timed out (threading.BrokenBarrierError)
  kBusy,               // a buffer has exports that forbid the change, e.g. freeze() (BufferError)
};

// An exception raised inside an interpreter, described as plain data so that it can
// be re-created elsewhere. `pickled` holds the exception pickled in its interpreter
// when that worked, so the caller can re-raise the original type.
struct RemoteError {
  std::string type_module;   // e.g. "builtins"
  std::string type_qualname; // e.g. "ZeroDivisionError"
  std::string message;       // str(exc)
  std::string traceback;     // "".join(traceback.format_exception(exc))
  std::optional<std::string> pickled;
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }
  static Status Remote(RemoteError error) {
    Status status(StatusCode::kRemoteException, error.type_qualname + ": " + error.message);
    status.remote_ = std::move(error);
    return status;
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::optional<RemoteError>& remote() const { return remote_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<RemoteError> remote_;
};

// Either a T or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {}  // NOLINT: implicit by design
  Result(StatusCode code, std::string message) : state_(Status(code, std::move(message))) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(state_);
  }
  Status take_status() { return ok() ? Status() : std::move(std::get<Status>(state_)); }
  T& value() { return std::get<T>(state_); }
  const T& value() const { return std::get<T>(state_); }
  T take_value() { return std::move(std::get<T>(state_)); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace manycore
