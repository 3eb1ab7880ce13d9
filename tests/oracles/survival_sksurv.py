"""Oracle for radiomix's survival metrics: scikit-survival (GPL; used here as a test-only oracle, never imported
by radiomix) on the tables written by ``make_survival_inputs.py``. Writes ``tests/fixtures/survival/sksurv_<name>.json``.

Parameters (all recorded in the JSON too):

* ``risk`` is the estimate for every metric (higher = shorter survival); ``tied_tol`` = 1e-8 (sksurv default).
* Uno's C (``concordance_index_ipcw``): tau = 80th percentile of the event times (numpy linear
  percentile over rows with event == 1); pooled with survival_train = all rows, per fold with
  survival_train = the other four folds and survival_test = the fold.
* cumulative/dynamic AUC: times = 25/50/75th percentiles (numpy linear) of the event times,
  survival_train = survival_test = all rows.
* Brier score / integrated Brier score (synthetic only): the ``surv_<t>`` columns at the times of
  ``grid.json``, survival_train = survival_test = all rows.

Run from the repository root:

    python tests/oracles/survival_sksurv.py [fixture_dir]   # default tests/fixtures/survival
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sksurv
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import CensoringDistributionEstimator
from sksurv.util import Surv

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "survival"


def _y(d: pd.DataFrame) -> np.ndarray:
    return Surv.from_arrays(event=d["event"].to_numpy().astype(bool), time=d["time"].to_numpy().astype(float))


def _harrell(d: pd.DataFrame) -> dict:
    c, con, dis, tr, tt = concordance_index_censored(
        d["event"].to_numpy().astype(bool), d["time"].to_numpy().astype(float), d["risk"].to_numpy()
    )
    return {
        "c_index": float(c),
        "concordant": int(con),
        "discordant": int(dis),
        "tied_risk": int(tr),
        "tied_time": int(tt),
        "n": len(d),
        "n_events": int(d["event"].sum()),
    }


def _uno(train: pd.DataFrame, test: pd.DataFrame, tau: float) -> dict:
    c, con, dis, tr, tt = concordance_index_ipcw(_y(train), _y(test), test["risk"].to_numpy(), tau=tau)
    return {
        "c_index": float(c),
        "concordant": int(con),
        "discordant": int(dis),
        "tied_risk": int(tr),
        "tied_time": int(tt),
    }


def _censoring_km(d: pd.DataFrame) -> dict:
    """The censoring survival G that the IPCW metrics use (fitted on all rows), at its own jump times."""
    cens = CensoringDistributionEstimator().fit(_y(d))
    return {"time": [float(t) for t in cens.unique_time_[1:]], "G": [float(g) for g in cens.prob_[1:]]}


def run(name: str, fixture_dir: Path, grid: dict | None) -> dict:
    path = fixture_dir / f"{name}.csv"
    d = pd.read_csv(path)
    y = _y(d)
    ev_times = d.loc[d["event"] == 1, "time"].to_numpy(float)
    tau = float(np.percentile(ev_times, 80))
    horizons = [float(v) for v in np.percentile(ev_times, [25, 50, 75])]
    folds = sorted(d["fold"].unique())

    res: dict = {
        "input": path.name,
        "input_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "sksurv_version": sksurv.__version__,
        "params": {
            "estimate": "risk",
            "tied_tol": 1e-8,
            "tau": tau,
            "tau_rule": "numpy.percentile(time[event == 1], 80), linear",
            "auc_times": horizons,
            "auc_times_rule": "numpy.percentile(time[event == 1], [25, 50, 75]), linear",
        },
        "harrell": _harrell(d),
        "harrell_by_fold": {f"fold{k}": _harrell(d[d["fold"] == k]) for k in folds},
        "uno": _uno(d, d, tau),
        "uno_by_fold": {f"fold{k}": _uno(d[d["fold"] != k], d[d["fold"] == k], tau) for k in folds},
    }
    auc, mean_auc = cumulative_dynamic_auc(y, y, d["risk"].to_numpy(), horizons)
    res["cd_auc"] = {"times": horizons, "auc": [float(a) for a in auc], "mean_auc": float(mean_auc)}
    if grid is not None:
        times = [float(t) for t in grid["times"]]
        est = d[grid["columns"]].to_numpy(float)
        bt, bs = brier_score(y, y, est, times)
        ibs = integrated_brier_score(y, y, est, times)
        res["brier"] = {
            "times": [float(t) for t in bt],
            "columns": grid["columns"],
            "brier": [float(b) for b in bs],
            "ibs": float(ibs),
        }
    res["censoring_km"] = _censoring_km(d)
    return res


def main(fixture_dir: Path = OUT) -> None:
    grids = json.loads((fixture_dir / "grid.json").read_text())
    for name in ("synthetic", "horng"):
        res = run(name, fixture_dir, grids.get(name))
        out = fixture_dir / f"sksurv_{name}.json"
        out.write_text(json.dumps(res, indent=2) + "\n")
        print("wrote", out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
