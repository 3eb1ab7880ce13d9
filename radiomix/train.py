"""The ``radiomix train`` workflow: table + config -> Study -> nested CV -> final model -> run folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .evaluate import NestedCVResult, nested_cv
from .io import atomic_write_text, read_table, write_table
from .model import fit_final_model, save_model
from .runmeta import to_jsonable, versions
from .study import Study, make_study

__all__ = ["train", "write_run", "TrainResult"]


@dataclass
class TrainResult:
    """A finished run: the nested-CV result, the resolved config, the files written and the final model."""

    cv: NestedCVResult
    config: dict
    files: dict
    model: object = None
    study: Study | None = None

    @property
    def summary(self) -> dict:
        return self.cv.summary


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
    if not isinstance(table, pd.DataFrame):
        table = read_table(table)
    study = make_study(table, config, **overrides)
    cv = nested_cv(study, progress=progress)
    model = fit_final_model(study, cv_summary=to_jsonable(cv.summary)) if study.config["final_model"] else None
    files = {}
    if out is not None:
        files = write_run(study, cv, model, out)
        if report:
            from .report import write_report

            files["report"] = write_report(out, table=table)
    return TrainResult(cv=cv, config=study.config, files=files, model=model, study=study)


def write_run(study: Study, cv: NestedCVResult, model, out: str | os.PathLike) -> dict:
    """Write a run folder: ``metrics.json`` (summary, settings, data record, final threshold, versions),
    ``folds.csv``, ``oof_predictions.csv``, ``config.resolved.yaml`` and ``model.skops`` (when a final model
    was fitted), each atomically. Returns ``{name: path}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "summary": cv.summary,
        "settings": cv.settings,
        "data": study.data_record(),
        "final_model": {"threshold": model.threshold} if model is not None else None,
        "versions": versions(),
    }
    files = {"metrics": atomic_write_text(out / "metrics.json", json.dumps(to_jsonable(metrics), indent=2))}
    folds = cv.folds.copy()
    folds["params"] = folds["params"].map(lambda d: json.dumps(to_jsonable(d)))
    if "selected" in folds.columns:
        folds["selected"] = folds["selected"].map(json.dumps)
    files["folds"] = write_table(folds, out / "folds.csv", index=False)
    files["oof_predictions"] = write_table(cv.oof, out / "oof_predictions.csv", index=False)
    files["config"] = atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(study.config, sort_keys=False))
    if model is not None:
        files["model"] = save_model(model, out / "model.skops")
    return files
