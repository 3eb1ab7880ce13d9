"""The train config: defaults load, bad keys and values get messages that name them."""

import pytest

from radiomix.config import ConfigError, load_config, validate_config


def test_default_config_loads():
    cfg = load_config()
    assert cfg["model"]["name"] == "xgboost" and cfg["cv"]["outer"]["n_splits"] == 5


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
    assert cfg["target"] == "y" and cfg["id"] == "pid" and cfg["model"]["search"] == {"max_depth": [2]}
    assert cfg["model"]["params"]["n_estimators"] == 200  # defaults kept
