"""What a run needs before it starts, and the limits it must fit: memory and SGD steps.

:func:`run_bytes` estimates the peak memory of training runs from their sizes alone (no allocation),
:func:`theory_bytes` that of the no-superposition theory; :func:`available_bytes` is the memory this
process may still use (``MemAvailable``, capped by a cgroup limit) or a GPU's free memory.

The limits in force are a context (:func:`limits`): every :class:`RunConfig` checks itself against
them when it is built, *before* its frequency law is evaluated (an O(N) allocation), so a run that
cannot fit is refused at once with one line (:class:`ResourceError`) that states the estimate, the
limit and the override; ``supdyn ... --max-memory SIZE --max-steps N`` set them on the command line.
Defaults: the memory available here and :data:`MAX_STEPS` steps per run. Nothing here allocates
more than a few numbers; only :func:`available_bytes` reads ``/proc`` (or asks torch about a GPU).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from supdyn.config.checks import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from supdyn.config.run import RunConfig

MAX_STEPS = 10**9
"""Default ceiling of SGD steps per run (round(t_max / lr)): 100× the longest run of ``--full``."""
STEP_BOUND = 2**53
"""Hard bound of round(t_max / lr): beyond it t = lr × steps is not exact in float64 (bad input)."""
CHECK_FLOOR = 256 << 20
"""Estimates below this many bytes are not checked (no ``/proc`` read for ordinary runs)."""
WORKER_BYTES = 300 << 20
"""Memory of one Dask worker process before it trains (interpreter, torch, distributed)."""
OVERHEAD = 24 << 20
"""Bytes a first training call adds whatever its size (allocator pools, lazily loaded kernels)."""
SAMPLES_PER_DRAW = 16384  # supdyn.data.SAMPLES_PER_DRAW (the config layer cannot import it)


class ResourceError(ConfigError):
    """A valid configuration that does not fit the limits in force (one line: estimate, limit, override)."""


# -- sizes ------------------------------------------------------------------------------------------
def _harmonic_bound(n: int, s: float) -> float:
    """An upper bound of Σ_{i=1..n} i^-s (no allocation)."""
    if s <= 0:
        return n * float(n) ** (-s)
    if abs(s - 1.0) < 1e-12:
        return 1.0 + math.log(n)
    return min(1.0 + (n ** (1.0 - s) - 1.0) / (1.0 - s), float(n) ** max(0.0, 1.0 - s) * n)


def active_per_sample(cfg: "RunConfig") -> float:
    """Upper bound of E[#active features per sample] = Σ p_i, without evaluating the law."""
    d, n = cfg.data, cfg.data.n_features
    if d.law == "user":
        return float(min(n, max(0.0, sum(d.p or ()))))
    if d.normalize == "sum":
        return float(min(n, d.density))
    if d.law == "exponential":
        return float(min(n, math.gamma(1.0 + 1.0 / d.a) * d.kappa ** (-1.0 / d.a)))
    return float(min(n, _harmonic_bound(n, d.a if d.law == "power" else -d.a)))


def run_bytes(cfg: "RunConfig", n_models: int = 1) -> int:
    """Estimated peak memory (bytes) of training ``n_models`` runs shaped like ``cfg`` in one call of
    ``supdyn.train.train`` (one process; the interpreter and torch themselves not included).

    The terms (m models, dtype size s, width w = N without superposition else K, batch b, eval size e,
    E = Σp): parameters, their float64 initial copies and gradients (m·w²·(8 + 3s)); the embedding W,
    Wᵀ and its float64 draw (m·K·N·(16 + 2s)); the sampler's draw of max(b, 16384) samples per model
    (~100 bytes per active entry, plus one float64 uniform and one flag per sample for each of the
    ≤ 16E frequent features); the step's pre-activations, turned into errors in place (≤ b rows of N, one
    array; three with importance weights); evaluation (a held-out set of e samples in chunks of 4096 rows of N, or for the
    linear students the exact loss: ~5 float64 N×N maps); recorded curves, per-feature losses and
    snapshots (float32, held twice at the end: as taken and stacked); Adam's two moments per learned
    parameter; the frequency law's own
    evaluation (~5 float64 arrays of N). Calibrated against the
    measured peak RSS of runs from 1 MB to several GB (``tests/test_resources.py``).
    """
    m = max(1, int(n_models))
    n, k, b, e = cfg.data.n_features, cfg.model.d_hidden, cfg.train.batch, cfg.train.eval_size
    s = 8 if cfg.train.dtype == "float64" else 4
    variant = cfg.variant
    w = n if variant == "none" else k
    act = max(active_per_sample(cfg), 1e-3)
    n_rows = min(n, 16.0 * act)  # features with p_i > 1/16 are drawn as Bernoulli rows
    draw = max(b, (SAMPLES_PER_DRAW // b) * b)
    total = OVERHEAD + 40.0 * n  # torch's first allocations; the law: arange, powers, p, flags
    total += m * w * w * (8 + 3 * s)  # B: float64 draw, parameter, gradient, update
    total += m * n * (24 + 2 * s)  # p, teacher, bias and their gradients
    if variant != "none":
        total += m * k * n * (16 + 2 * s)  # W (float64 draw and stack), W and Wᵀ (or E, D and grads)
    if cfg.train.optimizer in ("adam", "adamw"):  # two moments per learned parameter
        learned = w * w + n + (2 * k * n if variant == "learnable" else k * n if variant == "tied" else 0)
        total += m * learned * 2 * s
    nonempty = -math.expm1(-act)  # P(a sample has an active feature) when every p_i is small
    rows = max(1.0, b * nonempty)  # non-empty samples of a batch (compact rows)
    distinct = min(n, max(1.0, b * act))  # distinct active features of a batch
    # the compact rows' pre-activations, turned into errors in place, and their sparse index; a weighted
    # loss squares and weights them out of place (two more arrays of rows x N)
    step = m * rows * n * (s + 2 + (2 * s if cfg.data.importance != "uniform" else 0))
    step += m * min(rows, distinct) * n * s + m * (rows + distinct) * k * 3 * s
    sampler = m * draw * (act * 100.0 + n_rows * 9.0)
    evaluation = 0.0
    if cfg.eval_exact:
        evaluation += m * n * n * 8 * 5.0 + (m * k * n * 16.0 if variant == "linear" else 0.0)
    else:
        chunk = max(1.0, min(e, 4096) * nonempty)
        evaluation += m * e * act * 60.0 + m * e * n_rows * 9.0  # the held-out set and its draw
        evaluation += m * chunk * n * (s + 9)  # one chunk's outputs (and the float64 sum)
    n_eval = cfg.train.eval_per_decade * max(1.0, math.log10(max(cfg.train.t_max, 1.0)) + 2.0)
    results = m * n_eval * 16.0
    if cfg.train.per_feature:
        results += m * n * (n_eval * 8.0 + 16.0)
    snaps = len(cfg.train.snapshots)
    results += m * snaps * (w * w + (2 * k * n if variant == "learnable" else 0)) * 8.0  # the list, then stacked
    total += max(step + sampler, evaluation) + results
    return int(total)


def theory_bytes(n_features: int, n_times: int, *, method: str = "laplace", mode: str = "exact") -> int:
    """Estimated peak memory of ``supdyn theory`` (:func:`supdyn.theory.theory_from_config`, then its
    loss, exponent, learned count and critical index at ``n_times`` times): the dense method (``eigh``)
    holds ~6 float64 N×N matrices; the others ~20 float64 arrays of N (per-time work is chunked).
    Measured: 138 bytes per feature (laplace, N = 2^20 and 2^22), 73 (diagonal), 5.1 N² (eigh)."""
    n, nt = int(n_features), max(1, int(n_times))
    if mode == "exact" and method == "eigh":
        return int(n * n * 8 * 6 + n * nt * 8 * 4)
    return int(n * 160.0 + nt * 4096)


# -- limits -------------------------------------------------------------------------------------------
def available_bytes(device: str = "cpu") -> int | None:
    """Memory this process can still use: for ``cuda[:i]`` the GPU's free memory; else the smaller of
    MemAvailable (/proc/meminfo) and the headroom of a cgroup v2 or v1 limit. None if unknown."""
    if device.startswith("cuda"):
        try:
            import torch  # lazy: only for a GPU device

            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except Exception:  # noqa: BLE001 - no GPU here: the device check reports it
            return None
    found: list[int] = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as fh:
                raw = fh.read().strip()
            with open(usage_file) as fh:
                used = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            found.append(max(0, int(raw) - used))
        break
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgtp]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str | int | float | None, name: str = "--max-memory", *, allow_none: bool = True) -> int | None:
    """Bytes of ``8G``, ``512MB``, ``1.5e9``, ``none``/``off`` (no limit: None, if ``allow_none``)."""
    if allow_none and (text is None or (isinstance(text, str) and text.strip().lower() in ("none", "off", "unlimited"))):
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool) and math.isfinite(text) and text >= 1:
        return int(text)
    match = _SIZE.match(str(text))
    size = float(match.group(1)) * 1024 ** " kmgtp".index(match.group(2).lower() or " ") if match else math.nan
    if not (math.isfinite(size) and size >= 1):
        raise ConfigError(f"{name}: got {text!r}; allowed: a size such as 8G, 512M or 2e9 (bytes)"
                          + (", or none" if allow_none else ""))
    return int(size)


def format_bytes(n: float, digits: int = 3) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.{digits}g} {unit}"
    return f"{int(n)} B"


def _two(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` formatted with enough digits to tell them apart."""
    for digits in (3, 4, 6):
        if format_bytes(a, digits) != format_bytes(b, digits):
            break
    return format_bytes(a, digits), format_bytes(b, digits)


@dataclass(frozen=True)
class Limits:
    """memory: bytes, ``"auto"`` (what :func:`available_bytes` reports when checked) or None (no check);
    steps: SGD steps per run or None; device: whose memory ``auto`` means; local: whether runs train in
    this process (else, e.g. on a cluster, only what building a config here costs is checked)."""

    memory: int | str | None = "auto"
    steps: int | None = MAX_STEPS
    device: str = "cpu"
    local: bool = True

    def memory_limit(self) -> tuple[int | None, str]:
        """(bytes, how to name them) of the memory limit now."""
        if self.memory == "auto":
            where = f"free on {self.device}" if self.device.startswith("cuda") else "available here"
            return available_bytes(self.device if self.local else "cpu"), where
        return (None if self.memory is None else int(self.memory)), "of --max-memory"


NO_LIMITS = Limits(memory=None, steps=None)
_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("supdyn_limits", default=NO_LIMITS)


def current() -> Limits:
    """The limits in force: :data:`NO_LIMITS` outside a :func:`limits` block (the library checks nothing
    unless asked; the command line asks)."""
    return _LIMITS.get()


@contextlib.contextmanager
def limits(lim: Limits | None = None, **kw: object) -> Iterator[Limits]:
    """Limits in force inside the block: ``limits()`` the defaults (available memory, :data:`MAX_STEPS`),
    ``limits(memory=64 << 30, steps=None)``, or a :class:`Limits`; ``limits(NO_LIMITS)`` checks nothing."""
    token = _LIMITS.set(lim if lim is not None else Limits(**kw))  # type: ignore[arg-type]
    try:
        yield _LIMITS.get()
    finally:
        _LIMITS.reset(token)


def check_memory(need: float, what: str) -> None:
    """ResourceError unless ``need`` bytes fit the memory limit in force (estimates under
    :data:`CHECK_FLOOR` always fit)."""
    lim = current()
    if lim.memory is None or need < CHECK_FLOOR:
        return
    have, where = lim.memory_limit()
    if have is None or need <= have:
        return
    need_s, have_s = _two(need, have)
    raise ResourceError(f"memory: {what} needs about {need_s}, more than the {have_s} "
                        f"{where}; allowed: smaller sizes, or --max-memory SIZE to set the limit "
                        "(--max-memory none: no check)")


def check_run(cfg: "RunConfig") -> None:
    """The checks of a RunConfig when it is built: its step count, then its memory (one model; only
    the cost of building the config when its runs train elsewhere)."""
    lim = current()
    steps = cfg.train.t_max / cfg.train.lr
    if lim.steps is not None and round(steps) > lim.steps:
        raise ResourceError(f"steps: this run takes {steps:.3g} SGD steps (t_max / lr = {cfg.train.t_max:g} / "
                            f"{cfg.train.lr:g}), more than the limit of {lim.steps:.3g}; allowed: fewer steps "
                            "(a larger lr or a smaller t_max), or --max-steps N to raise the limit")
    if lim.memory is None:
        return
    n, k = cfg.data.n_features, cfg.model.d_hidden
    if lim.local:
        check_memory(run_bytes(cfg), f"this run (N = {n}, K = {k}, batch = {cfg.train.batch}, "
                                     f"eval_size = {cfg.train.eval_size})")
    else:
        check_memory(OVERHEAD + 40.0 * n, f"checking the frequency law of N = {n} features here")
