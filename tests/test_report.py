"""HTML report of a run folder: every section and figure present, self-contained (no network references)."""

import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from radiomix.report import SECTIONS, low_dim_plot, write_report
from radiomix.train import train


def _table(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"original_firstorder_F{i}" for i in range(5)])
    X["age"] = rng.normal(60, 10, n)
    X["sex"] = rng.choice(["F", "M"], n)
    logit = 1.5 * X["original_firstorder_F0"] + 0.04 * (X["age"] - 60)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X.assign(id=[f"p{i:03d}" for i in range(n)], outcome=y, site=rng.choice(["A", "B", "C"], n))


# Written out here (not derived from REGISTRY), so a section dropped, renamed or moved is noticed.
EXPECTED_SECTIONS = ["verdict", "data", "metrics", "baselines", "roc", "precision-recall", "calibration", "decision-curve",
                     "confusion", "folds", "sites", "blocks", "selection", "robustness", "site-effect", "shap", "checklist", "config"]


def _in_report_order(sections):
    """The expected sections as they appear in the page: all of them, in order, each once."""
    return [s for s in sections if s in EXPECTED_SECTIONS]


BASE = {"target": "outcome", "batch": "site", "search": {"n_candidates": 2}, "cv": {"outer": {"n_splits": 3}},
        "bootstrap": 100}


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.images, self.refs = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "img":
            self.images.append(a)
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])


def _parse(path):
    p = _Collect()
    text = path.read_text()
    p.feed(text)
    return p, text


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    table = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(table, {**BASE, "select": {"mrmr": 3}, "model": {"name": "xgboost", "params": {"n_estimators": 20, "nthread": 1},
                                        "search": {"max_depth": [2, 3]}}}, out=root / "xgb", progress=False)
        train(table, {**BASE, "impute": {"method": "median"}, "final_model": False,
                      "model": {"name": "logistic", "params": {"C": 0.5}, "search": {}},
                      "fusion": {"mode": "late", "blocks": ["radiomic", "clinical"]}}, out=root / "late", progress=False)
    return root, table


def test_report_sections_images_offline(runs):
    root, table = runs
    path = write_report(root / "xgb", table=table, n_bootstrap=50)
    p, text = _parse(path)
    assert _in_report_order(p.sections) == EXPECTED_SECTIONS  # all, in order
    names = {i["title"] for i in p.images}
    assert {"roc", "precision_recall", "calibration", "decision_curve", "confusion", "shap_bar",
            "shap_beeswarm", "selection_stability", "site_effect_pca", "shap_heldout_bar", "shap_heldout_beeswarm"} <= names
    # held-out explanations come first; the final model's in-sample SHAP only as a labelled extra after them
    assert text.index("shap_heldout_bar") < text.index("Extra: the final model on its own training patients")
    assert text.index("Extra: the final model") < text.index('alt="mean absolute SHAP per feature, final model"')
    assert "Missing values per column group" in text and "remain site-dependent after ComBat" in text
    assert all(i["src"].startswith("data:image/png;base64,") for i in p.images)
    assert not [r for r in p.refs if r.startswith(("http://", "https://", "//"))]
    assert "http://" not in text and "https://" not in text
    for n in names:
        assert (root / "xgb" / "figures" / f"{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for s in ("A", "B", "C"):  # per-site table
        assert f"<td>{s}</td>" in text
    assert "original_firstorder_F0" in text and "AUC" in text and "xgboost" in text


def test_report_late_fusion_without_model(runs):
    root, _ = runs
    path = write_report(root / "late", n_bootstrap=20)
    p, text = _parse(path)
    assert _in_report_order(p.sections) == EXPECTED_SECTIONS  # all, in order
    assert "roc_blocks" in {i["title"] for i in p.images}
    assert "radiomic" in text and "clinical" in text and "fused" in text
    # late fusion: SHAP cannot explain the stacked fold models; the report says so (and there is no final model)
    assert "No held-out SHAP in this run" in text and "Extra: the final model" not in text


def test_report_without_bootstrap_cis(runs, tmp_path):
    # bootstrap: 0 (or a failed fit) leaves CIs and calibration as JSON null: the report says n/a.
    import json
    import shutil

    root, _ = runs
    run = shutil.copytree(root / "late", tmp_path / "run")
    m = json.loads((run / "metrics.json").read_text())
    for k in ("auc", "brier"):
        m["summary"][k]["ci_low"] = m["summary"][k]["ci_high"] = None
    m["summary"]["calibration"] = {"intercept": None, "slope": None}
    (run / "metrics.json").write_text(json.dumps(m))
    p, text = _parse(write_report(run, n_bootstrap=0))
    assert _in_report_order(p.sections) == EXPECTED_SECTIONS and "n/a" in text


def test_report_sections_alone(runs):
    # each section function writes its own <section id=...> on a fresh Document, from a RunRecord alone
    import json

    from radiomix.report import REGISTRY, Document, RunRecord, folds_section, metrics_section, roc_section

    root, _ = runs
    run = RunRecord.load(root / "xgb", n_bootstrap=0)
    summary = json.loads((root / "xgb" / "metrics.json").read_text())["summary"]
    doc = Document()  # no figures folder: nothing written
    metrics_section(doc, run)
    text = doc.body()
    assert text.startswith('<section id="metrics">') and text.endswith("</section>")
    assert f"<td>{summary['auc']['estimate']:.3f}</td>" in text and f"<td>{summary['brier']['estimate']:.3f}</td>" in text
    doc = Document()
    folds_section(doc, run)
    text = doc.body()
    assert '<section id="folds">' in text and "<th>inner_score</th>" in text
    assert f"<td>{run.folds['auc'].iloc[0]:.3f}</td>" in text
    assert [sid for sid, _, _ in REGISTRY] == EXPECTED_SECTIONS and list(SECTIONS) == EXPECTED_SECTIONS
    doc = Document()
    roc_section(doc, run)  # figures embedded, none written without a figures folder
    assert '<section id="roc">' in doc.body() and 'title="roc" src="data:image/png;base64,' in doc.body()
    assert doc.figures == {}


def test_report_refuses_non_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        write_report(tmp_path)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_low_dim_plot(method):
    table = _table(60)
    fig = low_dim_plot(table.drop(columns=["id", "outcome"]), "site", method=method)
    ax = fig.axes[0]
    assert len(ax.collections) == 3 and ax.get_legend() is not None
    fig = low_dim_plot(table.drop(columns=["id", "site"]), table["age"].to_numpy(), method=method)
    assert len(fig.axes) == 2  # scatter + colour bar
    with pytest.raises(ValueError, match="method"):
        low_dim_plot(table, "site", method="mds")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="umap-learn"):
            low_dim_plot(table, "site", method="umap")


def test_cli_report(runs, tmp_path):
    import click
    from click.testing import CliRunner

    from radiomix.cli.report import register

    root, table = runs
    table.to_csv(tmp_path / "table.csv", index=False)
    group = click.Group("radiomix")
    register(group)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(group, ["report", str(root / "xgb"), "--table", str(tmp_path / "table.csv"),
                                     "--out", str(out), "--bootstrap", "20"])
    assert res.exit_code == 0, res.output
    p, _ = _parse(out)
    assert "shap_beeswarm" in {i["title"] for i in p.images}
    res = CliRunner().invoke(group, ["report", str(tmp_path)])
    assert res.exit_code != 0 and "metrics.json" in res.output


def test_no_in_sample_shap_when_the_run_turned_shap_off(tmp_path):
    """safeguards.shap: false also skips the report's final-model SHAP (a permutation explainer took 8.5 of a
    9-minute random-survival-forest run)."""
    table = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(table, {**BASE, "impute": {"method": "median"}, "safeguards": {"shap": False},
                            "model": {"name": "logistic", "params": {"C": 0.5}, "search": {}}},
                    out=tmp_path / "run", progress=False)
    text = res.files["report"].read_text()
    assert "Extra: the final model on its own training patients" not in text
    assert "not computed either (safeguards.shap: false)" in text
