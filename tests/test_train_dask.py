"""Training on a Dask cluster (``train(..., scheduler=)``, ``radiomix train --scheduler``) gives the same run as
on this machine: outer folds, baselines and permutation refits go through joblib's Dask backend."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    df = pd.DataFrame(X, columns=[f"original_firstorder_F{i}" for i in range(6)] + ["age", "ldh"])
    df.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    df["original_shape_MeshVolume"] = np.exp(X[:, 0] + 5)
    df["outcome"] = (X[:, 0] + X[:, 1] + rng.normal(0, 1, n) > 0).astype(int)
    return df


CFG = {"target": "outcome", "impute": {"method": "median"}, "select": {"mrmr": 3},
       "model": {"name": "logistic", "params": {}, "search": {"C": [0.1, 1.0]}}, "bootstrap": 200,
       "features": {"groups": {"clinical": ["age", "ldh"]}},
       "safeguards": {"baselines": True, "permutations": 3, "shap": False}, "final_model": False, "n_jobs": 1}


def test_train_on_a_local_dask_cluster_equals_the_local_run():
    distributed = pytest.importorskip("distributed")
    from radiomix.train import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = train(_table(), CFG, progress=False, report=False)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            with pytest.warns(UserWarning, match="n_jobs 1 became -1 on the Dask cluster"):
                remote = train(_table(), CFG, progress=False, report=False, scheduler=client)
    pd.testing.assert_frame_equal(local.cv.oof, remote.cv.oof)
    for key in ("auc", "brier", "baselines", "permutation"):
        assert local.summary[key] == remote.summary[key], key
    assert remote.study.n_jobs == -1 and any("Dask cluster" in n for n in remote.study.notes)


def test_unreachable_scheduler_is_a_one_line_error(tmp_path):
    from click.testing import CliRunner

    from radiomix.cli import main

    pytest.importorskip("distributed")
    _table().to_csv(tmp_path / "t.csv", index=False)
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        r = CliRunner().invoke(main, ["train", str(tmp_path / "t.csv"), "--target", "outcome", "--scheduler",
                                      "tcp://127.0.0.1:9", "--out", str(tmp_path / "run")])
    assert r.exit_code != 0 and "Error:" in r.output and not (tmp_path / "run").exists()
