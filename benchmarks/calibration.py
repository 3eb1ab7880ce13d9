"""Probabilities after class balancing: SMOTE with and without radiomix's correction on inner out-of-fold
predictions (3,000 patients, ~15 % prevalence, logistic model, 5-fold nested CV).

    python benchmarks/calibration.py

Prints, per setting, the prevalence, the mean out-of-fold probability, the calibration intercept and slope,
and the AUC. (The same data and thresholds are asserted by tests/test_trustworthy.py.)
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd


def imbalanced(n=3000, prevalence=0.15, seed=0) -> pd.DataFrame:
    from scipy.optimize import brentq

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    lp = X[:, 0] + 0.7 * X[:, 1] - 0.5 * X[:, 2]
    b0 = brentq(lambda b: np.mean(1 / (1 + np.exp(-(b + lp)))) - prevalence, -10, 5)
    y = (rng.random(n) < 1 / (1 + np.exp(-(b0 + lp)))).astype(int)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(y=y, id=[f"p{i}" for i in range(n)])


def main() -> int:
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    t = imbalanced()
    rows = []
    for label, balance in (("no balancing", {"method": "none"}),
                           ("SMOTE, uncorrected", {"method": "smote", "correction": "none"}),
                           ("SMOTE, recalibrated on inner OOF (auto)", {"method": "smote"}),
                           ("random oversampling, prevalence shift (auto)", {"method": "random_over"})):
        cfg = {"target": "y", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}}, "balance": balance,
               "impute": {"method": "median"}, "bootstrap": 0, "final_model": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = nested_cv(make_study(t, cfg, verbose=False), progress=False)
        cal = res.summary["calibration"]
        rows.append({"setting": label, "prevalence": round(t["y"].mean(), 3),
                     "mean predicted": round(res.oof["proba"].mean(), 3), "intercept": round(cal["intercept"], 2),
                     "slope": round(cal["slope"], 2), "AUC": round(res.summary["auc"]["estimate"], 3)})
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
