"""Options that keep wide tables tractable (issue #17): impute.max_predictors auto."""

import warnings

import numpy as np
import pandas as pd
import pytest

from radiomix.pipeline import resolve_max_predictors


def _wide(p, n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"original_firstorder_F{i:04d}" for i in range(p)])
    X = X.mask(rng.random(X.shape) < 0.01)
    return X.assign(id=[f"p{i}" for i in range(n)], outcome=rng.integers(0, 2, n))


@pytest.mark.parametrize("p, expected", [(199, None), (200, None), (201, 30)])
def test_auto_uses_every_column_up_to_200_and_the_30_most_correlated_beyond(p, expected):
    from radiomix.study import make_study

    cfg = {"target": "outcome", "impute": {"method": "surrogate_tree"}, "model": {"name": "logistic", "params": {}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(_wide(p), cfg, verbose=False)
    assert study.pipeline.named_steps["impute"].max_predictors == expected
    said = [n for n in study.notes if n.startswith("impute.max_predictors auto")]
    assert (said == []) if expected is None else (f"{p} feature columns > 200" in said[0])
    assert resolve_max_predictors(12, p) == 12 and resolve_max_predictors(None, p) is None
