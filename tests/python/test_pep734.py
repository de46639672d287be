"""tests/python/test_pep734.py: manycore as a drop-in for PEP 734's concurrent.interpreters (issue 11, points 1-9).

The behaviours checked here follow CPython 3.14's own tests of concurrent.interpreters
(Lib/test/test_interpreters/test_api.py and test_queues.py in python/cpython, PSF
license), restated for manycore; each test names the CPython test it follows. Left
out: tests of CPython-private modules (_interpreters, _interpqueues, _testinternalcapi,
interpreters made through the C-API) and the deliberate differences documented in
docs/compat.md ("Differences from concurrent.interpreters"), which have tests of
their own at the end of this file.
"""

import os
import pickle
import threading

import pytest

import manycore
from manycore import _queues as queues  # the module layout of concurrent.interpreters._queues


@pytest.fixture
def fresh():
    """Interpreters made by one test, closed after it."""
    made = []

    def create():
        interp = manycore.create()
        made.append(interp)
        return interp

    yield create
    for interp in made:
        if interp in manycore.list_all():
            interp.close()


def run_output(interp, source):
    """What `source`, run by interp.exec, wrote to the pipe `out` (the stdlib tests' _run_output)."""
    read_end, write_end = os.pipe()
    try:
        interp.prepare_main(_out_fd=write_end)
        interp.exec("import os as _os\ndef print(*a):\n    _os.write(_out_fd, (' '.join(map(str, a)) + '\\n').encode())\n"
                    + source)
        os.close(write_end)
        write_end = None
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


# ---- module ------------------------------------------------------------------------------

def test_queue_aliases():  # ModuleTests.test_queue_aliases
    assert manycore.create_queue is queues.create_queue is queues.create
    assert manycore.Queue is queues.Queue
    assert manycore.QueueEmpty is queues.QueueEmpty and manycore.QueueFull is queues.QueueFull
    assert manycore.QueueNotFoundError is queues.QueueNotFoundError
    assert issubclass(manycore.QueueNotFoundError, manycore.QueueError)


def test_pep734_names_exist():
    for name in ("get_current", "get_main", "create", "list_all", "is_shareable", "Interpreter",
                 "InterpreterError", "InterpreterNotFoundError", "ExecutionFailed", "NotShareableError",
                 "create_queue", "Queue", "QueueEmpty", "QueueFull"):
        assert name in manycore.__all__, name


# ---- create / list_all -------------------------------------------------------------------

def test_create_in_main(fresh):  # CreateTests.test_in_main
    interp = fresh()
    assert isinstance(interp, manycore.Interpreter)
    assert interp in manycore.list_all()


def test_create_in_thread(fresh):  # CreateTests.test_in_thread
    made = []
    thread = threading.Thread(target=lambda: made.append(manycore.create()))
    thread.start()
    thread.join()
    try:
        assert made[0] in manycore.list_all()
    finally:
        made[0].close()


def test_create_in_subinterpreter(fresh):  # CreateTests.test_in_subinterpreter
    interp = fresh()
    out = run_output(interp, "import manycore\ninner = manycore.create()\nprint(inner.id)\n")
    inner = manycore.Interpreter(int(out))
    try:
        assert manycore.list_all()[-2:] == [interp, inner]
    finally:
        interp.exec("inner.close()")


def test_after_destroy_some(fresh):  # CreateTests.test_after_destroy_all / _some
    before = set(manycore.list_all())
    first, second, third = fresh(), fresh(), fresh()
    first.close()
    second.close()
    last = fresh()
    assert set(manycore.list_all()) == before | {third, last}


def test_list_all_order_and_identity(fresh):  # ListAllTests.test_after_creating / test_idempotent
    main = manycore.get_current()
    first, second = fresh(), fresh()
    listed = manycore.list_all()
    assert [interp.id for interp in listed][0] == main.id
    assert listed[-2:] == [first, second]
    assert listed[-2] is first and listed[-1] is second and listed[0] is main
    first.close()
    assert first not in manycore.list_all()


# ---- get_main / get_current (point 3) ----------------------------------------------------

def test_get_main():  # GetMainTests
    main = manycore.get_main()
    assert main.id == 0
    assert main is manycore.get_main()
    assert main is manycore.get_current()


def test_get_current_in_subinterpreter(interp):  # GetCurrentTests.test_subinterpreter / test_idempotent
    out = run_output(interp, "import manycore\ncur = manycore.get_current()\nprint(cur.id, id(cur), "
                             "id(manycore.get_current()), manycore.get_current() is manycore.Interpreter(cur.id))\n")
    interp_id, first, second, same = out.split()
    assert manycore.Interpreter(int(interp_id)) is interp
    assert first == second and same == "True"
    assert int(first) != id(interp)  # one object per interpreter *in each interpreter*


# ---- Interpreter objects (points 3, 4, 5, 7) ---------------------------------------------

def test_init_int_and_idempotent(interp):  # InterpreterObjectTests.test_init_int / test_idempotent
    assert manycore.Interpreter(interp.id) is interp
    assert manycore.Interpreter(0) is manycore.get_main()


@pytest.mark.parametrize("bad", ["0", 0.0, object(), None, "", True])
def test_init_unsupported(bad):  # InterpreterObjectTests.test_init_unsupported
    with pytest.raises(TypeError):
        manycore.Interpreter(bad)


def test_init_does_not_exist():  # InterpreterObjectTests.test_init_does_not_exist
    with pytest.raises(manycore.InterpreterNotFoundError, match="1000000"):
        manycore.Interpreter(1_000_000)


def test_init_bad_id():  # InterpreterObjectTests.test_init_bad_id
    with pytest.raises(ValueError):
        manycore.Interpreter(-1)


def test_closed_interpreter_id_is_not_found(fresh):
    interp = fresh()
    interp_id = interp.id
    interp.close()
    del interp
    with pytest.raises(manycore.InterpreterNotFoundError):
        manycore.Interpreter(interp_id)


def test_id_type_and_readonly(interp):  # InterpreterObjectTests.test_id_type / test_id_readonly
    assert isinstance(interp.id, int) and isinstance(manycore.get_main().id, int)
    with pytest.raises(AttributeError):
        interp.id = 1_000_000


def test_whence(interp):  # InterpreterObjectTests.test_whence
    main = manycore.get_main()
    assert main.whence == "runtime init"
    assert interp.whence == "_interpreters module"
    assert interp.call(manycore.get_current().__class__.whence.fget, interp) == "_interpreters module"
    for value in (None, "unknown", "runtime init"):
        with pytest.raises(AttributeError):
            interp.whence = value
        with pytest.raises(AttributeError):
            main.whence = value
    assert (manycore.WHENCE_UNKNOWN, manycore.WHENCE_RUNTIME, manycore.WHENCE_LEGACY_CAPI, manycore.WHENCE_CAPI,
            manycore.WHENCE_XI, manycore.WHENCE_STDLIB) == (0, 1, 2, 3, 4, 5)


def test_whence_inside_the_interpreter(interp):
    assert run_output(interp, "import manycore\nprint(manycore.get_current().whence)\n").strip() == (
        "_interpreters module")


def test_whence_in_a_pool_worker():
    # Pool workers are not manycore.create()'s: whence is what CPython says (3.13), else unknown.
    import sys

    with manycore.Pool(1) as pool:
        whence = pool.apply(eval, ("__import__('manycore').get_current().whence",))
    assert whence == ("C-API" if sys.version_info >= (3, 13) else "unknown")


def test_hashable(interp):  # InterpreterObjectTests.test_hashable
    assert hash(interp) == hash(interp.id)
    assert hash(manycore.get_main()) == hash(0)


def test_equality(fresh):  # InterpreterObjectTests.test_equality
    first, second = fresh(), fresh()
    assert first == first and first != second
    assert first != first.id  # an Interpreter is not its id


def test_pickle(interp):  # InterpreterObjectTests.test_pickle (point 2)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(interp, protocol)) is interp


def test_pickled_interpreter_reaches_another_interpreter(interp, other_interp):
    data = pickle.dumps(other_interp)
    assert interp.call(pickle.loads, data) == other_interp
    assert interp.call(manycore.Interpreter, other_interp.id).id == other_interp.id


# ---- is_running / close ------------------------------------------------------------------

def test_is_running(fresh):  # TestInterpreterIsRunning.test_main / test_finished / test_already_destroyed
    assert manycore.get_main().is_running()
    interp = fresh()
    interp.exec("x = 1")
    assert not interp.is_running()
    assert run_output(interp, "import manycore\nprint(manycore.get_current().is_running())\n").strip() == "True"
    interp.close()
    with pytest.raises(manycore.InterpreterNotFoundError):
        interp.is_running()


def test_close(fresh):  # TestInterpreterClose.test_basic / test_all / test_already_destroyed
    main = manycore.get_main()
    first, second, third = fresh(), fresh(), fresh()
    assert {main, first, second, third} <= set(manycore.list_all())
    second.close()
    assert second not in manycore.list_all() and {first, third} <= set(manycore.list_all())
    with pytest.raises(manycore.InterpreterNotFoundError):
        second.close()


def test_close_main_raises():  # TestInterpreterClose.test_main
    main = manycore.get_main()
    with pytest.raises(manycore.InterpreterError):
        main.close()
    failures = []

    def close_from_thread():
        try:
            main.close()
        except manycore.InterpreterError as error:
            failures.append(error)

    thread = threading.Thread(target=close_from_thread)
    thread.start()
    thread.join()
    assert len(failures) == 1


def test_close_from_current_fails(fresh):  # TestInterpreterClose.test_from_current
    interp = fresh()
    out = run_output(interp, f"import manycore\ntry:\n    manycore.Interpreter({interp.id}).close()\n"
                             "except manycore.InterpreterError:\n    print('failed')\n")
    assert out.strip() == "failed" and interp in manycore.list_all()


def test_close_from_sibling(fresh):  # TestInterpreterClose.test_from_sibling
    first, second = fresh(), fresh()
    first.exec(f"import manycore\nmanycore.Interpreter({second.id}).close()\n"
               "third = manycore.create()\nthird.close()\n")
    assert second not in manycore.list_all() and first in manycore.list_all()


def test_close_from_other_thread(fresh):  # TestInterpreterClose.test_from_other_thread
    interp = fresh()
    thread = threading.Thread(target=interp.close)
    thread.start()
    thread.join()
    assert interp not in manycore.list_all()


# ---- prepare_main (point 6) --------------------------------------------------------------

def test_prepare_main_empty(interp):  # TestInterpreterPrepareMain.test_empty
    with pytest.raises(ValueError, match="needs names"):
        interp.prepare_main()
    with pytest.raises(ValueError):
        interp.prepare_main({})


@pytest.mark.parametrize("form", ["dict", "tuple", "kwargs", "dict_and_kwargs"])
def test_prepare_main_forms(fresh, form):  # TestInterpreterPrepareMain.test_dict / _tuple / _kwargs / _dict_and_kwargs
    interp = fresh()
    values = {"spam": 42, "eggs": "ham"}
    if form == "dict":
        interp.prepare_main(values)
    elif form == "tuple":
        interp.prepare_main(tuple(values.items()))
    elif form == "kwargs":
        interp.prepare_main(**values)
    else:
        interp.prepare_main(values, foo="bar")
    expected = "42 ham bar" if form == "dict_and_kwargs" else "42 ham"
    source = "print(spam, eggs, foo)\n" if form == "dict_and_kwargs" else "print(spam, eggs)\n"
    assert run_output(interp, source).strip() == expected


def test_prepare_main_not_shareable_binds_nothing(fresh):  # TestInterpreterPrepareMain.test_not_shareable
    interp = fresh()
    with pytest.raises(ValueError):  # NotShareableError is a ValueError
        interp.prepare_main(spam=1, eggs=threading.Lock())
    with pytest.raises(manycore.ExecutionFailed):
        interp.exec("print(spam)")


# ---- exec ------------------------------------------------------------------------------

def test_exec_success_and_failure(interp):  # TestInterpreterExec.test_success / test_failure
    assert run_output(interp, 'print("it worked!")\n') == "it worked!\n"
    with pytest.raises(manycore.ExecutionFailed):
        interp.exec("raise Exception")


def test_exec_in_thread(interp):  # TestInterpreterExec.test_in_thread
    outputs = []
    thread = threading.Thread(target=lambda: outputs.append(run_output(interp, 'print("it worked!")\n')))
    thread.start()
    thread.join()
    assert outputs == ["it worked!\n"]


def test_exec_fork_is_refused_in_the_interpreter(interp):  # TestInterpreterExec.test_fork
    out = run_output(interp, "import os\ntry:\n    os.fork()\nexcept RuntimeError:\n    print('refused')\n")
    assert out.strip() == "refused"


@pytest.mark.parametrize("bad", [10, b'print("spam")'])
def test_exec_bad_script(interp, bad):  # TestInterpreterExec.test_bad_script / test_bytes_for_script
    with pytest.raises(TypeError):
        interp.exec(bad)


def test_exec_with_background_thread(fresh):  # TestInterpreterExec.test_with_background_threads_still_running
    interp = fresh()
    read_end, write_end = os.pipe()
    try:
        interp.prepare_main(w=write_end)
        interp.exec("import os, threading, time\n"
                    "t = threading.Thread(target=lambda: (time.sleep(0.05), os.write(w, b'F')))\nt.start()\n"
                    "os.write(w, b'R')\n")
        interp.exec("os.write(w, b'R')")
        interp.exec("t.join()")
        assert os.read(read_end, 3) == b"RRF"
    finally:
        os.close(read_end)
        os.close(write_end)


# ---- the __main__ namespace (point 8) ----------------------------------------------------

def test_main_namespace_is_like_314s(fresh):
    interp = fresh()
    assert sorted(interp.call(globals)) == [
        "__builtins__", "__doc__", "__loader__", "__name__", "__package__", "__spec__"]
    interp.exec("x: int = 1")  # module-level annotations still work
    assert interp.call(eval, "__annotations__") == {"x": int}


# ---- is_shareable (point 9) ---------------------------------------------------------------

@pytest.mark.parametrize("obj", [None, b"spam", "spam", 10, -10, True, False, 100.0, (), (1, ("spam", "eggs"), True)])
def test_default_shareables(obj):  # TestIsShareable.test_default_shareables
    assert manycore.is_shareable(obj) is True


class Cheese:
    def __init__(self, name):
        self.name = name


class SubBytes(bytes):
    """A subclass of a shareable type."""


@pytest.mark.parametrize("obj", [NotImplemented, ..., type, object, object(), Exception(), Cheese, Cheese("Wensleydale"),
                                 SubBytes(b"spam"), [1, 2], {"a": 1}, (1, [2])])
def test_not_shareable(obj):  # TestIsShareable.test_not_shareable
    assert manycore.is_shareable(obj) is False


def test_cross_interpreter_objects_are_shareable():
    assert manycore.is_shareable(manycore.create_queue())
    recv, send = manycore.create_channel()
    assert manycore.is_shareable(recv) and manycore.is_shareable(send)
    assert manycore.is_shareable(memoryview(b"x"))


def test_will_pickle_tells_what_is_pickled():
    assert manycore.will_pickle([1, {"a": (2.0, b"x")}]) is False  # copied natively
    assert manycore.will_pickle(manycore.create_queue()) is False  # shared
    assert manycore.will_pickle(Cheese("Brie")) is True
    assert manycore.will_pickle([1, SubBytes(b"x")]) is True
    with pytest.raises(manycore.NotShareableError):
        manycore.will_pickle(threading.Lock())


# ---- queues (point 1, 2) -----------------------------------------------------------------

def test_queue_create():  # QueueTests.test_create
    assert queues.create().maxsize == 0
    assert queues.create(3).maxsize == 3
    assert queues.create(0).maxsize == 0
    with pytest.raises(TypeError):
        queues.create("1")


def test_queue_shareable(interp):  # QueueTests.test_shareable
    queue1 = queues.create()
    interp.exec(f"import manycore\nqueue1 = manycore.Queue({queue1.id})\n")
    queue2 = queues.create()
    queue1.put(queue2)
    assert queue1.get() is queue2  # same interpreter: the same object
    queue4 = queues.create()
    queue1.put(queue4)
    assert int(run_output(interp, "queue4 = queue1.get()\nprint(queue4.id)\n")) == queue4.id
    out = run_output(interp, "queue5 = manycore.create_queue()\nqueue1.put(queue5)\nprint(queue5.id)\n")
    assert queue1.get().id == int(out)
    interp.exec("del queue1, queue4, queue5")


def test_queue_custom_id():  # QueueTests.test_custom_id
    with pytest.raises(queues.QueueNotFoundError):
        queues.Queue(1_000_000)


def test_queue_id_and_maxsize_readonly():  # QueueTests.test_id_readonly / test_maxsize_readonly
    queue = queues.create(10)
    assert isinstance(queue.id, int)
    with pytest.raises(AttributeError):
        queue.id = 1_000_000
    with pytest.raises(AttributeError):
        queue.maxsize = 1_000_000


def test_queue_hash_equality_pickle():  # QueueTests.test_hashable / test_equality / test_pickle
    queue1, queue2 = queues.create(), queues.create()
    assert hash(queue1) == hash(queue1.id)
    assert queue1 == queue1 and queue1 != queue2
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(queue1, protocol)) is queue1


def test_queue_attach_by_id_is_the_same_object():
    queue = queues.create()
    assert queues.Queue(queue.id) is queue
    with pytest.raises(TypeError, match="create_queue"):
        queues.Queue(queue.id, maxsize=3)
    with pytest.raises(TypeError):
        queues.Queue("1")


def test_queue_gone_once_nobody_holds_it():
    queue = queues.create()
    queue_id = queue.id
    assert queue in queues.list_all()
    del queue
    with pytest.raises(queues.QueueNotFoundError):
        queues.Queue(queue_id)
    assert queue_id not in [q.id for q in queues.list_all()]


def test_queue_attached_by_id_in_another_interpreter_does_not_hang(interp):
    # Before: Queue(id) made a new queue with maxsize=id and the waiter blocked forever.
    queue = queues.create()
    interp.prepare_main(queue_id=queue.id)
    handle = interp.call_in_thread(exec, "import manycore\nmanycore.Queue(queue_id).put('from the interpreter')")
    assert queue.get(timeout=30) == "from the interpreter"
    assert handle.join(timeout=30)


def test_queue_pickled_into_another_interpreter(interp):
    queue = queues.create()
    interp.call(exec, f"import pickle\npickle.loads({pickle.dumps(queue)!r}).put(42)")
    assert queue.get(timeout=10) == 42


def test_queue_list_all_counts(interp):  # TestQueueOps.test_put_get_different_interpreters (list_all part)
    before = len(queues.list_all())
    queue1, queue2 = queues.create(), queues.create()
    assert len(queues.list_all()) == before + 2
    queue1.put(b"spam")
    out = run_output(interp, f"import manycore\nq1 = manycore.Queue({queue1.id})\nq2 = manycore.Queue({queue2.id})\n"
                             "obj = q1.get()\nassert obj == b'spam'\nq2.put(b'eggs')\nprint(q1.qsize())\n"
                             "del q1, q2\n")
    assert out.strip() == "0" and len(queues.list_all()) == before + 2
    assert queue2.get() == b"eggs"
    assert manycore.list_queues() == queues.list_all()


def test_queue_ops():  # TestQueueOps.test_empty / test_full / test_qsize / test_put_get_main / timeouts / nowait
    queue = queues.create(2)
    assert queue.empty() and not queue.full()
    queue.put(None)
    queue.put_nowait(None)
    assert queue.full() and queue.qsize() == 2
    with pytest.raises(queues.QueueFull):
        queue.put(None, timeout=0.1)
    with pytest.raises(queues.QueueFull):
        queue.put_nowait(None)
    queue.get()
    queue.get_nowait()
    with pytest.raises(queues.QueueEmpty):
        queue.get(timeout=0.1)
    with pytest.raises(queues.QueueEmpty):
        queue.get_nowait()
    unbounded = queues.create()
    for i in range(20):
        unbounded.put(i)
    assert [unbounded.get() for _ in range(20)] == list(range(20))


@pytest.mark.parametrize("obj", [None, True, 10, "spam", b"spam", (0, "a"), [1, 2, 3], {"a": 13, "b": 17}])
def test_queue_put_full_fallback(obj):  # TestQueueOps.test_put_full_fallback
    queue = queues.create()
    queue.put(obj)
    assert queue.get() == obj
    queue.put(obj)
    assert queue.get_nowait() == obj


def test_queue_put_get_different_threads():  # TestQueueOps.test_put_get_different_threads
    queue1, queue2 = queues.create(), queues.create()
    thread = threading.Thread(target=lambda: queue2.put(queue1.get(timeout=30)))
    thread.start()
    original = b"spam"
    queue1.put(original)
    received = queue2.get(timeout=30)
    thread.join()
    assert received == original


# ---- call ---------------------------------------------------------------------------------

def call_func_noop():
    pass


def call_func_ident(value):
    return value


def call_func_failure():
    raise Exception("spam!")


class Spam:
    @staticmethod
    def noop():
        pass

    def __init__(self, value):
        self.value = value

    def run(self, *args, **kwargs):
        return (self.value, args, kwargs)

    def __eq__(self, other):
        return isinstance(other, Spam) and self.value == other.value


def test_call(interp):  # TestInterpreterCall.test_call
    assert interp.call(call_func_noop) is None
    assert interp.call(Spam.noop) is None
    assert interp.call(call_func_ident, "spamspamspam") == "spamspamspam"
    assert interp.call(Spam, 10) == Spam(10)
    assert interp.call(Spam(10101).run, 1, k=2) == (10101, (1,), {"k": 2})
    assert interp.call(lambda: 42) == 42
    with pytest.raises(Exception, match="spam!") as raised:
        interp.call(call_func_failure)
    assert isinstance(raised.value.__cause__, manycore.ExecutionFailed)


def test_call_in_thread(interp):  # TestInterpreterCall.test_call_in_thread
    handle = interp.call_in_thread(call_func_ident, "spam")
    assert handle.join(timeout=30) and handle.result() == "spam"
    failing = interp.call_in_thread(call_func_failure)
    assert failing.join(timeout=30) and isinstance(failing.exception(), Exception)


# ---- deliberate differences (docs/compat.md, "Differences from concurrent.interpreters") -----

def test_difference_lists_and_dicts_cross_natively(fresh):
    # The stdlib refuses prepare_main(spam={...}) (not shareable); manycore copies it.
    interp = fresh()
    interp.prepare_main(spam={"spam": "eggs"})
    assert interp.call(eval, "spam") == {"spam": "eggs"}


def test_difference_calls_into_a_busy_interpreter_queue_up(fresh):
    # The stdlib raises InterpreterError('running'); manycore runs the calls in order.
    interp = fresh()
    first = interp.call_in_thread(__import__("time").sleep, 0.2)
    interp.prepare_main(spam=True)
    assert first.join(timeout=30)
    assert interp.call(eval, "spam") is True


def test_difference_negative_maxsize_is_unbounded():
    # 3.14 keeps maxsize=-10 as given (and treats it as unbounded); manycore reports 0.
    assert queues.create(-10).maxsize == 0
