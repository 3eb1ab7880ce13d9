"""Multiclass and regression outcomes: metrics equal scikit-learn's, canaries (random labels / random target score
chance), leak check, SHAP per class, and the train/predict CLI end to end."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from radiomix.outcomes.multiclass import confusion, multiclass_metrics, per_class
from radiomix.outcomes.regression import _resampled, regression_metrics


def _table(n=180, p=12, seed=0, signal=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    eta = (X[:, 0] - 0.7 * X[:, 1]) if signal else np.zeros(n)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(p)])
    df.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    df["marker"] = 250 + 20 * eta + rng.normal(0, 20, n)
    df["grade"] = np.array(["G1", "G2", "G3"])[np.digitize(eta + rng.logistic(size=n), [-0.5, 1.0])]
    df["site"] = rng.choice(["A", "B", "C"], n)
    return df


_FAST = {"select": {"mrmr": 4}, "bootstrap": 0, "safeguards": {"baselines": False, "shap": False},
         "model": {"name": "xgboost", "params": {"n_estimators": 40, "n_jobs": 1}, "search": {"max_depth": [2, 3]}}}


def test_multiclass_metrics_equal_sklearn():
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.preprocessing import label_binarize

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    P = rng.dirichlet(np.ones(4), 300) + 0.3 * np.eye(4)[y]
    P = np.round(P / P.sum(axis=1, keepdims=True), 2)  # ties in the scores
    P[:, 3] = 1 - P[:, :3].sum(axis=1)  # rows sum to 1 (sklearn checks), ties kept in the first three columns
    m = multiclass_metrics(y, P)
    Y = label_binarize(y, classes=range(4))
    assert m["auc_macro"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr"), abs=1e-12)
    assert m["auc_micro"] == pytest.approx(roc_auc_score(Y, P, average="micro"), abs=1e-12)
    label = P.argmax(axis=1)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, label), abs=1e-12)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, label), abs=1e-12)
    assert m["brier"] == pytest.approx(np.mean(np.sum((P - Y) ** 2, axis=1)), abs=1e-12)
    pc = per_class(y, P, list("abcd"))
    np.testing.assert_allclose([pc[c]["sensitivity"] for c in "abcd"], recall_score(y, label, average=None))
    np.testing.assert_allclose([pc[c]["ppv"] for c in "abcd"], precision_score(y, label, average=None))
    np.testing.assert_array_equal(confusion(y, P, list("abcd"))["matrix"], confusion_matrix(y, label))


def test_regression_metrics_equal_sklearn_and_resampled_form():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    pred = 0.6 * y + rng.normal(0, 0.5, 200)
    m = regression_metrics(y, pred)
    assert m["r2"] == pytest.approx(r2_score(y, pred), abs=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, pred)), abs=1e-12)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, pred), abs=1e-12)
    slope = np.polyfit(pred, y, 1)[0]
    assert m["calibration_slope"] == pytest.approx(slope, abs=1e-10)
    counts = rng.multinomial(200, np.full(200, 1 / 200), size=3)
    got = _resampled(y, pred, counts)
    for b, c in enumerate(counts):
        rows = np.repeat(np.arange(200), c)
        assert got["r2"][b] == pytest.approx(r2_score(y[rows], pred[rows]), abs=1e-10)
        assert got["mae"][b] == pytest.approx(mean_absolute_error(y[rows], pred[rows]), abs=1e-12)


@pytest.mark.parametrize("target, metric, bound", [("grade", "auc_macro", 0.1), ("marker", "r2", None)])
def test_canary_random_outcome_scores_chance(target, metric, bound):
    """Random labels: macro AUC 0.5 +- 0.1 on average over seeds; random continuous target: R2 <= 0.05."""
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    scores = []
    for seed in range(3):
        df = _table(seed=seed, signal=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = make_study(df.drop(columns=["marker" if target == "grade" else "grade"]),
                               {**_FAST, "target": target})
        scores.append(nested_cv(study, progress=False).summary[metric]["estimate"])
    if bound is not None:
        assert abs(np.mean(scores) - 0.5) < bound, scores
    else:
        assert np.mean(scores) <= 0.05 and max(scores) < 0.1, scores


@pytest.mark.parametrize("target, task, metric, floor", [("grade", "multiclass", "auc_macro", 0.62),
                                                          ("marker", "regression", "r2", 0.3)])
def test_signal_found_and_test_fold_outcomes_never_used(target, task, metric, floor):
    from dataclasses import replace

    from radiomix.model_selection.validation import fit_outer_fold, nested_cv
    from radiomix.study import make_study

    df = _table(n=240, seed=5)
    model = {"name": "logistic", "params": {}, "search": {"C": [0.1, 1.0]}} if task == "multiclass" else \
        {"name": "elastic_net", "params": {}, "search": {"alpha": [0.1, 1.0]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(df.drop(columns=["marker" if target == "grade" else "grade"]),
                           {**_FAST, "target": target, "model": model})
    assert study.task.name == task
    assert nested_cv(study, progress=False).summary[metric]["estimate"] > floor
    fold = study.outer_folds()[1]
    y = study.y.copy()
    y[fold.test] = y[fold.test][::-1] if task == "multiclass" else -y[fold.test]
    np.testing.assert_array_equal(fit_outer_fold(study, fold).proba, fit_outer_fold(replace(study, y=y), fold).proba)


def test_multiclass_shap_per_class_sums_to_the_margin():
    """Per-class held-out SHAP of multinomial logistic models: base + sum = the class's linear predictor."""
    from radiomix.explain import fold_shap
    from radiomix.model_selection.validation import nested_cv
    from radiomix.steps import transform_for_model
    from radiomix.study import make_study

    df = _table(seed=2).drop(columns=["marker"])
    cfg = {**_FAST, "target": "grade", "model": {"name": "logistic", "params": {}, "search": {"C": [0.3, 1.0]}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(df, cfg)
        res = nested_cv(study, progress=False)
        for j in range(3):
            sh = fold_shap(res, study.X, ids=study.ids, class_index=j)
            pipe, test = res.models[0][0], res.models[0][1]
            Xt = transform_for_model(pipe, study.X.iloc[test])
            margin = pipe.steps[-1][1].decision_function(Xt.to_numpy())[:, j]
            got = sh.values.xs(0, level="fold").sum(axis=1).to_numpy() + sh.base_values.xs(0, level="fold").to_numpy()
            np.testing.assert_allclose(got, margin, atol=1e-8)


@pytest.mark.parametrize("target, needles, pred_cols", [
    ("marker", ("R2", "calibration-in-the-large", "observed_predicted"), ["prediction"]),
    ("grade", ("macro AUC", "class G2", "confusion_classes"), ["proba_G1", "proba_G2", "proba_G3", "predicted_class"]),
])
def test_train_and_predict_cli(tmp_path, target, needles, pred_cols):
    from click.testing import CliRunner

    from radiomix.cli import main

    df = _table(n=150, seed=3)
    df["original_shape_MeshVolume"] = np.exp(df["f0"] + 6)
    df.drop(columns=["grade" if target == "marker" else "marker"]).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "c.yaml").write_text(json.dumps({**_FAST, "bootstrap": 100, "safeguards": {"shap": True}}))
    r = CliRunner().invoke(main, ["train", str(tmp_path / "t.csv"), "--target", target, "--batch", "site",
                                  "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "run" / "report.html").read_text()
    for needle in needles:
        assert needle in r.output or needle in html, needle
    assert "baseline volume" in r.output and "Verdict" in html
    r = CliRunner().invoke(main, ["predict", str(tmp_path / "run" / "model.skops"), str(tmp_path / "t.csv"),
                                  "--out", str(tmp_path / "pred.csv")])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert all(c in pred.columns for c in pred_cols)
    if target == "grade":
        np.testing.assert_allclose(pred[pred_cols[:3]].sum(axis=1), 1.0, atol=1e-6)
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run" / "model.skops"), str(tmp_path / "t.csv"),
                                  "--target", target, "--bootstrap", "50", "--out", str(tmp_path / "ext.json")])
    assert r.exit_code == 0, r.output
    ext = json.loads((tmp_path / "ext.json").read_text())[str(tmp_path / "t.csv")]
    key = "auc_macro" if target == "grade" else "r2"
    if target == "grade":
        expected = multiclass_metrics(df["grade"].map({"G1": 0, "G2": 1, "G3": 2}), pred[pred_cols[:3]].to_numpy())
    else:
        expected = regression_metrics(df["marker"], pred["prediction"])
    expected = expected[key]
    assert ext[key]["estimate"] == pytest.approx(expected, abs=1e-9)


def test_task_settings_that_do_not_apply_are_refused():
    from radiomix.study import make_study

    df = _table(n=60)
    with pytest.raises(ValueError, match="balance.method 'smote' resamples classes"):
        make_study(df.drop(columns=["grade"]), {"target": "marker", "balance": {"method": "smote"},
                                                "impute": {"method": "median"}})
    with pytest.raises(ValueError, match="calibration.recalibrate 'sigmoid' corrects binary"):
        make_study(df.drop(columns=["marker"]), {"target": "grade", "calibration": {"recalibrate": "sigmoid"}})
    with pytest.raises(ValueError, match="not a number"):
        make_study(df.drop(columns=["grade"]).assign(marker=df["marker"].astype(object).where(df.index != 4, "n/a")),
                   {"target": "marker", "task": "regression"})


@pytest.mark.parametrize("task", ["survival", "regression", "multiclass"])
def test_late_fusion_per_task_trains_saves_and_predicts(tmp_path, task):
    """Late fusion stacks the blocks with a meta-model of the task (penalized Cox, ridge, multinomial logistic);
    the fitted model survives a save/load round trip (nothing untrusted inside) and predicts the same."""
    from radiomix.model import fit_final_model, load_model, save_model
    from radiomix.study import make_study

    df = _table(n=160, seed=4)
    rng = np.random.default_rng(4)
    eta = df["f0"] - 0.7 * df["f1"]
    tt, cc = np.round(rng.exponential(np.exp(-eta)) * 800) + 1, np.round(rng.uniform(200, 2500, len(df)))
    df["os_days"], df["os_event"] = np.minimum(tt, cc), (tt <= cc).astype(int)
    df = df.rename(columns={f"f{i}": f"original_firstorder_F{i}" for i in range(6)})
    target = {"survival": {"time": "os_days", "event": "os_event"}, "regression": "marker", "multiclass": "grade"}[task]
    drop = {"survival": ["marker", "grade"], "regression": ["os_days", "os_event", "grade"],
            "multiclass": ["os_days", "os_event", "marker"]}[task]
    cfg = {**_FAST, "target": target, "fusion": {"mode": "late", "blocks": ["radiomic", "clinical"]},
           "features": {"groups": {"clinical": [f"f{i}" for i in range(6, 12)]}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(df.drop(columns=drop), cfg)
        model = fit_final_model(study)
    save_model(model, tmp_path / "m.skops")
    again = load_model(tmp_path / "m.skops")
    table = df.drop(columns=drop).head(20)
    pd.testing.assert_frame_equal(model.predict(table), again.predict(table))


def test_from_pipeline_serves_every_task():
    """Your own Pipeline on survival, multiclass and regression targets through Study.from_pipeline."""
    from sklearn.linear_model import ElasticNet, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from radiomix.model_selection.validation import nested_cv_pipeline
    from radiomix.models.survival import CoxPH

    df = _table(n=150, seed=6)
    X = df[[f"f{i}" for i in range(12)]]
    rng = np.random.default_rng(6)
    eta = X["f0"] - 0.7 * X["f1"]
    tt, cc = np.round(rng.exponential(np.exp(-eta)) * 800) + 1, np.round(rng.uniform(200, 2500, len(df)))
    runs = {"survival": (make_pipeline(StandardScaler(), CoxPH(alpha=0.1)), np.column_stack([np.minimum(tt, cc), tt <= cc]),
                         "c_index", 0.65),
            "multiclass": (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), df["grade"],
                           "auc_macro", 0.6),
            "regression": (make_pipeline(StandardScaler(), ElasticNet(alpha=0.5)), df["marker"], "r2", 0.25)}
    for task, (pipe, y, metric, floor) in runs.items():
        res = nested_cv_pipeline(pipe, X, y, task=task, n_bootstrap=0, progress=False)
        assert res.summary[metric]["estimate"] > floor, (task, res)
