"""python/manycore/_tracebacks.py: user-facing tracebacks without manycore's own frames.

An exception that leaves a public entry point (Pool.map, Interpreter.call, ...) keeps
the caller's frames, the frames of user code it ran here (callbacks, input
iterators), and the remote traceback (in ExecutionFailed, its ``__cause__``); the
frames of manycore's Python package (_pool.py, _dispatch.py, ...) are dropped, as
they say nothing about the user's code. The wrapper re-raises with a bare ``raise``,
which adds no traceback entry of its own.
"""

import functools
import os
import types

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_internal(traceback):
    return traceback.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR)


def strip_internal_frames(error):
    """Drops manycore's frames from error's traceback and from the exceptions chained to it."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        kept = []
        traceback = error.__traceback__
        while traceback is not None:
            if not _is_internal(traceback):
                kept.append(traceback)
            traceback = traceback.tb_next
        for outer, inner in zip(kept, kept[1:]):
            outer.tb_next = inner
        if kept:
            kept[-1].tb_next = None
        error.__traceback__ = kept[0] if kept else None
        if error.__cause__ is not None:
            strip_internal_frames(error.__cause__)
        error = error.__context__


def _stripping(generator):
    try:
        return (yield from generator)
    except BaseException as error:
        strip_internal_frames(error)
        raise  # bare: no entry for this frame


def hide_internal_frames(function):
    """Wraps a public function or method (and the generator it returns) so its exceptions show no manycore frames."""

    @functools.wraps(function)
    def public_entry(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except BaseException as error:
            strip_internal_frames(error)
            raise  # bare: no entry for this frame
        return _stripping(result) if isinstance(result, types.GeneratorType) else result

    public_entry._manycore_hides_frames = True
    return public_entry


def hide_internal_frames_of(cls, *names):
    """Applies hide_internal_frames to the named methods of cls (aliases such as __next__ = next included)."""
    for name in names:
        method = cls.__dict__.get(name)
        if method is None or getattr(method, "_manycore_hides_frames", False):
            continue
        setattr(cls, name, hide_internal_frames(method))
