"""Red team: hostile tables and what radiomix prints from files. Duplicate column names are refused; CSV outputs
cannot carry spreadsheet formulas; text read from a model file cannot forge or break the console. Each case builds
its own fixture; README.md's bad-input table lists CASES (tests/test_bad_input.py checks it)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from radiomix.cli import main
from radiomix.io import read_table, write_table

#: case id -> (what is wrong, what radiomix does).
CASES = {
    "duplicate-columns": ("two columns with the same name (CSV, TSV, Parquet or a DataFrame)",
                          "refused: names the columns and their positions"),
    "formula-ids": ("ids or names starting with `=`, `+`, `-`, `@` (spreadsheet formula injection)",
                    "CSV outputs write them with a leading `'` (OWASP), said; Parquet keeps them"),
    "ansi-provenance": ("ANSI escapes in a model file's provenance (forging the SHA-256 line)",
                        "printed escaped (`\\x1b`), on its own line"),
    "markup-provenance": ("rich markup (`[/nope]`) in a model file's provenance", "printed as text; no crash"),
}


def _table(n=60):
    rng = np.random.default_rng(0)
    t = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    t["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * t["a"]))).astype(int)
    t["id"] = [f"p{i:03d}" for i in range(n)]
    return t


def _refused(res, *needles):
    assert res.exit_code == 2, (res.exit_code, res.output)
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in errors[0], (n, errors[0])


CFG = {"model": {"name": "logistic", "params": {}, "search": {}}, "bootstrap": 0, "target": "y",
       "cv": {"outer": {"n_splits": 3}}, "safeguards": {"baselines": False, "shap": False}}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_duplicate_columns_in_a_file_are_refused(tmp_path, suffix):
    t = _table()
    t.insert(2, "a_dup", t["b"])
    t = t.rename(columns={"a_dup": "a"})  # 'a' twice, columns 1 and 3
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_arrays([pa.array(t.iloc[:, i]) for i in range(t.shape[1])],
                                            names=list(t.columns)), path)
    else:
        t.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    with pytest.raises(ValueError, match=r"1 column name\(s\) appear more than once: 'a' \(columns 1, 3\)"):
        read_table(path)
    (tmp_path / "cfg.yaml").write_text(json.dumps(CFG))
    res = CliRunner().invoke(main, ["train", str(path), "--config", str(tmp_path / "cfg.yaml"), "--out",
                                    str(tmp_path / "run")])
    _refused(res, path.name, "'a' (columns 1, 3)")
    assert not (tmp_path / "run").exists()


def test_duplicate_columns_in_a_dataframe_are_refused():
    from radiomix.study import make_study
    from radiomix.tables import merge

    t = _table()
    t.columns = ["a", "b", "a", "y", "id"]
    with pytest.raises(ValueError, match=r"the table: 1 column name\(s\) appear more than once: 'a'"):
        make_study(t, {**CFG})
    with pytest.raises(ValueError, match=r"'a' \(columns 1, 3\)"):
        merge(t.drop(columns="y"), clinical=t[["id", "y"]])


def test_formula_ids_are_neutralised_in_csv_outputs(tmp_path):
    t = _table()
    hostile = ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tTAB"]
    t.loc[:4, "id"] = hostile
    t.loc[5, "id"] = "-1.5"  # a plain number stays as it is
    path = tmp_path / "t.parquet"
    write_table(t, path, index=False)
    assert read_table(path)["id"].tolist()[:5] == hostile  # Parquet keeps every value
    (tmp_path / "cfg.yaml").write_text(json.dumps(CFG))
    res = CliRunner().invoke(main, ["train", str(path), "--config", str(tmp_path / "cfg.yaml"), "--out",
                                    str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    oof = (tmp_path / "run" / "oof_predictions.csv").read_text()
    cells = [row.split(",")[0] for row in oof.splitlines()[1:]]
    assert not any(re.match(r"^[=+@\t\r]", c) or (c.startswith("-") and c != "-1.5") for c in cells), cells[:10]
    assert "'=HYPERLINK(\"\"http://x\"\")" in oof or "\"'=HYPERLINK" in oof
    assert "-1.5," in oof
    res = CliRunner().invoke(main, ["predict", str(tmp_path / "run" / "model.skops"), str(path), "--out",
                                    str(tmp_path / "pred.csv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert pred["id"].iloc[2] == "'@SUM(1+1)"
    assert "leading '" in res.output  # said


@pytest.mark.parametrize("case, payload", [
    ("ansi-provenance", "1.0\x1b[2K\rmodel file SHA-256 " + "0" * 64 + " (compare it with the hash)\x1b[31m"),
    ("markup-provenance", "[/nope] [bold red]x[/"),
])
def test_provenance_from_a_model_file_is_printed_escaped(tmp_path, case, payload):
    from radiomix.model import save_model
    from radiomix.train import train

    t = _table()
    run = train(t, CFG, progress=False, report=False)
    run.model.versions = {**run.model.versions, "numpy": payload, "trained": payload}
    save_model(run.model, tmp_path / "m.skops")
    t.to_csv(tmp_path / "t.csv", index=False)
    res = CliRunner().invoke(main, ["predict", str(tmp_path / "m.skops"), str(tmp_path / "t.csv"), "--out",
                                    str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\r" not in res.output
    sha_lines = [line for line in res.output.splitlines() if line.startswith("model file SHA-256")]
    assert len(sha_lines) == 1  # the forged line cannot start a line of its own
    if case == "markup-provenance":
        assert "[/nope]" in res.output
    else:
        assert "\\x1b[2K\\rmodel file SHA-256 0000" in res.output
