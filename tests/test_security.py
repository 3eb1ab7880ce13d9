"""Model files and configs cannot run code: exact trusted types, model.name checked before any import."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from radiomix.config import ConfigError, validate_config
from radiomix.model import TRUSTED_TYPES, load_model, save_model


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    import warnings

    from radiomix.train import train

    rng = np.random.default_rng(0)
    t = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    t["y"] = (rng.random(80) < 1 / (1 + np.exp(-t["a"]))).astype(int)
    t["id"] = [f"p{i}" for i in range(80)]
    cfg = {"target": "y", "model": {"name": "logistic", "params": {}, "search": {}}, "bootstrap": 0,
           "impute": {"method": "median"}, "cv": {"outer": {"n_splits": 3}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(t, cfg, progress=False, report=False)
    path = tmp_path_factory.mktemp("m") / "model.skops"
    save_model(run.model, path)
    return run.model, path, t


def _tampered(model, tmp_path, func):
    from sklearn.preprocessing import FunctionTransformer

    bad = FunctionTransformer(func=func)
    model.pipeline.steps.insert(0, ("evil", bad))
    try:
        path = save_model(model, tmp_path / "evil.skops")
    finally:
        model.pipeline.steps.pop(0)
    return path


@pytest.mark.parametrize("func, name", [(exec, "builtins.exec"), (__import__("os").system, "posix.system")])
def test_model_file_with_a_dangerous_callable_is_refused_by_name(small_model, tmp_path, func, name):
    model, _, _ = small_model
    path = _tampered(model, tmp_path, func)
    with pytest.raises(ValueError, match=rf"does not trust: \['{name}'\].*--trust"):
        load_model(path)
    # The user may accept a named type explicitly (as skops does), and only then does it load.
    assert load_model(path, trusted=[name]).pipeline.steps[0][0] == "evil"


def test_trusted_types_are_exact_names_not_namespaces():
    assert all(not t.endswith(".") and "*" not in t for t in TRUSTED_TYPES)
    assert not any(t.startswith(("builtins.", "os.", "posix.", "subprocess.", "joblib.", "functools.",
                                 "operator.")) for t in TRUSTED_TYPES)


def test_model_file_round_trip_and_corrupt_files(small_model, tmp_path):
    model, path, t = small_model
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict_proba(t), model.predict_proba(t))
    assert len(loaded.data_sha256) == 64 and loaded.data_sha256 == model.data_sha256
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"truncated.skops: not a readable radiomix model file"):
        load_model(truncated)
    garbage = tmp_path / "garbage.skops"
    garbage.write_text("not a zip at all")
    with pytest.raises(ValueError, match="not a readable radiomix model file"):
        load_model(garbage)
    # A zip whose schema was tampered with (the payload no longer matches).
    tampered = tmp_path / "tampered.skops"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(data)
                schema["__class__"] = "NotAModel"
                data = json.dumps(schema).encode()
            zout.writestr(item, data)
    with pytest.raises(ValueError, match="tampered.skops"):
        load_model(tampered)


def test_model_from_a_newer_radiomix_is_refused(small_model, tmp_path):
    model, _, _ = small_model
    old = dict(model.versions)
    model.versions = {**old, "radiomix": "99.0.0"}
    try:
        path = save_model(model, tmp_path / "future.skops")
    finally:
        model.versions = old
    with pytest.raises(ValueError, match=r"written by radiomix 99.0.0, newer than this radiomix"):
        load_model(path)


@pytest.mark.parametrize("name", ["os.system", "subprocess.run", "builtins.eval", "posix.system"])
def test_config_naming_a_dangerous_callable_is_refused_before_any_import_or_call(name, tmp_path, monkeypatch):
    import sys

    marker = tmp_path / "ran"
    cfg = {"model": {"name": name, "params": {"command": f"touch {marker}"}, "search": {}}}
    before = set(sys.modules)
    with pytest.raises(ConfigError, match="outside the trusted packages and was not imported"):
        validate_config(cfg)
    assert not marker.exists()
    assert name.rsplit(".", 1)[0] not in (set(sys.modules) - before)   # nothing new was imported


def test_config_import_path_must_be_a_classifier_class():
    from radiomix.models import make_model

    validate_config({"model": {"name": "sklearn.ensemble.ExtraTreesClassifier", "params": {}, "search": {}}})
    with pytest.raises(ValueError, match="not a scikit-learn classifier class.*nothing was called"):
        make_model("sklearn.utils.shuffle", {})
    with pytest.raises(ConfigError, match="not a model name"):
        validate_config({"model": {"name": "sklearn.ensemble.ExtraTreesClassifier; rm -rf /", "params": {},
                                   "search": {}}})
    with pytest.raises(ConfigError, match="--trust-module"):
        validate_config({"model": {"name": "mypkg.Model", "params": {}, "search": {}}})
