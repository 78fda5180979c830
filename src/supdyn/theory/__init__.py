"""Analytic theory of the teacher–student model (paper Sec. 3 and App. A.1–A.2); NumPy float64.

* :mod:`~supdyn.theory.diagonal`  no superposition, Σ ≈ diag(p/3): eqs. 5–7 (and eq. 7 verbatim).
* :mod:`~supdyn.theory.exact`     no superposition, exact Σ = diag(p/3 − p²/4) + μμᵀ: B(t) = A(I − e^{−Σt}).
* :mod:`~supdyn.theory.linear_superposition`  y = Wᵀ B W x exactly, plus the clustered (eqs. 27–30)
  and isotropic (eqs. 31–33) limits.
* :mod:`~supdyn.theory.asymptotics`  α for the power, exponential and algebraic classes (App. A.1).

Time is t = lr × steps everywhere; every function takes a vector of times and returns arrays whose
first axis is n_times.  Only :mod:`supdyn.config` and :mod:`supdyn.data` are imported.
"""

from supdyn.theory.asymptotics import (Asymptote, alpha_algebraic, alpha_power, asymptote, asymptote_for,
                                       critical_index, critical_index_power, exponential_local_exponent,
                                       exponential_log_power, exponential_loss, power_validity)
from supdyn.theory.diagonal import (LEARNED_THRESHOLD, DiagonalTheory, diagonal_local_exponent, diagonal_loss,
                                    local_exponent, paper_eq7_loss)
from supdyn.theory.exact import (METHODS, MODES, ExactTheory, exact_local_exponent, exact_loss,
                                 theory_from_config)
from supdyn.theory.linear_superposition import (LinearSuperpositionTheory, cluster_embedding, clustered_loss,
                                                clustered_student, isotropic_loss, isotropic_rate,
                                                isotropic_student, linear_superposition_loss,
                                                linear_superposition_student)

__all__ = [
    "Asymptote", "DiagonalTheory", "ExactTheory", "LEARNED_THRESHOLD", "LinearSuperpositionTheory", "METHODS",
    "MODES", "alpha_algebraic", "alpha_power", "asymptote", "asymptote_for", "cluster_embedding",
    "clustered_loss", "clustered_student", "critical_index", "critical_index_power", "diagonal_local_exponent",
    "diagonal_loss", "exact_local_exponent", "exact_loss", "exponential_local_exponent",
    "exponential_log_power", "exponential_loss", "isotropic_loss", "isotropic_rate", "isotropic_student",
    "linear_superposition_loss", "linear_superposition_student", "local_exponent", "paper_eq7_loss",
    "power_validity", "theory_from_config",
]
