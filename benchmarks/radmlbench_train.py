"""Every radMLBench development-half table through `radiomix train` with the shipped default config and its
safeguards, no per-table edit (issue #27, item 3): z-scored tables, multi-modal tables with several volume
columns, 100-1,300 features, numeric ids.

    python benchmarks/radmlbench_train.py            # all 25 tables
    python benchmarks/radmlbench_train.py --tables 3

Each table: ``radiomix.train(table, None, target="Target", id="ID", report=False)`` (nested CV, baselines, held-out
SHAP, final model; no report or run folder, so nothing is written). Printed per table: rows x features, status
(ok, or the one-line refusal), seconds, the headline with its CI, the baselines it compared with (names),
and the verdict's first sentence; then the median and total seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "radmlbench"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=None)
    args = ap.parse_args(argv)
    from radiomix.train import train

    paths = sorted(DATA.glob("*.csv.gz"))[: args.tables]
    if not paths:
        print(f"no tables in {DATA}", file=sys.stderr)
        return 2
    secs, bad = [], 0
    print("| table | rows x features | status | seconds | headline (95% CI) | baselines | verdict |")
    print("|---|---|---|---|---|---|---|")
    for p in paths:
        df = pd.read_csv(p)
        name = p.name[: -len(".csv.gz")]
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = train(df, None, target="Target", id="ID", report=False, progress=False)
        except (ValueError, LookupError) as err:
            bad += 1
            print(f"| {name} | {len(df)} x {df.shape[1] - 2} | refused: {' '.join(str(err).split())[:150]} | | | | |")
            continue
        secs.append(time.perf_counter() - t0)
        s = res.summary
        h = s["headline"]
        vtxt = ", ".join(sorted(s.get("baselines") or {})) or "-"
        verdict = str((s.get("verdict") or {}).get("sentence") or (s.get("verdict") or {}).get("text") or "")
        print(f"| {name} | {len(df)} x {df.shape[1] - 2} | ok | {secs[-1]:.0f} | {h['estimate']:.3f} "
              f"({h['ci_low']:.3f}-{h['ci_high']:.3f}) | {str(vtxt)[:60]} | {verdict.split('. ')[0][:120]} |",
              flush=True)
    if secs:
        print(f"\n{len(secs)} of {len(paths)} tables ran; median {statistics.median(secs):.0f} s, total "
              f"{sum(secs) / 60:.1f} min (one process, n_jobs as the config says)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
