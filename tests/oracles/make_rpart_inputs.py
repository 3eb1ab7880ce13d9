"""Write the input tables that ``rpart_surrogates.R`` and ``tests/test_impute.py`` both read.

Real data bundled with scikit-learn (diabetes: regression; breast cancer: classification) with missing
values inserted completely at random under a fixed seed. Writing the CSVs once, from Python, means R and
Python parse the very same decimal strings. Run from the repository root:

    python tests/oracles/make_rpart_inputs.py [out_dir]   # default tests/fixtures/rpart
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "rpart"


def _insert_missing(df: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    out = df.copy()
    mask = rng.random(out.shape) < rate
    # rpart drops rows whose predictors are all missing; keep at least one observed value per row.
    all_missing = mask.all(axis=1)
    mask[all_missing, 0] = False
    for j, c in enumerate(out.columns):
        out.loc[mask[:, j], c] = np.nan
    return out


def _diabetes() -> tuple[pd.DataFrame, pd.Series]:
    d = load_diabetes(scaled=False, as_frame=True).frame
    return d.drop(columns="target"), d["target"]


def _breast() -> tuple[pd.DataFrame, pd.Series]:
    b = load_breast_cancer(as_frame=True)
    X = b.data.copy()
    X.columns = [c.replace(" ", "_") for c in X.columns]
    y = pd.Series(np.where(b.target == 1, "benign", "malignant"), name="y")
    return X, y


def _mixed() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Diabetes with five predictors turned into unordered factors, an anova and a 3-class target."""
    X, y = _diabetes()
    X = X.copy()
    X["sex"] = np.where(X["sex"] == 1, "F", "M")
    X["age"] = pd.cut(X["age"], [0, 35, 50, 60, 100], labels=["young", "mid", "senior", "old"]).astype(str)
    X["bp"] = pd.cut(X["bp"], [0, 85, 100, 200], labels=["low", "normal", "high"]).astype(str)
    # The two strongest predictors as factors too, so that categorical primaries and surrogates are common.
    X["bmi"] = pd.cut(X["bmi"], [0, 22, 25, 28, 32, 100], labels=["b1", "b2", "b3", "b4", "b5"]).astype(str)
    X["s5"] = pd.qcut(X["s5"], 4, labels=["q1", "q2", "q3", "q4"]).astype(str)
    y3 = pd.cut(y, [0, 100, 200, 400], labels=["lo", "mid", "hi"]).astype(str)
    return X, y, y3


def write_inputs(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240604)
    Xd, yd = _diabetes()
    Xb, yb = _breast()
    Xm, ym, ym3 = _mixed()
    sets = {
        "diabetes": (Xd, {"y": yd}),
        "breast": (Xb, {"y": yb}),
        "mixed": (Xm, {"y": ym, "y3": ym3}),
    }
    for name, (X, ys) in sets.items():
        train = _insert_missing(X, 0.2, rng)
        for k, v in ys.items():
            train[k] = v.to_numpy()
        # A second table of the same rows with heavier missingness: at prediction time it reaches
        # the later surrogates and the majority rule far more often than the training table does.
        test = _insert_missing(X, 0.5, rng)
        train.to_csv(out / f"{name}_train.csv", index=False)
        test.to_csv(out / f"{name}_test.csv", index=False)


if __name__ == "__main__":
    write_inputs(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
