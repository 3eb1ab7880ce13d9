"""The ``radiomix train`` workflow: table + config -> nested CV -> run folder with metrics and predictions."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import __version__
from .config import load_config, validate_config
from .evaluate import NestedCVResult, nested_cv
from .io import atomic_write_text, read_table, write_table
from .pipeline import make_pipeline, prepare_data, search_space

__all__ = ["train", "TrainResult"]


@dataclass
class TrainResult:
    cv: NestedCVResult
    config: dict
    files: dict

    @property
    def summary(self) -> dict:
        return self.cv.summary


def _versions() -> dict:
    import sklearn
    import xgboost

    return {"radiomix": __version__, "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


def _jsonable(o):
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    return o


def train(table, config=None, *, out: str | os.PathLike | None = None, progress: bool = True, **overrides) -> TrainResult:
    """Run nested cross-validation on a merged table and (optionally) write a run folder.

    Parameters
    ----------
    table : DataFrame or path (CSV/TSV/Parquet)
        One row per case with the id, target and feature columns.
    config : dict, path or None
        A ``radiomix train`` config (YAML path or dict); None uses ``params/train_default.yaml``.
    out : path, optional
        Run folder receiving ``metrics.json``, ``folds.csv``, ``oof_predictions.csv`` and
        ``config.resolved.yaml`` (each written atomically).
    **overrides
        Top-level config keys that replace the config's (``target=``, ``id=``, ``batch=``, ``groups=``...).
    """
    if isinstance(config, dict):
        cfg = validate_config({**config, **{k: v for k, v in overrides.items() if v is not None}})
    else:
        cfg = load_config(config, **overrides)
    df = table if isinstance(table, pd.DataFrame) else read_table(table)
    X, y, info = prepare_data(df, cfg)
    pipe = make_pipeline(cfg)
    cv = nested_cv(
        pipe, X, y,
        param_distributions=search_space(cfg),
        outer_splits=cfg["cv"]["outer"]["n_splits"], n_repeats=cfg["cv"]["outer"]["n_repeats"],
        inner_splits=cfg["cv"]["inner"]["n_splits"], n_candidates=cfg["cv"]["inner"]["n_candidates"],
        scoring=cfg["cv"]["inner"]["scoring"], threshold=cfg["threshold"], n_bootstrap=cfg["bootstrap"],
        ids=info["ids"], sites=info["batch"], random_state=cfg["random_state"], n_jobs=cfg["n_jobs"],
        progress=progress,
    )
    files = {}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        metrics = {
            "summary": cv.summary,
            "settings": cv.settings,
            "data": {"n_features": int(X.shape[1]), "classes": [str(c) for c in info["classes"]],
                     "n_dropped_missing_target": info["n_dropped_missing_target"]},
            "versions": _versions(),
        }
        files["metrics"] = atomic_write_text(out / "metrics.json", json.dumps(_jsonable(metrics), indent=2))
        folds = cv.folds.copy()
        folds["params"] = folds["params"].map(lambda d: json.dumps(_jsonable(d)))
        files["folds"] = write_table(folds, out / "folds.csv", index=False)
        files["oof_predictions"] = write_table(cv.oof, out / "oof_predictions.csv", index=False)
        files["config"] = atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(cfg, sort_keys=False))
    return TrainResult(cv=cv, config=cfg, files=files)
