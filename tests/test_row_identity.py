"""Row identity survives class balancing (issue #23, item 2): imbalanced-learn's samplers renumber the rows, so a
step that maps rows to patients by their index labels must run before the sampler or get the original labels.

Leak tests through make_study + nested_cv for every sampler x every row-aware step: the robustness filter
(corrupting the outer-test patients' perturbation rows leaves their out-of-fold predictions identical), late-fusion
stacking with patient groups, the probability correction (learned on real rows only) and XGBoost's early
stopping (on a pure-noise outcome it keeps as many trees with balancing as without)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, RandomOverSampler
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from radiomix.model_selection.validation import nested_cv
from radiomix.models.boosting import EarlyStoppingXGBClassifier
from radiomix.models.resampling import RowIdentitySampler, synthetic_rows
from radiomix.study import make_study

SAMPLERS = ["none", "random_over", "smote", "smotenc"]


def _cohort(n=90, k=4, seed=0, prevalence=0.25):
    """n patients (one row each) whose outcome depends on a stable and a fragile feature, a categorical column
    'sex' (kept only for SMOTENC), and k perturbation rows per patient: stable features barely move, fragile ones
    mostly do."""
    rng = np.random.default_rng(seed)
    names = [f"original_firstorder_stable{i}" for i in range(3)] + [f"wavelet-HHH_glcm_fragile{i}" for i in range(3)]
    truth = rng.normal(size=(n, 6))
    table = pd.DataFrame(truth, columns=names)
    table.insert(0, "id", [f"P{i:03d}" for i in range(n)])
    lp = 1.5 * truth[:, 0] + 1.0 * truth[:, 3] + np.log(prevalence / (1 - prevalence))
    table["outcome"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    table["sex"] = rng.choice(["F", "M"], n)
    reps = []
    for j in range(k):
        noise = rng.normal(size=(n, 6)) * np.array([0.1, 0.1, 0.1, 1.5, 1.5, 1.5])
        rep = pd.DataFrame(truth + noise, columns=names)
        rep.insert(0, "perturbation", f"p{j + 1:02d}")
        rep.insert(0, "id", table["id"])
        reps.append(rep)
    return table, pd.concat(reps, ignore_index=True)


def _cfg(method, reps=None, **extra):
    cfg = {"target": "outcome", "model": {"name": "logistic", "params": {}, "search": {}},
           "cv": {"outer": {"n_splits": 3}, "inner": {"n_splits": 3}}, "bootstrap": 0, "final_model": False,
           "impute": {"method": "median"}, "balance": {"method": method, "k_neighbors": 3},
           "safeguards": {"baselines": False, "shap": False}}
    if reps is not None:
        cfg["select"] = {"robustness": {"icc": 0.75, "table": reps}}
    return {**cfg, **extra}


def _table_for(method, table):
    """SMOTENC needs a categorical column; without it (and for the others) the table has none."""
    return table if method == "smotenc" else table.drop(columns="sex")


def _run(table, cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, cfg, verbose=False)
        return study, nested_cv(study, progress=False)


def _corrupt(reps, ids, seed=5, column="original_firstorder_stable0"):
    """The repeats table with the perturbations of ``ids`` in ``column`` (the outcome's stable feature) replaced by
    noise: a filter that reads them drops the feature."""
    bad = reps.copy()
    hit = bad["id"].isin(set(ids))
    bad.loc[hit, column] = np.random.default_rng(seed).normal(size=int(hit.sum())) * 50
    return bad


def _oof_of(res, ids):
    return res.oof[res.oof["id"].isin(set(ids))].reset_index(drop=True)


def _model_step(fitted):
    """The Pipeline's last step of an outer-fold model (unwrapping a probability correction)."""
    pipe = getattr(fitted, "estimator_", fitted)
    return pipe.steps[-1][1]


# ---------------------------------------------------------------------------------------------- robustness
@pytest.mark.slow
@pytest.mark.parametrize("method", SAMPLERS)
def test_robustness_filter_never_reads_outer_test_patients_with_any_sampler(method):
    """Corrupting the perturbation rows of one outer fold's test patients leaves their out-of-fold predictions
    identical; corrupting every patient's changes them (so the comparison can fail)."""
    table, reps = _cohort()
    t = _table_for(method, table)
    study, base = _run(t, _cfg(method, reps))
    names = list(study.build_pipeline().named_steps)
    assert names.index("robustness") < names.index("balance") if method != "none" else "balance" not in names
    test_ids = study.ids[study.outer_folds()[0].test]
    _, corrupted = _run(t, _cfg(method, _corrupt(reps, test_ids)))
    pd.testing.assert_frame_equal(_oof_of(base, test_ids), _oof_of(corrupted, test_ids))
    _, everyone = _run(t, _cfg(method, _corrupt(reps, study.ids)))
    assert not np.allclose(_oof_of(base, test_ids)["proba"], _oof_of(everyone, test_ids)["proba"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["smotenc"])
def test_late_fusion_stacking_by_patient_with_robustness_and_balancing(method):
    """Late fusion: each block's pipeline balances its own rows, the stacking meta-model splits the real rows by
    patient; corrupting the outer-test patients' perturbations leaves their predictions identical."""
    from radiomix.model_selection import IndexGroupKFold

    table, reps = _cohort(n=120, k=3, prevalence=0.35)
    table["age"] = np.random.default_rng(3).normal(60, 8, len(table)).round()
    table["patient"] = table["id"]  # one row per patient: the groups the stacking splitter keeps whole
    t = _table_for(method, table)
    late = {"groups": "patient", "fusion": {"mode": "late", "blocks": ["radiomic", "clinical"]},
            "cv": {"outer": {"n_splits": 3}, "inner": {"n_splits": 2}}}
    study, base = _run(t, _cfg(method, reps, **late))
    stack = study.pipeline.named_steps["model"]
    assert isinstance(stack.cv, IndexGroupKFold)
    radiomic = dict(stack.estimators)["radiomic"]
    names = list(radiomic.named_steps)
    assert names.index("robustness") < names.index("balance")
    assert "robustness" not in dict(stack.estimators)["clinical"].named_steps  # no repeats: nothing to fail on
    test_ids = study.ids[study.outer_folds()[0].test]
    _, corrupted = _run(t, _cfg(method, _corrupt(reps, test_ids), **late))
    pd.testing.assert_frame_equal(_oof_of(base, test_ids), _oof_of(corrupted, test_ids))


# ---------------------------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("sampler", [SMOTE(random_state=0), RandomOverSampler(random_state=0)])
def test_probability_correction_is_learned_on_real_rows_only(sampler):
    """The correction's out-of-fold predictions are made on the real rows, each exactly once (the sampler acts
    at fit only), so no synthetic or duplicated row enters the calibration."""
    from radiomix.model_selection.calibration import RecalibratedClassifier

    seen = []

    class Spy(LogisticRegression):
        def predict_proba(self, X):
            seen.append(np.asarray(X.index))
            return super().predict_proba(X)

    table, _ = _cohort(n=120)
    X = table[[c for c in table.columns if c.startswith(("original", "wavelet"))]]
    y = table["outcome"].to_numpy()
    pipe = Pipeline([("balance", sampler), ("model", Spy())])
    RecalibratedClassifier(pipe, method="sigmoid", cv=3).fit(X, y)
    oof_rows = np.concatenate(seen)
    assert len(seen) == 3 and sorted(oof_rows.tolist()) == list(range(len(X)))


# ---------------------------------------------------------------------------------------------- early stopping
def _noise(n=240, p=8, seed=0, prevalence=0.25):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"original_firstorder_f{i}" for i in range(p)])
    t["outcome"] = (rng.random(n) < prevalence).astype(int)
    t["id"] = [f"N{i:03d}" for i in range(n)]
    return t


ES = {"name": "xgboost", "params": {"n_estimators": 200, "early_stopping_rounds": 10, "max_depth": 3,
                                   "learning_rate": 0.3, "n_jobs": 1}, "search": {}}


def _trees_on_noise(method, seeds=(0, 1, 2)):
    trees, val = [], []
    for seed in seeds:
        study, res = _run(_noise(seed=seed), _cfg(method, model=ES, random_state=seed))
        for fitted, _, train, *_ in res.models:
            model = _model_step(fitted)
            trees.append(model.best_n_estimators_)
            val.append((model.n_validation_rows_, len(train)))
    return float(np.median(trees)), val


@pytest.mark.slow
def test_early_stopping_with_balancing_validates_on_real_rows():
    """Pure-noise outcome: the validation rows are real rows held out before resampling, so balancing keeps about
    as many trees as no balancing (within 10 % of n_estimators; a sampler in front of the model kept 40-170 of
    200), and "holds out 20 %" holds out 20 % of the real training rows."""
    none, _ = _trees_on_noise("none")
    for method in ("random_over", "smote"):
        trees, val = _trees_on_noise(method)
        assert abs(trees - none) <= 0.1 * ES["params"]["n_estimators"], (method, trees, none)
        assert all(v == int(np.ceil(0.2 * n)) for v, n in val), val


def test_early_stopping_pipeline_puts_the_sampler_inside_the_model():
    study, _ = _run(_noise(), {**_cfg("smote", model=ES), "cv": {"outer": {"n_splits": 2}}})
    pipe = study.build_pipeline()
    assert "balance" not in pipe.named_steps
    model = pipe.named_steps["model"]
    assert isinstance(model, EarlyStoppingXGBClassifier) and isinstance(model.sampler, SMOTE)
    from radiomix.pipeline import early_stopping_note

    assert "resamples only those" in early_stopping_note(study.config)
    plain = make_study(_noise(), _cfg("none", model=ES), verbose=False)
    assert "resamples" not in early_stopping_note(plain.config)


def test_early_stopping_with_smotenc_is_refused_in_one_line():
    t = _noise()
    t["sex"] = np.random.default_rng(0).choice(["F", "M"], len(t))
    with pytest.raises(ValueError, match="smotenc.*early_stopping_rounds.*random_over"):
        make_study(t, _cfg("smotenc", model=ES), verbose=False)


def test_early_stopping_sampler_resamples_the_fit_rows_only():
    """Oracle: the same stratified split, the sampler applied to its fit part by hand, XGBoost given the real
    validation rows."""
    from sklearn.model_selection import StratifiedShuffleSplit
    from xgboost import XGBClassifier

    t = _noise(n=200)
    X, y = t.filter(like="original"), t["outcome"].to_numpy()
    ours = EarlyStoppingXGBClassifier(n_estimators=100, early_stopping_rounds=5, random_state=2, n_jobs=1,
                                      sampler=SMOTE(random_state=0)).fit(X, y)
    fit, val = next(StratifiedShuffleSplit(1, test_size=0.2, random_state=2).split(X, y))
    Xf, yf = SMOTE(random_state=0).fit_resample(X.iloc[fit], y[fit])
    ref = XGBClassifier(n_estimators=100, early_stopping_rounds=5, random_state=2, n_jobs=1)
    ref.fit(Xf, yf, eval_set=[(X.iloc[val], y[val])], verbose=False)
    assert ours.best_n_estimators_ == ref.best_iteration + 1
    assert ours.n_validation_rows_ == 40 and ours.n_fit_rows_ == len(yf) > 160
    np.testing.assert_array_equal(ours.predict_proba(X), ref.predict_proba(X)[:, :])
    with pytest.raises(ValueError, match="sample_weight"):
        clone(ours).fit(X, y, sample_weight=np.ones(len(y)))


# ---------------------------------------------------------------------------------------------- the wrapper
def _imbalanced_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"], index=np.arange(100, 100 + n))
    X["sex"] = rng.choice(["F", "M"], n)
    y = (np.arange(n) % 4 == 0).astype(int)
    return X, y


@pytest.mark.parametrize("sampler", [SMOTE(k_neighbors=3, random_state=0), ADASYN(n_neighbors=3, random_state=0),
                                     SMOTENC(categorical_features=["sex"], k_neighbors=3, random_state=0),
                                     RandomOverSampler(random_state=0), RandomUnderSampler(random_state=0)],
                         ids=lambda s: type(s).__name__)
def test_row_identity_sampler_keeps_labels_and_the_samplers_draws(sampler):
    X, y = _imbalanced_frame()
    if not isinstance(sampler, (SMOTENC, RandomOverSampler, RandomUnderSampler)):
        X = X.drop(columns="sex")
    wrapped = RowIdentitySampler(sampler)
    Xr, yr = wrapped.fit_resample(X, y)
    Xa, ya = clone(sampler).fit_resample(X, y)
    np.testing.assert_array_equal(Xr.to_numpy(), Xa.to_numpy())  # the same draws, only the labels differ
    np.testing.assert_array_equal(yr, ya)
    fake = synthetic_rows(Xr.index)
    assert fake.sum() == wrapped.n_synthetic_ == len(Xr) - np.sum(wrapped.sample_indices_ >= 0)
    # every real or copied row carries the label of the input row with its values
    pd.testing.assert_frame_equal(Xr[~fake], X.loc[Xr.index[~fake]])
    if isinstance(sampler, (RandomOverSampler, RandomUnderSampler)):
        assert not fake.any()
        np.testing.assert_array_equal(Xr.index, X.index[wrapped.sample_indices_])
    else:
        assert fake.sum() > 0 and Xr.index[fake].tolist() == list(range(-1, -fake.sum() - 1, -1))
    assert wrapped.sampling_strategy_ == wrapped.sampler_.sampling_strategy_
    assert wrapped.get_params()["sampler"] is sampler and "sampler__random_state" in wrapped.get_params()


def test_row_identity_sampler_refuses_what_it_cannot_trace():
    X, y = _imbalanced_frame()
    X = X.drop(columns="sex")
    with pytest.raises(ValueError, match="negative integers"):
        RowIdentitySampler(SMOTE(k_neighbors=3)).fit_resample(X.set_axis(-np.arange(1, len(X) + 1)), y)
    with pytest.raises(ValueError, match="sampler"):
        RowIdentitySampler(None).fit_resample(X, y)
    from imblearn import FunctionSampler

    shuffled = FunctionSampler(func=lambda X, y: (X[::-1], y[::-1]))
    with pytest.raises(ValueError, match="cannot be traced"):
        RowIdentitySampler(shuffled).fit_resample(X, y)


def test_robustness_filter_after_the_wrapper_reads_only_real_rows():
    """Behind a RowIdentitySampler the filter skips synthetic rows and maps real ones to their patients: the same
    ICCs as on the real rows alone."""
    from radiomix.select import RobustnessFilter

    table, reps = _cohort(n=60)
    X = table.filter(like="_")
    y = table["outcome"].to_numpy()
    Xr, _ = RowIdentitySampler(SMOTE(random_state=0)).fit_resample(X, y)
    assert synthetic_rows(Xr.index).any()
    after = RobustnessFilter(reps, ids=table["id"].to_numpy()).fit(Xr)
    alone = RobustnessFilter(reps, ids=table["id"].to_numpy()).fit(X)
    np.testing.assert_array_equal(after.icc_, alone.icc_)
    assert after.n_cases_ == 60
    plain, _ = SMOTE(random_state=0).fit_resample(X, y)  # labels 0..m-1: positions past the table are refused
    with pytest.raises(ValueError, match="not in ids"):
        RobustnessFilter(reps, ids=table["id"].to_numpy()).fit(plain)


def test_row_identity_sampler_passes_scikit_learns_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(RowIdentitySampler(RandomOverSampler(random_state=0)), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert len(results) > 30 and not failed, failed
