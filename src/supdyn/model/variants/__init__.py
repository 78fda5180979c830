"""The computation of each student variant, registered by name (the variant table in
:mod:`supdyn.config.variants` says what each has). An implementation module provides
    forward(st, cx)                         the CPU step's forward on a compact batch ("pre": outputs)
    sparse_grads(st, cx)                    batch loss, dense gradients, row gradients (CPU step)
    static_grads(st, x, k, rows, batch)     the same on a static batch (device step)
    linear_map(st)                          the N×N map of a closed-form variant (exact loss)
A new variant of an existing family is a row of the table and a branch of its module; a new family
is a new module registered here.
"""

from __future__ import annotations

from types import ModuleType

from supdyn.model.variants import encdec, identity, tied

IMPLEMENTATIONS: dict[str, ModuleType] = {
    "none": identity,
    "linear": encdec,
    "fixed": encdec,
    "learnable": encdec,
    "tied": tied,
}


def implementation(variant: str) -> ModuleType:
    """The module computing ``variant``."""
    return IMPLEMENTATIONS[variant]
