"""radiomix.benchmark: statistics against independent oracles (Demšar's published Nemenyi table, scipy,
statsmodels, pingouin), the harness (same folds for every method, resume, time limit, refusals) and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from radiomix.benchmark import BenchmarkPlan, Method, resolve_methods, run_benchmark
from radiomix.benchmark.stats import (
    cliques,
    corrected_ttest,
    friedman,
    holm,
    nemenyi_cd,
    nemenyi_q,
    rank_table,
    wilcoxon_holm,
    wins_ties_losses,
)
from radiomix.outputs import OutputError

# ------------------------------------------------------------------------------------------ statistics


def test_nemenyi_q_matches_demsar_table():
    # Demšar (2006), JMLR 7, Table 5(a): critical values of the two-tailed Nemenyi test, alpha = 0.05
    published = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}
    for k, q in published.items():
        assert nemenyi_q(k) == pytest.approx(q, abs=1e-3)
    # Demšar's worked example: 4 methods, 14 data sets -> CD = 1.25
    assert nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.01)


def test_friedman_matches_pingouin_and_rejects_a_real_difference():
    import pingouin as pg

    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.normal(0.7, 0.05, (20, 4)), columns=list("abcd"))
    scores["a"] += 0.08  # one method really better
    fr = friedman(scores)
    long = scores.reset_index().melt(id_vars="index", var_name="m", value_name="s")
    ref = pg.friedman(data=long, dv="s", within="m", subject="index")
    assert fr["chi2"] == pytest.approx(float(ref["Q"].iloc[0]), rel=1e-9)
    assert fr["p"] == pytest.approx(float(ref["p_unc" if "p_unc" in ref else "p-unc"].iloc[0]), rel=1e-9)
    assert fr["p"] < 0.01 and fr["p_F"] < 0.01
    ranks = rank_table(scores)
    assert ranks["a"].mean() < 1.5  # rank 1 = best
    same = pd.DataFrame(rng.normal(0.7, 0.05, (20, 4)), columns=list("abcd"))
    assert friedman(same)["p"] > 0.05


def test_holm_and_wilcoxon_match_statsmodels_and_scipy():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.20, 0.005])
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(rng.normal(0.7, 0.05, (15, 3)), columns=["ref", "x", "y"])
    scores["x"] += 0.03
    w = wilcoxon_holm(scores, ["ref"])
    px = sps.wilcoxon(scores["x"] - scores["ref"]).pvalue
    py = sps.wilcoxon(scores["y"] - scores["ref"]).pvalue
    assert w.set_index("method").loc["x", "p"] == pytest.approx(px)
    assert np.allclose(w["p_holm"], multipletests([px, py], method="holm")[1])


def test_corrected_ttest_is_the_paired_t_test_without_correction_and_wider_with_it():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.75, 0.05, 10), rng.normal(0.72, 0.05, 10)
    plain = corrected_ttest(a - b, n_train=100, n_test=0)
    assert plain["p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    corrected = corrected_ttest(a - b, n_train=80, n_test=20)
    # Nadeau & Bengio: variance x (1/J + n_test/n_train) / (1/J) = x 3.5 for J = 10 and 1/4
    assert corrected["t"] == pytest.approx(plain["t"] / np.sqrt(3.5))
    assert corrected["p"] > plain["p"]


def test_wins_ties_losses_and_cliques():
    scores = pd.DataFrame({"ref": [0.70, 0.70, 0.70, 0.70], "m": [0.75, 0.71, 0.60, 0.69]})
    wtl = wins_ties_losses(scores, "ref", margin=0.02).iloc[0]
    assert (wtl["wins"], wtl["ties"], wtl["losses"]) == (1, 2, 1)
    ranks = pd.Series({"a": 1.2, "b": 1.9, "c": 3.5, "d": 3.9})
    assert cliques(ranks, 1.0) == [["a", "b"], ["c", "d"]]
    assert cliques(ranks, 3.0) == [["a", "b", "c", "d"]]


# ------------------------------------------------------------------------------------------ harness
def _table(n=60, p=6, seed=0, classes=2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int) if classes == 2 else rng.integers(0, classes, n)
    df = pd.DataFrame(X, columns=[f"original_firstorder_F{i}" for i in range(p)])
    df.insert(0, "ID", np.arange(n))  # ids that are numbers
    df["Target"] = y
    return df


@pytest.fixture
def tables(tmp_path) -> Path:
    d = tmp_path / "tables"
    d.mkdir()
    _table(seed=0).to_csv(d / "alpha.csv", index=False)
    _table(seed=1).to_csv(d / "beta.csv.gz", index=False)
    return d


LOGISTIC = {"model": {"name": "logistic", "params": {"max_iter": 2000}, "search": {"C": [0.1, 1.0]}},
            "search": {"method": "grid"}, "safeguards": {"baselines": True}}


def _plan(**kw):
    return BenchmarkPlan(**{"n_splits": 3, "n_repeats": 1, "time_limit": 120, **kw})


def test_same_folds_for_every_method_and_resume_reuses(tables, tmp_path):
    methods = [Method("rmx", config=LOGISTIC), Method("l1_logistic", reference="l1_logistic")]
    out = tmp_path / "bench"
    res = run_benchmark([tables], methods, out, plan=_plan(), n_jobs=2, progress=False)
    assert res.computed == 4 and res.reused == 0
    by = {(r["table"], r["method"]): r for r in res.results}
    assert all(r["status"] == "ok" for r in res.results), [r["message"] for r in res.results]
    for t in ("alpha", "beta"):
        assert [f["test"] for f in by[(t, "rmx")]["folds"]] == [f["test"] for f in by[(t, "l1_logistic")]["folds"]]
        assert len(by[(t, "rmx")]["folds"]) == 3
    again = run_benchmark([tables], methods, out, plan=_plan(), n_jobs=2, progress=False)
    assert again.computed == 0 and again.reused == 4
    pd.testing.assert_frame_equal(res.summary.per_table, again.summary.per_table)
    for name in ("summary.md", "benchmark.html", "results.csv", "cd_diagram.png"):
        assert (out / name).is_file()
    # a changed method is recomputed; the others are reused
    changed = [Method("rmx", config={**LOGISTIC, "random_state": 1}), methods[1]]
    third = run_benchmark([tables], changed, out, plan=_plan(), progress=False)
    assert third.computed == 2 and third.reused == 2


def test_other_folds_in_the_same_folder_are_refused(tables, tmp_path):
    out = tmp_path / "bench"
    run_benchmark([tables / "alpha.csv"], [Method("l1_logistic", reference="l1_logistic")], out, plan=_plan(),
                  progress=False)
    with pytest.raises(OutputError, match="n_splits=3"):
        run_benchmark([tables / "alpha.csv"], [Method("l1_logistic", reference="l1_logistic")], out,
                      plan=_plan(n_splits=4), progress=False)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        run_benchmark([tables / "alpha.csv"], [Method("l1_logistic", reference="l1_logistic")], foreign,
                      plan=_plan(), progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_time_limit_is_recorded_as_a_timeout(tables, tmp_path):
    res = run_benchmark([tables / "alpha.csv"], [Method("rmx", config=LOGISTIC)], tmp_path / "b",
                        plan=_plan(time_limit=0.001), progress=False)
    (r,) = res.results
    assert r["status"] == "timeout" and r["folds"] == []
    assert res.summary.overall.iloc[0]["n_timeout"] == 1


def test_refusals_are_one_line_and_recorded(tables, tmp_path):
    _table(classes=3).to_csv(tables / "three.csv", index=False)
    df = _table(seed=3)
    df["text"] = "x"  # a config that names a column the table lacks is refused before any fit
    df.to_csv(tables / "gamma.csv", index=False)
    bad = {**LOGISTIC, "features": {"exclude": ["not_there"]}}
    res = run_benchmark([tables], [Method("rmx", config=bad), Method("l1_logistic", reference="l1_logistic")],
                        tmp_path / "b", plan=_plan(), progress=False)
    by = {(r["table"], r["method"]): r for r in res.results}
    assert by[("three", "rmx")]["status"] == "refused" and "binary" in by[("three", "rmx")]["message"]
    assert by[("alpha", "l1_logistic")]["status"] == "ok"
    assert "three" in res.summary.incomplete
    assert all("\n" not in r["message"] for r in res.results)


def test_every_table_refused_writes_nothing(tables, tmp_path):
    with pytest.raises(ValueError, match="every table was refused.*did you mean 'Target'"):
        run_benchmark([tables], ["l1_logistic"], tmp_path / "b", plan=_plan(target="target"), progress=False)
    assert not (tmp_path / "b").exists()


def test_resolve_methods():
    ms = resolve_methods(["default", "l1_logistic", "mine=" + str(Path(__file__).parents[1] / "params" / "MR.yaml")])
    assert [m.name for m in ms] == ["default", "l1_logistic", "mine"]
    with pytest.raises(ValueError, match="neither a reference"):
        resolve_methods(["l2_logistic"])
    with pytest.raises(ValueError, match="unique"):
        resolve_methods(["default", "default"])


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "radiomix.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, **kw)


def test_resume_after_sigkill_recomputes_nothing_finished(tables, tmp_path):
    for s in range(2, 5):
        _table(seed=s).to_csv(tables / f"t{s}.csv", index=False)
    args = [str(tables), "-m", "l1_logistic", "-m", "random_forest", "--n-splits", "3", "--n-repeats", "1",
            "--jobs", "1"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "radiomix.cli", "benchmark", *args, "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("results/*/*.json"))) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # the orphaned worker notices its parent is gone and stops
    done = {p: p.read_bytes() for p in out.glob("results/*/*.json")}
    assert 3 <= len(done) < 10
    resumed = _cli("benchmark", *args, "-o", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{10 - len(done)} pair(s) computed, {len(done)} reused" in resumed.stdout
    assert all(p.read_bytes() == b for p, b in done.items())  # nothing finished was recomputed
    fresh = _cli("benchmark", *args, "-o", str(tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    a = pd.read_csv(out / "results.csv").drop(columns=["seconds"])
    b = pd.read_csv(tmp_path / "fresh" / "results.csv").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_cli_bad_input_exit_2(tables, tmp_path):
    r = _cli("benchmark", str(tables), "-m", "nope", "-o", str(tmp_path / "b"))
    assert r.returncode == 2 and "neither a reference" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_every_radmlbench_table_builds_with_the_shipped_default(shared_data):
    """Item 3: every development-half table becomes a study with the shipped default config, no per-table edit
    (z-scored tables, numeric ids, several volume columns, thousands of features); the full runs are in
    benchmarks/README.md."""
    from radiomix.study import make_study

    folder = shared_data / "radmlbench"
    found = sorted(folder.glob("*.csv.gz"))
    assert len(found) == 25
    for path in found:
        study = make_study(path, None, verbose=False, target="Target", id="ID")
        assert study.task.name == "binary", path.name
        assert len(study.columns.features) == len(pd.read_csv(path, nrows=1).columns) - 2, path.name


def test_your_own_estimator_is_a_method(tables, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mine = Method("mine", estimator=make_pipeline(StandardScaler(), LogisticRegression(C=0.1)))
    res = run_benchmark([tables / "alpha.csv"], [mine, Method("l1_logistic", reference="l1_logistic")],
                        tmp_path / "b", plan=_plan(), progress=False)
    by = {r["method"]: r for r in res.results}
    assert by["mine"]["status"] == "ok" and by["mine"]["kind"] == "estimator"
    assert res.summary.references == ["l1_logistic"]
    assert res.summary.per_table.set_index("method").loc["mine", "auc"] > 0.7  # X0 carries the signal
    with pytest.raises(ValueError, match="exactly one"):
        Method("both", reference="l1_logistic", estimator=LogisticRegression())


def test_a_dask_cluster_gives_the_same_results_as_local_processes(tables, tmp_path):
    distributed = pytest.importorskip("distributed")
    methods = [Method("rmx", config=LOGISTIC), Method("l1_logistic", reference="l1_logistic")]
    local = run_benchmark([tables], methods, tmp_path / "local", plan=_plan(), progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = run_benchmark([tables], methods, tmp_path / "dask", plan=_plan(), progress=False, scheduler=client)
    assert remote.computed == 4
    cols = ["table", "method", "status", "auc", "ci_low", "ci_high", "pooled_auc"]
    pd.testing.assert_frame_equal(local.summary.per_table[cols], remote.summary.per_table[cols])


def test_grouped_tables_keep_patients_together_in_every_method(tmp_path):
    """With --groups the outer folds are grouped, and the references' inner GridSearchCV folds too."""
    df = _table(n=90, seed=5)
    df["patient"] = np.repeat(np.arange(45), 2)
    df["ID"] = np.arange(90)
    df.to_csv(tmp_path / "lesions.csv", index=False)
    res = run_benchmark([tmp_path / "lesions.csv"], [Method("l1_logistic", reference="l1_logistic"),
                                                     Method("rmx", config=LOGISTIC)],
                        tmp_path / "b", plan=_plan(groups="patient"), progress=False)
    assert all(r["status"] == "ok" for r in res.results), [r["message"] for r in res.results]
    patient = df["patient"].to_numpy()
    for r in res.results:
        for f in r["folds"]:
            test = set(patient[f["test"]])
            train = set(patient) - test
            assert not test & train and len(f["test"]) % 2 == 0
    from sklearn.model_selection import StratifiedGroupKFold

    from radiomix.benchmark.methods import reference_pipeline

    assert isinstance(reference_pipeline("l1_logistic", 0, grouped=True).cv, StratifiedGroupKFold)
