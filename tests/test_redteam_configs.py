"""Red team: a config file cannot extend its own trust, hang radiomix, exhaust its memory, run code, or make a
library write outside the run folder. Each case builds its own fixture; README.md's bad-input table lists CASES
(tests/test_bad_input.py checks it)."""

import json
import sys
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from radiomix.cli import main
from radiomix.config import ConfigError, load_config, validate_config

#: case id -> (what is wrong, what radiomix does).
CASES = {
    "config-trusted-modules": ("a config listing `model.trusted_modules` (e.g. `[antigravity]`)",
                               "refused before any import; trust comes only from `--trust-module` / "
                               "`RADIOMIX_TRUST_MODULES`"),
    "config-alias-bomb": ("a 342-byte YAML alias bomb (\"billion laughs\")", "refused in milliseconds: names the line"),
    "config-recursive-alias": ("a YAML alias that contains itself", "refused: names the line"),
    "config-deep-nesting": ("YAML nested 100,000 levels deep", "refused: one line"),
    "config-duplicate-key": ("the same key twice in one YAML mapping", "refused: names the key and both lines"),
    "config-syntax-error": ("a YAML syntax error", "refused: names the file, line and column"),
    "config-python-tag": ("a `!!python/object/apply:os.system` tag", "refused: names the line; nothing runs"),
    "config-not-utf8": ("a config that is not UTF-8 text", "refused: names the byte"),
    "config-too-large": ("a config over 1 MB", "refused: names the size"),
    "config-redos": ("`features.include: \"(a+)+b\"` against long column names", "matched in linear time (RE2)"),
    "config-backreference": ("a regex with a backreference or lookaround", "refused: names the key"),
    "config-path-param": ("`model.params.memory: /tmp/x` (or any path) in a config",
                          "refused: a config may not make a library write files"),
    "config-test-module": ("`model.name: xgboost.testing.X` (a test or private module)",
                           "refused before import: one line"),
    "config-broken-import": ("`model.name` whose module fails to import", "refused: one line naming the error"),
}


def _table(n=40, long_names=False):
    rng = np.random.default_rng(0)
    cols = ["ab", "cd"] + (["a" * 40 + "c", "a" * 35 + "x"] if long_names else [])
    t = pd.DataFrame(rng.normal(size=(n, len(cols))), columns=cols)
    t["y"] = (rng.random(n) < 0.5).astype(int)
    t["id"] = [f"p{i}" for i in range(n)]
    return t


def _train(tmp_path, cfg_text, *extra):
    _table().to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "cfg.yaml").write_bytes(cfg_text if isinstance(cfg_text, bytes) else cfg_text.encode())
    return CliRunner().invoke(main, ["train", str(tmp_path / "t.csv"), "--config", str(tmp_path / "cfg.yaml"),
                                     "--out", str(tmp_path / "run"), *extra])


def _refused(res, *needles):
    assert res.exit_code == 2, (res.exit_code, res.output)
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


BASE = "target: y\nmodel: {name: logistic, params: {}, search: {}}\nbootstrap: 0\n"


def test_config_trusted_modules_is_refused_and_nothing_is_imported(tmp_path):
    before = set(sys.modules)
    cfg = "target: y\nmodel:\n  name: antigravity.Thing\n  trusted_modules: [antigravity]\n"
    res = _train(tmp_path, cfg)
    _refused(res, "model.trusted_modules", "--trust-module")
    assert "antigravity" not in set(sys.modules) - before and "webbrowser" not in set(sys.modules) - before
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="cannot be set in a config"):
        validate_config({"model": {"name": "logistic", "trusted_modules": ["os"]}})


def test_trust_comes_from_the_command_line_or_the_environment(tmp_path, monkeypatch):
    pkg = tmp_path / "mymodels.py"
    pkg.write_text("from sklearn.linear_model import LogisticRegression\n\nclass MyLR(LogisticRegression):\n"
                   "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = BASE.replace("name: logistic", "name: mymodels.MyLR") + "safeguards: {baselines: false, shap: false}\n"
    _refused(_train(tmp_path, cfg), "outside the trusted packages", "--trust-module")
    res = _train(tmp_path, cfg, "--trust-module", "mymodels")
    assert res.exit_code == 0, res.output
    resolved = (tmp_path / "run" / "config.resolved.yaml").read_text()
    assert "trusted_modules:\n  - mymodels" in resolved  # the run records what the user trusted
    monkeypatch.setenv("RADIOMIX_TRUST_MODULES", "mymodels")
    assert load_config(tmp_path / "cfg.yaml").model.name == "mymodels.MyLR"  # env: validated as trusted


def _alias_bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


def test_config_alias_bomb_is_refused_in_under_a_second(tmp_path):
    bomb = _alias_bomb()
    assert len(bomb) < 710
    t0 = time.perf_counter()
    res = _train(tmp_path, BASE + bomb.replace("a:", "x_a:", 1))
    elapsed = time.perf_counter() - t0
    _refused(res, "cfg.yaml", "line", "aliases")
    assert elapsed < 1.0, elapsed


@pytest.mark.parametrize("case, text, needles", [
    ("config-recursive-alias", BASE + "features: &f {include: *f}\n", ["recursive"]),
    ("config-deep-nesting", BASE + "x: " + "[" * 100_000 + "]" * 100_000 + "\n", ["nested deeper"]),
    ("config-duplicate-key", BASE + "target: z\n", ["'target' is given twice", "line 4", "line 1"]),
    ("config-syntax-error", BASE + "cv: {outer: [1, 2}\n", ["cfg.yaml", "line 4, column"]),
    ("config-python-tag", BASE + "x: !!python/object/apply:os.system ['touch HACKED']\n",
     ["line 4", "no !!python"]),
    ("config-not-utf8", (BASE + "# caf\xe9\n").encode("latin-1"), ["not UTF-8", "0xe9"]),
    ("config-too-large", BASE + "#" + "x" * 1_100_000 + "\n", ["bytes", "1,000,000"]),
])
def test_hostile_yaml_is_one_line(tmp_path, monkeypatch, case, text, needles):
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    res = _train(tmp_path, text)
    assert time.perf_counter() - t0 < 5
    _refused(res, *needles)
    assert not (tmp_path / "HACKED").exists() and not (tmp_path / "run").exists()


def test_config_redos_pattern_is_matched_in_linear_time(tmp_path):
    """``(a+)+b`` takes Python's backtracking ``re`` exponential time on 'aaa...c' (2^40 steps here)."""
    from radiomix.study import make_study

    cfg = {"target": "y", "features": {"include": "(a+)+b"}, "model": {"name": "logistic", "params": {},
                                                                        "search": {}}}
    t0 = time.perf_counter()
    study = make_study(_table(long_names=True), cfg, verbose=False)
    assert time.perf_counter() - t0 < 2
    assert list(study.columns.features) == ["ab"]


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=orig)inal", "(?<!x)b"])
def test_config_backreference_is_refused(pattern):
    with pytest.raises(ConfigError, match="features.include.*backreferences and lookarounds"):
        validate_config({"features": {"include": pattern}, "model": {"name": "logistic"}})


@pytest.mark.parametrize("params", [{"memory": "/tmp/radiomix-cache"}, {"memory": "cache"},
                                    {"checkpoint_dir": "x"}, {"anything": "../elsewhere"}, {"x": "~/x"}])
def test_config_path_param_is_refused(tmp_path, params):
    res = _train(tmp_path, BASE.replace("params: {}", "params: " + json.dumps(params)))
    _refused(res, "model.params.", "files")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, needle", [("xgboost.testing.X", "test module"),
                                          ("sklearn.utils._testing.X", "private or test module"),
                                          ("sklearn.nonexistent_module_xyz.Model", "ModuleNotFoundError")])
def test_config_test_module_and_config_broken_import(tmp_path, name, needle):
    res = _train(tmp_path, BASE.replace("name: logistic", f"name: {name}"))
    _refused(res, name, needle.split()[0])
