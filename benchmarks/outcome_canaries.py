"""Canaries of the non-binary outcomes (issue #13): outcomes drawn independently of the features must score
chance under nested CV. 150 patients x 50 noise features, 3 sites, mRMR 5, 5-fold outer CV, per seed:

* survival: exponential event times and independent uniform censoring, penalized Cox -> Harrell's C ~ 0.5;
* multiclass: three random labels, multinomial logistic -> macro one-vs-rest AUC ~ 0.5;
* regression: a normal target, elastic net -> R2 <= 0 (a model that learns nothing predicts worse than the
  training mean on new patients).

Run: ``python benchmarks/outcome_canaries.py [--seeds 10]``; prints mean, min and max over seeds.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

MODELS = {"survival": {"name": "coxph", "params": {}, "search": {"alpha": [0.1, 1.0]}},
          "multiclass": {"name": "logistic", "params": {}, "search": {"C": [0.1, 1.0]}},
          "regression": {"name": "elastic_net", "params": {}, "search": {"alpha": [0.1, 1.0]}}}
HEADLINE = {"survival": "c_index", "multiclass": "auc_macro", "regression": "r2"}


def noise_table(task: str, seed: int, n: int = 150, p: int = 50) -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    df.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    df["site"] = rng.choice(["A", "B", "C"], n)
    if task == "survival":
        t, c = np.round(rng.exponential(700, n)) + 1, np.round(rng.uniform(100, 2000, n))
        df["os_days"], df["os_event"] = np.minimum(t, c), (t <= c).astype(int)
        return df, {"time": "os_days", "event": "os_event"}
    if task == "multiclass":
        df["grade"] = rng.choice(["G1", "G2", "G3"], n)
        return df, "grade"
    df["marker"] = rng.normal(100, 15, n)
    return df, "marker"


def main(argv=None) -> None:
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    for task, model in MODELS.items():
        scores = []
        for seed in range(args.seeds):
            df, target = noise_table(task, seed)
            cfg = {"target": target, "batch": "site", "model": model, "select": {"mrmr": 5}, "bootstrap": 0,
                   "random_state": seed}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores.append(nested_cv(make_study(df, cfg, verbose=False), progress=False)
                              .summary[HEADLINE[task]]["estimate"])
        s = np.asarray(scores)
        print(f"{task:<10} {HEADLINE[task]:<9} mean {s.mean():+.3f}, min {s.min():+.3f}, max {s.max():+.3f} "
              f"over {len(s)} seeds")


if __name__ == "__main__":
    main()
