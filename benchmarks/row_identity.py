"""Row identity after class balancing (issue #23, item 2): the acceptance numbers.

1. Robustness filter: for each sampler, the largest change of an outer fold's out-of-fold probabilities when the
   perturbation rows of that fold's test patients are corrupted (0 means the filter never read them).
2. XGBoost early stopping on a pure-noise outcome: the median number of trees kept over the outer folds of a
   few seeds, without balancing and with each balancing method, and the share of real training rows held out.

Run from the project root:  python benchmarks/row_identity.py [--seeds 3]
Against the code before the fix, run it from a checkout of that commit (same command).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_row_identity import ES, _cfg, _cohort, _corrupt, _model_step, _noise, _table_for  # noqa: E402

from radiomix.model_selection.validation import nested_cv  # noqa: E402
from radiomix.study import make_study  # noqa: E402


def _run(table, cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, cfg, verbose=False)
        return study, nested_cv(study, progress=False)


def robustness_leak(method: str, seed: int) -> float:
    """Max |change| of fold-0 test patients' out-of-fold probabilities when their perturbations are corrupted."""
    table, reps = _cohort(seed=seed)
    t = _table_for(method, table)
    study, base = _run(t, _cfg(method, reps, random_state=seed))
    ids = set(study.ids[study.outer_folds()[0].test])
    _, bad = _run(t, _cfg(method, _corrupt(reps, ids), random_state=seed))
    a = base.oof[base.oof["id"].isin(ids)].sort_values("id")["proba"].to_numpy()
    b = bad.oof[bad.oof["id"].isin(ids)].sort_values("id")["proba"].to_numpy()
    return float(np.max(np.abs(a - b)))


def trees_on_noise(method: str, seed: int):
    """(trees kept, validation rows, real training rows) of every outer fold."""
    _, res = _run(_noise(seed=seed), _cfg(method, model=ES, random_state=seed))
    out = []
    for fitted, _, train, *_ in res.models:
        m = _model_step(fitted)
        out.append((m.best_n_estimators_, m.n_validation_rows_, len(train)))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    seeds = range(args.seeds)
    print("robustness filter: max |change| of outer-test out-of-fold probabilities when their perturbation rows "
          "are corrupted (90 patients, 3 outer folds, logistic)")
    for method in ("none", "random_over", "smote", "smotenc"):
        leaks = [robustness_leak(method, s) for s in seeds]
        print(f"  {method:12s} max over {len(leaks)} seeds: {max(leaks):.4g}   per seed: "
              + ", ".join(f"{v:.3g}" for v in leaks))
    print(f"early stopping on a pure-noise outcome (240 rows, prevalence 0.25, n_estimators "
          f"{ES['params']['n_estimators']}, patience {ES['params']['early_stopping_rounds']}): trees kept, median "
          "over 3 outer folds x seeds")
    for method in ("none", "random_over", "smote"):
        try:
            rows = [r for s in seeds for r in trees_on_noise(method, s)]
        except ValueError as err:  # e.g. a configuration the code refuses
            print(f"  {method:12s} refused: {err}")
            continue
        trees = np.array([r[0] for r in rows])
        held = [f"{v}/{n}" for _, v, n in rows[:3]]
        print(f"  {method:12s} median trees {np.median(trees):6.1f}  (min {trees.min()}, max {trees.max()}); "
              f"validation rows / real training rows: {', '.join(held)} ...")


if __name__ == "__main__":
    main()
