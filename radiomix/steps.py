"""Applying a fitted radiomix pipeline step by step: the pipeline behind a probability correction, and the
input of its final model (every step but the last, samplers skipped). Used by explanations and survival
predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["unwrap_correction", "transform_for_model"]


def unwrap_correction(model):
    """``(model, correction)``: a :class:`radiomix.calibration.RecalibratedClassifier` is split into the
    pipeline it corrects and the correction; anything else is returned with ``None``."""
    from .model_selection.calibration import RecalibratedClassifier

    if isinstance(model, RecalibratedClassifier):
        return model.estimator_, model
    return model, None


def transform_for_model(pipeline, X: pd.DataFrame) -> pd.DataFrame:
    """``X`` as the model step of ``pipeline`` sees it: every step but the last, samplers skipped.

    imbalanced-learn's ``pipeline[:-1].transform`` skips samplers between transformers but has no
    ``transform`` when the sampler is the last of those steps (radiomix puts class balancing right before
    the model), so the steps are applied here one by one. Column names follow ``get_feature_names_out``.
    """
    pipeline = unwrap_correction(pipeline)[0]
    if not hasattr(pipeline, "steps"):
        return X
    Xt, names = X, [str(c) for c in X.columns]
    for _, step in pipeline.steps[:-1]:
        if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
            continue
        Xt = step.transform(Xt)
        if isinstance(Xt, pd.DataFrame):
            names = [str(c) for c in Xt.columns]
        elif hasattr(step, "get_feature_names_out"):
            names = [str(c) for c in step.get_feature_names_out(names)]
        else:
            names = [f"x{j}" for j in range(np.shape(Xt)[1])]
    if not isinstance(Xt, pd.DataFrame):
        Xt = pd.DataFrame(np.asarray(Xt), columns=names, index=X.index)
    return Xt
