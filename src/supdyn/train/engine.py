"""The device training loop: static steps in blocks, captured once as CUDA graphs, synced only at
evaluation points.

Between two evaluation (or snapshot) steps the loop launches ⌊n / D⌋ blocks of D steps and n mod D
single steps (D = ``steps_per_draw``, default 16). A block draws the batches of its D steps in one
:class:`supdyn.data.static_sampler.StaticSampler` call, then runs D static steps
(:func:`supdyn.train.static.static_grads` and :meth:`DeviceState.apply`). On CUDA each block size is
captured once as a CUDA graph (after a warm-up on a copy of the state) and replayed, so a step costs
its kernels and no Python or launch overhead; nothing in a block reads a tensor value on the host.
The host reads the divergence and overflow flags at evaluation points only. The counter-based sampler
makes the data of a step the same whatever the block size, graphs or device.

``dtype = "tf32"`` runs the CUDA matmuls in TensorFloat-32 (parameters stay float32); its effect on
the science is measured in benchmarks/README.md. float32 is the default.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from supdyn.config import RunConfig
from supdyn.data import stream_seed
from supdyn.data.static_sampler import StaticSampler
from supdyn.model import Student, build_student
from supdyn.train import memory
from supdyn.train.common import Recorder, RunResult, eval_set, param_dtype, run_steps
from supdyn.train.optim import Hyper
from supdyn.train.schedule import Schedule
from supdyn.train.static import DeviceState, static_grads

_CAPTURE_LOCK = threading.Lock()

STEPS_PER_DRAW = 16
"""Steps per block (one sampler call, one graph replay)."""


@contextlib.contextmanager
def matmul_precision(tf32: bool) -> Iterator[None]:
    """TF32 CUDA matmuls inside the block when ``tf32``, restored after (a process-wide setting: nothing
    changes when it already has the requested value, so tasks of one precision may run in threads)."""
    old = torch.backends.cuda.matmul.allow_tf32
    if old == bool(tf32):
        yield
        return
    torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def device_state(st: Student, configs: list[RunConfig]) -> DeviceState:
    """The training state of a pack on the device: rates, schedule, optimizer and its hyperparameters."""
    dev, dt = st.teacher.device, st.teacher.dtype
    c0 = configs[0]
    return DeviceState(st, [c.train.lr for c in configs], [run_steps(c) for c in configs], c0.train.diverge_factor,
                       c0.train.optimizer, schedule=Schedule(configs, dev, dt), hyper=Hyper.of(configs, dev, dt))


class StaticRunner:
    """Runs the static steps of one pack of models (see the module docstring).

    ``graphs``: capture CUDA graphs (default: on CUDA). ``steps_per_draw``: the block size D.
    """

    def __init__(self, configs: list[RunConfig], device: torch.device, *, graphs: bool | None = None,
                 steps_per_draw: int = STEPS_PER_DRAW) -> None:
        c0 = configs[0]
        self.configs, self.device = configs, device
        self.st = build_student(configs, device=device, dtype=param_dtype(c0))
        self.batch = c0.train.batch
        self.keys = [stream_seed(c.seed, "train") for c in configs]
        self.sampler = StaticSampler(self.st.p, self.st.teacher, self.batch, self.keys, self.st.teacher.dtype,
                                     groups=self.st.groups, vmax=[c.data.value_max for c in self.configs])
        self.state = device_state(self.st, configs)
        self.block = max(1, int(steps_per_draw))
        self.use_graphs = device.type == "cuda" if graphs is None else bool(graphs and device.type == "cuda")
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._pool = None

    @property
    def engine(self) -> str:
        return "static+graphs" if self.use_graphs else "static"

    def body(self, d: int) -> None:
        """d steps: one draw of d batches, d static steps (no host sync)."""
        x = self.sampler.draw(self.state.step, d)
        for k in range(d):
            loss, dense, rows = static_grads(self.st, x, k, self.sampler.rows, self.batch)
            self.state.apply(loss, dense, rows)

    def _capture(self, d: int) -> torch.cuda.CUDAGraph | None:
        with _CAPTURE_LOCK:  # one capture at a time in this process (packs may train in several threads)
            return self._capture_locked(d)

    def _capture_locked(self, d: int) -> torch.cuda.CUDAGraph | None:
        saved = [t.clone() for t in self.state.mutable()] + [self.sampler.overflow.clone()]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        try:
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up: lazy initializations must not happen during capture
                    self.body(d)
            torch.cuda.current_stream(self.device).wait_stream(side)
            for t, s in zip(self.state.mutable() + [self.sampler.overflow], saved):
                t.copy_(s)
            if self._pool is None:
                self._pool = torch.cuda.graph_pool_handle()
            graph = torch.cuda.CUDAGraph()
            # own capture stream and thread-local capture: packs may be captured in several threads at once
            with torch.cuda.graph(graph, pool=self._pool, stream=side, capture_error_mode="thread_local"):
                self.body(d)
            return graph
        except RuntimeError as exc:  # capture not supported here: run the same steps eagerly
            torch.cuda.synchronize(self.device)
            for t, s in zip(self.state.mutable() + [self.sampler.overflow], saved):
                t.copy_(s)
            warnings.warn(f"CUDA graph capture failed ({str(exc).splitlines()[0]}); "
                          "running the static steps without graphs", RuntimeWarning, stacklevel=2)
            self.use_graphs = False
            return None

    def launch(self, d: int) -> None:
        """Run d steps (one block), through its CUDA graph when graphs are on."""
        if self.use_graphs:
            graph = self._graphs.get(d)
            if graph is None:
                graph = self._capture(d)
                if graph is not None:
                    self._graphs[d] = graph
            if graph is not None:
                graph.replay()
                return
        self.body(d)

    def advance(self, n: int) -> None:
        """Run n steps."""
        q, r = divmod(n, self.block)
        for _ in range(q):
            self.launch(self.block)
        for _ in range(r):
            self.launch(1)

    def shrink(self, keep: np.ndarray) -> None:
        """Keep only the models at slots ``keep`` (in that order): a smaller Student, sampler and state,
        graphs captured again. A model's data depend only on its key and step, so its batches go on
        unchanged; its parameters, flags and the step counter are carried over."""
        idx = torch.as_tensor(np.asarray(keep, dtype=np.int64), device=self.device)
        st, old = self.st, self.state
        self.st = st.select(idx)
        self.configs = [self.configs[i] for i in keep]
        self.keys = [self.keys[i] for i in keep]
        self.sampler = StaticSampler(self.st.p, self.st.teacher, self.batch, self.keys, self.st.teacher.dtype,
                                     groups=self.st.groups, vmax=[c.data.value_max for c in self.configs])
        self.state = device_state(self.st, self.configs)
        for name in ("threshold", "diverged", "div_step"):
            getattr(self.state, name).copy_(getattr(old, name)[idx])
        for name, slots in old.opt_state.items():
            for slot, t in slots.items():
                self.state.opt_state[name][slot].copy_(t[idx])
        self.state.step.copy_(old.step)
        self._graphs.clear()
        self._pool = None

    def flags(self) -> tuple[np.ndarray, np.ndarray]:
        """(diverged (n_models,) bool, divergence step or −1) on the host; raises on a sampler overflow."""
        over = self.sampler.overflow.cpu().numpy()
        if over.any():
            ids = ", ".join(self.configs[i].run_id[:12] for i in np.flatnonzero(over))
            raise RuntimeError(f"sampler: a batch of run(s) {ids} exceeded the static capacity "
                               f"({self.sampler.capacity} points, {self.sampler.rows} rows per step; "
                               "probability < 2e-13 per step); train it with the sparse engine")
        return self.state.diverged.cpu().numpy(), self.state.div_step.cpu().numpy()


SHRINK_FRACTION = 0.5
"""At an evaluation point, a pack whose active models are at most this fraction of its size keeps only
them (:meth:`StaticRunner.shrink`): finished and diverged models stop costing compute."""


def train_static(configs: list[RunConfig], device: torch.device, progress: bool,
                 on_eval: Callable[[int], None] | None, *, graphs: bool | None = None,
                 steps_per_draw: int = STEPS_PER_DRAW, eval_chunk: int | None = None) -> list[RunResult]:
    """Train ``configs`` (one group, see :func:`supdyn.train.group_key`) with the static device step."""
    start = time.perf_counter()
    m = len(configs)
    with matmul_precision(configs[0].train.dtype == "tf32"):
        run = StaticRunner(configs, device, graphs=graphs, steps_per_draw=steps_per_draw)
        chunk = eval_chunk or memory.eval_chunk(m, configs[0].data.n_features)
        rec = Recorder(configs, run.st, eval_set(configs, run.st, device), eval_chunk=chunk)
        n_steps = np.array([run_steps(c) for c in configs])
        total = int(n_steps.max())
        bar = tqdm(total=total, disable=not progress, unit="step", desc=f"train {m} model(s)",
                   mininterval=0.5, leave=False)
        done, idx = 0, np.arange(m)  # idx: the run of each model slot of the pack
        diverged, div_step = np.zeros(m, dtype=bool), np.full(m, -1)
        for event in [s for s in rec.events if s <= total]:
            run.advance(event - done)
            bar.update(event - done)
            done = event
            diverged[idx], div_step[idx] = run.flags()
            rec.evaluate(event, diverged, on_eval)
            if event == 0:
                run.state.set_loss0(torch.from_numpy(rec.loss0))
            active = (event < n_steps[idx]) & ~diverged[idx]
            if not active.any():
                break
            if active.sum() <= SHRINK_FRACTION * len(idx):
                keep = np.flatnonzero(active)
                run.shrink(keep)
                rec.shrink(run.st, keep)
                idx = idx[keep]
        bar.close()
    steps = [int(s) if s >= 0 else None for s in div_step]
    return rec.results(diverged, steps, time.perf_counter() - start, device, run.engine)
