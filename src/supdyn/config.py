"""Run configuration: frozen, validated dataclasses, TOML loading and the run identity.

A run is one model: data (frequency law, teacher), student (variant, width, init) and training
settings (lr, batch, t_max, evaluation), plus one integer seed from which every random stream
(embedding W, initialization, training data, evaluation data) is derived.  The identity of a run is
the sha256 of its canonical JSON plus ``SCHEMA_VERSION``; two runs with the same identity are the
same computation, so the store never computes one twice.

Time is always ``t = lr * steps`` (the paper groups the learning rate with the step count, Sec. 3).

Nothing here does I/O except :func:`load_toml`, which only reads the file it is given.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
"""Version of everything a run's result depends on besides its config. 2: training batches are drawn
several steps per sampler call (``supdyn.data.draw_steps``; a different training stream from 1)."""

LAWS = ("power", "exponential", "algebraic", "user")
NORMALIZATIONS = ("sum", "none")
TEACHERS = ("power", "user")
VARIANTS = ("auto", "none", "linear", "fixed", "learnable")
OPTIMIZERS = ("sgd",)
SCHEDULES = ("constant",)
EVAL_MODES = ("auto", "sample", "exact")
DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A bad configuration value. The message is one line naming the field and the allowed range."""


def _fail(field_name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field_name}: got {value!r}; allowed: {allowed}")


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(name, value, "a finite number")
    return float(value)


def _integer(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(name, value, f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
    if value < lo or (hi is not None and value > hi):
        _fail(name, value, f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
    return int(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        _fail(name, value, "one of " + ", ".join(choices) + extra)


def _float_tuple(name: str, value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        _fail(name, value, "a list of numbers")
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        _fail(f"{name}[{bad[0]}]", out[bad[0]], "a finite number")
    return out


@dataclass(frozen=True)
class DataConfig:
    """Input features x_i = u_i v_i, u_i ~ Bernoulli(p_i), v_i ~ U(0, 1), and teacher y* = A x.

    law:        ``power`` p_i ∝ i^-a (paper eq. 1), ``exponential`` p_i ∝ exp(-kappa i^a),
                ``algebraic`` p_i ∝ (N + 1 - i)^a (a = 1: the paper's linear law), ``user``: ``p``.
    normalize:  ``sum`` scales p so that Σ p_i = density (the paper's Sec. 2.1, default);
                ``none`` uses the law unnormalized (the paper's eq. 7 / Fig. 9 reading, p_1 = 1).
    teacher:    ``power`` A_ii = i^-b (paper eq. 2), ``user``: ``teacher_diag``.
    """

    n_features: int = 1024
    law: str = "power"
    a: float = 1.1
    b: float = 0.0
    kappa: float = 1.0
    density: float = 1.0
    normalize: str = "sum"
    p: tuple[float, ...] | None = None
    teacher: str = "power"
    teacher_diag: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _integer("n_features", self.n_features, 1)
        _choice("law", self.law, LAWS)
        _choice("normalize", self.normalize, NORMALIZATIONS)
        _choice("teacher", self.teacher, TEACHERS)
        a = _finite("a", self.a)
        b = _finite("b", self.b)
        if b < 0:
            _fail("b", self.b, "b >= 0 (finite)")
        if self.law == "exponential" and a <= 0:
            _fail("a", self.a, "a > 0 for the exponential law")
        if _finite("kappa", self.kappa) <= 0:
            _fail("kappa", self.kappa, "kappa > 0")
        if not 0 < _finite("density", self.density):
            _fail("density", self.density, "density (E = sum p_i) > 0")
        for name in ("a", "b", "kappa", "density"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "p", _float_tuple("p", self.p))
        object.__setattr__(self, "teacher_diag", _float_tuple("teacher_diag", self.teacher_diag))
        if self.law == "user":
            if self.p is None:
                _fail("p", None, f"a list of {self.n_features} frequencies in [0, 1] when law = 'user'")
            if len(self.p) != self.n_features:
                _fail("p", f"length {len(self.p)}", f"length n_features = {self.n_features}")
        elif self.p is not None:
            _fail("p", "a list", "no p unless law = 'user'")
        if self.teacher == "user":
            if self.teacher_diag is None or len(self.teacher_diag) != self.n_features:
                got = None if self.teacher_diag is None else f"length {len(self.teacher_diag)}"
                _fail("teacher_diag", got, f"a list of length n_features = {self.n_features}")
        elif self.teacher_diag is not None:
            _fail("teacher_diag", "a list", "no teacher_diag unless teacher = 'user'")


@dataclass(frozen=True)
class ModelConfig:
    """Student. ``d_hidden`` is K (the paper's bottleneck width).

    variant: ``none``  y = B x, B ∈ R^{N×N} (no superposition, requires K = N);
             ``linear`` y = Wᵀ B W x (superposition without ReLU or bias; the paper's App. A.2);
             ``fixed`` y = ReLU(Wᵀ B W x + b), W fixed random (the paper's superposition student);
             ``learnable`` y = ReLU(D B E x + b), encoder E and decoder D learned, started from W, Wᵀ;
             ``auto``  ``none`` when K = N, else ``fixed``.
    init_scale: standard deviation of the i.i.d. Gaussian entries of B at t = 0 (bias starts at 0).
    """

    d_hidden: int = 256
    variant: str = "auto"
    init_scale: float = 1e-3

    def __post_init__(self) -> None:
        _integer("d_hidden", self.d_hidden, 1)
        _choice("variant", self.variant, VARIANTS)
        s = _finite("init_scale", self.init_scale)
        if s < 0:
            _fail("init_scale", self.init_scale, "init_scale >= 0")
        object.__setattr__(self, "init_scale", s)


@dataclass(frozen=True)
class TrainConfig:
    """Online SGD on L = ½ E‖y* − y‖² (summed over outputs, averaged over the batch).

    Every step draws a fresh batch. Time t = lr × steps; training stops at t_max.
    Evaluation happens at t = 0 and at ``eval_per_decade`` log-spaced times per decade from t = 1
    (rounded to whole steps), on a held-out set of ``eval_size`` samples fixed per run, or exactly
    (closed-form population loss) for the linear students when ``eval_mode`` is ``exact``/``auto``.
    """

    lr: float = 1.0
    batch: int = 1024
    t_max: float = 1e4
    optimizer: str = "sgd"
    schedule: str = "constant"
    eval_size: int = 2**14
    eval_per_decade: int = 10
    eval_mode: str = "auto"
    per_feature: bool = False
    snapshots: tuple[float, ...] = ()
    diverge_factor: float = 1e3
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if _finite("lr", self.lr) <= 0:
            _fail("lr", self.lr, "lr > 0 (finite)")
        _integer("batch", self.batch, 1)
        if _finite("t_max", self.t_max) <= 0:
            _fail("t_max", self.t_max, "t_max > 0 (finite)")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _integer("eval_size", self.eval_size, 1)
        _integer("eval_per_decade", self.eval_per_decade, 1, 1000)
        _choice("eval_mode", self.eval_mode, EVAL_MODES)
        _choice("dtype", self.dtype, DTYPES)
        if not isinstance(self.per_feature, bool):
            _fail("per_feature", self.per_feature, "true or false")
        if _finite("diverge_factor", self.diverge_factor) <= 1:
            _fail("diverge_factor", self.diverge_factor, "diverge_factor > 1")
        snaps = _float_tuple("snapshots", self.snapshots) or ()
        for i, s in enumerate(snaps):
            if not 0 <= s <= self.t_max:
                _fail(f"snapshots[{i}]", s, f"0 <= t <= t_max = {self.t_max:g}")
        if any(b <= a for a, b in zip(snaps, snaps[1:])):
            _fail("snapshots", snaps, "strictly increasing times")
        for name in ("lr", "t_max", "diverge_factor"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "snapshots", snaps)


def _law_problem(law: str, n: int, a: float, kappa: float, density: float, normalize: str,
                 p: tuple[float, ...] | None) -> str | None:
    """The one-line error of a law whose p_i leave [0, 1], else None: the check (and message) of
    ``supdyn.data.frequencies``, run when a RunConfig is built, before any training."""
    import numpy as np  # lazy: config stays cheap to import

    i, scaled = np.arange(1, n + 1, dtype=np.float64), law != "user" and normalize == "sum"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if law == "exponential":
            q = -kappa * i**a
            q = np.exp(q - q.max()) if scaled else np.exp(q)
        else:
            q = {"user": lambda: np.asarray(p, dtype=np.float64), "power": lambda: i ** (-a),
                 "algebraic": lambda: (n + 1.0 - i) ** a}[law]()
        total = q.sum()
        if scaled and (not np.isfinite(total) or total <= 0):
            return (f"a: the {law} law with a={a:g} cannot be normalized (sum of p_i = {total:g}); "
                    "allowed: a law with a finite positive sum")
        q = q * (density / total) if scaled else q
        bad = np.flatnonzero(~np.isfinite(q) | (q < 0) | (q > 1))
    if not bad.size:
        return None
    j, name = int(bad[0]), "p" if law == "user" else ("density" if scaled else "a")
    if np.isfinite(q[j]) and q[j] > 1:
        return (f"{name}: {'normalized ' if scaled else ''}p_{j + 1} = {q[j]:.6g} exceeds 1 by {q[j] - 1:.3g} "
                f"({bad.size} of {n} features outside [0, 1]); allowed: every p_i in [0, 1]")
    return f"{name}: p_{j + 1} = {float(q[j])!r}; allowed: every p_i finite and in [0, 1]"


_cached_law_problem = functools.lru_cache(maxsize=512)(_law_problem)


@dataclass(frozen=True)
class RunConfig:
    """One run: data + model + train + seed. ``run_id`` is its identity in the store."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            if not isinstance(getattr(self, name), kind):
                _fail(name, type(getattr(self, name)).__name__, kind.__name__)
        _integer("seed", self.seed, 0, 2**63 - 1)
        n, k = self.data.n_features, self.model.d_hidden
        if k > n:
            _fail("d_hidden", k, f"1 <= K <= n_features = {n}")
        variant = self.variant
        if variant == "none" and k != n:
            _fail("d_hidden", k, f"K = n_features = {n} for variant 'none' (no superposition)")
        if variant in ("fixed", "learnable") and self.model.init_scale == 0:
            _fail("init_scale", 0.0, "init_scale > 0 for ReLU students (with B = 0, b = 0 no gradient flows)")
        if self.train.eval_mode == "exact" and variant not in ("none", "linear"):
            _fail("eval_mode", "exact", "'sample' or 'auto' for ReLU students (no closed-form loss)")
        d = self.data
        problem = (_law_problem(d.law, d.n_features, d.a, d.kappa, d.density, d.normalize, d.p) if d.law == "user"
                   else _cached_law_problem(d.law, d.n_features, d.a, d.kappa, d.density, d.normalize, None))
        if problem:
            raise ConfigError(problem)

    @property
    def variant(self) -> str:
        """The resolved student variant (``auto`` → ``none`` if K = N else ``fixed``)."""
        if self.model.variant != "auto":
            return self.model.variant
        return "none" if self.model.d_hidden == self.data.n_features else "fixed"

    @property
    def eval_exact(self) -> bool:
        """Whether losses are the closed-form population loss (linear students) or sampled."""
        mode = self.train.eval_mode
        return mode == "exact" or (mode == "auto" and self.variant in ("none", "linear"))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for section in d.values():
            if isinstance(section, dict):
                for key, val in section.items():
                    if isinstance(val, tuple):
                        section[key] = list(val)
        return d

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def run_id(self) -> str:
        """sha256 of the canonical config JSON and the schema version (hex, 64 characters)."""
        payload = f"supdyn-schema-{SCHEMA_VERSION}\n{self.canonical_json()}".encode()
        return hashlib.sha256(payload).hexdigest()

    def replace(self, **changes: Any) -> "RunConfig":
        """Copy with changes given by dotted or plain field names: ``replace(a=1.5, lr=2)``."""
        return from_dict(_merge(self.to_dict(), changes))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return from_dict(d)


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def field_names() -> dict[str, str]:
    """Map every plain field name to its section (``a`` → ``data``)."""
    out = {}
    for sec, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            out[f.name] = sec
    return out


def _unknown(key: str, valid: list[str], where: str) -> None:
    hint = difflib.get_close_matches(key, valid, n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(f"{where}{key}: unknown key{extra} (valid: {', '.join(sorted(valid))})")


def _merge(d: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    names = field_names()
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for key, val in changes.items():
        sec, _, name = key.rpartition(".")
        if key == "seed":
            out["seed"] = val
            continue
        sec = sec or names.get(name, "")
        if sec not in _SECTIONS or name not in {f.name for f in dataclasses.fields(_SECTIONS[sec])}:
            _unknown(key, list(names) + ["seed"], "")
        out.setdefault(sec, {})[name] = val
    return out


def from_dict(d: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from nested (``{"data": {...}}``) or flat (``{"a": 1.5}``) keys.

    Unknown keys raise a ConfigError naming the key and the closest valid one.
    """
    nested: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for key, val in d.items():
        if key in _SECTIONS and isinstance(val, dict):
            valid = [f.name for f in dataclasses.fields(_SECTIONS[key])]
            for k in val:
                if k not in valid:
                    _unknown(k, valid, f"[{key}] ")
            nested[key] = val
        elif isinstance(val, dict):  # a misspelled [section] table
            _unknown(key, list(_SECTIONS), "")
        else:
            flat[key] = val
    merged = _merge(nested, flat)
    seed = merged.pop("seed", 0)
    sections = {}
    for sec, cls in _SECTIONS.items():
        kwargs = dict(merged.get(sec, {}))
        for k, v in list(kwargs.items()):
            if isinstance(v, list):
                kwargs[k] = tuple(v)
        sections[sec] = cls(**kwargs)
    return RunConfig(seed=seed, **sections)


def _read_toml(path: str | Path) -> dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); allowed: a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); allowed: a readable TOML file") from None


def load_toml(path: str | Path) -> RunConfig:
    """Load a single-run TOML file (sections [data], [model], [train] and a top-level seed)."""
    return from_dict(_read_toml(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse any TOML file into a dict (used for experiment and sweep specs)."""
    return _read_toml(path)


def expand_grid(spec: dict[str, Any]) -> list[RunConfig]:
    """Configs of a grid spec: ``{"base": {...}, "grid": {field: [values...]}}``.

    ``base`` holds fixed fields (flat names or [data]/[model]/[train] sections); ``grid`` maps field
    names (flat, e.g. ``a``, ``d_hidden``, ``seed``) to lists, expanded as a Cartesian product in the
    order written. ``grid`` may also be a list of such tables (``[[grid]]`` in TOML): their
    expansions are concatenated, duplicates removed. Unknown keys anywhere raise ConfigError.
    """
    import itertools

    for key in spec:
        if key not in ("base", "grid", "name", "description"):
            _unknown(key, ["base", "grid", "name", "description"], "")
    base = spec.get("base", {})
    grids = spec.get("grid", {})
    grids = grids if isinstance(grids, list) else [grids]
    out: list[RunConfig] = []
    seen: set[str] = set()
    base_cfg = from_dict(base)
    for grid in grids:
        names = list(grid)
        values = []
        for name in names:
            vals = grid[name]
            if not isinstance(vals, list) or not vals:
                _fail(f"grid.{name}", vals, "a non-empty list of values")
            values.append(vals)
        for combo in itertools.product(*values):
            cfg = base_cfg.replace(**dict(zip(names, combo)))
            if cfg.run_id not in seen:
                seen.add(cfg.run_id)
                out.append(cfg)
    return out
