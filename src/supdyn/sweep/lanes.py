"""Several tasks at once on one GPU: each in its own thread and CUDA stream (a "lane"; on the CPU, used
in tests, threads only).

A small pack leaves most of a large GPU idle: its step is a chain of small kernels. Tasks on separate
streams overlap on the device, so ``lanes`` tasks train at once; each thread waits for its own stream
only (at its evaluation points). Tasks start longest first (by :func:`supdyn.sweep.tasks.task_cost`).
Worker threads are daemons: on Ctrl-C the process ends at once, and since every run is stored
atomically, a task cut short leaves nothing half-written (its runs are computed again next time).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

import torch

from supdyn.config import RunConfig
from supdyn.sweep.tasks import Tracker, error_line, task_cost, train_task
from supdyn.train.engine import matmul_precision

GPU_LANES = 4
"""Default number of concurrent tasks on one CUDA GPU."""


def run_lanes(tasks: list[list[RunConfig]], root: str, device: str, track: Tracker, lanes: int) -> None:
    """Train ``tasks`` on ``device`` (CUDA) ``lanes`` at a time; failures go through ``track`` as in the
    sequential executor. TF32 tasks run after the others (the matmul precision is process-wide)."""
    for tf32 in (False, True):
        group = [t for t in tasks if (t[0].train.dtype == "tf32") == tf32]
        if group:
            with matmul_precision(tf32):
                _run(group, root, device, track, lanes)


def _run(tasks: list[list[RunConfig]], root: str, device: str, track: Tracker, lanes: int) -> None:
    todo: queue.Queue[Any] = queue.Queue()
    done: queue.Queue[Any] = queue.Queue()

    cuda = device.startswith("cuda")

    def worker() -> None:
        stream = torch.cuda.Stream(torch.device(device)) if cuda else None
        while True:
            item = todo.get()
            if item is None:
                return
            task, attempt = item
            try:
                with torch.cuda.stream(stream) if cuda else contextlib.nullcontext():
                    train_task([c.to_dict() for c in task], root, device)
                    if stream is not None:
                        stream.synchronize()
                done.put((task, attempt, None))
            except Exception as exc:  # noqa: BLE001 - one task's error is recorded, the others go on
                done.put((task, attempt, error_line(exc)))

    threads = [threading.Thread(target=worker, daemon=True, name=f"supdyn-lane-{i}") for i in range(lanes)]
    for t in threads:
        t.start()
    pending = 0
    for task in sorted(tasks, key=task_cost, reverse=True):
        todo.put((task, 1))
        pending += 1
    try:
        while pending:
            try:
                task, attempt, error = done.get(timeout=0.2)
            except queue.Empty:
                continue
            pending -= 1
            if error is None:
                track.done(task)
                continue
            for again in track.fail(task, attempt, error):
                todo.put(again)
                pending += 1
    finally:
        for _ in threads:
            todo.put(None)
