"""tests/python/test_typing.py: the public API is typed (py.typed, __init__.pyi): mypy --strict passes on code using it (issue 11, point 13).

mypy runs in a subprocess on a small program that uses every part of the API; a
second program with type errors must fail, so the check can fail. Also: __all__
and dir(manycore) hold public names only.
"""

import importlib.util
import pathlib
import subprocess
import sys
import textwrap

import pytest

import manycore

USES_THE_API = '''
import asyncio
import concurrent.futures

import manycore


def square(x: int) -> int:
    return x * x


def add(a: int, b: int) -> int:
    return a + b


def main() -> None:
    interp: manycore.Interpreter = manycore.create()
    same: manycore.Interpreter = manycore.Interpreter(interp.id)
    assert same is interp and hash(interp) == hash(interp.id)
    where: str = interp.whence
    assert manycore.get_main().whence == "runtime init" and where
    interp.prepare_main({"x": 1}, y=2)
    interp.exec("z = x + y")
    result: int = interp.call(add, 1, 2)
    handle: manycore.CallHandle[int] = interp.call_in_thread(square, 3)
    done: bool = handle.join(timeout=5.0)
    value: int = handle.result()
    running: bool = interp.is_running()
    everyone: list[manycore.Interpreter] = manycore.list_all()
    current: manycore.Interpreter = manycore.get_current()
    shareable: bool = manycore.is_shareable((1, "a"))
    pickled: bool = manycore.will_pickle([object()])
    queue: manycore.Queue = manycore.create_queue(maxsize=4)
    attached: manycore.Queue = manycore.Queue(queue.id)
    queue.put(1, timeout=1.0)
    item: object = attached.get(timeout=1.0)
    queues: list[manycore.Queue] = manycore.list_queues()
    ready: manycore.Queue | None = manycore.select([queue], timeout=0.0)
    recv, send = manycore.create_channel()
    sent: bool = send.send_nowait(1)
    recv.close()
    try:
        manycore.Queue(10**9)
    except manycore.QueueNotFoundError:
        pass
    try:
        interp.call(square, 1)
    except manycore.ExecutionFailed as failed:
        print(failed.excinfo.formatted)
    with manycore.InterpreterPoolExecutor(max_workers=1) as executor:
        future: concurrent.futures.Future[int] = executor.submit(add, 1, 2)
        total: int = future.result()
        squares: list[int] = list(executor.map(square, [1, 2]))
    with manycore.Pool(1) as pool:
        mapped: list[int] = pool.map(square, [1, 2])
        lazy: manycore.IMapIterator[int] = pool.imap(square, [3])
        first: int = next(lazy)
        pending: manycore.AsyncResult[int] = pool.apply_async(add, (1, 2))
        later: int = pending.get(timeout=5.0)
    asyncio.run(queue.put_async(2))
    buf: manycore.SharedBuffer = manycore.SharedBuffer(8)
    buf[0] = 7
    buf[1:3] = b"ab"
    view: memoryview = memoryview(buf)
    head: manycore.SharedBuffer = buf[:4]
    byte: int = buf[0]
    frozen = manycore.SharedBuffer.copy_of(b"xyz", readonly=True)
    sizes: tuple[int, int, bool] = (len(buf), head.nbytes, frozen.readonly)
    view.release()
    shared = manycore.SharedDict({"a": 1}, b=2)
    shared["c"] = 3
    swapped: bool = shared.compare_and_set("a", 1, 10)
    keys: list[object] = shared.keys()
    counter = manycore.AtomicInt(0)
    new_value: int = counter.add(2)
    old_value: int = counter.fetch_add()
    exchanged: bool = counter.compare_exchange(3, 4)
    outcome: str = counter.wait(0, timeout=0.0)
    woken: int = counter.notify(None)
    lock = manycore.Lock()
    got: bool = lock.acquire(blocking=True, timeout=1.0)
    lock.release()
    with manycore.RLock():
        pass
    condition = manycore.Condition(manycore.Lock())
    with condition:
        condition.notify_all()
        flag: bool = condition.wait_for(lambda: True, timeout=0.1)
    event = manycore.Event()
    event.set()
    is_set: bool = asyncio.run(event.wait_async(timeout=1.0))
    semaphore: manycore.Semaphore = manycore.BoundedSemaphore(2)
    acquired: bool = asyncio.run(semaphore.acquire_async())
    semaphore.release()
    barrier = manycore.Barrier(1, timeout=1.0)
    arrival: int = barrier.wait()
    shared_value = manycore.Value("i", 0)
    with shared_value.get_lock():
        shared_value.value += 1
    raw_value = manycore.RawValue("d", 1.5)
    array = manycore.Array("i", [1, 2, 3])
    element: int = array[0]
    elements: list[int] = array[:]
    raw_array = manycore.RawArray("b", 4)
    unlocked = manycore.Array("i", 2, lock=False)
    interp.close()
    print(result, done, value, running, everyone, current, shareable, pickled, item, queues, ready, sent,
          total, squares, mapped, first, later, manycore.WHENCE_STDLIB, byte, sizes, swapped, keys, new_value,
          old_value, exchanged, outcome, woken, got, flag, is_set, acquired, arrival, raw_value.value,
          len(raw_array), list(unlocked), element, elements, array.get_obj())


if __name__ == "__main__":
    main()
'''

TYPE_ERRORS = '''
import manycore


def square(x: int) -> int:
    return x * x


interp = manycore.create()
wrong_id: str = interp.id
wrong_result: str = interp.call(square, 2)
interp.call(square, "not an int")
queue = manycore.Queue("not an id")
wrong_acquired: str = manycore.Lock().acquire()
'''


def run_mypy(tmp_path, name, source):
    program = tmp_path / name
    program.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(program)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )


needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is in the test extra")


@needs_mypy
def test_mypy_strict_passes_on_code_using_the_whole_api(tmp_path):
    completed = run_mypy(tmp_path, "uses_the_api.py", USES_THE_API)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@needs_mypy
def test_mypy_strict_finds_the_type_errors(tmp_path):
    completed = run_mypy(tmp_path, "type_errors.py", TYPE_ERRORS)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    errors = [line for line in completed.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 5, completed.stdout


def test_the_program_checked_by_mypy_runs(tmp_path):
    program = tmp_path / "uses_the_api.py"
    program.write_text(textwrap.dedent(USES_THE_API))
    completed = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, cwd=tmp_path,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr


def test_package_ships_py_typed_and_stubs():
    package = pathlib.Path(manycore.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "__init__.pyi").is_file()


def test_dir_shows_public_names_only():
    names = dir(manycore)
    assert "sys" not in names and "_core" not in names and "importlib" not in names
    assert set(names) == set(manycore.__all__) | {"__version__"}
    for name in manycore.__all__:
        assert getattr(manycore, name) is not None


def test_every_public_name_is_in_the_stubs():
    stub = (pathlib.Path(manycore.__file__).parent / "__init__.pyi").read_text()
    for name in manycore.__all__:
        assert f"class {name}" in stub or f"def {name}(" in stub or f"{name}:" in stub, name
