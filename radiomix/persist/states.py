"""Plain-data stand-ins for objects whose state reaches compiled code unchecked, rebuilt after checks."""

from __future__ import annotations

import json
import math
import re

import numpy as np

from ._common import (
    MAX_SCHEMA_TOKENS,
    Refused,
    Tokens,
    check_tokens,
    checked_array,
    checked_int,
    no_constant,
    one_line,
)

__all__ = ["TreeState", "BoosterState", "NeighborsTreeState", "SparseState", "STATE_TYPES"]





def _check_children(left: np.ndarray, right: np.ndarray, what: str) -> None:
    """Children arrays of a binary tree stored parent-first: a leaf has both children -1; an internal node ``i``
    has two different children in ``i+1 .. n-1``; every node but the root has exactly one parent. Then every
    walk from the root ends at a leaf inside the arrays (no cycle, no index out of range)."""
    n = left.shape[0]
    idx = np.arange(n)
    leaf = left == -1
    odd = np.flatnonzero(leaf != (right == -1))
    if odd.size:
        raise Refused(f"{what}: node {odd[0]} has one child ({left[odd[0]]}, {right[odd[0]]})")
    inner = ~leaf
    bad = np.flatnonzero(inner & ~((left > idx) & (left < n) & (right > idx) & (right < n) & (left != right)))
    if bad.size:
        i = bad[0]
        raise Refused(f"{what}: node {i} points to children {left[i]} and {right[i]}, outside {i + 1}..{n - 1} "
                       f"({n} nodes)")
    parents = np.bincount(np.concatenate([left[inner], right[inner]]), minlength=n)
    wrong = np.flatnonzero(parents != np.r_[0, np.ones(n - 1, dtype=parents.dtype)])
    if wrong.size:
        raise Refused(f"{what}: node {wrong[0]} has {parents[wrong[0]]} parents")


class State:
    """A plain-data stand-in (numbers, strings, numeric arrays) for an object whose state reaches compiled code."""

    FIELDS: tuple = ()

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def _fields(self, what: str) -> dict:
        got = vars(self)
        if set(got) != set(self.FIELDS):
            raise Refused(f"{what} holds fields {sorted(got)}, expected {sorted(self.FIELDS)}")
        return got


class TreeState(State):
    """scikit-learn's ``sklearn.tree._tree.Tree`` as plain arrays, one entry per node (fields as the Tree's).

    :meth:`build` checks the nodes (children in range, parent-first, one parent each; features below
    ``n_features``; no NaN threshold; values shaped ``(nodes, n_outputs, max(n_classes))``), recomputes the depth
    and only then builds the Tree.
    """

    FIELDS = ("n_features", "n_classes", "n_outputs", "left_child", "right_child", "feature", "threshold",
              "impurity", "n_node_samples", "weighted_n_node_samples", "missing_go_to_left", "values")
    _NODE_FIELDS = ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
                    "weighted_n_node_samples", "missing_go_to_left")

    @classmethod
    def of(cls, tree) -> TreeState:
        _, (n_features, n_classes, n_outputs), state = tree.__reduce__()
        count = int(state["node_count"])
        nodes = state["nodes"][:count]
        return cls(n_features=int(n_features), n_classes=np.asarray(n_classes, dtype=np.int64),
                   n_outputs=int(n_outputs), values=np.ascontiguousarray(state["values"][:count], dtype=np.float64),
                   **{f: np.ascontiguousarray(nodes[f]) for f in cls._NODE_FIELDS})

    def build(self, what: str):
        from sklearn.tree._tree import NODE_DTYPE, Tree

        f = self._fields(what)
        if tuple(NODE_DTYPE.names) != self._NODE_FIELDS:
            raise Refused(f"{what}: this scikit-learn's tree nodes have fields {NODE_DTYPE.names}; radiomix "
                           f"reads {self._NODE_FIELDS}")
        n_features = checked_int(f["n_features"], f"{what}.n_features", 1)
        n_outputs = checked_int(f["n_outputs"], f"{what}.n_outputs", 1)
        n_classes = checked_array(f["n_classes"], f"{what}.n_classes", np.int64, 1, (n_outputs,))
        if (n_classes < 1).any():
            raise Refused(f"{what}.n_classes must be >= 1, got {n_classes.tolist()}")
        left = checked_array(f["left_child"], f"{what}.left_child", np.int64, 1)
        n = left.shape[0]
        if n == 0:
            raise Refused(f"{what} has no nodes")
        arrays = {k: checked_array(f[k], f"{what}.{k}", NODE_DTYPE.fields[k][0], 1, (n,)) for k in self._NODE_FIELDS}
        right, feature, threshold = arrays["right_child"], arrays["feature"], arrays["threshold"]
        _check_children(left, right, what)
        inner = left != -1
        bad = np.flatnonzero(np.where(inner, (feature < 0) | (feature >= n_features), feature != -2))
        if bad.size:
            raise Refused(f"{what}: node {bad[0]} splits on feature {feature[bad[0]]}, outside 0..{n_features - 1}")
        if np.isnan(threshold[inner]).any():
            raise Refused(f"{what}: node {np.flatnonzero(inner & np.isnan(threshold))[0]} has a NaN threshold")
        if not np.isin(arrays["missing_go_to_left"], (0, 1)).all():
            raise Refused(f"{what}: missing_go_to_left must be 0 or 1")
        values = checked_array(f["values"], f"{what}.values", np.float64, 3, (n, n_outputs, int(n_classes.max())))
        nodes = np.empty(n, dtype=NODE_DTYPE)
        for k, a in arrays.items():
            nodes[k] = a
        tree = Tree(n_features, n_classes.astype(np.intp), n_outputs)
        tree.__setstate__({"max_depth": _depth(left, right), "node_count": n, "nodes": nodes, "values": values})
        return tree


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Depth of a checked tree (root 0), level by level (the stored one is not trusted)."""
    depth, level = 0, np.array([0])
    while True:
        level = np.concatenate([left[level], right[level]])
        level = level[level >= 0]
        if not level.size:
            return depth
        depth += 1


class BoosterState(State):
    """An XGBoost ``Booster`` as its JSON model (bytes).

    :meth:`build` parses it, checks every tree (children in range and parent-first, parents consistent, split
    features below ``num_feature``, numerical splits only, array lengths equal to the node count), the
    ensemble's bookkeeping (tree groups, iteration pointers) and the learner's parameters, then loads the
    re-serialized text with XGBoost's own loader (so XGBoost parses exactly what was checked).
    """

    FIELDS = ("model",)

    @classmethod
    def of(cls, booster) -> BoosterState:
        return cls(model=bytes(booster.save_raw("json")))

    def build(self, what: str):
        import xgboost

        f = self._fields(what)
        if not isinstance(f["model"], bytes):
            raise Refused(f"{what}.model must be bytes")
        # Mostly number lists (~32 bytes per value parsed): 1,000 depth-6 trees hold ~1.3 million.
        check_tokens(f["model"], f"{what}'s XGBoost model", Tokens(4 * MAX_SCHEMA_TOKENS))
        try:
            doc = json.loads(f["model"], parse_constant=no_constant)
        except RecursionError:
            raise Refused(f"{what}: the XGBoost model nests too deeply") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise Refused(f"{what}: the XGBoost model is not valid JSON ({one_line(err)})") from None
        _XGBoostModel(what).check(doc)
        booster = xgboost.Booster()
        booster.load_model(bytearray(json.dumps(doc, allow_nan=False).encode()))
        return booster


# What each part of an XGBoost JSON model (3.x) holds; anything else is refused rather than passed on unchecked.
_XGB_TREE_KEYS = {"base_weights", "categories", "categories_nodes", "categories_segments", "categories_sizes",
                  "default_left", "id", "left_children", "loss_changes", "parents", "right_children",
                  "split_conditions", "split_indices", "split_type", "sum_hessian", "tree_param"}
_XGB_OBJECTIVES = {"binary:logistic", "binary:logitraw", "reg:squarederror", "reg:squaredlogerror", "reg:logistic",
                   "reg:pseudohubererror", "reg:absoluteerror", "count:poisson", "survival:cox", "survival:aft",
                   "multi:softmax", "multi:softprob"}
_XGB_FEATURE_TYPES = {"float", "int", "i", "q"}
_XGB_ROOT_PARENT = 2147483647


class _XGBoostModel:
    def __init__(self, what):
        self.what = what

    def fail(self, msg):
        raise Refused(f"{self.what}: XGBoost model: {msg}")

    def keys(self, d, where, required, optional=()):
        if not isinstance(d, dict):
            self.fail(f"{where} must be an object")
        missing, extra = sorted(set(required) - set(d)), sorted(set(d) - set(required) - set(optional))
        if missing or extra:
            self.fail(f"{where} " + (f"lacks {missing}" if missing else f"has unexpected keys {extra}"))

    def count(self, value, where, lo=0) -> int:
        text = value if isinstance(value, str) else None
        if text is None or not re.fullmatch(r"\d{1,9}", text) or int(text) < lo:
            self.fail(f"{where} must be an integer >= {lo} written as text, got {value!r}")
        return int(text)

    def ints(self, value, where, n) -> np.ndarray:
        if not isinstance(value, list) or len(value) != n or not all(type(v) is int for v in value):
            self.fail(f"{where} must be a list of {n} integers")
        return np.asarray(value, dtype=np.int64) if n else np.zeros(0, np.int64)

    def floats(self, value, where, n) -> np.ndarray:
        if not isinstance(value, list) or len(value) != n or not all(type(v) in (int, float) for v in value):
            self.fail(f"{where} must be a list of {n} numbers")
        a = np.asarray(value, dtype=np.float64)
        if not np.isfinite(a).all():
            self.fail(f"{where} holds a non-finite number")
        return a

    def check(self, doc) -> None:
        self.keys(doc, "the document", ("learner", "version"))
        if not (isinstance(doc["version"], list) and len(doc["version"]) == 3
                and all(type(v) is int for v in doc["version"])):
            self.fail("version must be three integers")
        learner = doc["learner"]
        self.keys(learner, "learner", ("attributes", "feature_names", "feature_types", "gradient_booster",
                                       "learner_model_param", "objective"))
        p = learner["learner_model_param"]
        self.keys(p, "learner_model_param", ("base_score", "boost_from_average", "num_class", "num_feature",
                                             "num_target"))
        self.num_feature = self.count(p["num_feature"], "num_feature", 1)
        num_class = self.count(p["num_class"], "num_class")
        num_target = self.count(p["num_target"], "num_target", 1)
        self.count(p["boost_from_average"], "boost_from_average")
        self.groups = max(num_class, num_target, 1)
        base = p["base_score"]
        if not isinstance(base, str) or not re.fullmatch(r"\[?[-+0-9.eE]+(,[-+0-9.eE]+)*\]?", base) or \
                len(base.strip("[]").split(",")) != self.groups or \
                not all(math.isfinite(float(v)) for v in base.strip("[]").split(",")):
            self.fail(f"base_score must hold {self.groups} finite number(s), got {str(base)[:60]!r}")
        for key, allowed in (("feature_names", None), ("feature_types", _XGB_FEATURE_TYPES)):
            v = learner[key]
            if not isinstance(v, list) or len(v) not in (0, self.num_feature) or \
                    not all(isinstance(s, str) and (allowed is None or s in allowed) for s in v):
                self.fail(f"{key} must list {self.num_feature} names" + (f" among {sorted(allowed)} (categorical "
                                                                          "features are not read)" if allowed else ""))
        attrs = learner["attributes"]
        if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
            self.fail("attributes must map names to text")
        self.objective(learner["objective"], num_class)
        rounds = self.booster(learner["gradient_booster"])
        if "best_iteration" in attrs and self.count(attrs["best_iteration"], "best_iteration") >= max(rounds, 1):
            self.fail(f"best_iteration {attrs['best_iteration']} is beyond its {rounds} boosting rounds")

    def objective(self, obj, num_class) -> None:
        if not isinstance(obj, dict) or obj.get("name") not in _XGB_OBJECTIVES:
            self.fail(f"objective {obj.get('name') if isinstance(obj, dict) else obj!r} is not one radiomix reads "
                      f"({sorted(_XGB_OBJECTIVES)})")
        for key, params in obj.items():
            if key != "name" and not (isinstance(params, dict) and
                                      all(isinstance(v, str) for v in params.values())):
                self.fail(f"objective parameters {key!r} must map names to text")
        if obj["name"].startswith("multi:"):
            given = (obj.get("softmax_multiclass_param") or {}).get("num_class")
            if num_class < 2 or given != str(num_class):
                self.fail(f"objective {obj['name']} has num_class {given!r}; the model has {num_class} classes")
        elif num_class:
            self.fail(f"objective {obj['name']} with num_class {num_class}")

    def booster(self, gb) -> int:
        """Checks the booster; returns its number of boosting rounds."""
        name = gb.get("name") if isinstance(gb, dict) else None
        if name == "gblinear":
            self.keys(gb, "gradient_booster", ("model", "name"))
            self.keys(gb["model"], "gblinear model", ("boosted_rounds", "weights"))
            self.floats(gb["model"]["weights"], "gblinear weights", (self.num_feature + 1) * self.groups)
            if type(gb["model"]["boosted_rounds"]) is not int or gb["model"]["boosted_rounds"] < 0:
                self.fail("gblinear boosted_rounds must be an integer >= 0")
            return gb["model"]["boosted_rounds"]
        if name == "dart":
            self.keys(gb, "gradient_booster", ("gbtree", "name", "weight_drop"))
            self.keys(gb["gbtree"], "dart gbtree", ("model", "name"))
            n = self.trees(gb["gbtree"]["model"])
            self.floats(gb["weight_drop"], "weight_drop", n)
            return self.rounds
        if name != "gbtree":
            self.fail(f"booster {name!r} is not gbtree, dart or gblinear")
        self.keys(gb, "gradient_booster", ("model", "name"))
        self.trees(gb["model"])
        return self.rounds

    def trees(self, model) -> int:
        self.keys(model, "gbtree model", ("cats", "gbtree_model_param", "iteration_indptr", "tree_info", "trees"))
        cats = model["cats"]
        self.keys(cats, "cats", ("enc", "feature_segments", "sorted_idx"))
        if any(cats[k] != [] for k in cats):
            self.fail("categorical encodings are not read")
        param = model["gbtree_model_param"]
        self.keys(param, "gbtree_model_param", ("num_parallel_tree", "num_trees"))
        n = self.count(param["num_trees"], "num_trees")
        self.count(param["num_parallel_tree"], "num_parallel_tree", 1)
        trees = model["trees"]
        if not isinstance(trees, list) or len(trees) != n:
            self.fail(f"trees must list num_trees ({n}) trees")
        info = self.ints(model["tree_info"], "tree_info", n)
        if ((info < 0) | (info >= self.groups)).any():
            self.fail(f"tree_info holds an output group outside 0..{self.groups - 1}")
        indptr = model["iteration_indptr"]
        if not isinstance(indptr, list) or not indptr:
            self.fail("iteration_indptr must be a non-empty list")
        ptr = self.ints(indptr, "iteration_indptr", len(indptr))
        if ptr[0] != 0 or ptr[-1] != n or (np.diff(ptr) < 0).any():
            self.fail(f"iteration_indptr must rise from 0 to num_trees ({n})")
        self.rounds = len(ptr) - 1
        for i, tree in enumerate(trees):
            self.tree(tree, i)
        return n

    def tree(self, t, i) -> None:
        where = f"tree {i}"
        self.keys(t, where, _XGB_TREE_KEYS)
        if t["id"] != i or type(t["id"]) is not int:
            self.fail(f"{where} has id {t['id']!r}")
        tp = t["tree_param"]
        self.keys(tp, f"{where} tree_param", ("num_deleted", "num_feature", "num_nodes", "size_leaf_vector"))
        n = self.count(tp["num_nodes"], f"{where} num_nodes", 1)
        if self.count(tp["num_feature"], f"{where} num_feature") != self.num_feature:
            self.fail(f"{where} has num_feature {tp['num_feature']}; the model has {self.num_feature}")
        if tp["num_deleted"] != "0" or tp["size_leaf_vector"] not in ("0", "1"):
            self.fail(f"{where}: deleted nodes or vector leaves are not read")
        left = self.ints(t["left_children"], f"{where} left_children", n)
        right = self.ints(t["right_children"], f"{where} right_children", n)
        _check_children(left, right, f"{self.what}: XGBoost model: {where}")
        parents = self.ints(t["parents"], f"{where} parents", n)
        expect = np.full(n, _XGB_ROOT_PARENT, dtype=np.int64)
        inner = np.flatnonzero(left != -1)
        expect[left[inner]], expect[right[inner]] = inner, inner
        if not np.array_equal(parents, expect):
            self.fail(f"{where}: parents disagree with the children")
        split = self.ints(t["split_indices"], f"{where} split_indices", n)
        bad = np.flatnonzero((split < 0) | (split >= self.num_feature))
        if bad.size:
            self.fail(f"{where}: node {bad[0]} splits on feature {split[bad[0]]}, outside 0..{self.num_feature - 1}")
        if (self.ints(t["split_type"], f"{where} split_type", n) != 0).any():
            self.fail(f"{where}: categorical splits are not read")
        if not np.isin(self.ints(t["default_left"], f"{where} default_left", n), (0, 1)).all():
            self.fail(f"{where}: default_left must be 0 or 1")
        for key in ("split_conditions", "base_weights", "loss_changes", "sum_hessian"):
            self.floats(t[key], f"{where} {key}", n)
        for key in ("categories", "categories_nodes", "categories_segments", "categories_sizes"):
            if t[key] != []:
                self.fail(f"{where}: {key} must be empty (categorical splits are not read)")


class NeighborsTreeState(State):
    """A scikit-learn ``KDTree`` or ``BallTree`` as its data and settings; :meth:`build` rebuilds the tree from
    them (the same tree: construction is deterministic), so no stored index reaches the query code."""

    FIELDS = ("kind", "data", "leaf_size", "metric", "p")
    _METRICS = {"EuclideanDistance64": "euclidean", "ManhattanDistance64": "manhattan",
                "ChebyshevDistance64": "chebyshev", "MinkowskiDistance64": "minkowski"}

    @classmethod
    def of(cls, tree, where: str) -> NeighborsTreeState:
        state = tree.__getstate__()
        if len(state) != 13:  # scikit-learn's BinaryTree state: data, index, nodes, bounds, leaf size, ... metric
            raise ValueError(f"cannot save {where}: this scikit-learn's {type(tree).__name__} state is not the one "
                             "radiomix knows")
        metric_state = state[11].__reduce__()[2]
        metric = cls._METRICS.get(type(state[11]).__name__)
        if metric is None or state[12] is not None or (metric == "minkowski" and np.asarray(metric_state[1]).size):
            raise ValueError(f"cannot save {where}: radiomix model files hold neighbour trees with the metrics "
                             f"{sorted(cls._METRICS.values())} (no weights) only, not {type(state[11]).__name__}")
        return cls(kind="kd_tree" if type(tree).__name__.startswith("KDTree") else "ball_tree",
                   data=np.ascontiguousarray(state[0], dtype=np.float64), leaf_size=int(state[4]), metric=metric,
                   p=float(metric_state[0]) if metric == "minkowski" else None)

    def build(self, what: str):
        from sklearn.neighbors import BallTree, KDTree

        f = self._fields(what)
        if f["kind"] not in ("kd_tree", "ball_tree") or f["metric"] not in self._METRICS.values():
            raise Refused(f"{what}: kind {f['kind']!r} / metric {f['metric']!r} not read")
        data = checked_array(f["data"], f"{what}.data", np.float64, 2)
        if min(data.shape) < 1 or not np.isfinite(data).all():
            raise Refused(f"{what}.data must be a non-empty finite matrix")
        p = f["p"]
        if (p is None) != (f["metric"] != "minkowski") or (p is not None and not (isinstance(p, float) and p >= 1)):
            raise Refused(f"{what}.p must be a number >= 1 for minkowski only, got {p!r}")
        kw = {"p": p} if p is not None else {}
        cls = KDTree if f["kind"] == "kd_tree" else BallTree
        return cls(data, leaf_size=checked_int(f["leaf_size"], f"{what}.leaf_size", 1), metric=f["metric"], **kw)


class SparseState(State):
    """A SciPy CSR/CSC matrix or array as its three arrays and shape; :meth:`build` checks every index (SciPy's
    constructor does not) before the sparse routines see them."""

    FIELDS = ("kind", "data", "indices", "indptr", "shape")
    _KINDS = ("csr_matrix", "csc_matrix", "csr_array", "csc_array")

    @classmethod
    def of(cls, m, where: str) -> SparseState:
        kind = type(m).__name__
        if kind not in cls._KINDS:
            raise ValueError(f"cannot save {where}: radiomix model files hold CSR/CSC sparse data only, not {kind}")
        return cls(kind=kind, data=np.ascontiguousarray(m.data), indices=np.ascontiguousarray(m.indices),
                   indptr=np.ascontiguousarray(m.indptr), shape=tuple(int(s) for s in m.shape))

    def build(self, what: str):
        import scipy.sparse

        f = self._fields(what)
        if f["kind"] not in self._KINDS:
            raise Refused(f"{what}: sparse kind {f['kind']!r} not read")
        shape = f["shape"]
        if not (isinstance(shape, tuple) and len(shape) == 2):
            raise Refused(f"{what}.shape must be two integers")
        shape = tuple(checked_int(s, f"{what}.shape", 0) for s in shape)
        data = f["data"]
        if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype.kind not in "biuf":
            raise Refused(f"{what}.data must be a numeric vector")
        index = f["indices"].dtype if isinstance(f["indices"], np.ndarray) else np.int32
        if index not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise Refused(f"{what}.indices must be int32 or int64")
        indices = checked_array(f["indices"], f"{what}.indices", index, 1)
        indptr = checked_array(f["indptr"], f"{what}.indptr", index, 1)
        try:
            m = getattr(scipy.sparse, f["kind"])((np.ascontiguousarray(data), indices, indptr), shape=shape)
            m.check_format(full_check=True)
        except (ValueError, TypeError, IndexError) as err:
            raise Refused(f"{what}: {one_line(err)}") from None
        return m


#: The plain-data stand-ins, by the type name a file names them with.
STATE_TYPES = frozenset(f"{__name__}.{c.__name__}" for c in (TreeState, BoosterState, NeighborsTreeState, SparseState))
