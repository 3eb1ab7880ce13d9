"""Which multi-site pipeline should radiomix recommend? Candidate configurations under leave-site-out, each
compared with the log-volume baseline under the same folds (paired bootstrap over patients), on tables used
to choose, then the chosen one on a held-out table that played no part in the choice.

    python benchmarks/recommended.py            # everything (about an hour on 2 cores; cohorts are cached)
    python benchmarks/recommended.py --quick    # 4 search candidates, 300-patient cohorts, 300 resamples

Selection tables (leave-one-site-out nested CV, radiomix.train with safeguards on):

* ``keek``: Keek 2020 head-and-neck CT table (4 centres, 273 patients, 1,322 features; ../shared/data);
  every column is harmonized (``harmonize.features: all``), no imputer (no missing cells);
* ``synthetic-beyond``: ``make_cohort(600, 3, signal="beyond_volume")``, images -> pyradiomics
  (``ct-original``) -> merge: texture and shape carry signal that volume does not;
* ``synthetic-volume``: ``make_cohort(600, 3, signal="volume")``: the outcome depends on lesion size alone.

Held-out table (the chosen configuration only): ``horng``: NSCLC-Radiogenomics CaPTk CT features (Horng et
al. 2022; ../shared/data), two-year death (death within 730 days = 1, follow-up beyond 730 days = 0, censored
earlier = excluded), scanner manufacturer (GE, Siemens) as the site, clinical age/sex/smoking/histology. With
two makers, leave-site-out cannot harmonize (each training fold holds one maker; radiomix refuses it), so the
held-out check is the chosen configuration under 5 x 5-fold stratified CV with ComBat on the maker, and
leave-one-maker-out without ComBat (``--chosen NAME`` runs only this part).

Rule: a candidate qualifies when on no selection table it is worse than the volume baseline by more than
noise (the upper end of the 95 % CI of "model minus volume" is above 0); among those, the one with the best
mean headline (mean per-site AUC) over the selection tables wins. Printed: one row per table and candidate
(headline, volume baseline, difference with its CI, verdict), the choice, and the held-out check.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tables"
CACHE = ROOT / ".radiomix-cache" / "benchmarks"

#: The default model of params/train_default.yaml (XGBoost, its search space), written out so that the candidates
#: do not depend on what params/train_multisite.yaml ships now.
XGBOOST = {"name": "xgboost", "params": {"n_estimators": 200, "tree_method": "hist"},
           "search": {"max_depth": [2, 3, 4], "learning_rate": [0.03, 0.1, 0.3], "subsample": [0.7, 1.0],
                      "colsample_bytree": [0.5, 0.8, 1.0], "min_child_weight": [1, 3, 5]}}
LOGISTIC = {"name": "logistic", "params": {"max_iter": 2000}, "search": {"C": [0.01, 0.03, 0.1, 0.3, 1.0]}}

#: candidate name -> overrides of params/train_multisite.yaml (dotted keys; "model" replaces the model block)
CANDIDATES = {
    "corr 0.95 + mRMR 20 + XGBoost (shipped before)": {"select.correlation_threshold": 0.95, "select.mrmr": 20,
                                                       "model": XGBOOST},
    "no correlation pre-filter": {"select.correlation_threshold": None, "select.mrmr": 20, "model": XGBOOST},
    "mRMR 10 + XGBoost": {"select.correlation_threshold": 0.95, "select.mrmr": 10, "model": XGBOOST},
    "mRMR 10 + L2 logistic": {"select.correlation_threshold": 0.95, "select.mrmr": 10, "model": LOGISTIC},
    "mRMR 5 + L2 logistic": {"select.correlation_threshold": 0.95, "select.mrmr": 5, "model": LOGISTIC},
}


def _set(cfg: dict, key: str, value) -> None:
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def base_config(n_candidates: int, n_boot: int) -> dict:
    cfg = yaml.safe_load((ROOT / "params" / "train_multisite.yaml").read_text())
    cfg.update({"bootstrap": n_boot, "final_model": False, "n_jobs": 1})
    cfg.setdefault("search", {})["n_candidates"] = n_candidates
    return cfg


def load_keek() -> tuple[pd.DataFrame, dict]:
    d = DATA / "keek2020_hnscc_multicenter"
    t = pd.read_csv(d / "Keek2020.csv").merge(pd.read_csv(d / "keek2020_center_by_ID.csv"), on="ID", how="left")
    t = t.rename(columns={"ID": "id", "Target": "outcome", "center": "site"})
    return t, {"harmonize.features": "all", "harmonize.covariates": [], "impute.method": "none"}


def load_horng() -> tuple[pd.DataFrame, dict]:
    from radiomix.io import read_table

    d = DATA / "horng_nsclc_radiogenomics_captk"
    feats = read_table(d / "Sandy-Captk.csv").rename(columns={"SubjectID": "id"})
    ct = read_table(d / "Sandy-CT-parameters.csv")
    ct["id"] = ct["clc"].astype(str).map(lambda s: s[:-1] if len(s) > 7 and s.endswith("L") else s)
    clin = read_table(d / "clinical-demographics.csv")
    clin = clin.rename(columns={clin.columns[0]: "id"})
    t = feats.merge(ct[["id", "Manufacturer"]], on="id").merge(
        clin[["id", "event", "days", "age", "sex", "smoking", "histology"]], on="id")
    t = t[t["Manufacturer"].isin(["GE MEDICAL SYSTEMS", "SIEMENS"])].copy()
    days, event = pd.to_numeric(t["days"], errors="coerce"), pd.to_numeric(t["event"], errors="coerce")
    y = np.where((event == 1) & (days <= 730), 1, np.where(days > 730, 0, -1))
    t = t.assign(outcome=y, site=t["Manufacturer"].map({"GE MEDICAL SYSTEMS": "GE", "SIEMENS": "Siemens"}))
    t = t[t["outcome"] >= 0].drop(columns=["Manufacturer", "event", "days"])
    for c in ("sex", "smoking", "histology"):
        t[c] = t[c].astype("string")
    radiomic = [c for c in t.columns if c.startswith("T1_ED_")]
    return t.reset_index(drop=True), {
        "features.groups": {"radiomic": radiomic, "clinical": ["age", "sex", "smoking", "histology"]},
        "harmonize.covariates": []}


def load_synthetic(signal: str, n: int, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    from radiomix.datasets import make_cohort
    from radiomix.extraction import extract
    from radiomix.io import read_table, write_table
    from radiomix.tables import merge

    path = CACHE / f"cohort_{signal}_{n}_{seed}.parquet"
    if not path.is_file():
        t0 = time.perf_counter()
        c = make_cohort(n, 3, out_dir=CACHE / f"cohort_{signal}_{n}_{seed}", random_state=seed, n_jobs=-1,
                        signal=signal)
        feats = extract(c.files["manifest"], "ct-original", n_jobs=-1)
        table = merge(feats, clinical=c.files["clinical"], genetic=c.files["genetic"], on="id")
        write_table(table, path, metadata=table.attrs["radiomix"])
        print(f"  made {path.name} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return read_table(path).reset_index(), {}


def run(table: pd.DataFrame, cfg: dict) -> dict:
    from radiomix.train import train

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(table, cfg, progress=False, report=False)
    s = res.summary
    vol = s.get("baselines", {}).get("volume")
    clin = s.get("baselines", {}).get("clinical")
    row = {"headline": round(vol["model"], 3) if vol else np.nan,
           "volume": round(vol["baseline"], 3) if vol else np.nan,
           "model - volume": round(vol["difference"], 3) if vol else np.nan,
           "95% CI": f"{vol['ci_low']:+.3f} to {vol['ci_high']:+.3f}" if vol else "",
           "ci_high": vol["ci_high"] if vol else np.nan,
           "verdict": ("beats volume" if vol["ci_low"] > 0 else "worse than volume" if vol["ci_high"] < 0
                       else "not shown better") if vol else "",
           "model - clinical": (f"{clin['difference']:+.3f} ({clin['ci_low']:+.3f} to {clin['ci_high']:+.3f})"
                                if clin else ""),
           "pooled AUC": round(s["auc"]["estimate"], 3), "seconds": round(time.perf_counter() - t0)}
    return row


def config_for(extra: dict, overrides: dict, n_candidates: int, n_boot: int) -> dict:
    cfg = base_config(n_candidates, n_boot)
    for key, value in {**extra, **overrides}.items():
        if key == "model":
            cfg["model"] = copy.deepcopy(value)
        else:
            _set(cfg, key, copy.deepcopy(value))
    return cfg


def select(n: int, n_cand: int, n_boot: int) -> str | None:
    """Every candidate on every selection table; the rule's choice (None when no candidate qualifies)."""
    selection = {"keek": load_keek(), "synthetic-beyond": load_synthetic("beyond_volume", n),
                 "synthetic-volume": load_synthetic("volume", n)}
    rows = []
    for tname, (table, extra) in selection.items():
        print(f"\n{tname}: {len(table)} patients, sites {table['site'].value_counts().sort_index().to_dict()}, "
              f"{int(table['outcome'].sum())} positive", flush=True)
        for cname, over in CANDIDATES.items():
            row = {"table": tname, "candidate": cname, **run(table, config_for(extra, over, n_cand, n_boot))}
            rows.append(row)
            print(f"  {cname}: {row['headline']} vs volume {row['volume']} -> {row['model - volume']:+.3f} "
                  f"({row['95% CI']}) {row['verdict']} [{row['seconds']} s]", flush=True)
    res = pd.DataFrame(rows)
    print("\nSelection tables (headline = mean per-site AUC, leave-one-site-out nested CV):")
    print(res.drop(columns=["ci_high"]).to_string(index=False))
    agg = res.groupby("candidate", sort=False).agg(worst_ci_high=("ci_high", "min"), mean_headline=("headline", "mean"))
    agg["qualifies"] = agg["worst_ci_high"] > 0
    print("\n" + agg.round(3).to_string())
    ok = agg[agg["qualifies"]]
    if ok.empty:
        print("\nno candidate qualifies")
        return None
    chosen = ok["mean_headline"].idxmax()
    print(f"\nchosen: {chosen}")
    return chosen


def heldout(chosen: str, n_cand: int, n_boot: int) -> None:
    """The chosen candidate on the Horng table. Its two scanner makers cannot be left out in turn with ComBat
    (a training fold of one maker leaves ComBat nothing to learn, and radiomix refuses it), so the check runs
    (a) the configuration as chosen, ComBat on the maker, under 5 x 5-fold stratified CV (pooled AUC), and
    (b) leave-one-maker-out without ComBat (mean per-site AUC)."""
    table, extra = load_horng()
    print(f"\nheld-out horng: {len(table)} patients, sites {table['site'].value_counts().sort_index().to_dict()}, "
          f"{int(table['outcome'].sum())} two-year deaths", flush=True)
    rows = []
    for label, more in (("ComBat on maker, 5 x 5-fold stratified", {"cv.outer": {"kind": "stratified", "n_splits": 5,
                                                                                  "n_repeats": 5}}),
                        ("leave-one-maker-out, no ComBat", {"harmonize.method": "none"})):
        row = run(table, config_for({**extra, **more}, CANDIDATES[chosen], n_cand, n_boot))
        rows.append({"table": "horng (held out)", "candidate": chosen, "validation": label, **row})
        print(f"  {label}: {row['headline']} vs volume {row['volume']} -> {row['model - volume']:+.3f} "
              f"({row['95% CI']}) {row['verdict']}; vs clinical {row['model - clinical']} [{row['seconds']} s]",
              flush=True)
    print(pd.DataFrame(rows).drop(columns=["ci_high"]).to_string(index=False))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=600, help="patients per synthetic cohort")
    ap.add_argument("--chosen", choices=list(CANDIDATES), default=None,
                    help="skip the selection and run only the held-out check of this candidate")
    args = ap.parse_args(argv)
    n_cand, n_boot, n = (4, 300, 300) if args.quick else (10, 1000, args.n)
    missing = [p for p in (DATA / "keek2020_hnscc_multicenter", DATA / "horng_nsclc_radiogenomics_captk")
               if not p.is_dir()]
    if missing:
        print(f"reference tables not found: {missing}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 20)
    chosen = args.chosen or select(n, n_cand, n_boot)
    if chosen is None:
        return 1
    heldout(chosen, n_cand, n_boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
