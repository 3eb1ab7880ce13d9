"""Train four configurations on one table and print each run's AUC, CI, final threshold and a hash of its
out-of-fold predictions: run it under two commits to show a refactoring changed no number.

    python benchmarks/same_numbers.py radiomix_demo/table.parquet /tmp/runs_new [default multisite late calib]
    PYTHONPATH=/path/to/old/checkout python benchmarks/same_numbers.py radiomix_demo/table.parquet /tmp/runs_old

Configurations: the shipped default (XGBoost), a multi-site one (ComBat + leave-site-out + surrogate-tree
imputation + filters + mRMR + SMOTE), late fusion (logistic per block + stacking) and a recalibrated SVM with
kNN imputation, mRMR and repeated outer folds.
"""
import hashlib
import json
import sys
import warnings
from pathlib import Path

import pandas as pd

import radiomix
from radiomix.io import read_table
from radiomix.train import train

print("radiomix from", radiomix.__file__, file=sys.stderr)
table = read_table(sys.argv[1])
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
FAST = {"search": {"n_candidates": 4}, "bootstrap": 300}
CFGS = {
  "default": {"target": "outcome", "batch": "site", "bootstrap": 500},
  "multisite": {"target": "outcome", "batch": "site", "harmonize": {"method": "combat", "covariates": ["age"], "unseen": "estimate"},
                "impute": {"method": "surrogate_tree"}, "select": {"near_zero_variance": True, "correlation_threshold": 0.95, "mrmr": 20},
                "balance": {"method": "smote"}, "cv": {"outer": {"kind": "leave_site_out"}}, **FAST},
  "late": {"target": "outcome", "batch": "site", "impute": {"method": "median"}, "model": {"name": "logistic", "params": {"C": 0.1}, "search": {"C": [0.01, 0.1, 1.0]}},
           "fusion": {"mode": "late", "blocks": ["radiomic", "clinical", "genetic"]}, **FAST},
  "calib": {"target": "outcome", "batch": "site", "impute": {"method": "knn"}, "model": {"name": "svm", "params": {}, "search": {"C": [0.1, 1.0]}},
            "calibration": {"recalibrate": "sigmoid"}, "cv": {"outer": {"n_repeats": 2}}, "select": {"mrmr": 10}, **FAST},
}
for name, cfg in CFGS.items():
    if len(sys.argv) > 3 and name not in sys.argv[3:]:
        continue
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(table, cfg, out=out / name, overwrite=True, progress=False, report=False)
    m = json.loads((out / name / "metrics.json").read_text())
    oof = pd.read_csv(out / name / "oof_predictions.csv")
    print(name, "AUC", round(m["summary"]["auc"]["estimate"], 6), "ci", m["summary"]["auc"]["ci_low"], m["summary"]["auc"]["ci_high"],
          "final thr", (m.get("final_model") or {}).get("threshold"),
          "oof sha", hashlib.sha256(oof.to_csv(index=False).encode()).hexdigest()[:12])
