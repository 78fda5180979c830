"""A run: its sections and seed (:class:`RunConfig`), its identity (``run_id``) and building one from
nested or flat keys (:func:`from_dict`)."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from supdyn.config import resources
from supdyn.config.checks import (ConfigError, _cached_law_problem, _fail, _integer, _law_problem,
                                  teacher_problem)
from supdyn.config.sections import DataConfig, ModelConfig, TrainConfig
from supdyn.config.variants import Variant, variant_spec

SCHEMA_VERSION = 2
"""Version of everything a run's result depends on besides its config. 2: training batches are drawn
several steps per sampler call (``supdyn.data.draw_steps``; a different training stream from 1)."""

CORRELATED_STREAM = 2
"""Version of the correlated-feature draws (``supdyn.data.static_sampler.draw_groups``), part of the
identity of correlated runs only (``data.correlation`` other than none), so that a change there retires
those runs and no other. 1: an exclusive group's member chosen with its own uniform, co-occurring entries
merged by a sort; 2: one cell per exclusive member, co-occurring entries merged without a sort, two value
uniforms per 64-bit word. The same law, other batches: the store reads a version-1 run as another schema's."""


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
        object.__setattr__(self, "seed", _integer("seed", self.seed, 0, 2**63 - 1))
        n, k = self.data.n_features, self.model.d_hidden
        if k > n:
            _fail("d_hidden", k, f"1 <= K <= n_features = {n}")
        variant, spec = self.variant, self.spec
        if not spec.superposition and k != n:
            _fail("d_hidden", k, f"K = n_features = {n} for variant {variant!r} (no superposition)")
        if spec.relu_bias and spec.has_B and self.model.init_scale == 0:
            _fail("init_scale", 0.0, "init_scale > 0 for ReLU students (with B = 0, b = 0 no gradient flows)")
        if self.train.eval_mode == "exact" and not spec.closed_form:
            _fail("eval_mode", "exact", "'sample' or 'auto' for ReLU students (no closed-form loss)")
        self._check_variant_options(variant, spec)
        resources.check_run(self)  # before the law: its evaluation allocates O(N)
        d = self.data
        g = d.group_size if d.correlation == "exclusive" else 0
        problem = (_law_problem(d.law, d.n_features, d.a, d.kappa, d.density, d.normalize, d.p, g) if d.law == "user"
                   else _cached_law_problem(d.law, d.n_features, d.a, d.kappa, d.density, d.normalize, None, g))
        problem = problem or teacher_problem(d.teacher_diag, d.n_features, self.train.batch, self.train.dtype)
        if problem:
            raise ConfigError(problem)

    def _check_variant_options(self, variant: str, spec: Variant) -> None:
        """Options that need a part of the student: an embedding, a learned one, B, a bias."""
        m, t = self.model, self.train
        if m.embedding_init != "unit" and not spec.superposition:
            _fail("embedding_init", m.embedding_init, f"'unit' for variant {variant!r} (no embedding)")
        if m.bias_init_scale != 0 and not spec.relu_bias:
            _fail("bias_init_scale", m.bias_init_scale, f"0 for variant {variant!r} (no bias)")
        if t.weight_decay != 0 and not spec.learned_embedding:
            _fail("weight_decay", t.weight_decay, f"0 for variant {variant!r} (no learned embedding; B decays with "
                  "weight_decay_B)")
        if t.weight_decay_B != 0 and not spec.has_B:
            _fail("weight_decay_B", t.weight_decay_B, f"0 for variant {variant!r} (no B; its W decays with "
                  "weight_decay)")

    @property
    def variant(self) -> str:
        """The resolved student variant (``auto`` → ``none`` if K = N else ``fixed``)."""
        if self.model.variant != "auto":
            return self.model.variant
        return "none" if self.model.d_hidden == self.data.n_features else "fixed"

    @property
    def spec(self) -> Variant:
        """The resolved variant's row of :data:`supdyn.config.variants.VARIANT_TABLE`."""
        return variant_spec(self.variant)

    @property
    def eval_exact(self) -> bool:
        """Whether losses are the closed-form population loss (linear students) or sampled."""
        mode = self.train.eval_mode
        return mode == "exact" or (mode == "auto" and self.spec.closed_form)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for section in d.values():
            if isinstance(section, dict):
                for key, val in section.items():
                    if isinstance(val, tuple):
                        section[key] = list(val)
        return d

    def canonical_json(self, *, correlated_stream: int = CORRELATED_STREAM) -> str:
        """The identity's JSON: every field, except fields added after schema 2 (declared with
        :data:`supdyn.config.checks.ADDED`) while at their default, so that adding a field keeps the
        identity of every run that does not use it; correlated runs add ``correlated_stream`` (from 2)."""
        d = self.to_dict()
        for sec, cls in _SECTIONS.items():
            for f in dataclasses.fields(cls):
                if f.metadata.get("added") and d[sec][f.name] == _plain(f.default):
                    del d[sec][f.name]
        if self.data.correlation != "none" and correlated_stream > 1:
            d["data"]["correlated_stream"] = correlated_stream
        return json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def run_id_at(self, *, correlated_stream: int = CORRELATED_STREAM) -> str:
        """The run id under a version of the correlated draws (:data:`CORRELATED_STREAM`)."""
        payload = f"supdyn-schema-{SCHEMA_VERSION}\n{self.canonical_json(correlated_stream=correlated_stream)}"
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def run_id(self) -> str:
        """sha256 of the canonical config JSON and the schema version (hex, 64 characters)."""
        return self.run_id_at()

    def replace(self, **changes: Any) -> "RunConfig":
        """Copy with changes given by dotted or plain field names: ``replace(a=1.5, lr=2)``."""
        return from_dict(_merge(self.to_dict(), changes))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return from_dict(d)


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def _plain(value: Any) -> Any:
    """A default as ``to_dict`` writes it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


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
    if not isinstance(d, dict):
        raise ConfigError(f"config: got {type(d).__name__}; allowed: a table (dict) of [data], [model], [train] "
                          "and seed, or flat keys")
    nested: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for key, val in d.items():
        if key in _SECTIONS and not isinstance(val, dict):  # `data = 5`: the section, not a field
            _fail(key, val, f"a [{key}] table")
        if key in _SECTIONS:
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


