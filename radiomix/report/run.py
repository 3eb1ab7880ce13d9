"""A ``radiomix train`` run folder, read once for the report sections."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["RunRecord", "pooled_predictions"]


def pooled_predictions(oof: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the true class and the out-of-fold probability averaged over repeats (survival:
    ``time``, ``event`` and the risk score, with ``y`` the event and ``proba`` the risk)."""
    if "pred" in oof.columns:  # regression: y and the predicted value (as proba)
        out = oof.groupby("id", sort=False).agg(y=("y", "first"), pred=("pred", "mean"))
        return out.assign(proba=out["pred"])
    if "class" in oof.columns:  # multiclass: class code and the probability of each class
        cols = [c for c in oof.columns if c.startswith("proba_")]
        return oof.groupby("id", sort=False).agg(y=("y", "first"), **{c: (c, "mean") for c in cols})
    if "risk" in oof.columns:
        out = oof.groupby("id", sort=False).agg(time=("time", "first"), event=("event", "first"),
                                                risk=("risk", "mean"))
        return out.assign(y=out["event"], proba=out["risk"])
    return oof.groupby("id", sort=False).agg(y=("y", "first"), proba=("proba", "mean"))


@dataclass(frozen=True)
class RunRecord:
    """What the report needs from a run folder (see :meth:`load`) and the report options.

    ``pooled`` has one row per patient (``y``, ``proba``); :attr:`y` and :attr:`p` are its columns as
    arrays. ``folds`` is None without ``folds.csv``; ``config``/``config_text`` are empty without
    ``config.resolved.yaml``; ``table`` is the training table (None when not given); ``model`` the final model when
    the caller has it in memory, else ``model.skops`` is loaded accepting the extra types ``trusted``."""

    path: Path
    metrics: dict
    oof: pd.DataFrame
    pooled: pd.DataFrame
    folds: pd.DataFrame | None = None
    config: dict = field(default_factory=dict)
    config_text: str = ""
    table: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None
    top: int = 15
    n_bootstrap: int = 500
    model: object = None
    trusted: list = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: str | os.PathLike, *, table=None, top: int = 15, n_bootstrap: int = 500) -> RunRecord:
        """Read ``metrics.json``, ``oof_predictions.csv`` and, when there, ``folds.csv`` and
        ``config.resolved.yaml`` from ``run_dir``; ``table`` is a DataFrame or a path (read with
        :func:`radiomix.io.read_table`). Raises FileNotFoundError for a folder not written by train."""
        from ..safeyaml import load_yaml_text

        run = Path(run_dir)
        for name in ("metrics.json", "oof_predictions.csv"):
            if not (run / name).is_file():
                raise FileNotFoundError(f"{run / name} not found: is {run} a folder written by radiomix train?")
        metrics = json.loads((run / "metrics.json").read_text())
        oof = pd.read_csv(run / "oof_predictions.csv", dtype={"id": str})
        folds = pd.read_csv(run / "folds.csv") if (run / "folds.csv").is_file() else None
        robust = pd.read_csv(run / "robustness.csv", index_col=0) if (run / "robustness.csv").is_file() else None
        cfg_text = (run / "config.resolved.yaml").read_text() if (run / "config.resolved.yaml").is_file() else ""
        cfg = load_yaml_text(cfg_text, source=str(run / "config.resolved.yaml")) if cfg_text else {}
        if table is not None and not isinstance(table, pd.DataFrame):
            from ..io import read_table

            table = read_table(table)
        return cls(path=run, metrics=metrics, oof=oof, pooled=pooled_predictions(oof), folds=folds, config=cfg,
                   config_text=cfg_text, table=table, robustness=robust, top=top, n_bootstrap=n_bootstrap)

    @property
    def name(self) -> str:
        """The run folder's name."""
        return self.path.name

    @property
    def summary(self) -> dict:
        """``metrics["summary"]``: estimates with CIs, calibration, decision curve, per site and block."""
        return self.metrics["summary"]

    @property
    def settings(self) -> dict:
        """``metrics["settings"]`` (cross-validation and bootstrap settings), {} when absent."""
        return self.metrics.get("settings", {})

    @property
    def y(self) -> np.ndarray:
        """True class per patient (0/1)."""
        return self.pooled["y"].to_numpy(int)

    @property
    def p(self) -> np.ndarray:
        """Pooled out-of-fold probability per patient."""
        return self.pooled["proba"].to_numpy(float)
