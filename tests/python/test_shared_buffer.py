"""tests/python/test_shared_buffer.py: manycore.SharedBuffer: buffer protocol, views, freeze, lifetime, every route across interpreters."""

import array
import gc
import hashlib
import io
import mmap
import os
import pickle
import re
import struct
import subprocess
import sys
import zlib

import pytest

import manycore
from helpers import shared_tasks


def test_new_buffer_is_zero_filled_with_its_size():
    for nbytes in (0, 1, 100, 1 << 16, 1 << 20):
        buf = manycore.SharedBuffer(nbytes)
        assert len(buf) == buf.nbytes == nbytes
        assert bytes(buf) == bytes(nbytes)
        assert not buf.readonly and buf.offset == 0
    assert "nbytes=10" in repr(manycore.SharedBuffer(10))


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2.5, TypeError), ("10", TypeError), (None, TypeError),
                                        (True, TypeError), (2**70, OverflowError)])
def test_bad_sizes_raise_what_bytearray_would_and_bools_are_refused(bad, error):
    with pytest.raises(error):
        manycore.SharedBuffer(bad)


def test_buffer_protocol_in_the_main_interpreter():
    buf = manycore.SharedBuffer(64)
    report = shared_tasks.buffer_protocol_report(buf)
    assert report["double"] == 2.5 and report["word"] == "0xdeadbeef"
    assert report["read"] == b"readinto!" and report["re"] == b"into"
    assert report["crc"] == zlib.crc32(bytes(buf))
    assert report["sha256"] == hashlib.sha256(bytes(buf)).hexdigest() if "sha256" in report else True
    assert report["array"] == list(bytes(buf)[:4])


def test_buffer_protocol_in_a_worker_sees_and_changes_the_same_memory(interp):
    buf = manycore.SharedBuffer(64)
    report = interp.call(shared_tasks.buffer_protocol_report, buf)
    assert report["nbytes"] == 64
    # What the worker wrote is in the main interpreter's view of the same memory.
    assert struct.unpack_from("d", buf, 0)[0] == 2.5
    assert bytes(buf[16:25]) == b"readinto!"
    assert report["crc"] == zlib.crc32(buf)
    if "sha256" in report:
        assert report["sha256"] == hashlib.sha256(buf).hexdigest()


def test_slices_are_views_not_copies():
    buf = manycore.SharedBuffer(100)
    view = buf[10:20]
    assert isinstance(view, manycore.SharedBuffer) and len(view) == 10 and view.offset == 10
    view[0] = 7
    view[-1] = 9
    assert buf[10] == 7 and buf[19] == 9
    buf[12:14] = b"ab"
    assert bytes(view[2:4]) == b"ab"
    assert len(buf[90:200]) == 10 and len(buf[50:10]) == 0 and len(buf[-5:]) == 5


def test_bad_indexing_raises_like_bytearray():
    buf = manycore.SharedBuffer(10)
    with pytest.raises(IndexError):
        buf[10]
    with pytest.raises(IndexError):
        buf[-11] = 0
    with pytest.raises(ValueError):
        buf[0] = 256
    with pytest.raises(TypeError):
        buf["a"]
    with pytest.raises(ValueError, match="step 1"):
        buf[::2]
    with pytest.raises(ValueError, match="keep the size"):
        buf[0:3] = b"ab"
    with pytest.raises(TypeError):
        del buf[0]


def test_crosses_by_every_route_as_the_same_memory(interp):
    buf = manycore.SharedBuffer(1 << 20)
    assert interp.call(shared_tasks.fill, buf[100:200], 7) == 100  # call argument (a view)
    assert bytes(buf[100:200]) == b"\x07" * 100 and buf[99] == 0 and buf[200] == 0
    made = interp.call(shared_tasks.make_buffer, 1000, 3)  # call result
    assert isinstance(made, manycore.SharedBuffer) and bytes(made) == b"\x03" * 1000
    interp.prepare_main(shared=buf, nested={"parts": [buf[:10], (buf[10:20],)]})
    interp.exec("shared[0] = 42; nested['parts'][1][0][0] = 43")
    assert buf[0] == 42 and buf[10] == 43
    q = manycore.create_queue()
    q.put({"buffer": buf})
    interp.exec("import manycore")
    got = interp.call(lambda queue: queue.get()["buffer"][5:6], q)
    got[0] = 44
    assert buf[5] == 44
    recv, send = manycore.create_channel()
    handle = interp.call_in_thread(lambda r: r.recv().tobytes()[:3], recv)
    send.send(buf)
    assert handle.result(timeout=30) == bytes([42, 0, 0])


def test_memory_lives_while_a_memoryview_exists_in_another_interpreter(interp):
    buf = manycore.SharedBuffer(1 << 20)
    assert interp.call(shared_tasks.keep_memoryview, buf[:1000])
    del buf
    gc.collect()
    assert interp.call(shared_tasks.write_through_kept_view, 5) == 5000


def test_copy_of_copies_a_bytes_like_and_can_be_read_only():
    source = bytearray(b"hello world")
    copy = manycore.SharedBuffer.copy_of(source)
    source[0] = 0
    assert bytes(copy) == b"hello world" and not copy.readonly
    frozen = manycore.SharedBuffer.copy_of(memoryview(b"abc"), readonly=True)
    assert frozen.readonly and bytes(frozen) == b"abc"
    assert bytes(manycore.SharedBuffer.copy_of(array.array("i", [1, 2]))) == array.array("i", [1, 2]).tobytes()
    with pytest.raises(TypeError):
        manycore.SharedBuffer.copy_of("text")
    with pytest.raises(TypeError):
        manycore.SharedBuffer.copy_of(12)


def test_freeze_makes_every_write_raise_what_bytes_would_in_every_interpreter(interp):
    buf = manycore.SharedBuffer(16)
    writable = memoryview(buf)
    with pytest.raises(BufferError, match="writable"):
        buf.freeze()
    writable.release()
    buf.freeze()
    buf.freeze()  # idempotent
    assert buf.readonly and buf[4:8].readonly
    assert memoryview(buf).readonly
    expected = shared_tasks.try_writes(bytes(16))  # what the stdlib raises for bytes
    assert shared_tasks.try_writes(buf) == expected == {
        "item": "TypeError", "memoryview": "TypeError", "pack_into": "TypeError", "readinto": "TypeError"}
    assert interp.call(shared_tasks.is_readonly, buf) == (True, True)
    assert interp.call(shared_tasks.try_writes, buf) == expected
    assert bytes(buf) == bytes(16)
    assert zlib.crc32(buf) == zlib.crc32(bytes(16))  # reading still works


def test_a_process_can_map_the_same_memory_through_fileno():
    buf = manycore.SharedBuffer(1 << 20)
    buf[:5] = b"hello"
    path = f"/proc/{os.getpid()}/fd/{buf.fileno()}"
    child = subprocess.run(
        [sys.executable, "-c", "import mmap, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDWR)\n"
         "m = mmap.mmap(fd, 1 << 20)\n"
         "print(m[:5].decode()); m[5:10] = b'world'; m.close()\n", path],
        capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "hello"
    assert bytes(buf[:10]) == b"helloworld"
    assert mmap.PAGESIZE > 0


def test_small_buffers_have_no_file_descriptor():
    with pytest.raises(OSError, match="no file descriptor"):
        manycore.SharedBuffer(100).fileno()


def test_cannot_be_pickled_with_a_reason():
    with pytest.raises(TypeError, match="crosses interpreters by itself"):
        pickle.dumps(manycore.SharedBuffer(4))


def test_regex_and_file_apis_accept_it():
    buf = manycore.SharedBuffer.copy_of(b"key=value; other=thing")
    assert re.findall(rb"(\w+)=(\w+)", buf) == [(b"key", b"value"), (b"other", b"thing")]
    target = manycore.SharedBuffer(5)
    assert io.BytesIO(b"12345678").readinto(target) == 5
    assert bytes(target) == b"12345"
