"""Multi-centre evidence on the Keek 2020 head-and-neck table (4 centres, 273 patients, 1,322 CT features
from a non-pyradiomics extractor): what ComBat does to the site signal and the outcome signal, and how a
leave-site-out nested CV with site-grouped inner folds scores.

    python benchmarks/multisite.py            # everything (about 10 minutes on 2 cores)
    python benchmarks/multisite.py --quick    # fewer repeats and candidates

Part 1 (site and outcome signal; every number a mean over 5 repeats of 5-fold CV, ComBat refitted inside
each training fold): the site-prediction AUC (logistic, one-vs-rest) and the outcome AUC (L2 logistic) on
the raw table, with every feature column harmonized, with the 24 shape features kept out of ComBat, and
with a half-harmonized table (all but the 16 GLDZM columns, what a pyradiomics-name rule that does not know
GLDZM would have done).

Part 2 (leave-one-centre-out nested CV through radiomix.train with the shipped multi-site configuration --
with ``harmonize.features: all`` and no imputer, as Keek has neither an extraction record nor missing cells --
and variants): pooled and per-centre AUC, inner-vs-outer optimism with leave-one-centre-out inner folds, and the
calibration of the out-of-fold probabilities.

The table needs ../shared/data (read-only reference data beside the checkout).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEEK = ROOT.parent / "shared" / "data" / "tables" / "keek2020_hnscc_multicenter"


def load_keek() -> pd.DataFrame:
    t = pd.read_csv(KEEK / "Keek2020.csv")
    centres = pd.read_csv(KEEK / "keek2020_center_by_ID.csv")
    t = t.merge(centres, on="ID", how="left")
    if t["center"].isna().any():
        raise SystemExit("some Keek IDs have no centre")
    return t.rename(columns={"ID": "id", "Target": "outcome"})


def _cv_auc(table, feats, y, harmonizer, repeats, seed, multiclass=False):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    aucs = []
    for r in range(repeats):
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed + r).split(table, y):
            A, B = table.iloc[tr], table.iloc[te]
            if harmonizer is not None:
                h = clone(harmonizer).fit(A)
                A, B = h.transform(A), h.transform(B)
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05 if not multiclass else 1.0,
                                                                       max_iter=2000))
            model.fit(A[feats].to_numpy(), y[tr])
            p = model.predict_proba(B[feats].to_numpy())
            aucs.append(roc_auc_score(y[te], p, multi_class="ovr") if multiclass else roc_auc_score(y[te], p[:, 1]))
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1))


def part1(t: pd.DataFrame, repeats: int) -> pd.DataFrame:
    from radiomix.harmonize import ComBat

    t = t.set_index("id")
    feats = [c for c in t.columns if c not in ("outcome", "center")]
    shape = [c for c in feats if c.startswith("Shape_")]
    gldzm = [c for c in feats if c.startswith("GLDZM_")]
    site = pd.factorize(t["center"], sort=True)[0]
    y = t["outcome"].to_numpy()
    variants = {
        "raw (no ComBat)": None,
        f"ComBat, every feature column ({len(feats)})": ComBat(batch="center"),
        f"ComBat, shape kept out ({len(feats) - len(shape)} harmonized)": ComBat(batch="center", exclude=shape),
        f"half-harmonized: all but {len(gldzm)} GLDZM columns": ComBat(batch="center", exclude=gldzm),
    }
    rows = []
    for name, h in variants.items():
        t0 = time.perf_counter()
        s_auc, s_sd = _cv_auc(t, feats, site, h, repeats, 0, multiclass=True)
        o_auc, o_sd = _cv_auc(t, feats, y, h, repeats, 100)
        rows.append({"table": name, "site AUC": round(s_auc, 3), "site sd": round(s_sd, 3),
                     "outcome AUC": round(o_auc, 3), "outcome sd": round(o_sd, 3),
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"  {name}: site AUC {s_auc:.3f}, outcome AUC {o_auc:.3f}", flush=True)
    return pd.DataFrame(rows)


def _config(n_candidates: int, **over) -> dict:
    import copy

    import yaml

    cfg = yaml.safe_load((ROOT / "params" / "train_multisite.yaml").read_text())
    cfg.update({"target": "outcome", "batch": "center", "id": "id", "bootstrap": 500, "final_model": False,
                "n_jobs": 1})
    cfg.setdefault("search", {})["n_candidates"] = n_candidates
    # Keek has no clinical columns (no age) and no extraction record: every column is a feature to harmonize.
    # It has no missing cells either, so no imputer is needed (XGBoost would handle missing values natively).
    cfg["harmonize"] = {**cfg.get("harmonize", {}), "covariates": [], "features": "all"}
    cfg["impute"] = {"method": "none"}
    cfg = copy.deepcopy(cfg)
    for key, value in over.items():
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return cfg


def part2(t: pd.DataFrame, n_candidates: int) -> pd.DataFrame:
    from radiomix.train import train

    shape = [c for c in t.columns if c.startswith("Shape_")]
    variants = {
        "shipped params/train_multisite.yaml": {},
        "+ SMOTE (recalibrated on inner OOF)": {"balance.method": "smote", "impute.method": "median"},
        "shape kept out of ComBat": {"harmonize.exclude": shape},
        "no ComBat": {"harmonize.method": "none"},
    }
    rows = []
    for name, over in variants.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = train(t, _config(n_candidates, **over), progress=False, report=False)
        s = res.summary
        folds = res.cv.folds
        row = {"configuration": name, "pooled AUC": round(s["auc"]["estimate"], 3),
               "95% CI": f"{s['auc']['ci_low']:.3f}-{s['auc']['ci_high']:.3f}",
               "mean per-centre AUC": round(float(np.mean([v["auc"] for v in s["per_site"].values()])), 3)}
        for site, v in s["per_site"].items():
            row[f"AUC {site}"] = round(v["auc"], 3)
        row["inner score"] = round(s["optimism"]["inner_score_mean"], 3) if "optimism" in s else np.nan
        row["optimism"] = round(s["optimism"]["mean"], 3) if "optimism" in s else np.nan
        row["calibration slope"] = round(s["calibration"]["slope"], 2)
        row["mean p - prevalence"] = round(float(res.cv.oof["proba"].mean() - res.cv.oof["y"].mean()), 3)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"  {name}: pooled AUC {row['pooled AUC']} ({row['95% CI']}), per centre "
              f"{', '.join(f'{k} {v:.3f}' for k, v in zip(s['per_site'], [v['auc'] for v in s['per_site'].values()]))}"
              f"; inner {row['inner score']} -> optimism {row['optimism']}; inner folds: {folds['inner'].iloc[0]}",
              flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 repeats in part 1, 4 candidates in part 2")
    ap.add_argument("--part", choices=["1", "2", "all"], default="all")
    args = ap.parse_args(argv)
    if not KEEK.is_dir():
        print(f"Keek 2020 table not found at {KEEK}", file=sys.stderr)
        return 2
    t = load_keek()
    print(f"Keek 2020: {len(t)} patients, {t.shape[1] - 3} features, centres "
          f"{t['center'].value_counts().sort_index().to_dict()}, outcome positive {int(t['outcome'].sum())}")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    if args.part in ("1", "all"):
        print("\nPart 1: site and outcome signal (mean of repeated 5-fold CV; ComBat fitted in each training fold)")
        print(part1(t, 2 if args.quick else 5).to_string(index=False))
    if args.part in ("2", "all"):
        print("\nPart 2: leave-one-centre-out nested CV (radiomix.train)")
        print(part2(t, 4 if args.quick else 10).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
