"""Every file of examples/ loads, validates, and each of its distinct shapes trains for one step."""

from pathlib import Path

import numpy as np
import pytest

from supdyn.config import load_spec, load_toml, read_toml
from supdyn.sweep import SlurmOptions
from supdyn.train import train

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def _configs(path: Path) -> list:
    if "grid" not in read_toml(path):
        return [load_toml(path)]
    configs, slurm = load_spec(path)
    SlurmOptions.from_dict(slurm)  # a [slurm] table must be valid too
    return configs


def test_there_are_examples_and_the_readme_names_each():
    readme = (ROOT / "README.md").read_text()
    assert len(EXAMPLES) >= 3
    assert [p.name for p in EXAMPLES if f"examples/{p.name}" not in readme] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_and_one_step_trains(path):
    cfgs = _configs(path)
    assert cfgs and len({c.run_id for c in cfgs}) == len(cfgs)
    shapes = {(c.variant, c.data.n_features, c.model.d_hidden, c.data.law): c for c in cfgs}
    for c in shapes.values():
        short = {"warmup": 0} if c.train.schedule != "warmup" else {"schedule": "constant", "warmup": 0}
        tiny = c.replace(t_max=c.train.lr, eval_size=64, snapshots=[], batch=min(c.train.batch, 64), **short)
        (r,) = train([tiny], progress=False)
        assert np.isfinite(r.loss).all() and not r.diverged and r.steps[-1] == 1
    for c in cfgs:
        assert c.train.t_max / c.train.lr == round(c.train.t_max / c.train.lr)  # t_max is a whole step count


def test_the_width_sweep_ends_every_run_at_the_same_time():
    cfgs = _configs(ROOT / "examples" / "alpha_vs_width.toml")
    assert {c.train.t_max for c in cfgs} == {1e4} and len(cfgs) == 12
    assert {c.train.lr for c in cfgs if c.model.d_hidden == 64} == {0.5}
