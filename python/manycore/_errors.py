"""python/manycore/_errors.py: manycore's exception hierarchy (raised by the C++ binding through one mapping)."""

import types


class InterpreterError(Exception):
    """An interpreter operation failed (e.g. closing one that is running)."""


class InterpreterNotFoundError(InterpreterError):
    """The interpreter does not exist (any more): it was closed or never created."""


class NotShareableError(ValueError):
    """The object cannot be sent to another interpreter: neither the native codec nor pickle carries it."""


class ExceptionInfo(types.SimpleNamespace):
    """What is known of an exception raised in another interpreter: type, msg, formatted (traceback)."""

    def __str__(self):
        return f"{self.type.__qualname__}: {self.msg}" if self.msg else self.type.__qualname__


class ExecutionFailed(InterpreterError):
    """Code run in another interpreter raised; ``excinfo`` describes that exception.

    ``str()`` shows the remote exception's type, message and formatted traceback.
    """

    def __init__(self, excinfo):
        self.excinfo = excinfo
        super().__init__(f"{excinfo}\n\nUncaught in the interpreter:\n\n{excinfo.formatted}".rstrip())

    @classmethod
    def _from_remote(cls, type_module, type_qualname, message, formatted):
        remote_type = types.SimpleNamespace(
            __module__=type_module, __qualname__=type_qualname, __name__=type_qualname.rpartition(".")[2]
        )
        return cls(ExceptionInfo(type=remote_type, msg=message, formatted=formatted, errdisplay=formatted))

    def __reduce__(self):
        return (_rebuild_execution_failed, (self.excinfo.type.__module__, self.excinfo.type.__qualname__,
                                            self.excinfo.msg, self.excinfo.formatted))


def _rebuild_execution_failed(type_module, type_qualname, message, formatted):
    return ExecutionFailed._from_remote(type_module, type_qualname, message, formatted)
