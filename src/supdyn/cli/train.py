"""``supdyn train``: train one run (flags or a TOML file), store it, print its curve."""

from __future__ import annotations

import argparse
import json
import math

from supdyn.cli import add_limit_arguments
from supdyn.config import (CORRELATIONS, DTYPES, EMBEDDING_INITS, IMPORTANCE, LAWS, LOSS_REDUCTIONS, NORMALIZATIONS,
                           OPTIMIZERS, SCHEDULES, VARIANTS, RunConfig, from_dict, read_toml)
from supdyn.data import stable_lr_bound
from supdyn.store import Store
from supdyn.sweep import check_device, ensure

# flag dest → config field
FLAG_FIELDS = {
    "N": "n_features", "K": "d_hidden", "a": "a", "b": "b", "law": "law", "kappa": "kappa",
    "density": "density", "normalize": "normalize", "lr": "lr", "batch": "batch", "t_max": "t_max",
    "seed": "seed", "variant": "variant", "init_scale": "init_scale", "eval_size": "eval_size",
    "snapshots": "snapshots", "dtype": "dtype", "correlation": "correlation", "group_size": "group_size",
    "cooccur": "cooccur", "importance": "importance", "importance_exponent": "importance_exponent",
    "value_max": "value_max", "embedding_init": "embedding_init",
    "bias_init_scale": "bias_init_scale", "optimizer": "optimizer", "schedule": "schedule", "warmup": "warmup",
    "lr_final": "lr_final", "decay_every": "decay_every", "decay_factor": "decay_factor",
    "weight_decay": "weight_decay", "weight_decay_B": "weight_decay_B", "beta1": "beta1", "beta2": "beta2",
    "eps": "eps", "loss_reduction": "loss_reduction",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run and store it",
                       description="Train one run (online SGD by default; t = Σ lr_k, lr × steps at a constant "
                                   "rate) and store it. Flags override values of the optional TOML file.")
    p.add_argument("config", nargs="?", help="TOML file with [data], [model], [train] and seed")
    p.add_argument("--N", type=int, help="number of features (default 1024)")
    p.add_argument("--K", type=int, help="hidden width K (default 256; K = N means no superposition)")
    p.add_argument("--a", type=float, help="frequency decay a (default 1.1)")
    p.add_argument("--b", type=float, help="teacher decay b >= 0 (default 0)")
    p.add_argument("--law", choices=LAWS, help="frequency law (default power)")
    p.add_argument("--kappa", type=float, help="scale of the exponential law")
    p.add_argument("--density", type=float, help="activation density E = sum p_i (default 1)")
    p.add_argument("--normalize", choices=NORMALIZATIONS, help="sum: sum p_i = E (default); none: p_i = i^-a")
    p.add_argument("--lr", type=float, help="learning rate (default 1)")
    p.add_argument("--batch", type=int, help="batch size (default 1024)")
    p.add_argument("--t-max", dest="t_max", type=float, help="final time t = lr x steps (default 1e4)")
    p.add_argument("--seed", type=int, help="seed of every random stream (default 0)")
    p.add_argument("--variant", choices=VARIANTS, help="student variant (default auto: none if K = N else fixed)")
    p.add_argument("--init-scale", dest="init_scale", type=float, help="std of B's entries at t = 0 (default 1e-3)")
    p.add_argument("--eval-size", dest="eval_size", type=int, help="held-out samples (default 16384)")
    p.add_argument("--per-feature", action="store_true", help="record the per-feature loss L_i(t)")
    p.add_argument("--snapshots", type=float, nargs="+", metavar="T", help="times at which to save B")
    p.add_argument("--correlation", choices=CORRELATIONS,
                   help="feature groups: none (default), cooccur (a group event switches the group on), "
                        "exclusive (at most one member of a group)")
    p.add_argument("--group-size", dest="group_size", type=int, help="features per group (default 2)")
    p.add_argument("--cooccur", type=float, help="co-occurrence strength in [0, 1] (default 0.5)")
    p.add_argument("--importance", choices=IMPORTANCE, help="loss weights w_i: uniform (default) or power")
    p.add_argument("--importance-exponent", dest="importance_exponent", type=float,
                   help="w_i = i^-exponent with --importance power")
    p.add_argument("--value-max", dest="value_max", type=float, help="c of the values v ~ U(0, c) (default 1)")
    p.add_argument("--embedding-init", dest="embedding_init", choices=EMBEDDING_INITS,
                   help="W at t = 0: unit (Gaussian, unit-norm columns; default) or gaussian (N(0, 1/K) entries)")
    p.add_argument("--bias-init-scale", dest="bias_init_scale", type=float, help="std of b's entries at t = 0 (default 0)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="sgd (default), adam (L2 weight decay) or adamw (decoupled)")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default constant; t = Σ lr_k)")
    p.add_argument("--warmup", type=int, help="linear warm-up steps (schedules warmup, cosine, step)")
    p.add_argument("--lr-final", dest="lr_final", type=float, help="cosine: final rate as a fraction of lr (default 0)")
    p.add_argument("--decay-every", dest="decay_every", type=int, help="step: steps between decays")
    p.add_argument("--decay-factor", dest="decay_factor", type=float, help="step: rate factor per decay (default 0.1)")
    p.add_argument("--weight-decay", dest="weight_decay", type=float,
                   help="decay of the learned embedding; < 0: each feature's vector pulled to unit norm")
    p.add_argument("--weight-decay-B", dest="weight_decay_B", type=float, help="decay of B (>= 0)")
    p.add_argument("--beta1", type=float, help="Adam's beta1 (default 0.9)")
    p.add_argument("--beta2", type=float, help="Adam's beta2 (default 0.999)")
    p.add_argument("--eps", type=float, help="Adam's epsilon (default 1e-8)")
    p.add_argument("--loss-reduction", dest="loss_reduction", choices=LOSS_REDUCTIONS,
                   help="half_sum: ½ sum over outputs (default); mean: mean over outputs, no ½ (torch MSELoss)")
    p.add_argument("--dtype", choices=DTYPES, help="float32 (default), float64, or tf32 (float32 with "
                                                   "TensorFloat-32 CUDA matmuls)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu; cuda trains with the static "
                                                    "GPU engine)")
    p.add_argument("--store", help="run store directory (default $SUPDYN_STORE or ./runs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_limit_arguments(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    doc = read_toml(args.config) if args.config else {}
    flat = {field: getattr(args, dest) for dest, field in FLAG_FIELDS.items() if getattr(args, dest) is not None}
    if args.per_feature:
        flat["per_feature"] = True
    return from_dict({**doc, **flat})  # the flags override the file before either is validated


def divergence_hint(cfg: RunConfig, step: int | None, t: float | None, bound: float,
                    loss0: float = 0.0) -> str:
    """One line: where the run diverged and a learning rate below the stability estimate 2/h_max (or,
    when the loss was not finite before the first step, that no learning rate is the cause)."""
    curvature = "λ_max of the input second moment Σ = diag(p/3 − p²/4) + μμᵀ"
    if cfg.spec.superposition:
        curvature += " times λ_max(WWᵀ) ≈ (1 + √(N/K))²"
    where = f"step {step} (t = {t:g})" if t is not None else f"step {step}"
    if not math.isfinite(loss0):
        return (f"diverged at {where}: the loss is {loss0} at t = 0, before any step, so the learning rate is not "
                f"the cause; the initial state overflows {cfg.train.dtype} (init_scale = {cfg.model.init_scale:g}; "
                "the teacher's size): try a smaller --init-scale or dtype float64")
    if not math.isfinite(bound):
        return f"diverged at {where} with lr = {cfg.train.lr:g}; try a smaller --lr"
    suggest = float(f"{0.5 * bound:.2g}")
    return (f"diverged at {where} with lr = {cfg.train.lr:g}; SGD is stable for lr below about "
            f"2/h_max = {bound:.3g} (h_max = {curvature}): try --lr {suggest:g}")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    check_device(args.device)
    bound = stable_lr_bound(cfg)
    store = Store(args.store)
    cached = store.verify(cfg)  # (a damaged copy is moved aside here, and computed again)
    (stored,) = ensure([cfg], store, device=args.device, progress=not (args.no_progress or args.json))
    out = {
        "run_id": stored.run_id, "cached": cached, "variant": cfg.variant,
        "t": [float(v) for v in stored.t],
        "loss": [None if not math.isfinite(v) else float(v) for v in stored.loss],
        "diverged": stored.diverged, "diverged_t": stored.meta.get("diverged_t"),
        "diverged_step": stored.meta.get("diverged_step"), "wall_time": stored.meta.get("wall_time"),
        "store": str(store.root), "config": cfg.to_dict(),
        "stable_lr_bound": bound if math.isfinite(bound) else None,
        "hint": divergence_hint(cfg, stored.meta.get("diverged_step"), stored.meta.get("diverged_t"), bound,
                                float(stored.loss[0])) if stored.diverged else None,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    took = "(cached)" if cached else f"({stored.meta.get('wall_time') or 0:.1f} s)"
    print(f"run {stored.run_id[:12]}  variant={cfg.variant} N={cfg.data.n_features} K={cfg.model.d_hidden} "
          f"a={cfg.data.a:g} b={cfg.data.b:g} lr={cfg.train.lr:g} batch={cfg.train.batch} "
          f"{took}")
    for t, loss in zip(stored.t, stored.loss):
        if t == 0 or abs(math.log10(t) - round(math.log10(t))) < 1e-9 or t == stored.t[-1]:
            print(f"  t = {t:>10.4g}   loss = {loss:.6g}")
    if stored.diverged:
        print(f"  {out['hint']}")
    print(f"stored in {store.path(stored.run_id)}")
    return 0
