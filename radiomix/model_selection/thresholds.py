"""The decision threshold and the probability correction of a tuned model, learned from inner
out-of-fold predictions of its training rows."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from .splits import inner_cv

__all__ = ["youden_threshold", "finalize"]


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (midpoint between neighbouring scores)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, p)
    k = int(np.argmax(tpr - fpr))
    t = thr[k]
    if not np.isfinite(t):
        return 0.5
    below = p[p < t]
    return float((t + below.max()) / 2) if below.size else float(t)


def finalize(estimator, plan, X, y, *, groups=None, seed: int = 0, cv=None):
    """The tuned ``estimator`` made ready for use: its probability correction (``plan.correction``) and its
    decision threshold, both learned from out-of-fold probabilities over the inner folds of ``(X, y)`` (rows
    that were never resampled; grouped by patient through ``cv``/``groups``). Returns ``(model, threshold)``,
    where ``model`` is ``estimator`` or a :class:`radiomix.calibration.RecalibratedClassifier` around it."""
    from sklearn.model_selection import cross_val_predict

    if plan.threshold == "median_risk":  # survival: the risk-group cut-off of these training rows
        return estimator, float(np.median(estimator.predict(X)))
    if plan.threshold == "none":  # regression, multiclass (the most probable class): no threshold to learn
        return estimator, float("nan")
    needs_oof = plan.threshold == "youden" or plan.correction in ("sigmoid", "isotonic")
    cv = cv if cv is not None else inner_cv(plan.inner_splits, groups, seed, strata=plan.strata)
    oof = None
    if needs_oof:
        oof = cross_val_predict(clone(estimator), X, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
    model = estimator
    if plan.correction is not None:
        from .calibration import RecalibratedClassifier

        model = RecalibratedClassifier(clone(estimator), method=plan.correction, random_state=seed)
        model.fit_from_predictions(estimator, y, oof)
        oof = model.correct(oof) if oof is not None else None
    if plan.threshold != "youden":
        return model, float(plan.threshold)
    return model, youden_threshold(np.asarray(y), oof)
