"""Outcomes are plug-ins: a toy outcome type defined here, in the test suite, registered with
``radiomix.outcomes.register_task`` and run end to end (config validation, Study, nested CV, safeguards, the final
model, predict, external scoring, the report) without touching the package."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from radiomix.outcomes import TASKS, Task, register_task
from radiomix.outcomes.records import fold_record


@dataclass(frozen=True)
class CountTask(Task):
    """A count outcome (lesions, events per year): non-negative whole numbers, scored by Spearman's rho."""

    name: str = "toy_count"
    metrics: tuple = ("spearman", "mae")
    headline: str = "spearman"
    headline_label: str = "Spearman rho"
    scoring: str = "neg_mean_absolute_error"
    default_model: str = "random_forest"
    estimator_kinds: tuple = ("regressor",)
    prediction_method: str = "predict"
    estimator_noun: str = "regressor"
    clinical_baseline: tuple = ("elastic_net", {"alpha": 0.1})
    baseline_kinds: tuple = ("linear regression", "elastic net")
    report_layout: tuple = ("verdict", "data.outcome", "metrics.outcome", "folds.task", "checklist", "config")

    def encode_target(self, target, column, positive=None):
        obs = pd.to_numeric(target.dropna(), errors="coerce")
        if obs.isna().any() or (obs < 0).any() or (obs % 1 != 0).any():
            raise ValueError(f"target {column!r} must hold non-negative whole counts")
        return obs.to_numpy(float), []

    def strata(self, y):
        return np.minimum(np.asarray(y), 3).astype(int)

    @property
    def inner_strata(self):
        return self.strata

    def check_folds(self, y, n_splits, classes=None):
        if len(y) < 2 * n_splits:
            raise ValueError("too few rows")

    def predict(self, estimator, X):
        return np.asarray(estimator.predict(X), float).ravel()

    def fold_metrics(self, y, scores, labels):
        return {"spearman": float(spearmanr(y, scores)[0]), "mae": float(np.mean(np.abs(np.asarray(y) - scores)))}

    def headline_score(self, y, p):
        return self.fold_metrics(y, p, None)["spearman"]

    def volume_model(self):
        from sklearn.linear_model import LinearRegression

        return LinearRegression()

    def summarize(self, study, results):
        y, n = study.y, len(study.y)
        P = np.full(n, np.nan)
        oof, folds = [], []
        for res in results:
            P[res.fold.test] = res.proba
            oof.append(pd.DataFrame({"id": study.ids[res.fold.test], "repeat": res.fold.repeat, "fold": res.fold.fold,
                                     "y": y[res.fold.test], "pred": res.proba}))
            folds.append(fold_record(res, self.fold_metrics(y[res.fold.test], res.proba, None), self.headline))
        rng = np.random.default_rng(study.random_state)
        draws = [self.fold_metrics(y[i], P[i], None) for i in (rng.integers(0, n, n) for _ in range(200))]
        summary = {m: {"estimate": self.fold_metrics(y, P, None)[m],
                       "ci_low": float(np.quantile([d[m] for d in draws], 0.025)),
                       "ci_high": float(np.quantile([d[m] for d in draws], 0.975))} for m in self.metrics}
        folds = pd.DataFrame(folds)
        summary["spearman_folds"] = {"mean": float(folds["spearman"].mean()), "sd": float(folds["spearman"].std()),
                                     "n": len(folds)}
        summary["n_samples"] = n
        summary["target"] = {"mean": float(np.mean(y)), "sd": float(np.std(y))}
        return pd.concat(oof, ignore_index=True), folds, summary

    def prediction_frame(self, model, ids, scores, thresholds, X, fallback):
        return pd.DataFrame({"id": ids, "expected_count": scores})

    def score_external(self, model, table, target, *, n_bootstrap, random_state):
        pred = model.predict(table)
        y, _ = self.encode_target(table[target], target)
        return {m: {"estimate": v} for m, v in self.fold_metrics(y, pred["expected_count"].to_numpy(), None).items()}


@pytest.fixture(scope="module")
def count_task():
    task = register_task(CountTask())
    yield task
    TASKS.pop(task.name, None)


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    t = pd.DataFrame(X, columns=[f"original_firstorder_F{i}" for i in range(6)])
    t["original_shape_MeshVolume"] = np.exp(X[:, 0] + 6)
    t["lesions"] = rng.poisson(np.exp(0.8 * X[:, 0] - 0.4 * X[:, 1]))
    t["id"] = [f"p{i:03d}" for i in range(n)]
    return t


def test_a_toy_outcome_runs_end_to_end_without_touching_the_package(count_task, tmp_path):
    from radiomix.model import load_model, score_external
    from radiomix.train import train

    table = _table()
    cfg = {"target": "lesions", "task": "toy_count", "model": {"name": "random_forest",
                                                                "params": {"n_estimators": 30},
                                                                "search": {"max_depth": [2, 4]}},
           "search": {"n_candidates": 2}, "cv": {"outer": {"n_splits": 3}}, "bootstrap": 50,
           "safeguards": {"shap": False}}
    run = train(table, cfg, out=tmp_path / "run", progress=False)
    s = run.summary
    assert s["spearman"]["estimate"] > 0.3  # a real signal, learned out of fold
    assert s["baselines"]["volume"]["headline"] == "pooled Spearman rho"  # the safeguards asked the toy task
    assert "verdict" in s and s["verdict"]["sentence"]
    oof = pd.read_csv(tmp_path / "run" / "oof_predictions.csv")
    assert list(oof.columns[:5]) == ["id", "repeat", "fold", "y", "pred"] and len(oof) == len(table)
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Spearman rho" in html and "toy_count" in html.lower()
    model = load_model(tmp_path / "run" / "model.skops")
    assert model.task == "toy_count"
    pred = model.predict(table.drop(columns="lesions"))
    assert list(pred.columns[:2]) == ["id", "expected_count"] and (pred["expected_count"] >= 0).all()
    ext = score_external(model, table, "lesions")
    assert ext["spearman"]["estimate"] > s["spearman"]["estimate"]  # in-sample beats out of fold
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["settings"]["task"] == "toy_count"


def test_an_unregistered_outcome_type_is_refused_with_the_valid_ones(tmp_path):
    from radiomix.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match=r"config key 'task' is 'toy_unknown'; valid values: \['auto', 'binary'"):
        validate_config({"target": "lesions", "task": "toy_unknown"})
