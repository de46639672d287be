"""tests/python/test_arena_cache.py: the arena cache (manycore/_memory.py): its knobs, its environment variable, and values that cross on reused arenas."""

import os
import subprocess
import sys
import time

import pytest

import manycore

MIB = 1 << 20
# src/core/arena_cache.cc, default_limit_bytes: 512 MiB, or a sixteenth of the memory.
DEFAULT_LIMIT = min(512 * MIB, os.sysconf("SC_PHYS_PAGES") // 16 * os.sysconf("SC_PAGE_SIZE"))


@pytest.fixture
def restore_limit():
    limit = manycore.arena_cache_info()["limit_bytes"]
    yield
    manycore.set_arena_cache_limit(limit)


def test_installed_once_an_interpreter_exists(interp):
    info = manycore.arena_cache_info()
    assert info["installed"] is True
    assert info["limit_bytes"] == DEFAULT_LIMIT
    assert set(info) == {"installed", "limit_bytes", "cached_bytes", "reused", "fresh", "released"}


def test_memory_freed_by_a_worker_is_reused_by_the_caller(interp, restore_limit):
    data = list(range(10**6, 2 * 10**6))
    before = manycore.arena_cache_info()
    for _ in range(3):
        back = interp.call(manycore_echo, data)
        assert back == data and back is not data
        del back
    after = manycore.arena_cache_info()
    # Each round needs ~31 arenas on each side; how many come from partly used arenas
    # the test process already has varies, but most of the rest come from the cache.
    assert after["reused"] - before["reused"] >= 10
    assert after["cached_bytes"] <= after["limit_bytes"]


def manycore_echo(value):
    return value


def test_lower_limit_gives_memory_back_and_zero_turns_reuse_off(interp, restore_limit):
    data = list(range(10**6, 2 * 10**6))
    interp.call(len, data)
    manycore.set_arena_cache_limit(2 * MIB)
    assert manycore.arena_cache_info()["cached_bytes"] <= 2 * MIB
    manycore.set_arena_cache_limit(0)
    before = manycore.arena_cache_info()
    assert before["cached_bytes"] == 0
    assert interp.call(manycore_echo, data) == data  # values still cross with the cache off
    after = manycore.arena_cache_info()
    assert after["cached_bytes"] == 0 and after["reused"] == before["reused"]


def _wait_until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_what_nobody_takes_goes_back_within_a_second_or_so(interp):
    # The worker frees the decoded list after the call has returned: wait for it.
    interp.call(len, list(range(10**6, 2 * 10**6)))
    assert _wait_until(lambda: manycore.arena_cache_info()["cached_bytes"] > 0), str(manycore.arena_cache_info())
    deadline = time.monotonic() + 10  # the decay is 1 s: ten times that on a loaded machine
    while manycore.arena_cache_info()["cached_bytes"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manycore.arena_cache_info()["cached_bytes"] == 0


@pytest.mark.parametrize("bad", ["x", 1.5, True, None])
def test_a_limit_that_is_not_an_int_is_a_type_error(bad):
    with pytest.raises(TypeError, match="takes an int number of bytes, not"):
        manycore.set_arena_cache_limit(bad)


def test_negative_limit_is_a_value_error():
    with pytest.raises(ValueError, match=r"limit >= 0 bytes, not -1"):
        manycore.set_arena_cache_limit(-1)


def _run(code, env_value):
    env = dict(os.environ)
    env["MANYCORE_ARENA_CACHE_MIB"] = env_value
    return subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env,
                          capture_output=True, text=True, timeout=60)


def test_environment_variable_sets_the_limit_and_zero_keeps_cpythons_allocator():
    code = ("import manycore; i = manycore.create(); print(i.call(sum, list(range(10**5)))); "
            "info = manycore.arena_cache_info(); print(info['installed'], info['limit_bytes'])")
    assert _run(code, "8").stdout.split() == [str(sum(range(10**5))), "True", str(8 * MIB)]
    assert _run(code, "0").stdout.split() == [str(sum(range(10**5))), "False", "0"]


def test_malformed_environment_variable_warns_and_keeps_the_default():
    done = _run("import manycore", "lots")
    assert done.returncode != 0
    assert "MANYCORE_ARENA_CACHE_MIB='lots' is not a whole number of MiB" in done.stderr
    code = ("import warnings; warnings.simplefilter('ignore'); import manycore; i = manycore.create(); "
            "print(manycore.arena_cache_info()['limit_bytes'])")
    assert _run(code, " 8").stdout.split() == [str(DEFAULT_LIMIT)]


def test_a_fork_child_keeps_a_working_cache():
    # The child inherits the cache but not its purger thread (pthread_atfork restarts
    # it there) nor a locked mutex; it must allocate, free and see the decay.
    code = """if True:
        import os, time, manycore
        interp = manycore.create()
        interp.call(len, list(range(10**6, 2 * 10**6)))
        interp.close()
        pid = os.fork()
        if pid == 0:
            data = list(range(10**6)); del data
            assert manycore.arena_cache_info()["cached_bytes"] > 0
            deadline = time.monotonic() + 10
            while manycore.arena_cache_info()["cached_bytes"] and time.monotonic() < deadline:
                time.sleep(0.05)
            os._exit(0 if manycore.arena_cache_info()["cached_bytes"] == 0 else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["0"], done.stderr
