"""Red-team model files (issue #24, item 2): a crafted ``model.skops`` is refused with one line naming the file
(exit status 2 from the CLI, no traceback), never crashes the process that reads it, never decompresses a bomb,
and a genuine file of every model type a config can produce predicts exactly the same after a save/load round
trip. Every crafted file starts as a real saved model, edited the way an attacker would edit it (zipfile, json,
numpy). Cases that reach compiled code run the CLI in a subprocess, so that a segmentation fault shows as a
return code instead of killing pytest. The README's bad-input table is generated from CASES below."""

import io
import json
import lzma
import struct
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from radiomix.cli import main
from radiomix.model import load_model, save_model

#: case id -> (what is wrong, what radiomix does).
CASES = {
    "tree-child-out-of-range": ("model file: a scikit-learn tree node whose child index lies past the last node",
                                "refused: names the file and the node"),
    "tree-feature-out-of-range": ("model file: a tree node splitting on a feature the tree does not have",
                                  "refused: names the file and the node"),
    "tree-cycle": ("model file: a tree node pointing back to the root (a cycle)", "refused: names the file"),
    "tree-nan-threshold": ("model file: a NaN split threshold", "refused: names the file and the node"),
    "tree-wrong-n-features": ("model file: a tree claiming more features than its forest gives it",
                              "refused: names the file and both counts"),
    "raw-compiled-objects": ("model file holding raw scikit-learn trees / XGBoost boosters / KD-trees / sparse "
                             "matrices (an old or crafted file)", "refused even with --trust: train again"),
    "xgboost-child-out-of-range": ("model file: an XGBoost tree child past the last node", "refused: names the tree"),
    "xgboost-split-index": ("model file: an XGBoost split on feature >= num_feature", "refused: names the tree"),
    "cart-tree-child-out-of-range": ("model file: a surrogate-split imputation tree child past the last node",
                                     "refused: names the file"),
    "cart-tree-levels": ("model file: an imputation tree treating a numeric column as categorical",
                         "refused: the tree's predictors are not the imputer's"),
    "onehot-widths": ("model file: a one-hot encoder whose output widths disagree with its categories",
                      "refused: names both"),
    "svm-dual-coef": ("model file: an SVM whose coefficient array is shorter than its support vectors",
                      "refused: names the arrays"),
    "knn-labels": ("model file: k-NN labels outside the class list (brute-force vote)", "refused"),
    "neighbors-tree-data": ("model file: a k-NN search tree over other data than the model's", "refused"),
    "zip-bomb-lzma": ("model file: a 2 GB LZMA member (a few hundred KB on disk)",
                      "refused before decompression (peak memory < 500 MB): names the member, its size and "
                      "RADIOMIX_MAX_MODEL_BYTES"),
    "zip-lying-size": ("model file: a compressed member declaring a smaller size than it expands to",
                       "refused before it expands"),
    "npy-huge-shape": ("model file: an array header declaring 8 TB of data", "refused: names the member"),
    "file-over-limit": ("model file larger than the configured limit", "refused; max_bytes= / "
                                                                       "RADIOMIX_MAX_MODEL_BYTES raise it"),
    "schema-list": ("schema.json holds a list", "refused: one line"),
    "schema-int": ("schema.json holds a number", "refused: one line"),
    "schema-string": ("schema.json holds a string", "refused: one line"),
    "schema-null": ("schema.json holds null", "refused: one line"),
    "schema-not-json": ("schema.json is not JSON", "refused: one line"),
    "schema-missing": ("the zip has no schema.json", "refused: not a readable model file"),
    "schema-deep-nesting": ("schema.json nested 100,000 levels deep", "refused: one line (no RecursionError)"),
    "schema-deep-nodes": ("schema.json nodes nested 200 levels deep", "refused: one line"),
    "schema-null-content": ("the model node's content is null", "refused: one line"),
    "schema-missing-class": ("a node without __class__", "refused: names the node"),
    "schema-wrong-loader": ("a node of a kind radiomix never writes (MethodNode)", "refused: names the kind"),
    "schema-wrong-protocol": ("an unknown skops protocol", "refused: names the protocol"),
    "schema-content-wrong-type": ("a list node whose content is a number", "refused: names the node"),
    "schema-unknown-key": ("a node with an unexpected key", "refused: names the key"),
    "schema-short-key-types": ("a dict node with fewer key types than keys (skops would drop keys)",
                               "refused: one line"),
    "schema-self-reference": ("a node that contains itself (same __id__)", "refused: one line"),
    "schema-empty-model": ("a model node with no attributes (loads an empty model)", "refused: lists what it lacks"),
    "model-attribute-types": ("a model whose threshold is text", "refused: names the attribute"),
    "selector-regex": ("model file: a column selector with a backtracking regex (`(a+)+b`: predict would hang)",
                       "refused: radiomix selects columns by dtype only"),
}

_FAST = {"bootstrap": 0, "safeguards": {"baselines": False, "shap": False}, "cv": {"inner": {"n_splits": 2}}}
_SURV = {"time": "os_days", "event": "os_event"}


def _model(name, **params):
    return {"name": name, "params": params, "search": {}}


#: Every model type a config can produce (with the imputers and samplers it can put in front), small and fast.
MODELS = {
    "xgboost-es-surrogate-smote": ("y", {"model": _model("xgboost", n_estimators=20, early_stopping_rounds=3, n_jobs=1),
                                         "impute": {"method": "surrogate_tree"}, "balance": {"method": "smote"}}),
    "random_forest-knnimpute-smotenc": ("y", {"model": _model("random_forest", n_estimators=5),
                                              "impute": {"method": "knn"}, "balance": {"method": "smotenc"}}),
    "svm-adasyn": ("y", {"model": _model("svm"), "balance": {"method": "adasyn"}}),
    "knn-random_over": ("y", {"model": _model("knn"), "balance": {"method": "random_over"}}),
    "logistic-isotonic": ("y", {"model": _model("logistic"), "calibration": {"recalibrate": "isotonic"}}),
    "lda": ("y", {"model": _model("lda")}),
    "plsda": ("y", {"model": _model("plsda")}),
    "multiclass-xgboost": ("grade", {"model": _model("xgboost", n_estimators=5, n_jobs=1)}),
    "regression-xgboost-es": ("marker", {"model": _model("xgboost", n_estimators=20, early_stopping_rounds=3,
                                                         n_jobs=1)}),
    "regression-random_forest": ("marker", {"model": _model("random_forest", n_estimators=5)}),
    "survival-coxph": (_SURV, {"model": _model("coxph")}),
    "survival-xgboost": (_SURV, {"model": _model("xgboost", n_estimators=5, n_jobs=1)}),
    "survival-xgboost_aft": (_SURV, {"model": _model("xgboost_aft", n_estimators=5, n_jobs=1)}),
    "survival-random_survival_forest": (_SURV, {"model": _model("random_survival_forest", n_estimators=5)}),
}
_TARGETS = ["y", "grade", "marker", "os_days", "os_event"]


def _table(target, missing: bool, n=90, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    eta = X[:, 0] - 0.7 * X[:, 1]
    t = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    t.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    t["sex"] = rng.choice(["F", "M"], n)
    t["y"] = (eta + rng.logistic(size=n) > 1.0).astype(int)  # about 30 % positive: the samplers have work
    t["grade"] = np.array(["G1", "G2", "G3"])[np.digitize(eta + rng.logistic(size=n), [-0.5, 1.0])]
    t["marker"] = 250 + 20 * eta + rng.normal(0, 20, n)
    tt, cc = np.round(rng.exponential(np.exp(-eta)) * 800) + 1, np.round(rng.uniform(200, 2500, n))
    t["os_days"], t["os_event"] = np.minimum(tt, cc), (tt <= cc).astype(int)
    if missing:
        t[["f1", "f2", "f3"]] = t[["f1", "f2", "f3"]].mask(rng.random((n, 3)) < 0.08)
    keep = list(target.values()) if isinstance(target, dict) else [target]
    return t.drop(columns=[c for c in _TARGETS if c not in keep])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("model-files")


@cache
def _trained_in(folder: Path, name: str):
    """(model, its file, its table file) for MODELS[name], trained once per module."""
    import warnings

    from radiomix.model import fit_final_model
    from radiomix.study import make_study

    if name == "survival-random_survival_forest":
        pytest.importorskip("sksurv")
    target, cfg = MODELS[name]
    table = _table(target, missing=cfg.get("impute", {}).get("method") in ("surrogate_tree", "knn"))
    if cfg.get("balance", {}).get("method") in ("smote", "adasyn"):  # they interpolate: numeric columns only
        table = table.drop(columns=["sex"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_final_model(make_study(table, {**_FAST, "target": target, **cfg}))
    path = save_model(model, folder / f"{name}.skops")
    table.to_csv(folder / f"{name}.csv", index=False)
    return model, path, folder / f"{name}.csv"


# ------------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_type_predicts_identically_after_a_round_trip(folder, name):
    import warnings

    model, path, table_path = _trained_in(folder, name)
    table = pd.read_csv(table_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = load_model(path)
        before, after = model.predict(table), again.predict(table)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    assert np.isfinite(after.select_dtypes("number").to_numpy(float)).all()
    # Nothing raw that compiled code reads unchecked is in the file: only the plain-data states.
    schema = json.loads(zipfile.ZipFile(path).read("schema.json"))
    loaders = {(n["__loader__"], n["__module__"]) for n in _nodes(schema)}
    assert not {kind for kind, _ in loaders} & {"TreeNode", "SparseMatrixNode"}
    assert not {mod for _, mod in loaders} & {"xgboost.core", "sklearn.neighbors._kd_tree", "scipy.sparse._csr"}


def test_saving_leaves_the_model_untouched(folder):
    model, _, _ = _trained_in(folder, "lda")
    forest = model.novelty[-1]
    tree = forest.estimators_[0].tree_
    save_model(model, folder / "again.skops")
    assert forest.estimators_[0].tree_ is tree and type(tree).__name__ == "Tree"


# ------------------------------------------------------------------------------------------------ crafting
def _nodes(schema):
    """Every node of a skops schema (dicts with a __loader__), depth first."""
    stack = [schema]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if "__loader__" in n:
                yield n
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


def _attrs(schema, cls, pick=lambda attrs: True):
    """The attribute nodes ``{name: node}`` of the first object of class ``cls`` for which ``pick`` holds."""
    for n in _nodes(schema):
        if n.get("__class__") == cls and n["__loader__"] == "ObjectNode" and "content" in n:
            attrs = n["content"]["content"]
            if pick(attrs):
                return attrs
    raise AssertionError(f"no {cls} in the schema")


def _get(files, node) -> np.ndarray:
    return np.load(io.BytesIO(files[node["file"]]))


def _put(files, node, array) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    files[node["file"]] = buf.getvalue()


def _json(value) -> dict:
    """A JSON-value node with an id of its own: skops resolves nodes sharing an ``__id__`` (a small int, an interned
    string) to the first one, so an edit of a shared node would not take effect."""
    _json.ids += 1
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True, "__id__": _json.ids}


_json.ids = 10 ** 15


def _craft(src, dst, edit=None, schema_text=None, drop=()):
    """A copy of the model file ``src`` at ``dst`` after ``edit(schema, files)`` (files: member -> bytes), or with
    ``schema.json`` replaced by ``schema_text``."""
    with zipfile.ZipFile(src) as z:
        files = {i.filename: z.read(i.filename) for i in z.infolist()}
    schema = json.loads(files.pop("schema.json"))
    if edit is not None:
        edit(schema, files)
    text = json.dumps(schema) if schema_text is None else schema_text
    with zipfile.ZipFile(dst, "w") as z:
        if "schema.json" not in drop:
            z.writestr("schema.json", text)
        for k, v in files.items():
            z.writestr(k, v)
    return dst


def _edit_tree_array(field, change):
    def edit(schema, files):
        attrs = _attrs(schema, "TreeState", lambda a: _get(files, a["left_child"]).shape[0] > 4)
        a = _get(files, attrs[field])
        change(a, _get(files, attrs["left_child"]))
        _put(files, attrs[field], a)
    return edit


def _first_inner_after_root(a, left):
    return int(np.flatnonzero(left[1:] != -1)[0] + 1)


def _edit_n_features(schema, files):
    attrs = _attrs(schema, "TreeState", lambda a: _get(files, a["left_child"]).shape[0] > 4)
    attrs["n_features"] = _json(10 ** 8)  # consistent with its own split, not with the 5 columns it is given
    f = _get(files, attrs["feature"])
    f[0] = 10 ** 8 - 1
    _put(files, attrs["feature"], f)


def _edit_booster(change):
    def edit(schema, files):
        attrs = _attrs(schema, "BoosterState")
        doc = json.loads(files[attrs["model"]["file"]])
        tree = doc["learner"]["gradient_booster"]["model"]["trees"][0]
        change(tree)
        files[attrs["model"]["file"]] = json.dumps(doc).encode()
    return edit


def _edit_cart(field, change):
    def edit(schema, files):
        attrs = _attrs(schema, "Tree", lambda a: "children_left" in a and _get(files, a["children_left"]).shape[0] > 2)
        a = _get(files, attrs[field])
        change(a)
        # Its own member and id: the imputer shares its level counts with its trees (one array in the file).
        _json.ids += 1
        attrs[field] = {**attrs[field], "file": f"crafted-{field}.npy", "__id__": _json.ids}
        _put(files, attrs[field], a)
    return edit


def _edit_onehot(schema, files):
    attrs = _attrs(schema, "OneHotEncoder", lambda a: "_n_features_outs" in a and a["_n_features_outs"]["content"])
    attrs["_n_features_outs"]["content"][0] = _json(1)  # 2 levels (sex) written into a 1-column buffer


def _edit_svm(schema, files):
    attrs = _attrs(schema, "SVC", lambda a: "_dual_coef_" in a)
    _put(files, attrs["_dual_coef_"], _get(files, attrs["_dual_coef_"])[:, :3].copy())


def _edit_knn_labels(schema, files):
    attrs = _attrs(schema, "KNeighborsClassifier", lambda a: "_y" in a)
    _put(files, attrs["_y"], np.full_like(_get(files, attrs["_y"]), 10 ** 6))
    attrs["_fit_method"] = _json("brute")  # the class vote that indexes a count table by label
    attrs["_tree"] = _json(None)


def _edit_neighbors_data(schema, files):
    attrs = _attrs(schema, "NeighborsTreeState")
    _put(files, attrs["data"], _get(files, attrs["data"])[:5].copy())


#: Crafted files whose content reaches compiled code: case -> (model they start from, edit).
CRASH = {
    "tree-child-out-of-range": ("lda", _edit_tree_array("left_child", lambda a, left: a.__setitem__(0, 10 ** 6))),
    "tree-feature-out-of-range": ("lda", _edit_tree_array("feature", lambda a, left: a.__setitem__(0, 10 ** 6))),
    "tree-cycle": ("lda", _edit_tree_array("left_child", lambda a, left: a.__setitem__(
        _first_inner_after_root(a, left), 0))),
    "tree-nan-threshold": ("lda", _edit_tree_array("threshold", lambda a, left: a.__setitem__(0, np.nan))),
    "tree-wrong-n-features": ("lda", _edit_n_features),
    "xgboost-child-out-of-range": ("multiclass-xgboost", _edit_booster(
        lambda t: t["left_children"].__setitem__(0, 10 ** 6))),
    "xgboost-split-index": ("multiclass-xgboost", _edit_booster(lambda t: t["split_indices"].__setitem__(0, 10 ** 6))),
    "cart-tree-child-out-of-range": ("xgboost-es-surrogate-smote", _edit_cart(
        "children_left", lambda a: a.__setitem__(0, 10 ** 6))),
    "cart-tree-levels": ("xgboost-es-surrogate-smote", _edit_cart("ncat", lambda a: a.__setitem__(0, 1))),
    "onehot-widths": ("lda", _edit_onehot),
    "svm-dual-coef": ("svm-adasyn", _edit_svm),
    "knn-labels": ("knn-random_over", _edit_knn_labels),
    "neighbors-tree-data": ("knn-random_over", _edit_neighbors_data),
}
#: What each refusal says (beyond the file's name).
_SAYS = {
    "tree-child-out-of-range": "outside", "tree-feature-out-of-range": "splits on feature", "tree-cycle": "outside",
    "tree-nan-threshold": "NaN threshold", "tree-wrong-n-features": "100000000 features",
    "xgboost-child-out-of-range": "tree 0", "xgboost-split-index": "splits on feature",
    "cart-tree-child-out-of-range": "surrogate tree", "cart-tree-levels": "predictors",
    "onehot-widths": "output widths", "svm-dual-coef": "_dual_coef_", "knn-labels": "_y",
    "neighbors-tree-data": "training data",
}


#: Runs ``radiomix predict`` (the console entry point, exit status and all) on each (model, table, out) given, in
#: this one process, and prints a JSON line per file: a crash kills the process, and its return code says so.
_PREDICT_EACH = """
import contextlib, io, json, sys
from radiomix.cli import main
for model, table, out in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["predict", model, table, "--out", out])
            code = 0
        except SystemExit as end:
            code = end.code
    print(json.dumps({"model": model, "code": code, "stderr": err.getvalue()}), flush=True)
"""


@pytest.fixture(scope="module")
def crafted(folder):
    """Every CRASH file, and what ``radiomix predict`` did with each, in two subprocesses (one per core) so that a
    segmentation fault or an abort shows as a return code (-11, -6) instead of killing pytest."""
    files = {}
    for case, (name, edit) in CRASH.items():
        _, path, table = _trained_in(folder, name)
        files[case] = (_craft(path, folder / f"{case}.skops", edit), table)
    jobs = [[(str(m), str(t), str(folder / f"{c}.csv")) for c, (m, t) in files.items()][k::2] for k in range(2)]

    def run(job):
        return subprocess.run([sys.executable, "-c", _PREDICT_EACH, json.dumps(job)], capture_output=True, text=True,
                              timeout=300)

    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(run, jobs))
    results = {}
    for proc in procs:
        assert proc.returncode == 0, (proc.returncode, proc.stdout[-1000:], proc.stderr[-2000:])  # no crash
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                results[r["model"]] = r
    return files, results


def _one_error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert "Traceback" not in output
    return errors[0]


@pytest.mark.parametrize("case", list(CRASH))
def test_crafted_compiled_state_is_refused_in_one_line_without_a_crash(crafted, case):
    files, results = crafted
    path = files[case][0]
    res = results[str(path)]
    assert res["code"] == 2, res
    line = _one_error_line(res["stderr"])
    assert path.name in line and _SAYS[case] in line, line
    with pytest.raises(ValueError) as err:
        load_model(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value) and _SAYS[case] in str(err.value)


@pytest.mark.parametrize("case", ["raw-compiled-objects"])
@pytest.mark.parametrize("name, raw", [
    ("multiclass-xgboost", ["sklearn.tree._tree.Tree", "xgboost.core.Booster"]),
    ("knn-random_over", ["sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.neighbors._kd_tree.KDTree"]),
    ("random_forest-knnimpute-smotenc", ["scipy.sparse._csr.csr_matrix"]),
])
def test_raw_compiled_objects_are_refused_even_when_trusted_by_name(folder, case, name, raw):
    import skops.io as sio

    model, _, table = _trained_in(folder, name)
    path = folder / f"raw-{name}.skops"
    sio.dump(model, path)  # what radiomix wrote before, and what a crafted file holds: the objects themselves
    with pytest.raises(ValueError) as err:
        load_model(path, trusted=raw)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and all(t in msg for t in raw) and "train the model again" in msg
    trust = [a for t in raw for a in ("--trust", t)]
    res = CliRunner().invoke(main, ["predict", str(path), str(table), "--out", str(folder / "p.csv"), *trust])
    assert res.exit_code == 2 and path.name in _one_error_line(res.output)


# ------------------------------------------------------------------------------------------------ the zip itself
def _refused(path, *needles, **kw):
    """load_model refuses ``path`` with one line naming it; so does ``radiomix predict`` (exit status 2)."""
    with pytest.raises(ValueError) as err:
        load_model(path, **kw)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    if not kw:
        table = path.parent / "any.csv"
        table.write_text("id,f0\np1,1\n")
        res = CliRunner().invoke(main, ["predict", str(path), str(table), "--out", str(path.parent / "p.csv")])
        assert res.exit_code == 2, res.output
        assert path.name in _one_error_line(res.output)
    return msg


class _FastLZMA(zipfile.LZMACompressor):
    """zipfile's LZMA member format with LZMA's fastest preset: the test writes 2 GB of zeros in seconds."""

    def _init(self):
        fast = {"id": lzma.FILTER_LZMA1, "preset": 0}
        props = lzma._encode_filter_properties(fast)  # what a reader needs: dictionary size and literal coding
        self._comp = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[fast])
        return struct.pack("<BBH", 9, 4, len(props)) + props


_BOMB_BYTES = (1 << 31) - (1 << 27)  # 2.0 GB: over the 1 GiB default, under zip64 (the sizes stay patchable)


def _replace_array(src, dst, total, compress_type, compressor=None):
    """A copy of the model file ``src`` whose first tree's thresholds (an array member skops reads) become a
    ``total``-byte array of zeros, written in 16 MiB chunks with ``compress_type`` (the test never holds it)."""
    import unittest.mock

    with zipfile.ZipFile(src) as z:
        schema = json.loads(z.read("schema.json"))
        target = _attrs(schema, "TreeState")["threshold"]["file"]
        with zipfile.ZipFile(dst, "w") as out:
            for info in z.infolist():
                if info.filename != target:
                    out.writestr(info, z.read(info))
            head = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({(total - 128) // 8},), }}".encode()
            head = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + head + b" " * (117 - len(head)) + b"\n"
            info = zipfile.ZipInfo(target)
            info.compress_type = compress_type
            patch = unittest.mock.patch.object(zipfile, "LZMACompressor", compressor or zipfile.LZMACompressor)
            with patch, out.open(info, "w") as f:
                f.write(head)
                left, chunk = total - len(head), bytes(1 << 24)
                while left > 0:
                    f.write(chunk[:left])
                    left -= len(chunk)
    return dst, target


@pytest.fixture(scope="module")
def bomb(folder):
    """A real model file whose first tree's thresholds are a 2 GB LZMA member of zeros (a few hundred KB)."""
    _, path, _ = _trained_in(folder, "lda")
    out, member = _replace_array(path, folder / "bomb.skops", _BOMB_BYTES, zipfile.ZIP_LZMA, _FastLZMA)
    assert out.stat().st_size - path.stat().st_size < 1_000_000
    return out, member


def _patch_declared_size(src, dst, member, size):
    """A copy of ``src`` whose central directory declares ``size`` uncompressed bytes for ``member`` (a lie)."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
    at = data.rfind(b"PK\x01\x02")  # central directory entries, searched from the last one
    while struct.unpack("<H", data[at + 28:at + 30])[0] != len(member) or data[at + 46:at + 46 + len(member)] != \
            member.encode():
        at = data.rfind(b"PK\x01\x02", 0, at)
    assert struct.unpack("<I", data[at + 24:at + 28])[0] == info.file_size
    data[at + 24:at + 28] = struct.pack("<I", size)
    dst.write_bytes(bytes(data))
    return dst


_MEASURE = """
import json, sys, tracemalloc
import skops.io
from radiomix.model import load_model
tracemalloc.start()
out = {}
for path in sys.argv[1:]:
    try:
        load_model(path)
        out[path] = "loaded"
    except ValueError as err:
        out[path] = str(err)
# VmHWM: this process's own peak (ru_maxrss carries the forking parent's peak across exec on Linux)
out["peak_mb"] = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM")) / 1024
out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
print(json.dumps(out))
"""


@pytest.mark.parametrize("case", ["zip-bomb-lzma", "zip-lying-size"])
def test_zip_bombs_are_refused_before_decompression(folder, bomb, case):
    path, member = bomb
    if case == "zip-lying-size":
        path = _patch_declared_size(path, folder / "lying.skops", member, 1000)
    res = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["peak_mb"] < 500 and out["traced_peak_mb"] < 50, out  # 2 GB would have been decompressed
    msg = out[str(path)]
    assert "\n" not in msg and str(path) in msg and f"'{member}'" in msg, msg
    if case == "zip-bomb-lzma":
        assert f"{_BOMB_BYTES:,} bytes" in msg and "RADIOMIX_MAX_MODEL_BYTES" in msg and "max_bytes" in msg
    else:
        assert "compressed with lzma" in msg
    _refused(path, f"'{member}'")


def test_a_deflated_member_that_expands_past_its_declared_size_is_refused(folder):
    """zip-lying-size with deflate, which radiomix reads: the stream is inflated in bounded chunks first."""
    import tracemalloc

    _, path, _ = _trained_in(folder, "lda")
    honest, member = _replace_array(path, folder / "deflated.skops", 64 << 20, zipfile.ZIP_DEFLATED)
    lying = _patch_declared_size(honest, folder / "deflated-lying.skops", member, 1000)
    tracemalloc.start()
    try:
        _refused(lying, f"'{member}'", "inflates to more than the 1,000 bytes")
        assert tracemalloc.get_traced_memory()[1] < 32 * 2 ** 20  # skops would have inflated 64 MiB at once
    finally:
        tracemalloc.stop()
    # Honest, the same member is read (and the zeros it holds are refused as thresholds of the wrong length).
    _refused(honest, "threshold has shape")


@pytest.mark.parametrize("case", ["npy-huge-shape"])
def test_an_array_header_must_match_its_bytes(folder, case):
    _, path, _ = _trained_in(folder, "lda")

    def edit(schema, files):
        attrs = _attrs(schema, "TreeState")
        head = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
        head += b" " * (118 - len(head)) + b"\n"
        files[attrs["threshold"]["file"]] = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head + bytes(8)

    _refused(_craft(path, folder / f"{case}.skops", edit), "declares a (1000000000000,) float64 array")


@pytest.mark.parametrize("case", ["file-over-limit"])
def test_the_size_limit_is_configurable(folder, case, monkeypatch):
    _, path, _ = _trained_in(folder, "lda")
    size = path.stat().st_size
    msg = _refused(path, f"{size:,} bytes", "RADIOMIX_MAX_MODEL_BYTES", max_bytes=size - 1)
    assert "max_bytes" in msg
    assert load_model(path, max_bytes=size).features  # exactly at the limit: loads
    monkeypatch.setenv("RADIOMIX_MAX_MODEL_BYTES", str(size - 1))
    _refused(path, f"over the {size - 1:,}-byte limit")
    monkeypatch.setenv("RADIOMIX_MAX_MODEL_BYTES", "lots")
    with pytest.raises(ValueError, match="RADIOMIX_MAX_MODEL_BYTES='lots' is not a whole number of bytes"):
        load_model(path)


# ------------------------------------------------------------------------------------------------ schema.json
def _root_dict(schema):
    return schema["content"]


def _deep_nodes(schema):
    node = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "__id__": 7, "content": []}
    for i in range(200):
        node = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "__id__": 100 + i,
                "content": [node]}
    _root_dict(schema)["content"]["cv_summary"] = node


def _features(schema):
    """The model's ``features`` attribute: a list node."""
    return _root_dict(schema)["content"]["features"]


def _self_reference(schema):
    inner = _features(schema)
    inner["content"] = [{"__class__": "RadiomixModel", "__module__": "radiomix.model", "__loader__": "ObjectNode",
                         "__id__": inner["__id__"]}]


def _empty_model(schema):
    schema["content"] = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "__id__": 1,
                         "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                      "__loader__": "ListNode", "__id__": 2, "content": []}}


def _short_key_types(schema):
    keys = _root_dict(schema)["key_types"]
    keys["content"] = keys["content"][:1]


SCHEMAS = {
    "schema-list": ("[]", None, "holds a list"),
    "schema-int": ("42", None, "holds a number"),
    "schema-string": ('"a model"', None, "holds a string"),
    "schema-null": ("null", None, "holds null"),
    "schema-not-json": ("{not json", None, "not valid JSON"),
    "schema-deep-nesting": ("[" * 100_000 + "]" * 100_000, None, "nests deeper"),
    "schema-deep-nodes": (None, _deep_nodes, "nest deeper than 64 levels"),
    "schema-null-content": (None, lambda s: s.__setitem__("content", None), "top level"),
    "schema-missing-class": (None, lambda s: _features(s).pop("__class__"), "lacks ['__class__']"),
    "schema-wrong-loader": (None, lambda s: _features(s).__setitem__("__loader__", "MethodNode"),
                            "node kind 'MethodNode'"),
    "schema-wrong-protocol": (None, lambda s: s.__setitem__("protocol", 99), "skops protocol 99"),
    "schema-content-wrong-type": (None, lambda s: _features(s).__setitem__("content", 3), "content must be a list"),
    "schema-unknown-key": (None, lambda s: _features(s).__setitem__("evil", 1), "unexpected keys ['evil']"),
    "schema-short-key-types": (None, _short_key_types, "one type per key"),
    "schema-self-reference": (None, _self_reference, "contains itself"),
    "schema-empty-model": (None, _empty_model, "lacks ['pipeline'"),
    "model-attribute-types": (None, lambda s: _root_dict(s)["content"].__setitem__("threshold", _json("high")),
                              "threshold"),
}


@pytest.mark.parametrize("case", list(SCHEMAS))
def test_tampered_schema_is_refused_in_one_line(folder, case):
    _, path, _ = _trained_in(folder, "lda")
    text, edit, says = SCHEMAS[case]
    _refused(_craft(path, folder / f"{case}.skops", edit and (lambda schema, files: edit(schema)), text), says)


@pytest.mark.parametrize("case", ["schema-missing"])
def test_a_zip_without_schema_is_refused(folder, case):
    _, path, _ = _trained_in(folder, "lda")
    _refused(_craft(path, folder / f"{case}.skops", drop=("schema.json",)), "not a readable radiomix model file")



@pytest.mark.parametrize("case", ["selector-regex"])
def test_a_column_selector_regex_is_refused(folder, case):
    """make_column_selector runs Python's backtracking ``re`` at every transform: a crafted pattern would hang
    ``predict`` on a long column name."""
    import copy

    from sklearn.compose import make_column_selector

    model, _, _ = _trained_in(folder, "lda")
    model = copy.deepcopy(model)
    selectors = []

    def find(o, depth=0):
        if isinstance(o, make_column_selector):
            selectors.append(o)
        elif depth < 10 and isinstance(o, (list, tuple)):
            for x in o:
                find(x, depth + 1)
        elif depth < 10 and hasattr(o, "__dict__") and not isinstance(o, type):
            for x in vars(o).values():
                find(x, depth + 1)

    find(model.pipeline)
    assert selectors
    for sel in selectors:
        sel.pattern = "(a+)+b"
    path = save_model(model, folder / f"{case}.skops")
    with pytest.raises(ValueError, match=r"column selector with a regular expression \('\(a\+\)\+b'\)"):
        load_model(path)
