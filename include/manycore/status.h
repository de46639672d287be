// include/manycore/status.h: status codes and Result<T>, how the core reports failure.
//
// The core never raises Python exceptions. Every fallible core function returns a
// Status or a Result<T>; only the binding layer (src/module/errors.cc) turns a Status
// into a Python exception, through one mapping. A Status is plain C++ data (no
// PyObject*), so it may be created in one interpreter and read in another.
#pragma once

#include <memory>
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

// Small on purpose (a code and one pointer): a pool moves one Result<Value> per task
// item, and an Ok status is what nearly all of them carry. The message and the remote
// error live in one immutable block that copies of a Status share.
class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), detail_(std::make_shared<const Detail>(Detail{std::move(message), std::nullopt})) {}
  static Status Ok() { return {}; }
  static Status Remote(RemoteError error) {
    Status status;
    status.code_ = StatusCode::kRemoteException;
    std::string message = error.type_qualname + ": " + error.message;
    status.detail_ = std::make_shared<const Detail>(Detail{std::move(message), std::move(error)});
    return status;
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return detail_ ? detail_->message : empty_message(); }
  // The exception a callable raised in another interpreter (kRemoteException), or null.
  const RemoteError* remote() const { return detail_ && detail_->remote ? &*detail_->remote : nullptr; }

 private:
  struct Detail {
    std::string message;
    std::optional<RemoteError> remote;
  };
  static const std::string& empty_message() {
    static const std::string kEmpty;
    return kEmpty;
  }

  StatusCode code_ = StatusCode::kOk;
  std::shared_ptr<const Detail> detail_;  // null for Ok and for a failure made without one
};

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
  Status take_status() {
    if (Status* failure = std::get_if<Status>(&state_)) return std::move(*failure);
    return Status();
  }
  T& value() { return std::get<T>(state_); }
  const T& value() const { return std::get<T>(state_); }
  T take_value() { return std::move(std::get<T>(state_)); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace manycore
