"""Outcomes with three or more classes: metrics of class probabilities and the out-of-fold summary of a
multiclass nested CV.

Macro one-vs-rest AUC (the headline and inner scoring: the mean over classes of the AUC of each class
against the rest, as scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``), micro AUC (all
class-vs-rest decisions pooled), balanced accuracy and accuracy of the most probable class, the multiclass
Brier score (mean over patients of the summed squared error over classes), per-class sensitivity (recall),
PPV (precision) and AUC, and the confusion matrix. Confidence intervals: percentile bootstrap over patients
within each class (whole patients with groups; within site and class under leave-site-out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import roc_auc
from .base import ClassProbabilityModels, Task, check_labels, per_patient
from .records import fmt_number, fold_record, optimism
from .registry import register_task

__all__ = ["MulticlassTask", "multiclass_metrics", "per_class", "confusion", "multiclass_outputs"]

#: The sections of a multiclass run's report, in order (keys of :data:`radiomix.report.SECTIONS_BY_KEY`).
MULTICLASS_REPORT = ("verdict", "data.outcome", "metrics.outcome", "baselines", "roc-classes", "confusion-classes",
                     "folds.task", "sites", "selection", "robustness", "shap", "checklist", "config")


def _onehot(y, k) -> np.ndarray:
    return (np.asarray(y, int)[:, None] == np.arange(k)[None, :]).astype(float)


def multiclass_metrics(y, P) -> dict:
    """Macro and micro one-vs-rest AUC, balanced accuracy, accuracy and Brier score of class probabilities
    ``P`` ((n, k), columns in class-code order) for class codes ``y``."""
    y, P = np.asarray(y, int), np.asarray(P, float)
    k = P.shape[1]
    Y = _onehot(y, k)
    present = [c for c in range(k) if 0 < Y[:, c].sum() < len(y)]
    aucs = [roc_auc(Y[:, c], P[:, c]) for c in present]
    label = P.argmax(axis=1)
    recall = [np.mean(label[y == c] == c) for c in range(k) if (y == c).any()]
    return {"auc_macro": float(np.mean(aucs)) if aucs else np.nan,
            "auc_micro": roc_auc(Y.ravel(), P.ravel()),
            "balanced_accuracy": float(np.mean(recall)), "accuracy": float(np.mean(label == y)),
            "brier": float(np.mean(np.sum((P - Y) ** 2, axis=1)))}


def per_class(y, P, classes) -> dict:
    """``{class: {n, sensitivity, ppv, auc}}`` (one class against the rest, the most probable class called)."""
    y, P = np.asarray(y, int), np.asarray(P, float)
    label = P.argmax(axis=1)
    out = {}
    for c, name in enumerate(classes):
        called = label == c
        out[str(name)] = {"n": int((y == c).sum()),
                          "sensitivity": float(np.mean(called[y == c])) if (y == c).any() else np.nan,
                          "ppv": float(np.mean(y[called] == c)) if called.any() else np.nan,
                          "auc": roc_auc(y == c, P[:, c])}
    return out


def confusion(y, P, classes) -> dict:
    """Confusion matrix of the most probable class: ``{"classes", "matrix"}`` (rows true, columns predicted)."""
    k = len(classes)
    m = np.zeros((k, k), int)
    np.add.at(m, (np.asarray(y, int), np.asarray(P).argmax(axis=1)), 1)
    return {"classes": [str(c) for c in classes], "matrix": m.tolist()}


def _boot(study, P, rng) -> dict:
    from ..metrics import Resampler

    strata = study.sites if study.outer.kind == "leave_site_out" else None
    rs = Resampler(study.y, groups=study.groups, strata=strata)
    draws = []
    for _ in range(study.n_bootstrap):
        idx = rs.draw(rng, "stratified")
        per = [multiclass_metrics(study.y[idx], p[idx]) for p in P]
        draws.append({m: np.nanmean([d[m] for d in per]) for m in per[0]})
    return {m: np.array([d[m] for d in draws]) for m in draws[0]} if draws else {}


def multiclass_outputs(study, results):
    """``(oof, folds, summary)`` of a multiclass nested CV from its outer-fold results."""
    y, n, R, k = study.y, len(study.y), study.outer.n_repeats, len(study.classes)
    P = np.full((R, n, k), np.nan)
    oof_rows, fold_rows = [], []
    names = [str(c) for c in study.classes]
    for res in results:
        f = res.fold
        P[f.repeat, f.test] = res.proba
        frame = {"id": study.ids[f.test], "repeat": f.repeat, "fold": f.fold, "y": y[f.test],
                 "label": res.proba.argmax(axis=1), "class": [names[v] for v in y[f.test]],
                 "predicted_class": [names[v] for v in res.proba.argmax(axis=1)]}
        frame.update({f"proba_{c}": res.proba[:, j] for j, c in enumerate(names)})
        if study.sites is not None:
            frame["site"] = np.asarray(study.sites)[f.test]
        oof_rows.append(pd.DataFrame(frame))
        fold_rows.append(fold_record(res, {"n_per_class": np.bincount(y[f.test], minlength=k).tolist(),
                                           **multiclass_metrics(y[f.test], res.proba)}, "auc_macro"))
    if np.isnan(P).any():
        raise RuntimeError("some samples received no out-of-fold prediction")
    oof, folds = pd.concat(oof_rows, ignore_index=True), pd.DataFrame(fold_rows)
    return oof, folds, _summarize(study, folds, P)


def _summarize(study, folds, P) -> dict:
    y, classes = study.y, study.classes
    per = [multiclass_metrics(y, p) for p in P]
    boot = _boot(study, P, np.random.default_rng(study.random_state))
    summary = {}
    for m in per[0]:
        lo, hi = np.nanquantile(boot[m], [0.025, 0.975]) if m in boot else (np.nan, np.nan)
        summary[m] = {"estimate": float(np.nanmean([d[m] for d in per])), "ci_low": float(lo), "ci_high": float(hi)}
    pbar = P.mean(axis=0)
    summary["per_class"] = per_class(y, pbar, classes)
    summary["confusion"] = confusion(y, pbar, classes)
    summary["auc_macro_folds"] = {"mean": float(folds["auc_macro"].mean()),
                                  "sd": float(folds["auc_macro"].std(ddof=1)), "n": int(folds["auc_macro"].notna().sum())}
    if study.sites is not None:
        s_arr = np.asarray(study.sites).astype(str)
        summary["per_site"] = {s: {"n": int((s_arr == s).sum()),
                                   "auc_macro": multiclass_metrics(y[s_arr == s], pbar[s_arr == s])["auc_macro"]}
                               for s in sorted(set(s_arr))}
    if (opt := optimism(folds, "macro AUC")) is not None:
        summary["optimism"] = opt
    summary["n_samples"] = int(len(y))
    summary["classes"] = {str(c): int((y == i).sum()) for i, c in enumerate(classes)}
    return summary


def external_summary(y, P, classes, *, n_bootstrap: int = 2000, random_state=0) -> dict:
    """Metrics with 95 % bootstrap CIs (patients resampled within each class), per-class results and the
    confusion matrix of a saved model's class probabilities ``P`` on an external cohort."""
    from ..metrics import Resampler

    y, P = np.asarray(y, int), np.asarray(P, float)
    point = multiclass_metrics(y, P)
    draws = {m: [] for m in point}
    rng = np.random.default_rng(random_state)
    rs = Resampler(y)
    for _ in range(n_bootstrap):
        idx = rs.draw(rng, "stratified")
        for m, v in multiclass_metrics(y[idx], P[idx]).items():
            draws[m].append(v)
    out = {m: {"estimate": float(v), "ci_low": float(np.nanquantile(draws[m], 0.025)) if n_bootstrap else np.nan,
               "ci_high": float(np.nanquantile(draws[m], 0.975)) if n_bootstrap else np.nan} for m, v in point.items()}
    out["per_class"] = per_class(y, P, classes)
    out["confusion"] = confusion(y, P, classes)
    out["classes"] = {str(c): int((y == i).sum()) for i, c in enumerate(classes)}
    out["n_samples"] = int(len(y))
    return out


@dataclass(frozen=True)
class MulticlassTask(ClassProbabilityModels, Task):
    """A categorical outcome with three or more classes (grade, subtype). The model's target is the class
    code 0..k-1 (classes in sorted order); its output the probability of every class."""

    name: str = "multiclass"
    metrics: tuple = ("auc_macro", "auc_micro", "balanced_accuracy", "accuracy", "brier")
    headline: str = "auc_macro"
    headline_label: str = "macro AUC"
    scoring: str = "roc_auc_ovr"
    default_model: str = "xgboost"
    explainer_output: str = "probability"
    estimator_kinds: tuple = ("classifier",)
    prediction_method: str = "predict_proba"
    estimator_noun: str = "classifier"
    model_defaults: dict = field(default_factory=lambda: {"xgboost": {"eval_metric": "mlogloss"}})
    baseline_kinds: tuple = ("multinomial logistic", "multinomial logistic")
    report_layout: tuple = MULTICLASS_REPORT

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        obs = target.dropna()
        check_labels(obs, column)
        if pd.api.types.is_float_dtype(obs) and np.all(np.mod(obs.to_numpy(float), 1) == 0):
            obs = obs.astype(np.int64)  # 1.0 (a column with NaN) and 1 are the same label
        levels = sorted(obs.unique().tolist(), key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0,
                                                              str(v)))
        if len(levels) < 3:
            raise ValueError(f"target {column!r} has {len(levels)} class(es) {levels}: a multiclass outcome needs "
                             "at least 3 (use task: binary for two)")
        codes = {v: i for i, v in enumerate(levels)}
        return obs.map(codes).to_numpy(int), levels

    def strata(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y)

    def check_training_folds(self, y: np.ndarray, folds, classes) -> None:
        """Every outer training fold must hold every class (a fold model cannot learn a class it never saw;
        leave-site-out or grouped folds can take all of a rare class out)."""
        k = len(classes)
        for f in folds:
            absent = sorted(set(range(k)) - set(np.asarray(y)[f.train].tolist()))
            if absent:
                where = f"test site {str(f.site)!r}" if f.site is not None else f"outer fold {f.fold + 1}"
                raise ValueError(f"class(es) {[str(classes[c]) for c in absent]} are absent from the training rows of "
                                 f"{where} (all their patients are in its test rows): the fold's model cannot learn "
                                 "them; merge rare classes or use stratified outer folds")

    def check_folds(self, y: np.ndarray, n_splits: int, classes=None) -> None:
        counts = np.bincount(np.asarray(y, int))
        small = np.flatnonzero(counts < n_splits)
        if small.size:
            names = [str(classes[i]) for i in small] if classes is not None else small.tolist()
            raise ValueError(f"{len(counts)} classes, and class(es) {names} hold {counts[small].tolist()} row(s): "
                             f"fewer than outer_splits={n_splits}; a stray value in a binary target, a rare class "
                             "to merge into a neighbouring one, or a numeric score (task: regression treats it as a "
                             "number)")

    def predict(self, estimator, X) -> np.ndarray:
        return np.asarray(estimator.predict_proba(X), dtype=float)

    def fold_metrics(self, y, scores, labels) -> dict:
        return multiclass_metrics(y, scores)

    # -------------------------------------------------------------------------------------- settings
    def check_scoring(self, scoring: str) -> str:
        if scoring == "c_index":
            raise ValueError("cv.inner.scoring 'c_index' scores survival models only")
        if scoring == "roc_auc":
            raise ValueError("cv.inner.scoring 'roc_auc' is binary; use auto (roc_auc_ovr: macro one-vs-rest AUC)")
        return super().check_scoring(scoring)

    def check_settings(self, settings: dict, notes: list) -> None:
        if settings.get("recalibrate", "none") != "none":
            raise ValueError(f"calibration.recalibrate {settings['recalibrate']!r} corrects binary probabilities; set "
                             f"it to none for a {self.name} outcome")
        if settings.get("balance", "none") != "none":
            notes.append(f"balance.method {settings['balance']!r} with a multiclass outcome: predicted probabilities "
                         "keep the resampled class mix (no probability correction for more than two classes)")

    # ------------------------------------------------------------------------------------------ models
    def case_mix_scores(self, X, y, cv, groups) -> np.ndarray:
        return self.case_mix_probabilities(X, y, cv, groups)

    def site_rates(self, y, classes, sites) -> tuple[str, pd.Series]:
        rates = pd.Series(np.asarray(classes, dtype=object)[y]).groupby(sites).agg(lambda v: v.value_counts().idxmax())
        return "commonest_class_by_site", rates

    def effective_events(self, y, groups=None) -> tuple[int, str | None]:
        counts = per_patient(y, groups).value_counts()
        return (int(counts.min()) if len(counts) > 1 else 0), (str(counts.idxmin()) if len(counts) else None)

    # ------------------------------------------------------------------------------ metrics, summaries
    def headline_score(self, y, p, blocks=None) -> float:
        return multiclass_metrics(y, p)["auc_macro"]

    def encode_scores_target(self, y) -> np.ndarray:
        return np.asarray(y).astype(int)

    def bootstrap_strata(self, y) -> np.ndarray:
        return np.asarray(y).astype(int)

    def ci_resampling(self) -> dict:
        return {"every metric": "within each class (and site under leave-site-out)"}

    def summarize(self, study, results):
        return multiclass_outputs(study, results)

    def score_external(self, model, table: pd.DataFrame, target, *, n_bootstrap: int, random_state: int) -> dict:
        from .binary import class_codes

        if not isinstance(target, str):
            raise ValueError("a multiclass model is scored on one outcome column: give --target")
        if target not in table.columns:
            raise ValueError(f"outcome column(s) {[target]} not found; columns: {list(table.columns)[:20]}")
        t = table.loc[table[target].notna()]
        pred = model.predict(t)
        y = class_codes(t[target], model.classes, target)
        P = pred[[f"proba_{c}" for c in model.classes]].to_numpy(float)
        return external_summary(y, P, model.classes, n_bootstrap=n_bootstrap, random_state=random_state)

    # ------------------------------------------------------------------------------------ final model
    def score_shape(self, n: int, classes) -> tuple:
        return (n, len(classes))

    def prediction_frame(self, model, ids, scores, thresholds, X, fallback) -> pd.DataFrame:
        out = pd.DataFrame({"id": ids, **{f"proba_{c}": scores[:, j] for j, c in enumerate(model.classes)}})
        out["predicted_class"] = [model.classes[j] for j in scores.argmax(axis=1)]
        return out

    def check_saved_model(self, model) -> str | None:
        if len(model.classes) < 3:
            return f"classes {model.classes[:10]} do not fit a multiclass model"
        return None

    def explained_outputs(self, classes) -> list:
        return [(str(c), j) for j, c in enumerate(classes)]

    # ------------------------------------------------------------------------------------------- text
    def describe_outcome(self, summary: dict, config: dict, data: dict, epv: dict) -> str:
        return f"column {config.get('target')!r}, classes {summary.get('classes')}"

    def describe_performance(self, summary: dict) -> str:
        a = summary["auc_macro"]
        return (f"macro one-vs-rest AUC {fmt_number(a['estimate'])} ({fmt_number(a['ci_low'])}-"
                f"{fmt_number(a['ci_high'])}), balanced accuracy {fmt_number(summary['balanced_accuracy']['estimate'])}; "
                "per-class results and confusion matrix in their sections")


register_task(MulticlassTask())
