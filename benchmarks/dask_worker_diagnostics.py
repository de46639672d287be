"""benchmarks/dask_worker_diagnostics.py: where a task's time goes on a manycore Dask worker (issue 13; docs/integrations.md).

One-off diagnostics behind the table "What a task costs on a manycore worker"; the
benchmark with targets is `python -m manycore bench ecosystem`. Usage (manycore,
dask and distributed installed; run from the repository root)::

    python benchmarks/dask_worker_diagnostics.py trace        # per-step timestamps in the worker
    python benchmarks/dask_worker_diagnostics.py tiny         # 400 tiny tasks per model
    python benchmarks/dask_worker_diagnostics.py interleaved  # models (and profiler on/off) side by side

- trace: one worker on 2 interpreters; ManycoreExecutor is wrapped in the worker
  process to stamp submit, the task's start and stop in the interpreter, and the
  delivery of its message, for 16 tasks of spin(1.5M).
- tiny: 400 tasks of x + 1 and a sum, on a worker with 2 threads, one with 2
  interpreters, and 2 worker processes: the per-task pace of Dask itself.
- interleaved: every model's cluster up at once, one graph on each in turn per
  round; with the profiler on and off, and with tasks sent whole (the previous code).
"""

import contextlib
import logging
import statistics
import sys
import time

import dask
import distributed

from manycore._bench._workloads import plus_one, spin, total
from manycore.dask import ManycoreWorkerPlugin

TASKS, N = 16, 1_500_000
# name -> (worker processes, threads each, on manycore, profiler on, tasks sent whole)
MODELS = {
    "threads": (1, 2, False, False, False),
    "manycore": (1, 2, True, False, False),
    "processes": (2, 1, False, False, False),
    "manycore+profiler": (1, 2, True, True, False),
    "processes+profiler": (2, 1, False, True, False),
    "manycore-whole": (1, 2, True, False, True),
    "manycore-whole+profiler": (1, 2, True, True, True),
}


def graph(run, function=spin, count=TASKS, base=N):
    return dask.delayed(total)(*[dask.delayed(function)(base + i, dask_key_name=f"f-{run}-{i}") for i in range(count)],
                               dask_key_name=f"total-{run}")


@contextlib.contextmanager
def cluster_client(model):
    processes, threads, on_manycore, profiler, whole = MODELS[model]
    with dask.config.set({"distributed.worker.profile.enabled": profiler}), distributed.LocalCluster(
        n_workers=processes, threads_per_worker=threads, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=":0", silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        if on_manycore:
            client.register_plugin(ManycoreWorkerPlugin())
        if whole:
            client.run(_send_tasks_whole)
        yield client


def _send_tasks_whole():
    import manycore.dask

    manycore.dask._direct_call = lambda task, data: None
    return True


def _install_stamps():
    """In the worker process: stamps around ManycoreExecutor's submit and delivery."""
    import manycore.dask as module

    log = module._diagnostic_stamps = []
    submit, deliver = module.ManycoreExecutor._submit_task, module._deliver

    def stamped_submit(self, task, data, time_delay=0.0):
        begin = time.time()
        future = submit(self, task, data, time_delay)
        log.append(("submit", begin, time.time()))
        return future

    def stamped_deliver(future, inner, submitted, time_delay):
        begin = time.time()
        deliver(future, inner, submitted, time_delay)
        if inner.exception() is None:
            _, start, stop, _ = inner.result()
            log.append(("deliver", begin, time.time(), start, stop))

    module.ManycoreExecutor._submit_task = stamped_submit
    module._deliver = stamped_deliver
    return True


def _take_stamps():
    import manycore.dask as module

    taken = list(module._diagnostic_stamps)
    module._diagnostic_stamps.clear()
    return taken


def _ms(values):
    return f"{statistics.mean(values) * 1e3:.2f} ms mean, {max(values) * 1e3:.2f} ms worst"


def trace(runs=4):
    with cluster_client("manycore") as client:
        dask.compute(graph("warm-up"), scheduler=client)
        client.run(_install_stamps)
        for run in range(runs):
            client.run(_take_stamps)
            begin = time.time()
            dask.compute(graph(run), scheduler=client)
            wall = time.time() - begin
            (stamps,) = client.run(_take_stamps).values()
            submits = sorted(s for s in stamps if s[0] == "submit")
            delivers = sorted((s for s in stamps if s[0] == "deliver"), key=lambda s: s[3])
            print(f"run {run}: wall {wall:.3f} s")
            print("  submit call:                 ", _ms([s[2] - s[1] for s in submits]))
            print("  submit -> start in interp.:  ", _ms([d[3] - s[1] for s, d in zip(submits, delivers)]))
            print("  stop in interp. -> delivery: ", _ms([d[1] - d[4] for d in delivers]))
            print("  delivery (message built):    ", _ms([d[2] - d[1] for d in delivers]))


def tiny(count=400, runs=5):
    for model in ("threads", "manycore", "processes"):
        with cluster_client(model) as client:
            dask.compute(graph("warm-up", plus_one, count, 0), scheduler=client)
            walls = []
            for run in range(runs):
                begin = time.perf_counter()
                dask.compute(graph(run, plus_one, count, 0), scheduler=client)
                walls.append(time.perf_counter() - begin)
        print(f"{model:10s} {count} tiny tasks: best {min(walls):.3f} s ({min(walls) / count * 1e3:.2f} ms per task), "
              f"median {statistics.median(walls):.3f} s")


def interleaved(models=("manycore", "manycore+profiler", "manycore-whole", "manycore-whole+profiler", "processes",
                        "processes+profiler"), runs=6):
    walls = {model: [] for model in models}
    with contextlib.ExitStack() as stack:
        clients = {model: stack.enter_context(cluster_client(model)) for model in models}
        for client in clients.values():
            dask.compute(graph("warm-up"), scheduler=client)
        for run in range(runs):
            for model, client in clients.items():
                begin = time.perf_counter()
                dask.compute(graph(run), scheduler=client)
                walls[model].append(time.perf_counter() - begin)
    for model, values in walls.items():
        print(f"{model:25s} best {min(values):.3f} s, median {statistics.median(values):.3f} s")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "trace"
    {"trace": trace, "tiny": tiny, "interleaved": interleaved}[mode]()
