"""Oracle for radiomix's ICC: ``pingouin.intraclass_corr`` (all six forms, F, df, p and 95 % CIs) on two
repeated tables. Writes ``tests/fixtures/reliability/icc_pingouin.csv``; ``tests/test_reliability.py`` builds
the same tables with the functions below and compares radiomix to the stored values always, and to pingouin
run live when it is installed.

Tables (``table`` column of the CSV):

* ``synthetic`` - 40 cases x 3 raters (shared across cases) x 8 features: case effect + rater offset + noise
  with reliabilities from poor to excellent; ``miss_a`` and ``miss_b`` have missing values (different cases)
  so that pingouin's ``nan_policy="omit"`` (listwise deletion of cases, per feature) is part of the oracle.
* ``keek_perturbed`` - real CT radiomics (../shared/data/tables/keek2020_hnscc_multicenter, z-scored
  features): 60 patients x 50 features drawn with a fixed seed, k = 4 repeats made by multiplying each value
  by lognormal noise (sigma per feature from 0.02 to 1.0) and adding a per-rater, per-feature offset shared by
  all patients.

Every row carries ``input_sum``, the sum of that feature's values over the input table (missing values
skipped), so that a test can tell a changed input (e.g. a different random stream) from a changed ICC.
pingouin rounds its CI95 column to 2 decimals by default; the oracle switches that off.

Run from the repository root (needs pingouin and the shared data):

    python tests/oracles/icc_pingouin.py [out_csv]   # default tests/fixtures/reliability/icc_pingouin.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "reliability" / "icc_pingouin.csv"
KEEK = ROOT.parent / "shared" / "data" / "tables" / "keek2020_hnscc_multicenter" / "Keek2020.csv"
CASE, RATER = "case", "rater"
SEED = 20260611


def synthetic_table() -> pd.DataFrame:
    """40 cases x 3 shared raters, 8 features (two with missing values); long format."""
    rng = np.random.default_rng(SEED)
    n, k = 40, 3
    # (case sd, rater-offset sd, noise sd) per feature: from near-perfect agreement to mostly noise.
    settings = {"excellent": (1.0, 0.05, 0.1), "good": (1.0, 0.3, 0.4), "biased": (1.0, 1.5, 0.3),
                "poor": (0.5, 0.2, 1.0), "large_scale": (300.0, 40.0, 90.0), "small_scale": (1e-3, 2e-4, 5e-4),
                "miss_a": (1.0, 0.5, 0.5), "miss_b": (2.0, 0.1, 1.5)}
    cases = np.repeat([f"S{i:02d}" for i in range(n)], k)
    raters = np.tile(["R1", "R2", "R3"], n)
    out = pd.DataFrame({CASE: cases, RATER: raters})
    for name, (sd_case, sd_rater, sd_noise) in settings.items():
        truth = np.repeat(rng.normal(0, sd_case, n), k)
        offset = np.tile(rng.normal(0, sd_rater, k), n)
        out[name] = 10 * sd_case + truth + offset + rng.normal(0, sd_noise, n * k)
    out.loc[[4, 31, 62, 100], "miss_a"] = np.nan  # 4 cases lose one rating each
    out.loc[[0, 1, 2, 50, 119], "miss_b"] = np.nan  # one case loses all, two others one each
    return out


def perturbed_table(keek_csv: Path = KEEK) -> pd.DataFrame:
    """60 real patients x 50 real features, k = 4 perturbed repeats by shared raters; long format."""
    rng = np.random.default_rng(SEED + 1)
    real = pd.read_csv(keek_csv)
    feats = sorted(rng.choice([c for c in real.columns if c not in ("ID", "Target")], 50, replace=False))
    rows = np.sort(rng.choice(len(real), 60, replace=False))
    base = real.iloc[rows][feats].to_numpy(float)
    k = 4
    sigma = np.linspace(0.02, 1.0, len(feats))
    offset = rng.normal(0, 0.3, (k, len(feats))) * base.std(axis=0)
    reps = base[:, None, :] * rng.lognormal(0, sigma, (len(rows), k, len(feats))) + offset[None]
    out = pd.DataFrame(reps.reshape(-1, len(feats)), columns=feats)
    out.insert(0, RATER, np.tile([f"scanner{j}" for j in range(k)], len(rows)))
    out.insert(0, CASE, np.repeat(real["ID"].to_numpy()[rows], k))
    return out


def pingouin_rows(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """pingouin's six ICC forms for every feature of ``table``, one row per (feature, form)."""
    import pingouin as pg

    pg.options["round.column.CI95"] = None
    out = []
    for feat in table.columns.drop([CASE, RATER]):
        res = pg.intraclass_corr(table, targets=CASE, raters=RATER, ratings=feat, nan_policy="omit")
        ci = np.vstack(res["CI95"].to_numpy())
        out.append(pd.DataFrame({
            "table": name, "feature": feat, "type": res["Type"], "icc": res["ICC"], "ci_low": ci[:, 0],
            "ci_high": ci[:, 1], "F": res["F"], "df1": res["df1"], "df2": res["df2"], "p_value": res["pval"],
            "input_sum": float(np.nansum(table[feat].to_numpy(float))), "oracle": f"pingouin {pg.__version__}",
        }))
    return pd.concat(out, ignore_index=True)


def main(out_csv: Path = OUT) -> None:
    ref = pd.concat([pingouin_rows(synthetic_table(), "synthetic"),
                     pingouin_rows(perturbed_table(), "keek_perturbed")], ignore_index=True)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    ref.to_csv(out_csv, index=False, float_format="%.17g")
    print(f"wrote {len(ref)} rows to {out_csv}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
