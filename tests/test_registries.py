"""The tables the rest of supdyn reads agree with their implementations: every variant of the variant
table has a computation, every optimizer the config allows exists, and each table row's properties
match what the built student has."""

import pytest

from supdyn.config import OPTIMIZERS, VARIANT_TABLE, VARIANTS, from_dict
from supdyn.model import build_student, population_loss
from supdyn.model.variants import IMPLEMENTATIONS
from supdyn.train.optim import OPTIMIZERS as OPTIMIZER_IMPLEMENTATIONS


def test_every_table_entry_has_an_implementation():
    assert set(VARIANT_TABLE) == set(IMPLEMENTATIONS) and VARIANTS == ("auto", *VARIANT_TABLE)
    assert set(OPTIMIZERS) == set(OPTIMIZER_IMPLEMENTATIONS)


@pytest.mark.parametrize("name", list(VARIANT_TABLE))
def test_the_table_says_what_the_student_has(name):
    spec = VARIANT_TABLE[name]
    cfg = from_dict({"n_features": 16, "d_hidden": 8 if spec.superposition else 16, "variant": name})
    st = build_student([cfg])
    assert ("bias" in st.params) == spec.relu_bias
    assert ("encT" in st.params and "dec" in st.params) == (spec.embedding == "learned")
    assert ("WT" in st.params) == (spec.embedding == "tied")
    assert spec.learned_embedding == any(k in st.params for k in ("encT", "dec", "WT"))
    assert ("W" in st.fixed) == (spec.embedding == "fixed")
    assert spec.has_B == any(k in st.params for k in ("B", "BT"))
    if spec.has_B:
        assert st.matrix_B().shape[-1] == (8 if spec.superposition else 16)
    else:
        with pytest.raises(ValueError, match=f"^variant: '{name}' has no B; allowed: a variant with B$"):
            st.matrix_B()
    assert cfg.eval_exact == spec.closed_form
    if spec.closed_form:
        assert population_loss(st)[0].shape == (1,)
    else:
        with pytest.raises(ValueError, match=f"^variant: '{name}' has no closed-form loss; allowed: none, linear$"):
            population_loss(st)
