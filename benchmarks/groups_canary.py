"""The groups leak canary through every public entry point (issue #23, acceptance 1).

60 patients x 4 near-identical lesions (the same feature vector plus noise of sd 0.01), a random patient-level
label, a 1-nearest-neighbour model: if any outer split puts one patient's lesions on both sides, the model finds
the twin lesion and the AUC goes to 1. Grouped folds give an AUC of about 0.5 on average over seeds.

Entry points: ``nested_cv_pipeline`` (your own Pipeline, default ``outer="stratified"``), ``nested_cv_table``
(the config API; ``cross_validate`` is its deprecated alias), ``radiomix train`` (the CLI), and the refits of
the permutation test (``safeguards.permutation_test``). For each: the mean out-of-fold AUC over seeds and the
number of patients whose lesions fell into more than one outer test fold of one repeat.

    python benchmarks/groups_canary.py              # 20 seeds (acceptance: mean AUC 0.5 +- 0.05, 0 split)
    python benchmarks/groups_canary.py --seeds 3    # quick
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_PATIENTS, LESIONS = 60, 4
CONFIG = {"target": "y", "groups": "patient", "model": {"name": "knn", "params": {"n_neighbors": 1}, "search": {}},
          "impute": {"method": "none"}, "select": {"mrmr": None, "correlation_threshold": None},
          "bootstrap": 0, "safeguards": {"baselines": False, "shap": False, "permutations": 0}}


def canary(seed: int) -> pd.DataFrame:
    """The canary table: id (lesion), patient, y (random per patient), f0..f4 (a patient's lesions almost equal)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(N_PATIENTS, 5))
    X = np.repeat(base, LESIONS, axis=0) + rng.normal(scale=0.01, size=(N_PATIENTS * LESIONS, 5))
    t = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    t["y"] = np.repeat(rng.integers(0, 2, N_PATIENTS), LESIONS)
    t["patient"] = np.repeat([f"P{i:03d}" for i in range(N_PATIENTS)], LESIONS)
    t["id"] = [f"L{i:04d}" for i in range(len(t))]
    return t


def patients_split(oof: pd.DataFrame, table: pd.DataFrame) -> int:
    """Patients whose rows fall in more than one outer fold of the same repeat."""
    m = oof.merge(table[["id", "patient"]], on="id")
    rep = m["repeat"] if "repeat" in m.columns else 0
    return int((m.assign(repeat=rep).groupby(["repeat", "patient"])["fold"].nunique() > 1).sum())


def auc(oof: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(oof["y"], oof["proba"]))


def via_pipeline(t: pd.DataFrame, seed: int) -> tuple[float, int]:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    from radiomix import nested_cv_pipeline

    res = nested_cv_pipeline(make_pipeline(KNeighborsClassifier(1)), t[[f"f{i}" for i in range(5)]], t["y"],
                             groups=t["patient"], ids=t["id"], random_state=seed, n_bootstrap=0, progress=False)
    return auc(res.oof), patients_split(res.oof, t)


def via_table(t: pd.DataFrame, seed: int) -> tuple[float, int]:
    from radiomix import nested_cv_table

    res = nested_cv_table(t, {**CONFIG, "random_state": seed}, progress=False)
    return auc(res.oof), patients_split(res.oof, t)


def via_cli(t: pd.DataFrame, seed: int) -> tuple[float, int]:
    from click.testing import CliRunner

    from radiomix.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t.to_csv(tmp / "t.csv", index=False)
        (tmp / "c.yaml").write_text(json.dumps({**CONFIG, "random_state": seed}))
        res = CliRunner().invoke(main, ["train", str(tmp / "t.csv"), "--config", str(tmp / "c.yaml"),
                                        "--out", str(tmp / "run")])
        if res.exit_code != 0:
            raise RuntimeError(res.output[-2000:])
        oof = pd.read_csv(tmp / "run" / "oof_predictions.csv", dtype={"id": str})
    return auc(oof), patients_split(oof, t)


def via_permutations(t: pd.DataFrame, seed: int, n: int = 2) -> tuple[float, int]:
    """The permutation refits: their mean null AUC, and patients split by the folds those refits use."""
    from radiomix import make_study
    from radiomix.safeguards import permutation_test

    study = make_study(t, {**CONFIG, "random_state": seed}, verbose=False)
    res = permutation_test(study, 0.5, n, random_state=seed)
    split = 0
    for f in study.outer_folds():  # the refits run nested_cv on the same Study: these folds
        test_patients = set(t["patient"].iloc[f.test])
        train_patients = set(t["patient"].iloc[f.train])
        split += len(test_patients & train_patients)
    return res["null_auc_mean"], split


ENTRY_POINTS = {"nested_cv_pipeline": via_pipeline, "nested_cv_table": via_table, "radiomix train": via_cli,
                "permutation refits": via_permutations}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"groups canary: {N_PATIENTS} patients x {LESIONS} near-identical lesions, random patient labels, 1-NN; "
          f"{args.seeds} seeds")
    for name, fn in ENTRY_POINTS.items():
        aucs, split = [], 0
        for seed in range(args.seeds):
            a, s = fn(canary(seed), seed)
            aucs.append(a)
            split += s
        print(f"{name:20s} mean AUC {np.mean(aucs):.3f} (sd {np.std(aucs):.3f}, min {np.min(aucs):.3f}, "
              f"max {np.max(aucs):.3f}); patients split: {split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
