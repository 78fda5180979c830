"""``supdyn theory``: the no-superposition theory of one data configuration (loss, exponents).

Prints L(t), the analytic local exponent −d log L / d log t, the number of learned features
(s_i/a_i >= threshold) and the critical index at the requested times t = lr × steps, plus the
asymptotic exponent of the frequency law (App. A.1).  ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np

from supdyn.cli import add_limit_arguments
from supdyn.config import LAWS, NORMALIZATIONS, DataConfig, resources
from supdyn.theory import LEARNED_THRESHOLD, METHODS, asymptote, local_exponent, theory_from_config
from supdyn.theory.exact import AUTO_DENSE_MAX, DENSE_MAX

# flag dest → DataConfig field
FLAG_FIELDS = {"N": "n_features", "law": "law", "a": "a", "b": "b", "kappa": "kappa", "density": "density",
               "normalize": "normalize"}
DEFAULT_TIMES = np.logspace(0.0, 4.0, 41)  # 10 per decade from 1 to 1e4


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("theory", help="no-superposition theory: loss curve and exponents",
                       description="Loss L(t), local exponent -dlogL/dlogt and learned features of the "
                                   "no-superposition theory (gradient flow, t = lr x steps).")
    p.add_argument("--N", type=int, help="number of features (default 1024)")
    p.add_argument("--law", choices=[law for law in LAWS if law != "user"],  # (no option gives p)
                   help="frequency law (default power)")
    p.add_argument("--a", type=float, help="frequency decay a (default 1.1)")
    p.add_argument("--b", type=float, help="teacher decay b >= 0 (default 0)")
    p.add_argument("--kappa", type=float, help="scale of the exponential law (default 1)")
    p.add_argument("--density", type=float, help="activation density E = sum p_i (default 1)")
    p.add_argument("--normalize", choices=NORMALIZATIONS, help="sum: sum p_i = E (default); none: p_i = i^-a")
    p.add_argument("--t", type=float, nargs="+", metavar="T",
                   help="times t = lr x steps (default: 10 per decade from 1 to 1e4)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--exact", dest="mode", action="store_const", const="exact",
                      help="exact second moment diag(p/3 - p^2/4) + mu mu^T (default)")
    mode.add_argument("--diagonal", dest="mode", action="store_const", const="diagonal",
                      help="diagonal theory, Sigma = diag(p/3) (paper eqs. 5-7)")
    p.add_argument("--paper-eq7", action="store_true",
                   help="the paper's eq. 7 verbatim: unnormalized p_i = i^-a (implies --diagonal)")
    p.add_argument("--method", choices=METHODS, default="auto", help="exact theory: eigh, laplace or auto")
    p.add_argument("--threshold", type=float, default=LEARNED_THRESHOLD,
                   help="a feature counts as learned when s_i/a_i >= threshold (default 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_limit_arguments(p, steps=False)
    p.set_defaults(func=run, mode=None)


def _clean(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def run(args: argparse.Namespace) -> int:
    fields = {field: getattr(args, dest) for dest, field in FLAG_FIELDS.items() if getattr(args, dest) is not None}
    cfg = DataConfig(**fields)
    if args.paper_eq7 and args.mode == "exact":
        raise ValueError("--paper-eq7: eq. 7 is the diagonal theory; allowed with --diagonal only "
                         "(for the exact theory of p_i = i^-a use --normalize none)")
    mode = "diagonal" if args.paper_eq7 else (args.mode or "exact")
    t = np.asarray(args.t if args.t else DEFAULT_TIMES, dtype=np.float64)
    if not (np.all(np.isfinite(t)) and np.all(t >= 0) and np.all(np.diff(t) > 0)):
        raise ValueError(f"--t: got {[float(v) for v in t]}; allowed: strictly increasing finite times t >= 0")
    n = cfg.n_features
    dense = args.method == "eigh" and n <= DENSE_MAX or args.method == "auto" and n <= AUTO_DENSE_MAX
    method = "eigh" if mode == "exact" and dense else "laplace"
    resources.check_memory(resources.theory_bytes(n, t.size, method=method, mode=mode),
                           f"the {mode} theory of N = {n} features at {t.size} times")
    theory = theory_from_config(cfg, mode=mode, paper_eq7=args.paper_eq7, method=args.method)
    loss, dloss = theory.loss_and_derivative(t)
    alpha_t = local_exponent(t, loss, dloss)
    n_learned = theory.n_learned(t, args.threshold)
    i_c = theory.critical_index(t)
    asy = asymptote(cfg.law, cfg.a, cfg.b, normalizable=cfg.normalize == "sum" and not args.paper_eq7)
    config = dataclasses.asdict(cfg)
    for key, val in config.items():
        if isinstance(val, tuple):
            config[key] = list(val)
    out = {
        "mode": mode, "method": getattr(theory, "method", None), "paper_eq7": bool(args.paper_eq7),
        "config": config, "t": _clean(t), "loss": _clean(loss), "loss_derivative": _clean(dloss),
        "local_exponent": _clean(alpha_t), "n_learned": [int(v) for v in n_learned],
        "learned_threshold": float(args.threshold), "critical_index": [int(v) for v in i_c],
        "alpha_asymptotic": asy.alpha if math.isfinite(asy.alpha) else None,
        "alpha_log_power": asy.log_power if math.isfinite(asy.log_power) else None,
        "alpha_valid": asy.valid, "alpha_note": asy.reason, "loss_at_zero": theory.loss_at_zero,
    }
    if args.json:
        print(json.dumps(out, allow_nan=False))
        return 0
    how = f"{mode}" + (f", {out['method']}" if out["method"] else "") + (", paper eq. 7" if args.paper_eq7 else "")
    print(f"theory ({how}): law={cfg.law} N={cfg.n_features} a={cfg.a:g} b={cfg.b:g} "
          f"normalize={cfg.normalize}" + (f" kappa={cfg.kappa:g}" if cfg.law == "exponential" else ""))
    alpha = "n/a" if out["alpha_asymptotic"] is None else f"{asy.alpha:.4g}"
    log_note = f" x (ln t)^{asy.log_power:.4g}" if asy.valid and asy.log_power else ""
    print(f"asymptotic alpha = {alpha}{log_note} ({asy.reason})")
    print(f"{'t':>12} {'loss':>14} {'local_exp':>10} {'n_learned':>10} {'i_c':>8}")
    for row in zip(t, loss, alpha_t, n_learned, i_c):
        exp_txt = f"{row[2]:10.4f}" if math.isfinite(row[2]) else f"{'nan':>10}"
        print(f"{row[0]:12.5g} {row[1]:14.6e} {exp_txt} {row[3]:10d} {row[4]:8d}")
    return 0
