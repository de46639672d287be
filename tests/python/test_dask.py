"""tests/python/test_dask.py: Dask on manycore: the local scheduler with InterpreterPoolExecutor, distributed workers with manycore.dask.

The distributed tests start one LocalCluster of two worker processes on 127.0.0.1
(a few seconds) and share it; the restart test restarts its workers.
"""

import os

import pytest

dask = pytest.importorskip("dask")
import dask.bag  # noqa: E402

import manycore  # noqa: E402
from helpers import ecosystem_tasks as tasks  # noqa: E402


@pytest.fixture(scope="module")
def executor():
    with manycore.InterpreterPoolExecutor(2) as pool:
        yield pool


def test_delayed_graph_runs_in_interpreters(executor):
    squares = [dask.delayed(tasks.square)(i) for i in range(20)]
    total = dask.delayed(tasks.add)(*squares)
    where = [dask.delayed(tasks.interpreter_id)(i) for i in range(8)]
    (result, places) = dask.compute(total, where, scheduler=executor)
    assert result == sum(i * i for i in range(20))
    main = manycore.get_main().id
    assert all(interp != main and main_id == main for interp, main_id in places)
    assert set(interp for interp, _ in places) <= set(executor._interpreter_ids)


def test_bag_graph(executor):
    bag = dask.bag.from_sequence(range(1000), npartitions=8)
    assert bag.map(tasks.square).filter(lambda x: x % 3 == 0).sum().compute(scheduler=executor) == sum(
        x * x for x in range(1000) if (x * x) % 3 == 0
    )
    assert sorted(bag.map(lambda x: x % 7).frequencies().compute(scheduler=executor)) == [
        (k, len(range(k, 1000, 7))) for k in range(7)
    ]


def test_task_exception_keeps_its_type_and_remote_traceback(executor):
    graph = dask.delayed(tasks.square)(dask.delayed(tasks.fail_on)(3, 3))
    with pytest.raises(tasks.TaskFailed, match="task failed on 3") as caught:
        dask.compute(graph, scheduler=executor)
    cause = caught.value.__cause__
    assert isinstance(cause, manycore.ExecutionFailed)
    assert "in fail_on" in cause.excinfo.formatted and "ecosystem_tasks.py" in cause.excinfo.formatted
    # the executor still works after a failed graph
    assert dask.compute(dask.delayed(tasks.square)(4), scheduler=executor) == (16,)


def test_executor_as_the_configured_scheduler(executor):
    with dask.config.set(scheduler=executor):
        assert dask.compute(dask.delayed(tasks.interpreter_id)())[0][0] != manycore.get_main().id


def test_task_needing_a_refusing_module_fails_at_once_with_its_name(executor):
    # psutil (a distributed dependency) is a single-phase extension: refused by own-GIL interpreters.
    pytest.importorskip("psutil")
    with pytest.raises(ImportError, match=r"psutil\._psutil_linux cannot be imported in an isolated interpreter"):
        dask.compute(dask.delayed(tasks.import_module)("psutil"), scheduler=executor)


# --- dask.distributed ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    from manycore.dask import ManycoreWorkerPlugin

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=":0",
    ) as cluster, distributed.Client(cluster) as client:
        client.register_plugin(ManycoreWorkerPlugin())
        yield client


def _places(client, count):
    return client.gather(client.map(tasks.interpreter_id, range(count), pure=False))


def test_distributed_tasks_run_in_manycore_interpreters(cluster_client):
    client = cluster_client
    assert client.gather(client.map(tasks.square, range(50))) == [i * i for i in range(50)]
    places = _places(client, 16)
    assert all(interp != main for interp, main in places)
    # each worker process runs its two thread slots as two interpreters
    info = client.run(lambda dask_worker: repr(dask_worker.executors["default"]))
    assert list(info.values()) == ["<manycore.dask.ManycoreExecutor interpreters=2>"] * 2


def test_distributed_graph_of_delayed_and_bag(cluster_client):
    squares = [dask.delayed(tasks.square)(i) for i in range(30)]
    assert dask.compute(dask.delayed(tasks.add)(*squares))[0] == sum(i * i for i in range(30))
    bag = dask.bag.from_sequence(range(500), npartitions=6)
    assert bag.map(tasks.square).sum().compute() == sum(i * i for i in range(500))


def test_distributed_error_has_type_and_traceback(cluster_client):
    future = cluster_client.submit(tasks.fail_on, 5, 5)
    with pytest.raises(tasks.TaskFailed, match="task failed on 5") as caught:
        future.result()
    remote = caught.value.__cause__
    assert isinstance(remote, manycore.ExecutionFailed)
    assert "in fail_on" in remote.excinfo.formatted
    _, _, traceback_text = future.exception(), None, future.traceback()
    assert traceback_text is not None
    # the worker goes on
    assert cluster_client.submit(tasks.square, 9).result() == 81


def test_distributed_threads_executor_for_modules_that_refuse_interpreters(cluster_client):
    pytest.importorskip("psutil")
    with pytest.raises(ImportError, match="cannot be imported in an isolated interpreter"):
        cluster_client.submit(tasks.import_module, "psutil", pure=False).result()
    with dask.annotate(executor="threads"):
        in_threads = dask.delayed(tasks.import_module)("psutil", dask_key_name="psutil-in-threads")
        where = dask.delayed(tasks.interpreter_id)(0, dask_key_name="where-in-threads")
    assert dask.compute(in_threads, where) == ("psutil", (0, 0))


def test_get_worker_needs_the_threads_executor(cluster_client):
    # distributed cannot be imported in an interpreter (psutil refuses): a clear ImportError
    with pytest.raises(ImportError, match="cannot be imported in an isolated interpreter"):
        cluster_client.submit(tasks.worker_address, pure=False).result()
    with dask.annotate(executor="threads"):
        address = dask.delayed(tasks.worker_address)(dask_key_name="address-in-threads")
    assert dask.compute(address)[0] in cluster_client.scheduler_info()["workers"]


def test_plugin_as_an_extra_executor(cluster_client):
    from manycore.dask import ManycoreWorkerPlugin

    client = cluster_client
    client.register_plugin(ManycoreWorkerPlugin(default=False))  # replaces the first one (same name)
    try:
        main = manycore.get_main().id
        assert set(client.gather(client.map(tasks.interpreter_id, range(4), pure=False))) == {(main, main)}
        with dask.annotate(executor="manycore"):
            places = dask.compute([dask.delayed(tasks.interpreter_id)(i) for i in range(4)])[0]
        assert all(interp != main for interp, _ in places)
    finally:
        client.register_plugin(ManycoreWorkerPlugin())
    assert all(interp != main for interp, _ in _places(client, 4))


def test_distributed_worker_restart_keeps_manycore(cluster_client):
    before = cluster_client.run(os.getpid)
    cluster_client.restart()
    after = cluster_client.run(os.getpid)
    assert set(before.values()).isdisjoint(after.values())
    places = _places(cluster_client, 8)
    assert all(interp != main for interp, main in places)


def test_preload_module_installs_the_executor():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=":0", preload=["manycore.dask"],
    ) as cluster, distributed.Client(cluster) as client:
        assert client.submit(tasks.spin, 1000).result() == sum(i * i for i in range(1000))
        assert all(interp != main for interp, main in _places(client, 4))


def test_executor_sends_other_work_to_threads():
    pytest.importorskip("distributed")
    from manycore.dask import ManycoreExecutor

    executor = ManycoreExecutor(1)
    try:
        # not a Dask task: runs on a thread of this interpreter
        assert executor.submit(tasks.interpreter_id).result() == (manycore.get_main().id,) * 2
    finally:
        executor.shutdown()


def _run_on_manycore(executor, node, data):
    from distributed.worker import _run_task_simple

    message = executor.submit(_run_task_simple, node, data, 0.0).result(timeout=60)
    assert message["op"] == "task-finished", message
    return message["result"]


def test_a_call_task_reaches_the_interpreter_without_dask():
    pytest.importorskip("distributed")
    from dask._task_spec import Alias, DataNode, Dict, List, Task, TaskRef
    from manycore.dask import ManycoreExecutor, _direct_call

    data = {"a": 2, ("b", 0): [3, 4]}
    nodes = [
        Task("plain", tasks.add, 1, TaskRef("a"), 3),
        Task("containers", tasks.describe, List(TaskRef("a"), 5), Dict(x=TaskRef(("b", 0))), (6, 7),
             scale=TaskRef("a"), label=DataNode(None, "text"), same=Alias("alias", "a")),
    ]
    executor = ManycoreExecutor(1)  # interpreters of its own: nothing imported dask in them yet
    try:
        for node in nodes:
            assert _direct_call(node, data) is not None
            assert _run_on_manycore(executor, node, data) == node(data)
        assert _run_on_manycore(executor, Task("where", tasks.imported, "dask"), {}) is False
        # a node with a task among its arguments goes whole: dask runs it in the interpreter
        nested = Task("nested", tasks.add, Task(None, tasks.square, 3), TaskRef("a"))
        assert _direct_call(nested, data) is None
        assert _run_on_manycore(executor, nested, data) == 11
        assert _run_on_manycore(executor, Task("where-now", tasks.imported, "dask"), {}) is True
    finally:
        executor.shutdown()


def test_a_call_task_missing_a_dependency_fails_as_dask_says():
    pytest.importorskip("distributed")
    from dask._task_spec import Task, TaskRef
    from distributed.worker import _run_task_simple
    from manycore.dask import ManycoreExecutor, _direct_call

    node = Task("lacks", tasks.add, TaskRef("missing"))
    assert _direct_call(node, {}) is None
    executor = ManycoreExecutor(1)
    try:
        message = executor.submit(_run_task_simple, node, {}, 0.0).result(timeout=60)
    finally:
        executor.shutdown()
    assert message["op"] == "task-erred"
    assert isinstance(message["actual_exception"], RuntimeError)
    assert "missing" in str(message["actual_exception"])


def test_plugin_rejects_a_bad_interpreter_count():
    pytest.importorskip("distributed")
    from manycore.dask import ManycoreWorkerPlugin

    with pytest.raises(ValueError, match="interpreters must be a positive int"):
        ManycoreWorkerPlugin(interpreters=0)
