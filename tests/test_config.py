import math

import pytest

from supdyn.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, from_dict, load_toml


def test_defaults_resolve_variant():
    assert RunConfig().variant == "fixed"
    assert from_dict({"d_hidden": 1024}).variant == "none"
    assert from_dict({"d_hidden": 1024}).eval_exact
    assert not RunConfig().eval_exact


def test_run_id_is_stable_and_sensitive_to_every_field():
    base = RunConfig()
    assert base.run_id == RunConfig().run_id and len(base.run_id) == 64
    changed = [base.replace(a=1.2), base.replace(b=0.1), base.replace(lr=0.5), base.replace(seed=1),
               base.replace(d_hidden=128), base.replace(batch=512), base.replace(init_scale=1e-2),
               base.replace(per_feature=True), base.replace(normalize="none")]
    ids = {c.run_id for c in changed}
    assert len(ids) == len(changed) and base.run_id not in ids


def test_toml_roundtrip(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('seed = 3\n[data]\na = 1.5\nb = 0.25\nn_features = 128\n[model]\nd_hidden = 32\n'
                 '[train]\nlr = 0.5\nsnapshots = [10.0, 100.0]\nt_max = 100.0\n')
    cfg = load_toml(f)
    assert (cfg.seed, cfg.data.a, cfg.data.b, cfg.model.d_hidden, cfg.train.lr) == (3, 1.5, 0.25, 32, 0.5)
    assert cfg.train.snapshots == (10.0, 100.0)
    assert from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("doc, field", [
    ({"data": {"aa": 1}}, "aa"), ({"lrr": 1.0}, "lrr"), ({"train": {"t_maxx": 1.0}}, "t_maxx")])
def test_unknown_keys_name_the_closest(doc, field):
    with pytest.raises(ConfigError, match=f"{field}: unknown key; did you mean"):
        from_dict(doc)


@pytest.mark.parametrize("kwargs, field", [
    ({"n_features": 0}, "n_features"), ({"d_hidden": 0}, "d_hidden"), ({"d_hidden": 2048}, "d_hidden"),
    ({"a": math.nan}, "a"), ({"b": math.inf}, "b"), ({"b": -0.5}, "b"), ({"lr": 0.0}, "lr"),
    ({"lr": -1.0}, "lr"), ({"batch": 0}, "batch"), ({"t_max": 0.0}, "t_max"), ({"law": "pwr"}, "law"),
    ({"variant": "fix"}, "variant"), ({"snapshots": (1e5,)}, "snapshots"),
    ({"snapshots": (10.0, 5.0)}, "snapshots"), ({"law": "user"}, "p"),
    ({"law": "user", "p": [0.1] * 3}, "p"), ({"variant": "none", "d_hidden": 512}, "d_hidden"),
    ({"init_scale": 0.0, "variant": "fixed"}, "init_scale"), ({"seed": -1}, "seed"),
])
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as exc:
        from_dict(kwargs)
    msg = str(exc.value)
    assert msg.startswith(field) and "allowed" in msg and "\n" not in msg


def test_sections_are_frozen():
    cfg = RunConfig()
    with pytest.raises(Exception):
        cfg.data.a = 2.0  # type: ignore[misc]
    assert isinstance(cfg.data, DataConfig) and isinstance(cfg.model, ModelConfig)
    assert isinstance(cfg.train, TrainConfig)


def test_ints_and_floats_give_the_same_identity():
    assert from_dict({"a": 1, "density": 1, "lr": 2, "t_max": 100}).run_id == \
        from_dict({"a": 1.0, "density": 1.0, "lr": 2.0, "t_max": 100.0}).run_id


def test_expand_grid():
    from supdyn.config import expand_grid

    cs = expand_grid({"base": {"n_features": 64, "d_hidden": 8},
                      "grid": [{"a": [1.1, 1.5], "seed": [0, 1]}, {"b": [0.5]}, {"a": [1.1], "seed": [0]}]})
    assert [(c.data.a, c.data.b, c.seed) for c in cs] == [
        (1.1, 0.0, 0), (1.1, 0.0, 1), (1.5, 0.0, 0), (1.5, 0.0, 1), (1.1, 0.5, 0)]
    with pytest.raises(ConfigError, match="grid.a"):
        expand_grid({"grid": {"a": 1.0}})
    with pytest.raises(ConfigError, match="gird: unknown key; did you mean 'grid'"):
        expand_grid({"gird": {}})


# -- fields added after schema 2: optimizers, schedules, weight decay, the tied student's options, loss weights
# and correlated features ------

SCHEMA2_DEFAULT_ID = "c32b3c9fd4da0ba416ba0d0ffec2ba9d9d69529baf03bd27136e9c66d7017025"  # RunConfig() before them
NEW_FIELDS = {  # field → a non-default value (with what it needs to be valid)
    "value_max": (2.0, {}), "embedding_init": ("gaussian", {}), "bias_init_scale": (0.5, {}),
    "warmup": (100, {"schedule": "cosine"}), "lr_final": (0.05, {"schedule": "cosine"}),
    "decay_every": (500, {"schedule": "step", "decay_every": 10}), "decay_factor": (0.5, {"schedule": "step", "decay_every": 10}),
    "weight_decay": (-0.5, {"variant": "learnable"}), "weight_decay_B": (0.01, {}),
    "beta1": (0.8, {"optimizer": "adam"}), "beta2": (0.99, {"optimizer": "adamw"}), "eps": (1e-6, {"optimizer": "adam"}),
    "loss_reduction": ("mean", {}),
    "importance": ("power", {"importance_exponent": 1.0}), "importance_exponent": (1.0, {"importance": "power"}),
    "importance_diag": ((2.0,) * 1024, {"importance": "user", "importance_diag": (1.0,) * 1024}), "correlation": ("cooccur", {}),
    "group_size": (4, {"correlation": "cooccur"}), "cooccur": (0.25, {"correlation": "cooccur"}),
}


def test_added_fields_keep_every_schema2_identity():
    import dataclasses

    sections = {f.name: sec for sec, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
                for f in dataclasses.fields(cls) if f.metadata.get("added")}
    assert set(sections) == set(NEW_FIELDS)
    base = RunConfig()
    assert base.run_id == SCHEMA2_DEFAULT_ID
    explicit = from_dict({name: getattr(getattr(base, sec), name) for name, sec in sections.items()})
    assert explicit.run_id == SCHEMA2_DEFAULT_ID  # set to their defaults: still out of the identity
    for name in NEW_FIELDS:
        assert f'"{name}"' not in base.canonical_json()


@pytest.mark.parametrize("name", list(NEW_FIELDS))
def test_each_added_field_is_part_of_the_identity_when_set(name):
    value, needs = NEW_FIELDS[name]
    without = from_dict(needs)
    with_it = from_dict({**needs, name: value})
    assert with_it.run_id != without.run_id and f'"{name}"' in with_it.canonical_json()
    assert from_dict(with_it.to_dict()) == with_it  # round trip (the TOML/JSON form)


def test_the_recipe_of_liu_liu_gore_is_one_toml_file(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[data]\nn_features = 1000\na = 1.5\nvalue_max = 2.0\n'
                 '[model]\nvariant = "tied"\nd_hidden = 10\nembedding_init = "gaussian"\nbias_init_scale = 1.0\n'
                 '[train]\noptimizer = "adamw"\nlr = 0.01\nbatch = 2048\nt_max = 40.0\nschedule = "cosine"\n'
                 'warmup = 2000\nlr_final = 0.05\nweight_decay = -0.5\nloss_reduction = "mean"\n')
    cfg = load_toml(f)
    assert (cfg.variant, cfg.spec.has_B, cfg.train.optimizer, cfg.train.warmup) == ("tied", False, "adamw", 2000)
    assert cfg.train.weight_decay == -0.5 and cfg.data.value_max == 2.0 and cfg.train.loss_reduction == "mean"
