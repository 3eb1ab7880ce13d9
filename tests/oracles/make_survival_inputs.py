"""Write the input tables that ``survival_r.R`` and ``survival_sksurv.py`` (and radiomix's tests) all read.

Two tables in ``tests/fixtures/survival/``:

* ``synthetic.csv`` - 300 simulated patients (fixed seed). Weibull event times with hazard driven by
  ``x1`` and ``x2`` (``x3`` is noise), independent uniform censoring (~40 % censored), both rounded UP to
  whole days so that the table has ties in time: two events on the same day, and an event and a censored
  row on the same day (asserted below). ``risk`` = true linear predictor + noise, rounded to 2 decimals,
  so it has exact ties. ``fold`` = 0..4 (60 rows each). ``surv_<t>`` = S0(t) ** exp(risk) with
  S0(t) = exp(-(t / 900) ** 1.3), rounded to 6 decimals, at the 8 grid times of ``grid.json``.
* ``horng.csv`` - the real NSCLC-Radiogenomics table (``../shared/data/tables/horng_nsclc_radiogenomics_captk``):
  clinical ``days``/``event`` joined with one CaPTk shape feature, see ``_horng``.

Writing the CSVs once, from Python, means R and Python parse the very same decimal strings. Run from the
repository root:

    python tests/oracles/make_survival_inputs.py [out_dir]   # default tests/fixtures/survival
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "survival"
HORNG = ROOT.parent / "shared" / "data" / "tables" / "horng_nsclc_radiogenomics_captk"
# Size feature: radius of the sphere with the tumour's volume (a monotone transform of
# T1_ED_Volumetric_Volume, which itself is far too skewed: max 1e6 mm^3, sd 4x the mean).
HORNG_FEATURE = "T1_ED_Morphologic_EquivalentSphericalRadius"

N_SYNTH = 300
SEED = 20240611
N_FOLDS = 5


def _s0(t: np.ndarray) -> np.ndarray:
    return np.exp(-((t / 900.0) ** 1.3))


def _check_time_ties(time: np.ndarray, event: np.ndarray) -> None:
    df = pd.DataFrame({"time": time, "event": event})
    g = df.groupby("time")["event"].agg(["sum", "count"])
    assert (g["sum"] >= 2).any(), "need two events at the same time"
    assert ((g["sum"] >= 1) & (g["count"] > g["sum"])).any(), (
        "need an event and a censored row at the same time"
    )


def _synthetic() -> tuple[pd.DataFrame, list[float]]:
    rng = np.random.default_rng(SEED)
    n = N_SYNTH
    X = np.round(rng.standard_normal((n, 3)), 4)
    lp = 0.8 * X[:, 0] - 0.5 * X[:, 1]
    # Weibull proportional hazards: H(t|x) = (t / 900) ** 1.3 * exp(lp)
    u = rng.random(n)
    t_event = 900.0 * (-np.log(u) / np.exp(lp)) ** (1 / 1.3)
    t_cens = rng.uniform(30.0, 2400.0, n)  # independent of x and of the event time
    event = (t_event <= t_cens).astype(int)
    time = np.ceil(np.minimum(t_event, t_cens))
    risk = np.round(lp + 0.6 * rng.standard_normal(n), 2)
    fold = rng.permutation(np.repeat(np.arange(N_FOLDS), n // N_FOLDS))
    _check_time_ties(time, event)
    assert pd.Series(risk).duplicated().any(), "need ties in risk"

    # 8 whole-day grid times between the 10th and 85th percentile of the observed times
    lo, hi = np.percentile(time, [10, 85])
    grid = [float(v) for v in np.round(np.linspace(lo, hi, 8))]
    df = pd.DataFrame(
        {
            "time": time,
            "event": event,
            "fold": fold,
            "risk": risk,
            "x1": X[:, 0],
            "x2": X[:, 1],
            "x3": X[:, 2],
        }
    )
    for t in grid:
        df[f"surv_{int(t)}"] = np.round(_s0(np.array(t)) ** np.exp(risk), 6)
    return df, grid


def _horng() -> pd.DataFrame:
    """Clinical ``days``/``event`` (207 rows, all valid) left-joined with the CaPTk table on the patient id.

    ``risk`` = standardized ``HORNG_FEATURE`` (sample sd, ddof=1) after filling the one patient without
    CaPTk features (AMC-024) with the median. ``x1`` = the same feature, ``x2`` = age, both standardized
    (ddof=1) over the rows where age is present (age is missing for 48 patients: x1 and x2 are left
    empty there, so a Cox fit uses the complete cases only). ``fold`` = 0..4 from a fixed permutation.
    """
    clin = pd.read_csv(HORNG / "clinical-demographics.csv")
    clin = clin.rename(columns={clin.columns[0]: "id"})
    feat = pd.read_csv(HORNG / "Sandy-Captk.csv", encoding="utf-8-sig")[["SubjectID", HORNG_FEATURE]]
    d = clin[["id", "days", "event", "age"]].merge(feat, left_on="id", right_on="SubjectID", how="left")
    d["days"] = pd.to_numeric(d["days"], errors="coerce")
    d["event"] = pd.to_numeric(d["event"], errors="coerce")
    d = d[(d["days"] > 0) & d["event"].isin([0, 1])].reset_index(drop=True)
    f = d[HORNG_FEATURE].fillna(d[HORNG_FEATURE].median())
    risk = (f - f.mean()) / f.std(ddof=1)
    cc = d["age"].notna() & d[HORNG_FEATURE].notna()
    x1 = d[HORNG_FEATURE].where(cc)
    x2 = d["age"].where(cc)
    x1 = (x1 - x1[cc].mean()) / x1[cc].std(ddof=1)
    x2 = (x2 - x2[cc].mean()) / x2[cc].std(ddof=1)
    rng = np.random.default_rng(SEED + 1)
    fold = rng.permutation(np.arange(len(d)) % N_FOLDS)
    out = pd.DataFrame(
        {
            "id": d["id"],
            "time": d["days"].astype(float),
            "event": d["event"].astype(int),
            "fold": fold,
            "risk": risk.round(10),
            "x1": x1.round(10),
            "x2": x2.round(10),
        }
    )
    # Real data: 13 duplicated follow-up days, but no two deaths on the same day (not asserted).
    return out


def write_inputs(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    synth, grid = _synthetic()
    synth.to_csv(out / "synthetic.csv", index=False)
    (out / "grid.json").write_text(
        json.dumps({"synthetic": {"times": grid, "columns": [f"surv_{int(t)}" for t in grid]}}, indent=2)
        + "\n"
    )
    _horng().to_csv(out / "horng.csv", index=False)


if __name__ == "__main__":
    write_inputs(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
