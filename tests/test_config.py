"""The train config: defaults load, bad keys and values get messages that name them."""

from pathlib import Path

import pytest

from radiomix.config import ConfigError, load_config, validate_config


def test_default_config_loads():
    cfg = load_config()
    assert cfg.model.name == "auto" and cfg.model.params is None and cfg.model.search is None
    assert cfg.cv.outer.n_splits == 5 and cfg.cv.inner.n_splits == 5 and cfg.search.method == "auto"
    assert cfg.select.near_zero_variance is True and cfg.n_jobs == -1


def test_unknown_key_names_key_and_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key 'cv.outer.n_split'; valid keys under 'cv.outer': \['kind', 'n_repeats', 'n_splits'\]"):
        validate_config({"cv": {"outer": {"n_split": 3}}})
    with pytest.raises(ConfigError, match="unknown config key 'modle'"):
        validate_config({"modle": {}})


@pytest.mark.parametrize("cfg, match", [
    ({"cv": {"outer": {"n_splits": 1}}}, "cv.outer.n_splits"),
    ({"threshold": 1.5}, "threshold"),
    ({"model": {"name": "deepnet"}}, "model.name"),
    ({"model": {"search": {"max_depth": 3}}}, "model.search.max_depth"),
    ({"target": ""}, "target"),
])
def test_bad_values(cfg, match):
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg)


def test_overrides_and_files(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("target: y\nmodel:\n  search:\n    max_depth: [2]\n")
    cfg = load_config(p, id="pid", batch=None)
    assert cfg.target == "y" and cfg.id == "pid" and cfg.model.search == {"max_depth": (2,)}
    assert cfg.model.params is None  # the resolved model's own, once the outcome type is known


# ------------------------------------------------------------------------------------------ the one schema
def test_the_shipped_defaults_file_is_generated_from_the_schema():
    from pathlib import Path

    from radiomix.config import default_config, defaults_yaml

    shipped = Path(__file__).resolve().parents[1] / "params" / "train_default.yaml"
    assert shipped.read_text() == defaults_yaml(), "regenerate it: python -m radiomix.config > params/train_default.yaml"
    import yaml

    assert yaml.safe_load(shipped.read_text()) == default_config()


def test_the_default_model_is_auto_and_resolves_per_outcome_type():
    from radiomix.config.schema import lookup
    from radiomix.models import MODELS
    from radiomix.outcomes import get_task

    assert lookup("model.name").default == "auto"
    assert lookup("model.params").default is None and lookup("model.search").default is None
    assert get_task("binary").default_model == "logistic"
    assert {get_task(t).default_model for t in ("multiclass", "regression", "survival")} == {"xgboost"}
    assert MODELS["logistic"].default_params == {"l1_ratio": 1.0, "solver": "liblinear", "max_iter": 5000}
    assert MODELS["logistic"].default_search["C"][0] == 0.01 and len(MODELS["logistic"].default_search["C"]) == 13


def test_naming_a_model_gives_its_own_parameters_not_xgboosts():
    from radiomix.models import MODELS

    cfg = validate_config({"model": {"name": "logistic"}})
    assert dict(cfg.model.params) == MODELS["logistic"].default_params
    assert list(cfg.model.search["C"]) == MODELS["logistic"].default_search["C"]
    cfg = validate_config({"model": {"name": "logistic", "search": {"C": [0.1, 1.0]}}})
    assert cfg.model.search["C"] == (0.1, 1.0)
    cfg = validate_config({"model": {"name": "svm"}})
    assert dict(cfg.model.params) == {} and dict(cfg.model.search) == {}


@pytest.mark.parametrize("text, needles", [
    ("target: y\ncv:\n  outer:\n    kinds: grouped\n",
     ["cfg.yaml line 4", "unknown config key 'cv.outer.kinds'", "['kind', 'n_repeats', 'n_splits']",
      "did you mean 'cv.outer.kind'"]),
    ("target: y\nselect:\n  mrmr: ten\n",
     ["cfg.yaml line 3", "config key 'select.mrmr' must be an integer >= 1 or null, got 'ten'"]),
    ("target: y\nimpute:\n  method: mice\n",
     ["cfg.yaml line 3", "'impute.method' must be one of ['none', 'median', 'knn', 'surrogate_tree']"]),
])
def test_typos_and_wrong_types_name_the_key_the_allowed_values_and_the_line(tmp_path, text, needles):
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


def test_settings_are_frozen_and_changed_by_copy():
    cfg = load_config()
    with pytest.raises(AttributeError, match="read-only"):
        cfg.bootstrap = 3
    with pytest.raises(TypeError):
        cfg.model.params["n_estimators"] = 3
    changed = cfg.replace({"bootstrap": 3, "cv.outer.n_splits": 3})
    assert (changed.bootstrap, changed.cv.outer.n_splits, cfg.bootstrap, cfg.cv.outer.n_splits) == (3, 3, 2000, 5)
    import pickle

    assert pickle.loads(pickle.dumps(changed)) == changed


def test_command_line_overrides_are_applied_once_before_validation(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("target: y\nsafeguards:\n  baselines: false\n")
    cfg = load_config(p, **{"safeguards.permutations": 20, "select.robustness.table": "rep.parquet", "batch": None})
    assert cfg.safeguards.permutations == 20 and cfg.safeguards.baselines is False
    assert cfg.select.robustness.table == "rep.parquet" and cfg.select.robustness.icc == 0.75
    with pytest.raises(ConfigError, match="'safeguards.permutations' must be an integer >= 0"):
        load_config(p, **{"safeguards.permutations": -1})


def test_null_override_sets_null_and_none_changes_nothing(tmp_path):
    from radiomix.config import NULL

    p = tmp_path / "c.yaml"
    p.write_text("target: y\nbatch: site\n")
    assert load_config(p, batch=None).batch == "site"
    assert load_config(p, batch=NULL).batch is None


def test_cli_set_overrides_dotted_keys_once_and_refuses_bad_ones(tmp_path):
    from click.testing import CliRunner

    from radiomix.cli import main
    from radiomix.cli.train import parse_settings

    assert parse_settings(["cv.outer.kind=grouped", "select.mrmr=10", "batch=null"], {}) == {
        "cv.outer.kind": "grouped", "select.mrmr": 10, "batch": __import__("radiomix.config").config.NULL}
    t = tmp_path / "t.csv"
    t.write_text("id,x,y\n" + "".join(f"c{i},{i},{i % 2}\n" for i in range(10)))
    for args, needle in [(["--set", "cv.outer.kinds=grouped"], "unknown config key 'cv.outer.kinds'"),
                         (["--set", "select.mrmr=ten"], "select.mrmr"),
                         (["--set", "novalue"], "expected KEY=VALUE"),
                         (["--set", "target=y", "--target", "y"], "given twice")]:
        res = CliRunner().invoke(main, ["train", str(t), "--target", "y", "--out", str(tmp_path / "r"), *args]
                                 if "--target" not in args else ["train", str(t), "--out", str(tmp_path / "r"), *args])
        assert res.exit_code == 2 and needle in res.output, (args, res.output)
        assert not (tmp_path / "r").exists()


def test_the_reference_lists_every_key_of_the_schema():
    from radiomix.config.schema import iter_keys, reference_rows

    rows = reference_rows()
    assert [r["key"] for r in rows] == [path for path, _ in iter_keys()]
    assert all(r["description"] for r in rows)
    assert len(rows) > 60


def test_the_docs_configuration_reference_is_generated_from_the_schema():
    from radiomix.config.schema import reference_markdown

    shipped = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert shipped.read_text() == reference_markdown(), \
        "regenerate it: python -m radiomix.config --reference > docs/configuration.md"
    assert "| `cv.outer.kind` | choice |" in shipped.read_text()
