"""What radiomix does with bad input: each kind a one-line message naming the file, column or id, exit
status 2 for input errors, no traceback (unless --debug) and nothing half-written. The table of these cases in
README.md ("What radiomix does with bad input") is checked against CASES below."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from radiomix.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"

#: case id -> (what is wrong, what radiomix does). README.md's table lists exactly these.
CASES = {
    "missing-table": ("table file does not exist", "refused: names the path"),
    "zero-byte": ("zero-byte table", "refused: names the file, '0 bytes'"),
    "truncated-table": ("truncated CSV (last row cut)", "refused: names the file and the line"),
    "not-utf8": ("non-UTF-8 text (Latin-1 export)", "refused with the byte; --encoding latin-1 reads it"),
    "excel-bom-semicolon": ("Excel export: BOM and ';' separator", "read correctly"),
    "decimal-comma": ("decimal comma ('1,23')", "refused with the hint; --decimal , reads it"),
    "empty-table": ("header but no rows", "refused: 'the table has no rows'"),
    "duplicate-ids": ("duplicate ids without groups", "refused: names the ids"),
    "one-class": ("binary target with one class", "refused: names the target and the class"),
    "target-all-missing": ("target missing in every row", "refused"),
    "third-value": ("a stray third value in a binary target", "refused: names the value and its count"),
    "odd-case": ("labels differing only in case ('Yes'/'yes')", "refused: names the labels"),
    "junk-numeric": ("text in a numeric column ('<0.5', 'n.d.')", "refused: names the column and values"),
    "inf-values": ("infinite values", "refused: names the column"),
    "constant-column": ("a constant column", "trained; a note names it"),
    "empty-column": ("a 100 % missing column", "trained; a note names it"),
    "wide-table": ("far more columns than rows (40 x 600)", "trained"),
    "predict-no-id": ("id column missing at predict", "refused: names the id column"),
    "predict-missing-columns": ("columns missing at predict", "refused: lists them"),
    "predict-extra-columns": ("extra columns at predict", "ignored with a note"),
    "predict-unseen-level": ("categorical level not seen in training", "refused (or warned: unseen_categories: warn)"),
    "predict-duplicate-ids": ("duplicate ids at predict", "refused: names the ids"),
    "corrupt-model": ("corrupt model file", "refused: names the file"),
    "truncated-model": ("truncated model file (evaluate)", "refused: names the file"),
    "tampered-model": ("model file asking for builtins.exec", "refused: names the type; --trust TYPE to accept"),
    "newer-model": ("model from a newer radiomix", "refused: names both versions"),
    "config-unknown-key": ("config with an unknown key", "refused: lists the valid keys"),
    "config-wrong-type": ("config value of the wrong type", "refused: names the key"),
    "config-out-of-range": ("config value out of range", "refused: names the key and the range"),
    "loso-combat-two-sites": ("leave-site-out with ComBat on only 2 sites", "refused before any fit: names the sites"),
    "robustness-no-case-column": ("train --robustness with a table lacking the case-id column",
                                  "refused before any fit: names the table and the column"),
    "config-code": ("config naming os.system as the model", "refused before any import or call"),
    "out-is-file": ("output folder is a file", "refused before training"),
    "out-under-file": ("output folder inside a file", "refused before training"),
    "interrupted": ("Ctrl-C (or an error) during training", "exit 130; no run folder, no partial folder"),
    "report-not-a-run": ("radiomix report on a folder that is not a run", "refused: names the missing file"),
    "merge-empty-clinical": ("radiomix merge with a zero-byte clinical table", "refused: names the file"),
}


def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    t["sex"] = rng.choice(["F", "M"], n)
    t["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * t["a"]))).astype(int)
    t["id"] = [f"p{i:03d}" for i in range(n)]
    return t


CFG = {"model": {"name": "logistic", "params": {}, "search": {}}, "bootstrap": 50, "impute": {"method": "median"},
       "cv": {"outer": {"n_splits": 3}}, "final_model": True, "target": "y"}


def _config(tmp_path, **over):
    p = tmp_path / "cfg.yaml"
    p.write_text(json.dumps({**CFG, **over}))
    return str(p)


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _refused(res, *needles):
    """Exit status 2, one 'Error:' line holding every needle, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in errors[0], (n, errors[0])


def _train(tmp_path, table_path, *extra, cfg=None):
    return _run(["train", table_path, "--config", cfg or _config(tmp_path), "--out", tmp_path / "run", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("trained")
    t = _table()
    t.to_csv(d / "t.csv", index=False)
    res = _run(["train", d / "t.csv", "--config", _config(d), "--out", d / "run"])
    assert res.exit_code == 0, res.output
    return d, t, d / "run" / "model.skops"


# ------------------------------------------------------------------------------------------------ tables
def test_missing_table(tmp_path):
    res = _train(tmp_path, tmp_path / "nope.csv")
    assert res.exit_code == 2 and "nope.csv" in res.output and "Traceback" not in res.output


def test_zero_byte(tmp_path):
    (tmp_path / "z.csv").write_bytes(b"")
    _refused(_train(tmp_path, tmp_path / "z.csv"), "z.csv", "0 bytes")
    assert not (tmp_path / "run").exists()


def test_truncated_table(tmp_path):
    text = _table().to_csv(index=False)
    (tmp_path / "cut.csv").write_text(text[: len(text) - 30])
    _refused(_train(tmp_path, tmp_path / "cut.csv"), "cut.csv", "line")


def test_not_utf8(tmp_path):
    t = _table()
    t["sex"] = t["sex"].map({"F": "fémme", "M": "mâle"})
    t.to_csv(tmp_path / "l1.csv", index=False, encoding="latin-1")
    _refused(_train(tmp_path, tmp_path / "l1.csv"), "l1.csv", "not UTF-8")
    assert _train(tmp_path, tmp_path / "l1.csv", "--encoding", "latin-1").exit_code == 0


def test_excel_bom_semicolon(tmp_path):
    _table().to_csv(tmp_path / "x.csv", index=False, sep=";", encoding="utf-8-sig")
    res = _train(tmp_path, tmp_path / "x.csv")
    assert res.exit_code == 0, res.output


def test_decimal_comma(tmp_path):
    _table().to_csv(tmp_path / "dc.csv", index=False, sep=";", decimal=",")
    _refused(_train(tmp_path, tmp_path / "dc.csv"), "dc.csv", "decimal comma")
    assert _train(tmp_path, tmp_path / "dc.csv", "--decimal", ",").exit_code == 0


def test_empty_table(tmp_path):
    _table().iloc[:0].to_csv(tmp_path / "e.csv", index=False)
    _refused(_train(tmp_path, tmp_path / "e.csv"), "no rows")


def test_duplicate_ids(tmp_path):
    t = _table()
    t.loc[3, "id"] = "p001"
    t.to_csv(tmp_path / "d.csv", index=False)
    _refused(_train(tmp_path, tmp_path / "d.csv"), "duplicated id", "p001")


@pytest.mark.parametrize("case, change, needles", [
    ("one-class", lambda t: t.assign(y=1), ["target 'y' has one class"]),
    ("target-all-missing", lambda t: t.assign(y=np.nan), ["target 'y' has no value"]),
    ("third-value", lambda t: t.assign(y=np.where(np.arange(len(t)) == 4, 2, t["y"])),
     ["3 classes", "['2'] hold [1] row(s)", "stray value"]),
    ("odd-case", lambda t: t.assign(y=np.where(np.arange(len(t)) % 3 == 0, "Yes", np.where(t["y"] == 1, "yes", "no"))),
     ["differ only in case", "Yes", "yes"]),
    ("junk-numeric", lambda t: t.assign(b=["<0.5", "n.d.", "<0.5"] + t["b"].round(2).astype(str).tolist()[3:]),
     ["column 'b'", "<0.5", "n.d."]),
    ("inf-values", lambda t: t.assign(c=t["c"].where(t.index != 4, np.inf)), ["column 'c'", "infinite"]),
])
def test_bad_values(tmp_path, case, change, needles):
    change(_table()).to_csv(tmp_path / f"{case}.csv", index=False)
    _refused(_train(tmp_path, tmp_path / f"{case}.csv"), *needles)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case, change, note", [
    ("constant-column", lambda t: t.assign(k=1.0), "constant"),
    ("empty-column", lambda t: t.assign(k=np.nan), "no value at all"),
])
def test_uninformative_columns_are_named(tmp_path, case, change, note):
    change(_table()).to_csv(tmp_path / f"{case}.csv", index=False)
    res = _train(tmp_path, tmp_path / f"{case}.csv")
    assert res.exit_code == 0, res.output
    assert note in res.output and "'k'" in res.output
    assert any(note in n for n in json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]["notes"])


def test_wide_table(tmp_path):
    rng = np.random.default_rng(1)
    t = pd.DataFrame(rng.normal(size=(40, 600)), columns=[f"f{i}" for i in range(600)])
    t["y"], t["id"] = np.tile([0, 1], 20), [f"p{i}" for i in range(40)]
    t.to_csv(tmp_path / "w.csv", index=False)
    assert _train(tmp_path, tmp_path / "w.csv").exit_code == 0


# ------------------------------------------------------------------------------------------------ predict
def _predict(model, table_path, out):
    return _run(["predict", model, table_path, "--out", out])


def test_predict_no_id(trained, tmp_path):
    _, t, model = trained
    t.drop(columns="id").to_csv(tmp_path / "n.csv", index=False)
    _refused(_predict(model, tmp_path / "n.csv", tmp_path / "p.csv"), "no id column 'id'")
    assert not (tmp_path / "p.csv").exists()


def test_predict_missing_columns(trained, tmp_path):
    _, t, model = trained
    t.drop(columns=["b", "sex"]).to_csv(tmp_path / "m.csv", index=False)
    _refused(_predict(model, tmp_path / "m.csv", tmp_path / "p.csv"), "lacks 2 column(s)", "'b'", "'sex'")


def test_predict_extra_columns(trained, tmp_path):
    _, t, model = trained
    t.assign(extra=1).to_csv(tmp_path / "x.csv", index=False)
    res = _predict(model, tmp_path / "x.csv", tmp_path / "p.csv")
    assert res.exit_code == 0 and "not used by the model are ignored" in res.output and "extra" in res.output


def test_predict_unseen_level(trained, tmp_path):
    _, t, model = trained
    t.assign(sex=np.where(t.index == 0, "X", t["sex"])).to_csv(tmp_path / "u.csv", index=False)
    _refused(_predict(model, tmp_path / "u.csv", tmp_path / "p.csv"), "column 'sex'", "['X']")
    from radiomix.model import load_model

    m = load_model(model)
    m.config = {**m.config, "unseen_categories": "warn"}
    with pytest.warns(UserWarning, match=r"column 'sex' holds level\(s\) \['X'\]"):
        m.predict(pd.read_csv(tmp_path / "u.csv"))


def test_predict_duplicate_ids(trained, tmp_path):
    _, t, model = trained
    pd.concat([t, t.iloc[:2]]).to_csv(tmp_path / "dd.csv", index=False)
    _refused(_predict(model, tmp_path / "dd.csv", tmp_path / "p.csv"), "duplicated id", "p000")


# ------------------------------------------------------------------------------------------------ models
def test_corrupt_model(trained, tmp_path):
    d, _, _ = trained
    (tmp_path / "bad.skops").write_bytes(b"PK\x03\x04 this is not a model")
    _refused(_predict(tmp_path / "bad.skops", d / "t.csv", tmp_path / "p.csv"), "bad.skops",
             "not a readable radiomix model file")


def test_truncated_model(trained, tmp_path):
    d, _, model = trained
    (tmp_path / "cut.skops").write_bytes(model.read_bytes()[:500])
    _refused(_run(["evaluate", tmp_path / "cut.skops", d / "t.csv", "--target", "y"]), "cut.skops")


def test_tampered_model(trained, tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    from radiomix.model import load_model, save_model

    d, _, model = trained
    m = load_model(model)
    m.pipeline.steps.insert(0, ("evil", FunctionTransformer(func=exec)))
    save_model(m, tmp_path / "evil.skops")
    _refused(_predict(tmp_path / "evil.skops", d / "t.csv", tmp_path / "p.csv"), "builtins.exec", "--trust")


def test_newer_model(trained, tmp_path):
    from radiomix.model import load_model, save_model

    d, _, model = trained
    m = load_model(model)
    m.versions = {**m.versions, "radiomix": "9.9.9"}
    save_model(m, tmp_path / "new.skops")
    _refused(_predict(tmp_path / "new.skops", d / "t.csv", tmp_path / "p.csv"), "radiomix 9.9.9", "newer")


# ------------------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("case, over, needles", [
    ("config-unknown-key", {"modle": {}}, ["unknown config key 'modle'", "valid keys"]),
    ("config-wrong-type", {"bootstrap": "many"}, ["'bootstrap' must be an integer"]),
    ("config-out-of-range", {"threshold": 1.5}, ["'threshold'", "(0, 1)"]),
    ("config-code", {"model": {"name": "os.system", "params": {"command": "touch HACKED"}, "search": {}}},
     ["os.system", "not imported"]),
])
def test_bad_config(tmp_path, case, over, needles, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _table().to_csv(tmp_path / "t.csv", index=False)
    _refused(_train(tmp_path, tmp_path / "t.csv", cfg=_config(tmp_path, **over)), *needles)
    assert not (tmp_path / "HACKED").exists() and not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------------ outputs
def test_out_is_file(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "run").write_text("I am a file")
    _refused(_train(tmp_path, tmp_path / "t.csv"), "is a file")
    assert (tmp_path / "run").read_text() == "I am a file"


def test_out_under_file(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "f").write_text("x")
    res = _run(["train", tmp_path / "t.csv", "--config", _config(tmp_path), "--out", tmp_path / "f" / "run"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_interrupted(tmp_path, monkeypatch):
    import radiomix.train as tr

    _table().to_csv(tmp_path / "t.csv", index=False)
    real = tr.write_run

    def stop(*args, **kwargs):
        real(*args, **kwargs)  # half of the run folder is on disk when the user presses Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "write_run", stop)
    res = _train(tmp_path, tmp_path / "t.csv")
    assert res.exit_code == 130, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml", "t.csv"]     # nothing left behind


# ------------------------------------------------------------------------------------------------ report, merge
def test_report_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    _refused(_run(["report", tmp_path / "empty"]), "metrics.json not found")
    assert not (tmp_path / "empty" / "report.html").exists()


def test_merge_empty_clinical(tmp_path):
    _table().drop(columns=["sex", "y"]).to_csv(tmp_path / "feat.csv", index=False)
    (tmp_path / "clin.csv").write_bytes(b"")
    res = _run(["merge", tmp_path / "feat.csv", "--clinical", tmp_path / "clin.csv", "--out", tmp_path / "m.parquet"])
    _refused(res, "clin.csv", "0 bytes")
    assert not (tmp_path / "m.parquet").exists()


# ------------------------------------------------------------------------------------------------ README
def test_readme_table_lists_every_case():
    """README.md's bad-input table is exactly the one generated from this suite's and the red-team suites' CASES
    (``python tests/bad_input_cases.py``), and every case id is exercised by a test of its suite."""
    from bad_input_cases import SUITES, readme_table, suite_cases

    text = README.read_text()
    section = text.split("### What radiomix does with bad input", 1)[1].split("\n## ", 1)[0]
    table = readme_table()
    assert table in section, "README.md's bad-input table is stale: python tests/bad_input_cases.py"
    ids = [c for cases in suite_cases().values() for c in cases]
    assert len(ids) == len(set(ids)), "a case id is used by two suites"
    for suite, cases in suite_cases().items():
        source = (README.parent / "tests" / f"{suite}.py").read_text()
        body = source.split("CASES = {", 1)[1].split("\n}\n", 1)[1]  # the tests, after the CASES dict
        for case in cases:
            assert case in body or case.replace("-", "_") in body, f"{suite}: no test names case {case!r}"
    assert len(SUITES) == 6 and len(ids) >= 80


def test_combat_warning_printed_once_with_its_count_and_progress_lines(tmp_path):
    # A feature constant within one site makes ComBat warn in every one of the ~40 fits of a nested CV:
    # the run prints it once, with the count, attributed to radiomix.harmonize, and keeps it in warnings.txt.
    rng = np.random.default_rng(2)
    n = 90
    t = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"original_firstorder_F{i}" for i in range(4)])
    t["site"] = np.repeat(["A", "B", "C"], 30)
    t.loc[t["site"] == "A", "original_firstorder_F3"] = 1.0
    t["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * t["original_firstorder_F0"]))).astype(int)
    t["id"] = [f"p{i}" for i in range(n)]
    t.to_csv(tmp_path / "s.csv", index=False)
    cfg = _config(tmp_path, harmonize={"method": "combat"}, final_model=False, search={"n_candidates": 1})
    res = _run(["train", tmp_path / "s.csv", "--config", cfg, "--batch", "site", "--out", tmp_path / "run"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if "ComBatWarning" in ln]
    assert len(lines) == 1 and re.search(r"\(x(\d+)\)", lines[0]) and int(re.search(r"\(x(\d+)\)", lines[0])[1]) > 5
    assert "original_firstorder_F3" in lines[0]
    text = (tmp_path / "run" / "warnings.txt").read_text()
    assert text.count("ComBatWarning (radiomix.harmonize") == 1
    # not a terminal: one line per outer fold
    assert len(re.findall(r"nested CV: outer fold \d/3 done", res.output)) == 3


def test_robustness_table_without_the_case_column(tmp_path):
    # case robustness-no-case-column: the repeats cannot be matched to the patients
    t = _table()
    t.to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"patient": ["p000", "p000"], "a": [0.1, 0.2]}).to_csv(tmp_path / "reps.csv", index=False)
    _refused(_train(tmp_path, tmp_path / "t.csv", "--robustness", tmp_path / "reps.csv"), "reps.csv",
             "no case column 'id'", "select.robustness.case")
    assert not (tmp_path / "run").exists()


def test_leave_site_out_with_combat_needs_three_sites(tmp_path):
    # case loso-combat-two-sites: a training fold of one site leaves ComBat nothing to learn
    t = _table().assign(site=np.repeat(["GE", "Siemens"], 30))
    t.to_csv(tmp_path / "two.csv", index=False)
    cfg = _config(tmp_path, batch="site", harmonize={"method": "combat", "features": "all", "unseen": "estimate"},
                  cv={"outer": {"kind": "leave_site_out"}})
    _refused(_train(tmp_path, tmp_path / "two.csv", cfg=cfg), "at least 3 sites", "'GE', 'Siemens'",
             "harmonize.method: none")
    assert not (tmp_path / "run").exists()
