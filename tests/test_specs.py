"""Every experiment spec loads, validates, and each of its configs trains for one step."""

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn.train import train


def test_registry_is_not_empty():
    assert ex.NAMES, "no experiment registered"


@pytest.mark.parametrize("name", ex.NAMES)
@pytest.mark.parametrize("mode", ex.MODES)
def test_configs_validate(name, mode):
    exp = ex.get(name)
    cfgs = exp.configs(mode)
    if exp.needs_runs:
        assert cfgs, f"{name} has no runs in mode {mode}"
    assert len({c.run_id for c in cfgs}) == len(cfgs)
    for c in cfgs:
        assert c.train.lr > 0 and c.train.t_max > 0


def _distinct_shapes(cfgs):
    seen = {}
    for c in cfgs:
        seen.setdefault((c.variant, c.data.n_features, c.model.d_hidden, c.data.law, c.data.normalize), c)
    return list(seen.values())


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_one_step_of_every_config_shape(mode):
    cfgs = [c for n in ex.NAMES for c in ex.get(n).configs(mode)]
    for c in _distinct_shapes(cfgs):
        tiny = c.replace(t_max=c.train.lr, eval_size=64, snapshots=[], batch=min(c.train.batch, 64))
        (r,) = train([tiny], progress=False)
        assert np.isfinite(r.loss).all() and not r.diverged
        assert r.steps[-1] == 1
