"""The student variants and what each has: the one table the rest of supdyn reads (instead of comparing
variant names). A variant's computation lives in :mod:`supdyn.model.variants` under the same name.

    name       y                          embedding  ReLU + bias  closed-form loss
    none       B x, B ∈ R^{N×N}            identity   no           yes   (no superposition, K = N)
    linear     Wᵀ B W x                    fixed      no           yes   (App. A.2)
    fixed      ReLU(Wᵀ B W x + b)          fixed      yes          no    (the paper's superposition student)
    learnable  ReLU(D B E x + b)           learned    yes          no    (App. A.3; E, D start from W)
    tied       ReLU(Wᵀ W x + b)            tied       yes          no    (no B; W learned, started from W)

``embedding``: ``identity`` (no embedding, K = N), ``fixed`` (W random, not trained), ``learned``
(encoder E and decoder D trained, both started from W) or ``tied`` (one learned W that encodes and
decodes, the student of the toy models of superposition and of Liu, Liu & Gore 2025; it has no B).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """What a student variant has (see the module docstring)."""

    name: str
    embedding: str
    relu_bias: bool
    closed_form: bool
    formula: str

    @property
    def superposition(self) -> bool:
        """Whether the N features pass through a K-dimensional embedding."""
        return self.embedding != "identity"

    @property
    def learned_embedding(self) -> bool:
        """Whether the embedding is trained (``learned`` or ``tied``)."""
        return self.embedding in ("learned", "tied")

    @property
    def has_B(self) -> bool:
        """Whether the student has the matrix B (every variant but ``tied``)."""
        return self.embedding != "tied"


VARIANT_TABLE = {v.name: v for v in (
    Variant("none", "identity", relu_bias=False, closed_form=True, formula="y = B x"),
    Variant("linear", "fixed", relu_bias=False, closed_form=True, formula="y = Wᵀ B W x"),
    Variant("fixed", "fixed", relu_bias=True, closed_form=False, formula="y = ReLU(Wᵀ B W x + b)"),
    Variant("learnable", "learned", relu_bias=True, closed_form=False, formula="y = ReLU(D B E x + b)"),
    Variant("tied", "tied", relu_bias=True, closed_form=False, formula="y = ReLU(Wᵀ W x + b)"),
)}


def variant_spec(name: str) -> Variant:
    """The table row of a resolved variant name (``auto`` is resolved by ``RunConfig.variant``)."""
    return VARIANT_TABLE[name]
