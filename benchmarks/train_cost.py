"""What a default `radiomix train` costs on a 150-patient x 1,000-feature table, safeguards included (issue #27,
item 5: under 60 s on 2 cores).

    python benchmarks/train_cost.py               # the shipped default, 3 repeats
    python benchmarks/train_cost.py --config X    # another config
    python benchmarks/train_cost.py --previous    # also the default before issue #27 (XGBoost), for the ratio

The table is real: the first 150 patients and the first 1,000 feature columns of Keek 2020 (radMLBench
development half, ../shared/data/radmlbench/Keek2020.csv.gz; 4-centre head-and-neck CT, binary ``Target``). Each
repeat runs ``radiomix.train`` with the config's safeguards (baselines, held-out SHAP, bootstrap CIs), the final
model and the report, into a fresh folder, ``n_jobs`` as the config says. Printed: the wall time of each repeat,
their median, and where the time of the last repeat went (cumulative seconds of the main stages, from cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEEK = ROOT.parent / "shared" / "data" / "radmlbench" / "Keek2020.csv.gz"
#: The default configuration before issue #27 (params/train_default.yaml at 4043b22): XGBoost, 200 trees, random
#: search of 10 candidates over its own space, 3 inner folds, no near-zero-variance filter, outer folds on one core.
PREVIOUS = {"model": {"name": "xgboost", "params": {"n_estimators": 200, "tree_method": "hist"},
                      "search": {"max_depth": [2, 3, 4], "learning_rate": [0.03, 0.1, 0.3], "subsample": [0.7, 1.0],
                                 "colsample_bytree": [0.5, 0.8, 1.0], "min_child_weight": [1, 3, 5]}},
            "search": {"method": "random", "n_candidates": 10}, "cv": {"inner": {"n_splits": 3}},
            "select": {"near_zero_variance": False}, "n_jobs": 1}
STAGES = ("nested_cv", "run_safeguards", "_heldout_shap", "fit_final_model", "write_run", "write_report")


def table_150x1000() -> pd.DataFrame:
    df = pd.read_csv(KEEK)
    feats = [c for c in df.columns if c not in ("ID", "Target")][:1000]
    return df.loc[:149, ["ID", "Target", *feats]].reset_index(drop=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--previous", action="store_true", help="also time the pre-#27 default once (slow)")
    args = ap.parse_args(argv)
    import warnings

    from radiomix.train import train

    if not KEEK.is_file():
        print(f"missing {KEEK}", file=sys.stderr)
        return 2
    table = table_150x1000()
    print(f"table: {table.shape[0]} patients x {table.shape[1] - 2} features (Keek 2020, first rows/columns)")
    times = []
    for r in range(args.repeats):
        prof = cProfile.Profile() if r == args.repeats - 1 else None
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            res = train(table, args.config, out=Path(tmp) / "run", target="Target", id="ID", progress=False)
            if prof:
                prof.disable()
            times.append(time.perf_counter() - t0)
        h = res.summary["headline"]
        print(f"repeat {r + 1}: {times[-1]:.1f} s (headline {h['name']} {h['estimate']:.3f})", flush=True)
    print(f"median of {len(times)}: {statistics.median(times):.1f} s")
    st = pstats.Stats(prof)
    cum = {}
    for (file, _, func), (_, _, _, ct, _) in st.stats.items():
        if func in STAGES and "radiomix" in file:
            cum[func] = max(cum.get(func, 0.0), ct)
    print("last repeat, cumulative seconds by stage: " + ", ".join(f"{k} {cum[k]:.1f}" for k in STAGES if k in cum))
    if args.previous:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            res = train(table, PREVIOUS, out=Path(tmp) / "run", target="Target", id="ID", progress=False)
            old = time.perf_counter() - t0
        h = res.summary["headline"]
        print(f"previous default (XGBoost, one core), once: {old:.1f} s (headline {h['name']} {h['estimate']:.3f}); "
              f"ratio previous / new median: {old / statistics.median(times):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
