"""The Study: a config resolved against a table once; the Task; the renamed pipeline builder."""

import numpy as np
import pandas as pd
import pytest

from radiomix.evaluate import nested_cv
from radiomix.pipeline import MODELS, build_pipeline, make_pipeline
from radiomix.study import SplitPlan, Study, make_study
from radiomix.tasks import get_task


def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(rng.normal(size=(n, 4)), columns=["original_shape_A", "original_glcm_B", "age", "ldh"])
    t["sex"] = rng.choice(["F", "M"], n)
    t["outcome"] = rng.choice(["N-", "N+"], n)
    t.loc[[3, 7], "outcome"] = np.nan
    return t.assign(id=[f"p{i}" for i in range(n)], site=rng.choice(["A", "B", "C"], n))


def test_make_study_resolves_roles_once():
    study = make_study(_table(), {"target": "outcome", "batch": "site", "harmonize": {"method": "combat"}})
    assert study.task.name == "binary" and study.classes == ["N+", "N-"]      # sorted as text: N- is positive
    assert len(study.y) == 58 and study.n_dropped_missing_target == 2
    assert study.columns.features == ["original_shape_A", "original_glcm_B", "age", "ldh", "sex"]
    assert study.columns.categorical == ["sex"]
    assert study.columns.blocks["radiomic"] == ["original_shape_A", "original_glcm_B"]
    assert list(study.X.columns) == study.columns.features + ["site"]          # batch only for ComBat
    assert set(study.sites) == {"A", "B", "C"} and study.ids[0] == "p0"
    assert study.search.space and all(k.startswith("model__") for k in study.search.space)
    assert study.pipeline.steps[0][0] == "combat"


def test_outer_folds_are_stable_and_cover_every_row():
    study = make_study(_table(), {"target": "outcome", "cv": {"outer": {"n_splits": 4, "n_repeats": 2}}})
    a, b = study.outer_folds(), study.outer_folds()
    assert len(a) == 8 and all(np.array_equal(x.test, y.test) and x.seed == y.seed for x, y in zip(a, b))
    for r in (0, 1):
        tests = np.concatenate([f.test for f in a if f.repeat == r])
        assert np.array_equal(np.sort(tests), np.arange(len(study.y)))


def test_leave_site_out_plan_one_fold_per_site():
    folds = SplitPlan("leave_site_out", random_state=0).folds(np.zeros(6), sites=np.array(list("AABBCC")))
    assert [f.site for f in folds] == ["A", "B", "C"]
    assert [f.test.tolist() for f in folds] == [[0, 1], [2, 3], [4, 5]]


def test_nested_cv_takes_a_study_only():
    with pytest.raises(TypeError, match="make_study"):
        nested_cv({"target": "outcome"})


def test_tasks_not_yet_supported_are_refused():
    with pytest.raises(ValueError, match="not supported yet"):
        get_task("survival")
    with pytest.raises(ValueError, match="binary outcomes only"):
        make_study(_table().assign(outcome=np.arange(60) % 3), {"target": "outcome"})


def test_from_pipeline_checks_the_target():
    X = pd.DataFrame({"a": np.arange(10.0)})
    with pytest.raises(ValueError, match="binary 0/1"):
        Study.from_pipeline(build_pipeline(make_study(_table(), {"target": "outcome"}).config), X, np.arange(10))


def test_model_registry_records():
    assert MODELS["xgboost"].handles_missing and not MODELS["xgboost"].needs_scaling
    assert MODELS["logistic"].needs_scaling and "binary" in MODELS["logistic"].tasks


def test_make_pipeline_is_a_deprecated_alias():
    cfg = make_study(_table(), {"target": "outcome"}).config
    with pytest.warns(DeprecationWarning, match="build_pipeline"):
        old = make_pipeline(cfg)
    assert [n for n, _ in old.steps] == [n for n, _ in build_pipeline(cfg).steps]
