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

__all__ = ["train", "TrainResult"]


@dataclass
class TrainResult:
    cv: NestedCVResult
    config: dict
    files: dict
    model: object = None

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


def train(table, config=None, *, out: str | os.PathLike | None = None, progress: bool = True, report: bool = True,
          **overrides) -> TrainResult:
    """Run nested cross-validation on a merged table, refit the final model, and (optionally) write a run folder.

    Parameters
    ----------
    table : DataFrame or path (CSV/TSV/Parquet)
        One row per case with the id, target and feature columns.
    config : dict, path or None
        A ``radiomix train`` config (YAML path or dict); None uses ``params/train_default.yaml``.
    out : path, optional
        Run folder receiving ``metrics.json``, ``folds.csv``, ``oof_predictions.csv``,
        ``config.resolved.yaml``, ``model.skops`` (each written atomically) and, with ``report=True``,
        ``report.html`` + ``figures/`` (see :func:`radiomix.report.write_report`).
    **overrides
        Top-level config keys that replace the config's (``target=``, ``id=``, ``batch=``, ``groups=``...).
    """
    from .model import fit_final_model, save_model

    if isinstance(config, dict):
        cfg = validate_config({**config, **{k: v for k, v in overrides.items() if v is not None}})
    else:
        cfg = load_config(config, **overrides)
    df = table if isinstance(table, pd.DataFrame) else read_table(table)
    cv = nested_cv(cfg, df, progress=progress)
    info = cv.settings.pop("info")
    cv.settings.pop("config", None)
    model = fit_final_model(cfg, df, cv_summary=_jsonable(cv.summary)) if cfg["final_model"] else None
    files = {}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        metrics = {
            "summary": cv.summary,
            "settings": cv.settings,
            "data": {"n_features": len(info["features"]), "classes": [str(c) for c in info["classes"]],
                     "n_dropped_missing_target": info["n_dropped_missing_target"],
                     "column_groups": {k: len(v) for k, v in info["column_groups"].items()}},
            "final_model": {"threshold": model.threshold} if model is not None else None,
            "versions": _versions(),
        }
        files["metrics"] = atomic_write_text(out / "metrics.json", json.dumps(_jsonable(metrics), indent=2))
        folds = cv.folds.copy()
        folds["params"] = folds["params"].map(lambda d: json.dumps(_jsonable(d)))
        if "selected" in folds.columns:
            folds["selected"] = folds["selected"].map(json.dumps)
        files["folds"] = write_table(folds, out / "folds.csv", index=False)
        files["oof_predictions"] = write_table(cv.oof, out / "oof_predictions.csv", index=False)
        files["config"] = atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(cfg, sort_keys=False))
        if model is not None:
            files["model"] = save_model(model, out / "model.skops")
        if report:
            from .report import write_report

            files["report"] = write_report(out, table=df)
    return TrainResult(cv=cv, config=cfg, files=files, model=model)
