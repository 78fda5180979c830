"""Run configuration: frozen, validated dataclasses, TOML loading and the run identity.

A run is one model: data (frequency law, teacher), student (variant, width, init) and training
settings (lr, batch, t_max, evaluation), plus one integer seed from which every random stream
(embedding W, initialization, training data, evaluation data) is derived.  The identity of a run is
the sha256 of its canonical JSON plus ``SCHEMA_VERSION``; two runs with the same identity are the
same computation, so the store never computes one twice.

Time is ``t = lr * steps`` at a constant rate (the paper groups the learning rate with the step count,
Sec. 3) and the integrated rate ``t = Σ_k lr_k`` with a schedule (see ``TrainConfig``).

Nothing here does I/O except :func:`load_toml`, :func:`load_spec` and :func:`read_toml`, which only
read the file given.

Modules: ``checks`` (the allowed choices and one-line errors), ``sections`` (:class:`DataConfig`,
:class:`ModelConfig`, :class:`TrainConfig`), ``run`` (:class:`RunConfig`, its identity,
:func:`from_dict`), ``variants`` (the student-variant table) and ``files`` (TOML files and grid specs)., and ``resources`` (memory and step estimates,
the limits a run must fit: :func:`limits`, :class:`ResourceError`). Import from ``supdyn.config``.
"""

from supdyn.config.checks import (CORRELATIONS, DTYPES, EMBEDDING_INITS, EVAL_MODES, IMPORTANCE, LAWS, LOSS_REDUCTIONS, NORMALIZATIONS,
                                  OPTIMIZERS, SCHEDULES, TEACHERS, VARIANTS, ConfigError)
from supdyn.config import resources
from supdyn.config.files import expand_grid, load_spec, load_toml, read_toml
from supdyn.config.run import CORRELATED_STREAM, SCHEMA_VERSION, RunConfig, field_names, from_dict
from supdyn.config.resources import Limits, ResourceError, limits
from supdyn.config.sections import DataConfig, ModelConfig, TrainConfig
from supdyn.config.variants import VARIANT_TABLE, Variant, variant_spec

__all__ = ["CORRELATED_STREAM", "CORRELATIONS", "IMPORTANCE", "DTYPES", "EMBEDDING_INITS", "EVAL_MODES",
           "LOSS_REDUCTIONS", "LAWS", "NORMALIZATIONS", "OPTIMIZERS", "SCHEDULES", "SCHEMA_VERSION", "TEACHERS",
           "VARIANTS", "ConfigError", "DataConfig", "Limits", "ModelConfig", "ResourceError", "RunConfig",
           "TrainConfig", "VARIANT_TABLE", "Variant", "expand_grid", "field_names", "from_dict", "limits", "load_spec",
           "load_toml", "read_toml", "resources", "variant_spec"]
