"""The Study: a config resolved against a table once; the Task; the renamed pipeline builder."""

import numpy as np
import pandas as pd
import pytest

from radiomix.model_selection import SplitPlan
from radiomix.model_selection.validation import nested_cv
from radiomix.models import MODELS
from radiomix.outcomes import get_task
from radiomix.pipeline import build_pipeline, make_pipeline
from radiomix.study import Study, StudyNote, make_study


def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(rng.normal(size=(n, 4)), columns=["original_shape_A", "original_glcm_B", "age", "ldh"])
    t["sex"] = rng.choice(["F", "M"], n)
    t["outcome"] = rng.choice(["N-", "N+"], n)
    t.loc[[3, 7], "outcome"] = np.nan
    return t.assign(id=[f"p{i}" for i in range(n)], site=rng.choice(["A", "B", "C"], n))


def test_make_study_resolves_roles_once():
    cfg = {"target": "outcome", "batch": "site", "harmonize": {"method": "combat"},
           "features": {"groups": {"clinical": ["age", "ldh", "sex"]}}}
    with pytest.warns(StudyNote, match="positive class of 'outcome': 'N-'"):
        study = make_study(_table(), cfg)
    assert study.task.name == "binary" and study.classes == ["N+", "N-"]      # sorted as text: N- is positive
    assert len(study.y) == 58 and study.n_dropped_missing_target == 2
    assert study.columns.features == ["original_shape_A", "original_glcm_B", "age", "ldh", "sex"]
    assert study.columns.categorical == ["sex"]
    assert study.columns.blocks["radiomic"] == ["original_shape_A", "original_glcm_B"]
    assert list(study.X.columns) == study.columns.features + ["site"]          # batch only for ComBat
    assert set(study.sites) == {"A", "B", "C"} and study.ids[0] == "p0"
    assert study.search.space and all(k.startswith("model__") for k in study.search.space)
    assert study.pipeline.steps[0][0] == "combat"
    assert study.pipeline.steps[0][1].features == ["original_shape_A", "original_glcm_B"]
    assert study.columns.harmonized == ["original_shape_A", "original_glcm_B"] and study.columns.unassigned == []


def test_combat_harmonizes_the_whole_table_or_stops_naming_the_columns():
    t = _table().rename(columns={"original_glcm_B": "GLDZM_small_distance"})    # a name no rule knows
    cfg = {"target": "outcome", "batch": "site", "harmonize": {"method": "combat"}, "positive": "N+"}
    with pytest.raises(ValueError, match=r"leave 3 numeric column\(s\) that fit no block raw beside them: "
                                         r"\['GLDZM_small_distance', 'age', 'ldh'\]"):
        make_study(t, cfg)
    with pytest.warns(StudyNote, match="ComBat harmonizes 4 column"):
        every = make_study(t, {**cfg, "harmonize": {"method": "combat", "features": "all"}})
    assert every.columns.harmonized == ["original_shape_A", "GLDZM_small_distance", "age", "ldh"]
    assert every.pipeline.steps[0][1].features == every.columns.harmonized
    shape_out = make_study(t, {**cfg, "harmonize": {"method": "combat", "features": "all", "exclude": "shape"},
                               "features": {"groups": {"clinical": ["age", "ldh"]}}}, verbose=False)
    assert shape_out.columns.harmonize_excluded == ["original_shape_A"]
    assert shape_out.columns.harmonized == ["GLDZM_small_distance", "age", "ldh"]
    assert any("kept out by harmonize.exclude: ['original_shape_A']" in n for n in shape_out.notes)
    assert shape_out.data_record()["harmonize_excluded"] == ["original_shape_A"]


def test_duplicate_ids_without_groups_are_refused_by_name():
    t = _table()
    t.loc[5, "id"] = "p4"
    t.loc[9, "id"] = "p8"
    with pytest.raises(ValueError, match=r"2 duplicated id\(s\): \['p4', 'p8'\]"):
        make_study(t, {"target": "outcome"}, verbose=False)
    ok = make_study(t.assign(patient=t["id"]), {"target": "outcome", "groups": "patient"}, verbose=False)
    assert ok.outer.kind == "grouped" and any("became 'grouped'" in n for n in ok.notes)


def test_positive_class_is_chosen_by_the_user():
    t = _table()
    default = make_study(t, {"target": "outcome"}, verbose=False)
    chosen = make_study(t, {"target": "outcome"}, positive="N+", verbose=False)
    assert default.classes[1] == "N-" and chosen.classes == ["N-", "N+"]
    np.testing.assert_array_equal(chosen.y, 1 - default.y)
    assert chosen.data_record()["positive_class"] == "N+"
    with pytest.raises(ValueError, match=r"positive class 'yes' is not a value of target 'outcome'"):
        make_study(t, {"target": "outcome", "positive": "yes"}, verbose=False)


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


def test_task_inference_and_refusals():
    with pytest.raises(ValueError, match="unknown task 'ordinal'"):
        get_task("ordinal")
    with pytest.warns(UserWarning, match="task: multiclass"):
        assert make_study(_table().assign(outcome=np.arange(60) % 3), {"target": "outcome"}).task.name == "multiclass"
    with pytest.warns(UserWarning, match="task: regression"):
        study = make_study(_table().assign(outcome=np.linspace(0, 1, 60) ** 2), {"target": "outcome"})
    assert study.task.name == "regression" and study.search.scoring == "r2"
    with pytest.raises(ValueError, match="not two classes: set task: multiclass"):
        make_study(_table().assign(outcome=np.arange(60) % 3), {"target": "outcome", "task": "binary"})


def test_from_pipeline_checks_the_target():
    X = pd.DataFrame({"a": np.arange(10.0)})
    pipe = build_pipeline(make_study(_table(), {"target": "outcome"}).config)
    with pytest.raises(ValueError, match="needs a 0/1 target"):
        Study.from_pipeline(pipe, X, np.arange(10), task="binary")
    # task="auto" (the default, as in a config) infers multiclass from 10 integer labels and refuses its classes
    with pytest.warns(UserWarning, match="task: multiclass"), \
            pytest.raises(ValueError, match="10 classes, and class.*or a numeric score \\(task: regression"):
        Study.from_pipeline(pipe, X, np.arange(10))


def test_model_registry_records():
    assert MODELS["xgboost"].handles_missing and not MODELS["xgboost"].needs_scaling
    from radiomix.outcomes import get_task

    assert MODELS["logistic"].needs_scaling and MODELS["logistic"].serves(get_task("binary"))


def test_make_pipeline_is_a_deprecated_alias():
    cfg = make_study(_table(), {"target": "outcome"}).config
    with pytest.warns(DeprecationWarning, match="build_pipeline"):
        old = make_pipeline(cfg)
    assert [n for n, _ in old.steps] == [n for n, _ in build_pipeline(cfg).steps]


def test_a_misspelled_column_gets_a_suggestion_not_a_list():
    import pandas as pd

    from radiomix.study import make_study

    t = pd.DataFrame({"id": [f"p{i}" for i in range(20)], "outcome": [0, 1] * 10, "site": ["A", "B"] * 10,
                      **{f"original_firstorder_F{i}": range(20) for i in range(25)}})
    with pytest.raises(ValueError, match=r"target column 'Outcome' not found; did you mean 'outcome'\?"):
        make_study(t, {"target": "Outcome"}, verbose=False)
    with pytest.raises(ValueError, match=r"batch column 'sites' not found .*did you mean 'site'\?"):
        make_study(t, {"target": "outcome", "batch": "sites"}, verbose=False)
    with pytest.raises(ValueError, match=r"columns: \['outcome', 'site', .*\(27 in all\)"):
        make_study(t, {"target": "label"}, verbose=False)


def _binary_and_numeric_tables():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 6)), columns=[f"original_firstorder_F{i}" for i in range(6)])
    binary = X.assign(id=[f"p{i}" for i in range(80)], outcome=(X.iloc[:, 0] > 0).astype(int))
    numeric = X.assign(id=[f"p{i}" for i in range(80)], outcome=X.iloc[:, 0] * 3 + rng.normal(size=80))
    return binary, numeric


def test_model_auto_resolves_per_outcome_type_and_says_so():
    binary, numeric = _binary_and_numeric_tables()
    with pytest.warns(UserWarning, match="model.name auto: logistic for a binary outcome"):
        s = make_study(binary, None)
    assert s.config.model.name == "logistic" and s.config.model.params["l1_ratio"] == 1.0
    assert s.config.search.method == "grid" and len(s.search.space["model__C"]) == 13  # 13 > 10 candidates
    r = make_study(numeric, None, verbose=False)
    assert r.task.name == "regression" and r.config.model.name == "xgboost"
    assert r.config.search.method == "random" and r.config.model.params["n_estimators"] == 200


def test_parameters_of_another_model_are_refused_in_one_line():
    binary, _ = _binary_and_numeric_tables()
    with pytest.raises(ValueError, match=r"\['n_estimators'\] are not parameters of logistic \(model.name auto\).*"
                                         "model.name: xgboost"):
        make_study(binary, {"model": {"params": {"n_estimators": 50}}}, verbose=False)
    s = make_study(binary, {"model": {"name": "xgboost", "params": {"n_estimators": 50}}}, verbose=False)
    assert s.config.model.search["max_depth"] == (2, 3, 4)  # XGBoost's own space


def test_the_shipped_default_is_the_candidate_the_benchmark_chose():
    """benchmarks/choose_defaults.py chose 'l1_logistic_tuned_inner5'; the default config fits the same model on
    the same folds (penalty='l1' and l1_ratio=1 are the same liblinear fit)."""
    import importlib.util
    import warnings
    from pathlib import Path

    from radiomix.model_selection.validation import fit_outer_fold

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "choose_defaults.py"
    spec = importlib.util.spec_from_file_location("choose_defaults", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    binary, _ = _binary_and_numeric_tables()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = make_study(binary, None, verbose=False)
        chosen = make_study(binary, mod.CANDIDATES["l1_logistic_tuned_inner5"], verbose=False)
        fold = default.outer_folds()[0]
        a, b = fit_outer_fold(default, fold), fit_outer_fold(chosen, fold)
    assert a.params == b.params
    np.testing.assert_array_equal(a.proba, b.proba)
