"""The parameters of ``n_models`` students of one variant and shape (:class:`Student`), built from their
configs (:func:`build_student`), and the fixed random embedding W of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from supdyn.config import RunConfig, Variant, variant_spec
from supdyn.data import (Groups, frequencies, groups_of, importance_weights, stream_seed, teacher_diagonal,
                         torch_generator)


def embedding(n_features: int, d_hidden: int, *, generator: torch.Generator) -> torch.Tensor:
    """Random embedding W, shape (d_hidden, n_features), float64, i.i.d. Gaussian, unit-norm columns."""
    w = torch.randn(d_hidden, n_features, generator=generator, dtype=torch.float64)
    return w / w.norm(dim=0, keepdim=True)


def run_embedding(cfg: RunConfig) -> torch.Tensor:
    """The fixed embedding W of a run (d_hidden, n_features), float64, from its ``embedding`` stream."""
    gen = torch_generator(stream_seed(cfg.seed, "embedding"))
    return embedding(cfg.data.n_features, cfg.model.d_hidden, generator=gen)


def _counters() -> dict[str, int]:
    return {"sparse_backward": 0, "dense_backward": 0, "gather_forward": 0, "dense_forward": 0}


@dataclass
class Student:
    """Parameters of ``n_models`` students of one variant and shape.

    params (learned):  ``B``    (n_models, d_hidden, d_hidden)       linear, fixed, learnable
                       ``BT``   (n_models, n_features, n_features)   none: Bᵀ (kept transposed so
                                                                     that input columns are rows)
                       ``bias`` (n_models, n_features)               fixed, learnable
                       ``encT`` (n_models, n_features, d_hidden)     learnable: Eᵀ
                       ``dec``  (n_models, d_hidden, n_features)     learnable: D
    fixed: ``W`` (n_models, d_hidden, n_features) and ``WT`` its transpose, for linear and fixed.
    teacher: (n_models, n_features) diagonal of A. p: (n_models, n_features) float64 frequencies.
    weights: (n_models, n_features) loss weights w_i of the outputs, or None (uniform, w = 1).
    groups: how the input features are correlated (:class:`supdyn.data.Groups`), or None (independent).
    """

    variant: str
    params: dict[str, torch.Tensor]
    fixed: dict[str, torch.Tensor]
    teacher: torch.Tensor
    p: torch.Tensor
    n_features: int
    d_hidden: int
    stats: dict[str, int] = field(default_factory=_counters)
    weights: torch.Tensor | None = None
    groups: Groups | None = None

    @property
    def n_models(self) -> int:
        return self.teacher.shape[0]

    @property
    def spec(self) -> Variant:
        """The variant's row of the variant table (what it has)."""
        return variant_spec(self.variant)

    def matrix_B(self) -> torch.Tensor:
        """B as the paper writes it: (n_models, N, N) without superposition, else (n_models, K, K)."""
        return self.params["B"] if "B" in self.params else self.params["BT"].transpose(1, 2)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the learned matrices as float32 numpy arrays (B, and enc/dec when learned)."""
        out = {"B": self.matrix_B().detach().cpu().numpy().astype(np.float32)}
        if self.spec.learned_embedding:
            out["enc"] = self.params["encT"].transpose(1, 2).cpu().numpy().astype(np.float32)
            out["dec"] = self.params["dec"].cpu().numpy().astype(np.float32)
        return out

    def select(self, keep: torch.Tensor) -> "Student":
        """The models at indices ``keep`` (a 1-D int64 tensor on the device), as a new Student."""
        return Student(self.variant, {k: v[keep].contiguous() for k, v in self.params.items()},
                       {k: v[keep].contiguous() for k, v in self.fixed.items()}, self.teacher[keep].contiguous(),
                       self.p[keep].contiguous(), self.n_features, self.d_hidden,
                       weights=None if self.weights is None else self.weights[keep].contiguous(),
                       groups=None if self.groups is None else Groups(
                           self.groups.kind, self.groups.size, tuple(self.groups.rho[i] for i in keep.tolist())))


def build_student(configs: list[RunConfig], *, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> Student:
    """Initialize one Student holding every config's model (all share variant, N and K).

    Random draws happen on the CPU in float64 from each run's own ``embedding`` and ``init`` streams,
    so a model's initial state does not depend on the device or on the other models. B(0) has i.i.d.
    N(0, init_scale²) entries, b(0) = 0, a learned embedding starts from W (E = D = W).
    """
    variant = configs[0].variant
    n, k = configs[0].data.n_features, configs[0].model.d_hidden
    for c in configs:
        if (c.variant, c.data.n_features, c.model.d_hidden, c.data.correlation, c.data.group_size) != \
                (variant, n, k, configs[0].data.correlation, configs[0].data.group_size):
            raise ValueError("configs: models trained together must share variant, n_features, d_hidden, "
                             "correlation and group_size")
    spec = variant_spec(variant)
    p = torch.tensor(np.stack([frequencies(c.data) for c in configs]), dtype=torch.float64)
    teacher = torch.tensor(np.stack([teacher_diagonal(c.data) for c in configs]))
    width = k if spec.superposition else n
    b0 = []
    for c in configs:
        gen = torch_generator(stream_seed(c.seed, "init"))
        b0.append(c.model.init_scale * torch.randn(width, width, generator=gen, dtype=torch.float64))
    B = torch.stack(b0)  # (n_models, width, width)
    params: dict[str, torch.Tensor] = {}
    fixed: dict[str, torch.Tensor] = {}
    if not spec.superposition:
        params["BT"] = B.transpose(1, 2)
    else:
        params["B"] = B
        W = torch.stack([run_embedding(c) for c in configs])  # (n_models, d_hidden, n_features)
        if spec.learned_embedding:
            params["encT"] = W.transpose(1, 2)
            params["dec"] = W.clone()
        else:
            fixed["W"] = W
            fixed["WT"] = W.transpose(1, 2)
    if spec.relu_bias:
        params["bias"] = torch.zeros(len(configs), n, dtype=torch.float64)

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype).contiguous()

    w = [importance_weights(c.data) for c in configs]
    weights = None if all(x is None for x in w) else cast(torch.tensor(np.stack(
        [np.ones(n) if x is None else x for x in w])))
    return Student(variant, {k_: cast(v) for k_, v in params.items()},
                   {k_: cast(v) for k_, v in fixed.items()}, cast(teacher), p.to(device), n, k, weights=weights,
                   groups=groups_of(configs))
