"""Fits of loss curves (pure NumPy/SciPy; input is plain arrays of t and loss).

* :mod:`supdyn.fit.powerlaw` — ``L = c t^-α + L0`` in a window (paper eq. 9), local exponents,
  window scans, time-to-loss / speed-up / loss-ratio measures.
* :mod:`supdyn.fit.bootstrap` — percentile bootstrap across seeds (models).
* :mod:`supdyn.fit.intervals` — Student-t interval of a mean over seeds, Welch and paired intervals of
  a difference, and the two one-sided tests (TOST) of equivalence behind the claims' verdicts.
* :mod:`supdyn.fit.scaling` — compute-optimal frontier and iso-compute curves (Figs. 7, 14),
  plateau loss and width scaling ``L_∞ = c K^-β`` (App. A.4, Fig. 13).
* :mod:`supdyn.fit.ranges` — the late plateau, the local exponent above it and the longest range of
  constant exponent (the universality experiment).

Every fitted number comes with its window and a standard error or interval.
"""

from supdyn.fit.bootstrap import BootstrapInterval, BootstrapResult, bootstrap_fit, bootstrap_statistic
from supdyn.fit.intervals import (Interval, TostResult, mean_interval, paired_interval, spearman, t_interval,
                                  tost, welch_interval)
from supdyn.fit.powerlaw import (PowerLawFit, fit_power_law, local_exponent, loss_ratio, speedup,
                                 time_to_loss, window_scan)
from supdyn.fit.ranges import (ExponentRange, PlateauEstimate, excess_exponent, late_plateau, longest_range,
                               mean_over)
from supdyn.fit.scaling import (Frontier, Plateau, ScalingFit, compute_frontier, default_cost,
                                fit_width_scaling, iso_compute, plateau_loss)

__all__ = ["BootstrapInterval", "BootstrapResult", "ExponentRange", "Frontier", "Interval", "Plateau",
           "PlateauEstimate", "PowerLawFit", "ScalingFit", "TostResult", "bootstrap_fit", "bootstrap_statistic",
           "compute_frontier", "default_cost", "excess_exponent", "fit_power_law", "fit_width_scaling",
           "iso_compute", "late_plateau", "local_exponent", "longest_range", "loss_ratio", "mean_interval",
           "mean_over", "paired_interval", "plateau_loss", "spearman", "speedup", "t_interval", "time_to_loss", "tost",
           "welch_interval", "window_scan"]
