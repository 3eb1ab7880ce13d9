"""Does the volume baseline survive a standardized table? radiomix.volume.volume_study (the volume column alone,
radiomix.volume.volume_feature: log when every value is > 0, else as given; median imputer; then a scaler and
logistic regression fitted inside each of the study's outer folds: radiomix's default 5-fold stratified outer
split, random_state 0), with its default rank scaler (``radiomix``) and with a StandardScaler (``standard``),
against the former baseline (log of the value clipped at 1e-6, StandardScaler: ``clipped_log``) and
scikit-learn's QuantileTransformer in place of radiomix's RankScaler (``sklearn_quantile``, an independent
implementation of the same rank transform).

    python benchmarks/volume_baseline.py            # 1. Keek, 2. 20 synthetic raw tables, 3. radMLBench (~5 min)
    python benchmarks/volume_baseline.py --quick    # Keek only

1. Keek 2020 (273 patients, ``Shape_volume``). The shared copy is already z-scored (every feature mean 0, SD 1),
   so the script also builds the positive table it could have come from (``1e4 * (z + 1)``, all > 0: the log
   branch) and a z-scored copy of that; all three must give the same baseline AUC (tests/test_volume.py: 0.01).
2. Synthetic raw volumes (log-normal, outcome from log volume) and their z-scored copies, 20 seeds.
3. Every volume candidate (radiomix.volume.volume_candidates) of the radMLBench development tables.

The tables need ../shared/data (read-only reference data beside the checkout).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEEK = ROOT.parent / "shared" / "data" / "tables" / "keek2020_hnscc_multicenter" / "Keek2020.csv"
VOLUME = "Shape_volume"
RADMLBENCH = ROOT.parent / "shared" / "data" / "radmlbench"


def baseline_auc(table: pd.DataFrame, column: str, variant: str = "radiomix", *, id: str = "id",
                 target: str = "outcome") -> tuple[float, str]:
    """Pooled out-of-fold AUC of the volume baseline on ``column`` of ``table`` and the transform's description,
    under radiomix's default outer folds (stratified on the outcome: the other columns do not change them).
    ``variant``: one of :data:`VARIANTS` (see the module docstring)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import QuantileTransformer

    from radiomix.metrics import roc_auc
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import oof_scores
    from radiomix.study import make_study
    from radiomix.volume import volume_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, {"id": id, "target": target, "bootstrap": 0, "final_model": False}, verbose=False)
        base, how = volume_study(study, column, scale="rank" if variant == "radiomix" else "standard")
        if variant == "clipped_log":
            x = pd.to_numeric(study.X[column], errors="coerce")
            base = replace(base, X=pd.DataFrame({column: np.log(x.clip(lower=1e-6))}, index=study.X.index))
            how = f"log of the value clipped at 1e-6 ({int((x <= 1e-6).sum())} of {len(x)} values clipped)"
        elif variant == "sklearn_quantile":
            base = replace(base, X=study.X[[column]], pipeline=make_pipeline(
                SimpleImputer(strategy="median"),
                QuantileTransformer(n_quantiles=200, output_distribution="normal"), study.task.volume_model()))
            how = "QuantileTransformer(n_quantiles=200, normal), fitted in each fold"
        res = nested_cv(base, progress=False)
    return float(roc_auc(study.y, oof_scores(res, study.ids))), how


def zscored(table: pd.DataFrame, keep=("id", "outcome", "ID", "Target")) -> pd.DataFrame:
    """A copy of ``table`` with every numeric column except ``keep`` z-scored (population SD)."""
    t = table.copy()
    cols = [c for c in t.columns if c not in keep and pd.api.types.is_numeric_dtype(t[c])]
    t[cols] = (t[cols] - t[cols].mean()) / t[cols].std(ddof=0)
    return t


def synthetic(seed: int, n: int = 273) -> pd.DataFrame:
    """Raw positive volumes (log-normal, mm3) and an outcome driven by log volume (odds ratio 1.6 per SD)."""
    rng = np.random.default_rng(seed)
    logv = rng.normal(9.0, 1.2, n)
    y = rng.random(n) < 1 / (1 + np.exp(-(0.4 * (logv - 9.0) - 0.2)))
    return pd.DataFrame({"id": [f"p{i}" for i in range(n)], "outcome": y.astype(int),
                         "original_shape_MeshVolume": np.exp(logv),
                         "original_firstorder_Mean": rng.normal(size=n)})


VARIANTS = ("radiomix", "standard", "clipped_log", "sklearn_quantile")


def part_keek() -> pd.DataFrame:
    rows = []
    shipped = pd.read_csv(KEEK).rename(columns={"ID": "id", "Target": "outcome"})[["id", "outcome", VOLUME]]
    positive = shipped.assign(**{VOLUME: 1e4 * (shipped[VOLUME] + 1)})
    for variant in VARIANTS:
        for name, t in (("as shipped (z)", shipped), ("positive 1e4*(z+1)", positive),
                        ("z-scored positive", zscored(positive))):
            auc, how = baseline_auc(t, VOLUME, variant)
            rows.append({"baseline": variant, "table": name, "auc": round(auc, 4), "transform": how})
    return pd.DataFrame(rows)


def part_synthetic(seeds: int) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        raw = synthetic(seed)
        row = {"seed": seed}
        for variant in ("radiomix", "standard"):
            a_raw, _ = baseline_auc(raw, "original_shape_MeshVolume", variant)
            a_z, _ = baseline_auc(zscored(raw), "original_shape_MeshVolume", variant)
            row[f"{variant} raw"], row[f"{variant} z"] = round(a_raw, 4), round(a_z, 4)
        rows.append(row)
    return pd.DataFrame(rows)


def part_radmlbench() -> pd.DataFrame:
    from radiomix.volume import volume_candidates

    rows = []
    for path in sorted(RADMLBENCH.glob("*.csv.gz")):
        t = pd.read_csv(path)
        try:
            cands = volume_candidates([c for c in t.columns if c not in ("ID", "Target")])
        except LookupError:
            continue
        for v in cands:
            x = t[v.column]
            row = {"table": path.name[:-7], "column": v.column, "prefix": v.prefix,
                   "share <= 0": round(float((x <= 0).mean()), 2)}
            for variant in VARIANTS:
                row[variant] = round(baseline_auc(t[["ID", "Target", v.column]], v.column, variant, id="ID",
                                                  target="Target")[0], 4)
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Keek only")
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args(argv)
    if not KEEK.is_file():
        print(f"the Keek table is missing at {KEEK}", file=sys.stderr)
        return 1
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 120)
    keek = part_keek()
    print("1. Keek 2020 (Shape_volume), radiomix default outer folds (5-fold stratified, random_state 0)")
    print(keek.to_string(index=False))
    for variant, g in keek.groupby("baseline", sort=False):
        a = g["auc"]
        print(f"   {variant}: max minus min AUC over the three tables {a.max() - a.min():.4f}")
    if args.quick:
        return 0
    syn = part_synthetic(args.seeds)
    print(f"\n2. synthetic raw volumes (273 patients, log-normal, outcome from log volume), {args.seeds} seeds: raw table "
          "vs its z-scored copy")
    print(syn.to_string(index=False))
    for variant in ("radiomix", "standard"):
        d = (syn[f"{variant} z"] - syn[f"{variant} raw"]).abs()
        print(f"   {variant}: |z-scored minus raw AUC| mean {d.mean():.4f}, max {d.max():.4f}; "
              f"mean raw AUC {syn[f'{variant} raw'].mean():.4f}")
    rml = part_radmlbench()
    print("\n3. radMLBench development tables with a volume column (all shipped standardized): each candidate")
    print(rml.to_string(index=False))
    print("   mean AUC: " + ", ".join(f"{v} {rml[v].mean():.4f}" for v in VARIANTS)
          + f" ({len(rml)} columns)")
    for other in ("standard", "clipped_log", "sklearn_quantile"):
        d = rml["radiomix"] - rml[other]
        print(f"   radiomix minus {other}: mean {d.mean():+.4f}, sd {d.std():.4f}, max |.| {d.abs().max():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
