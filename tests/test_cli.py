"""The command line: usage texts, train run folder files, and the demo end to end."""

import json
import re

import pandas as pd
import pytest
import yaml
from _refs import delong_se
from click.testing import CliRunner
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from radiomix.cli import main


@pytest.mark.parametrize("args", [["--help"], ["extract", "--help"], ["train", "--help"], ["merge", "--help"],
                                  ["demo", "--help"]])
def test_help(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "Usage: " in res.output


def test_extract_merge_train_files(demo_cohort, tmp_path):
    run = CliRunner()
    root = demo_cohort.out_dir
    feats = tmp_path / "features.csv"
    res = run.invoke(main, ["extract", str(root / "manifest.csv"), "--params", "ct-original", "--out", str(feats),
                            "--jobs", "2"])
    assert res.exit_code == 0, res.output
    f = pd.read_csv(feats, index_col="id")
    assert f.shape == (60, 106) and f.notna().all().all()
    for side in ("diagnostics", "errors"):
        assert (tmp_path / f"features.{side}.csv").exists()
    assert json.loads((tmp_path / "features.provenance.json").read_text())["params_sha256"]

    table = tmp_path / "table.parquet"
    res = run.invoke(main, ["merge", str(feats), "--clinical", str(root / "clinical.csv"), "--genetic",
                            str(root / "genetic.csv"), "--out", str(table)])
    assert res.exit_code == 0, res.output
    groups = json.loads((tmp_path / "table.groups.json").read_text())["groups"]
    assert len(groups["radiomic"]) == 105 and "mut_TP53" in groups["genetic"]

    cfg = tmp_path / "fast.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"name": "xgboost", "params": {"n_estimators": 50}}, "search": {"n_candidates": 2},
                                   "bootstrap": 200}))
    out = tmp_path / "run"
    res = run.invoke(main, ["train", str(table), "--config", str(cfg), "--target", "outcome", "--batch", "site",
                            "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["n_features"] == 105 + 7 + 6  # radiomic + clinical (less outcome) + genetic
    oof = pd.read_csv(out / "oof_predictions.csv")
    assert set(oof.columns) >= {"id", "fold", "y", "proba", "threshold", "label", "site"} and len(oof) == 60
    # The AUC is sklearn's on the out-of-fold predictions; its bootstrap CI (resampled within each class)
    # is as wide as DeLong's normal interval.
    a = metrics["summary"]["auc"]
    assert a["estimate"] == pytest.approx(roc_auc_score(oof["y"], oof["proba"]))
    se = delong_se(oof["y"].to_numpy(), oof["proba"].to_numpy())
    assert a["ci_high"] - a["ci_low"] == pytest.approx(2 * norm.ppf(0.975) * se, rel=0.25)
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 5 and all(isinstance(json.loads(p), dict) for p in folds["params"])
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["target"] == "outcome" and resolved["model"]["params"]["n_estimators"] == 50


def test_train_errors_are_clear(tmp_path):
    t = tmp_path / "t.csv"
    pd.DataFrame({"id": list("abcdefghij"), "x": range(10), "y": [0, 1] * 5}).to_csv(t, index=False)
    res = CliRunner().invoke(main, ["train", str(t), "--target", "outcome", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "target column 'outcome' not found" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("cv:\n  outer:\n    folds: 3\n")
    res = CliRunner().invoke(main, ["train", str(t), "--config", str(bad), "--target", "y", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "unknown config key 'cv.outer.folds'" in res.output


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--patients", "60", "--jobs", "2"])
    assert res.exit_code == 0, res.output
    # issue #26: no Python warning formatting (path:line: Category: message, then the source line)
    assert not re.search(r"\.py:\d+: \w*Warning", res.output), res.output
    assert not re.search(r"^\s+warnings\.warn", res.output, re.M)
    metrics = json.loads((tmp_path / "demo" / "run" / "metrics.json").read_text())
    h = metrics["summary"]["headline"]  # leave-site-out: the mean per-site AUC, the console's last line
    assert h["name"] == "mean per-site AUC" and res.output.strip().splitlines()[-1].startswith(
        f"headline: mean per-site AUC {h['estimate']:.3f}")
    assert metrics["summary"]["auc"]["estimate"] > 0.6
    assert (tmp_path / "demo" / "features.parquet").exists() and (tmp_path / "demo" / "table.parquet").exists()
    # the mission path: ComBat, imputation, mRMR, leave-site-out, baselines, held-out SHAP, verdict in the report
    assert metrics["settings"]["outer"] == "leave_site_out" and metrics["data"]["harmonized"]
    assert set(metrics["summary"]["baselines"]) == {"volume", "clinical", "no_harmonization"}
    assert "verdict:" in res.output and metrics["summary"]["verdict"]["sentence"] in " ".join(res.output.split())
    report = (tmp_path / "demo" / "run" / "report.html").read_text()
    folds = (tmp_path / "demo" / "run" / "folds.csv").read_text()
    assert "ComBat harmonized" in report and "surrogate_tree" in report and "mrmr: 5" in report
    assert "shap_heldout_bar" in report and 'id="baselines"' in report and 'id="verdict"' in report
    assert report.index('id="verdict"') < report.index('id="data"')
    assert "original_shape_MeshVolume" in report and "selected" in folds


def test_version_names_radiomix_and_the_libraries_behind_its_numbers():
    from importlib.metadata import version

    from radiomix import __version__

    for flag in ("-V", "--version"):
        res = CliRunner().invoke(main, [flag])
        assert res.exit_code == 0, res.output
        first, second = res.output.strip().splitlines()
        assert first == f"radiomix {__version__}"
        assert f"scikit-learn {version('scikit-learn')}" in second and f"xgboost {version('xgboost')}" in second


def test_a_warning_reaching_the_console_is_one_clean_inert_line_once():
    """Issue #26: no `path.py:NN: Category:` form; control characters of a message (a column name read from a file)
    shown inert; the same warning twice prints once."""
    import click

    @click.command("warn-twice")
    def warn_twice():
        import warnings

        for _ in range(2):
            warnings.warn("column \x1b[31mred\x1b[0m is odd", UserWarning, stacklevel=1)

    main.add_command(warn_twice)
    try:
        res = CliRunner().invoke(main, ["warn-twice"])
    finally:
        main.commands.pop("warn-twice")
    assert res.exit_code == 0
    assert res.output == "warning (UserWarning): column \\x1b[31mred\\x1b[0m is odd\n"
