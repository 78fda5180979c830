"""The parameters of ``n_models`` students of one variant and shape (:class:`Student`), built from their
configs (:func:`build_student`), and the random embedding W of a run (fixed, or the start of a learned one)."""

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
    """The embedding W of a run (d_hidden, n_features), float64, from its ``embedding`` stream:
    unit-norm Gaussian columns (:func:`embedding`), or i.i.d. N(0, 1/K) entries when
    ``embedding_init = "gaussian"`` (the same draws, not normalized but scaled by 1/√K)."""
    gen = torch_generator(stream_seed(cfg.seed, "embedding"))
    n, k = cfg.data.n_features, cfg.model.d_hidden
    if cfg.model.embedding_init == "gaussian":
        return torch.randn(k, n, generator=gen, dtype=torch.float64) / k**0.5
    return embedding(n, k, generator=gen)


def _counters() -> dict[str, int]:
    return {"sparse_backward": 0, "dense_backward": 0, "gather_forward": 0, "dense_forward": 0}


@dataclass
class Student:
    """Parameters of ``n_models`` students of one variant and shape.

    params (learned):  ``B``    (n_models, d_hidden, d_hidden)       linear, fixed, learnable
                       ``BT``   (n_models, n_features, n_features)   none: Bᵀ (kept transposed so
                                                                     that input columns are rows)
                       ``bias`` (n_models, n_features)               fixed, learnable, tied
                       ``encT`` (n_models, n_features, d_hidden)     learnable: Eᵀ
                       ``dec``  (n_models, d_hidden, n_features)     learnable: D
                       ``WT``   (n_models, n_features, d_hidden)     tied: Wᵀ (row j: feature j's vector)
    fixed: ``W`` (n_models, d_hidden, n_features) and ``WT`` its transpose, for linear and fixed.
    teacher: (n_models, n_features) diagonal of A. p: (n_models, n_features) float64 frequencies.
    weights: (n_models, n_features) loss weights w_i of the outputs, or None (uniform, w = 1).
    groups: how the input features are correlated (:class:`supdyn.data.Groups`), or None (independent).
    vmax: (n_models,) float64, c of the values v ~ U(0, c). loss_scale: 1 for the loss ½‖y* − y‖²
    (summed over outputs), 2/N for the mean over outputs ‖y* − y‖²/N (``loss_reduction``).
    """

    variant: str
    params: dict[str, torch.Tensor]
    fixed: dict[str, torch.Tensor]
    teacher: torch.Tensor
    p: torch.Tensor
    n_features: int
    d_hidden: int
    vmax: torch.Tensor | None = None
    loss_scale: float = 1.0
    stats: dict[str, int] = field(default_factory=_counters)
    weights: torch.Tensor | None = None
    groups: Groups | None = None

    def __post_init__(self) -> None:
        if self.vmax is None:
            self.vmax = torch.ones(self.teacher.shape[0], dtype=torch.float64, device=self.teacher.device)

    @property
    def n_models(self) -> int:
        return self.teacher.shape[0]

    @property
    def spec(self) -> Variant:
        """The variant's row of the variant table (what it has)."""
        return variant_spec(self.variant)

    def matrix_B(self) -> torch.Tensor:
        """B as the paper writes it: (n_models, N, N) without superposition, else (n_models, K, K)."""
        if not self.spec.has_B:
            raise ValueError(f"variant: {self.variant!r} has no B; allowed: a variant with B")
        return self.params["B"] if "B" in self.params else self.params["BT"].transpose(1, 2)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the learned matrices as float32 numpy arrays (B, and enc/dec when learned; W when tied)."""
        if not self.spec.has_B:
            return {"W": self.params["WT"].transpose(1, 2).cpu().numpy().astype(np.float32)}
        out = {"B": self.matrix_B().detach().cpu().numpy().astype(np.float32)}
        if self.spec.embedding == "learned":
            out["enc"] = self.params["encT"].transpose(1, 2).cpu().numpy().astype(np.float32)
            out["dec"] = self.params["dec"].cpu().numpy().astype(np.float32)
        return out

    def select(self, keep: torch.Tensor) -> "Student":
        """The models at indices ``keep`` (a 1-D int64 tensor on the device), as a new Student."""
        return Student(self.variant, {k: v[keep].contiguous() for k, v in self.params.items()},
                       {k: v[keep].contiguous() for k, v in self.fixed.items()}, self.teacher[keep].contiguous(),
                       self.p[keep].contiguous(), self.n_features, self.d_hidden, self.vmax[keep].contiguous(),
                       self.loss_scale,
                       weights=None if self.weights is None else self.weights[keep].contiguous(),
                       groups=None if self.groups is None else Groups(
                           self.groups.kind, self.groups.size, tuple(self.groups.rho[i] for i in keep.tolist())))


def build_student(configs: list[RunConfig], *, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> Student:
    """Initialize one Student holding every config's model (all share variant, N, K and loss_reduction).

    Random draws happen on the CPU in float64 from each run's own ``embedding`` and ``init`` streams,
    so a model's initial state does not depend on the device or on the other models. B(0) has i.i.d.
    N(0, init_scale²) entries (drawn first from the ``init`` stream; none for ``tied``), b(0) i.i.d.
    N(0, bias_init_scale²) entries (drawn next, only when bias_init_scale > 0; else b = 0), a learned
    embedding starts from W (E = D = W) from :func:`run_embedding`.
    """
    c0 = configs[0]
    variant, reduction = c0.variant, c0.train.loss_reduction
    n, k = c0.data.n_features, c0.model.d_hidden
    for c in configs:
        if (c.variant, c.data.n_features, c.model.d_hidden, c.data.correlation, c.data.group_size,
                c.train.loss_reduction) != (variant, n, k, c0.data.correlation, c0.data.group_size, reduction):
            raise ValueError("configs: models trained together must share variant, n_features, d_hidden, "
                             "correlation, group_size and loss_reduction")
    spec = variant_spec(variant)
    p = torch.tensor(np.stack([frequencies(c.data) for c in configs]), dtype=torch.float64)
    teacher = torch.tensor(np.stack([teacher_diagonal(c.data) for c in configs]))
    width = k if spec.superposition else n
    b0, bias0 = [], []
    for c in configs:
        gen = torch_generator(stream_seed(c.seed, "init"))
        if spec.has_B:
            b0.append(c.model.init_scale * torch.randn(width, width, generator=gen, dtype=torch.float64))
        s = c.model.bias_init_scale
        bias0.append(s * torch.randn(n, generator=gen, dtype=torch.float64) if s > 0
                     else torch.zeros(n, dtype=torch.float64))
    params: dict[str, torch.Tensor] = {}
    fixed: dict[str, torch.Tensor] = {}
    if not spec.superposition:
        params["BT"] = torch.stack(b0).transpose(1, 2)  # (n_models, N, N)
    else:
        W = torch.stack([run_embedding(c) for c in configs])  # (n_models, d_hidden, n_features)
        if spec.has_B:
            params["B"] = torch.stack(b0)  # (n_models, K, K)
        if spec.embedding == "tied":
            params["WT"] = W.transpose(1, 2)
        elif spec.embedding == "learned":
            params["encT"] = W.transpose(1, 2)
            params["dec"] = W.clone()
        else:
            fixed["W"] = W
            fixed["WT"] = W.transpose(1, 2)
    if spec.relu_bias:
        params["bias"] = torch.stack(bias0)

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype).contiguous()

    w = [importance_weights(c.data) for c in configs]
    weights = None if all(x is None for x in w) else cast(torch.tensor(np.stack(
        [np.ones(n) if x is None else x for x in w])))
    vmax = torch.tensor([c.data.value_max for c in configs], dtype=torch.float64, device=device)
    scale = 1.0 if reduction == "half_sum" else 2.0 / n
    return Student(variant, {k_: cast(v) for k_, v in params.items()},
                   {k_: cast(v) for k_, v in fixed.items()}, cast(teacher), p.to(device), n, k, vmax, scale,
                   weights=weights, groups=groups_of(configs))
