"""What compiled code assumes about an estimator and the objects it holds, checked after loading."""

from __future__ import annotations

import numpy as np

from ._common import Refused, checked_array, checked_int, one_line, type_name

__all__ = ["check_owner"]

def check_owner(obj, where: str) -> None:
    """What compiled code assumes about an estimator and the objects it holds, checked after loading."""
    from sklearn.tree._tree import Tree

    attrs = vars(obj)
    n_in = attrs.get("n_features_in_")
    if isinstance(attrs.get("tree_"), Tree):
        tree = attrs["tree_"]
        if n_in != tree.n_features or attrs.get("n_outputs_", tree.n_outputs) != tree.n_outputs:
            raise Refused(f"{where}.tree_ has {tree.n_features} features and {tree.n_outputs} outputs; the "
                           f"estimator has {n_in} and {attrs.get('n_outputs_')}")
    booster = next((v for v in attrs.values() if type_name(v) == "xgboost.core.Booster"), None)
    if booster is not None and "n_features_in_" in attrs and booster.num_features() != n_in:
        raise Refused(f"{where}: its XGBoost model has {booster.num_features()} features; the estimator has {n_in}")
    for check in _OWNER_CHECKS:
        check(obj, attrs, where)


def _is(obj, module: str, names) -> bool:
    """``obj`` is an instance of a class of that module with one of those names (no import when it cannot be)."""
    import sys

    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, tuple(getattr(mod, n) for n in names if hasattr(mod, n)))


def _check_ensemble(obj, attrs, where) -> None:
    """Forests call their trees' compiled ``apply`` on the forest's validated input without re-checking it
    (``check_input=False``); bagging and isolation forests first pick ``estimators_features_`` columns."""
    if not (_is(obj, "sklearn.ensemble._forest", ("BaseForest",))
            or _is(obj, "sklearn.ensemble._bagging", ("BaseBagging",))) or "estimators_" not in attrs:
        return
    n = checked_int(attrs.get("n_features_in_"), f"{where}.n_features_in_", 1)
    estimators = attrs.get("estimators_")
    if not isinstance(estimators, list):
        raise Refused(f"{where}.estimators_ must be a list")
    features = attrs.get("estimators_features_")
    if features is not None and (not isinstance(features, list) or len(features) != len(estimators)):
        raise Refused(f"{where}.estimators_features_ must list one feature set per estimator")
    drawn = attrs.get("_max_features", n)
    for k, est in enumerate(estimators):
        want = n
        if features is not None:
            f = features[k]
            if not isinstance(f, np.ndarray) or f.ndim != 1 or f.dtype.kind not in "iu" or \
                    ((f < 0) | (f >= n)).any() or f.shape[0] != drawn:
                raise Refused(f"{where}.estimators_features_[{k}] must hold {drawn} column indices below {n}")
            want = f.shape[0]
        got = getattr(est, "n_features_in_", None)
        if got != want:
            raise Refused(f"{where}.estimators_[{k}] sees {got} features; the ensemble gives it {want}")


def _check_onehot(obj, attrs, where) -> None:
    """``transform`` builds a sparse matrix whose column indices come from ``categories_`` and whose width comes
    from ``_n_features_outs``; unequal, the densifying routine writes past its buffer."""
    if not _is(obj, "sklearn.preprocessing._encoders", ("OneHotEncoder",)) or "categories_" not in attrs:
        return  # unfitted templates (a ColumnTransformer keeps them beside the fitted copies) hold no arrays
    cats = attrs.get("categories_")
    if not isinstance(cats, list) or not all(isinstance(c, np.ndarray) and c.ndim == 1 for c in cats):
        raise Refused(f"{where}.categories_ must be a list of vectors")
    if attrs.get("drop_idx_") is not None or attrs.get("_drop_idx_after_grouping") is not None or \
            attrs.get("_infrequent_enabled") is not False:
        raise Refused(f"{where}: dropped or infrequent categories are not read (radiomix never sets them)")
    if attrs.get("_n_features_outs") != [len(c) for c in cats] or attrs.get("n_features_in_") != len(cats):
        raise Refused(f"{where}: output widths {attrs.get('_n_features_outs')} disagree with its categories "
                       f"{[len(c) for c in cats]}")


def _check_libsvm(obj, attrs, where) -> None:
    """libsvm copies the support vectors, coefficients and intercepts by the counts it is given."""
    if not _is(obj, "sklearn.svm._base", ("BaseLibSVM",)) or "support_vectors_" not in attrs:
        return
    from sklearn.svm._base import LIBSVM_IMPL

    impl, n_in = getattr(obj, "_impl", None), attrs.get("n_features_in_")  # a class attribute, unless the file sets it
    if impl not in LIBSVM_IMPL or attrs.get("_sparse") is not False or \
            attrs.get("kernel") not in ("linear", "poly", "rbf", "sigmoid"):
        raise Refused(f"{where}: only dense models with a linear, poly, rbf or sigmoid kernel are read")
    sv = checked_array(attrs.get("support_vectors_"), f"{where}.support_vectors_", np.float64, 2)
    n_sv = sv.shape[0]
    counts = checked_array(attrs.get("_n_support"), f"{where}._n_support", np.int32, 1)
    classes = len(attrs.get("classes_", [])) if LIBSVM_IMPL.index(impl) < 2 else 2
    pairs = max(classes * (classes - 1) // 2, 1)
    shape_fit = attrs.get("shape_fit_")
    if sv.shape[1] != n_in or not isinstance(shape_fit, tuple) or len(shape_fit) != 2 or shape_fit[1] != n_in or \
            counts.shape[0] != classes or (counts < 0).any() or (LIBSVM_IMPL.index(impl) < 2 and counts.sum() != n_sv):
        raise Refused(f"{where}: support vectors {sv.shape}, counts {counts.tolist()} and {n_in} features disagree")
    checked_array(attrs.get("support_"), f"{where}.support_", np.int32, 1, (n_sv,))
    checked_array(attrs.get("_dual_coef_"), f"{where}._dual_coef_", np.float64, 2, (max(classes - 1, 1), n_sv))
    checked_array(attrs.get("_intercept_"), f"{where}._intercept_", np.float64, 1, (pairs,))
    for key in ("_probA", "_probB"):
        a = checked_array(attrs.get(key), f"{where}.{key}", np.float64, 1)
        if a.shape[0] not in (0, pairs):
            raise Refused(f"{where}.{key} has {a.shape[0]} entries, expected 0 or {pairs}")


def _check_neighbors(obj, attrs, where) -> None:
    """Queries run compiled code over ``_fit_X`` and the tree, and the brute-force class vote indexes a count
    table by ``_y``."""
    if not _is(obj, "sklearn.neighbors._base", ("NeighborsBase",)) or "_fit_X" not in attrs:
        return
    import scipy.sparse

    method, tree, X = attrs.get("_fit_method"), attrs.get("_tree"), attrs["_fit_X"]
    n_in = attrs.get("n_features_in_")
    expected = {"brute": type(None), "kd_tree": "KDTree", "ball_tree": "BallTree"}.get(method)
    if expected is None or (tree is None) != (method == "brute") or \
            (tree is not None and not type(tree).__name__.startswith(expected)):
        raise Refused(f"{where}: fit method {method!r} and its tree ({type(tree).__name__}) disagree")
    if scipy.sparse.issparse(X):
        if method != "brute":
            raise Refused(f"{where}: sparse training data goes with brute force only")
    elif not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float64, np.float32)):
        raise Refused(f"{where}._fit_X must be a float matrix")
    if X.shape[1] != n_in or attrs.get("n_samples_fit_") != X.shape[0] or \
            (tree is not None and np.asarray(tree.data).shape != X.shape):
        raise Refused(f"{where}: training data {X.shape}, n_samples_fit_ {attrs.get('n_samples_fit_')} and "
                       f"{n_in} features disagree")
    if "classes_" in attrs and "_y" in attrs:
        y, classes = attrs["_y"], attrs["classes_"]
        outputs = classes if attrs.get("outputs_2d_") else [classes]
        y2 = y if attrs.get("outputs_2d_") else np.asarray(y)[:, None] if isinstance(y, np.ndarray) else y
        if not isinstance(y2, np.ndarray) or y2.dtype.kind not in "iu" or y2.shape != (X.shape[0], len(outputs)) \
                or any(((y2[:, j] < 0) | (y2[:, j] >= len(c))).any() for j, c in enumerate(outputs)):
            raise Refused(f"{where}._y must hold one class index (below the number of classes) per training row")


def _check_stacking(obj, attrs, where) -> None:
    """Stacking calls each block's method by the name it stored; only prediction methods are names it writes."""
    if not _is(obj, "sklearn.ensemble._stacking", ("StackingClassifier", "StackingRegressor")) or \
            "stack_method_" not in attrs:
        return
    methods = attrs["stack_method_"]
    if not (isinstance(methods, list) and all(m in ("predict_proba", "decision_function", "predict", "drop")
                                              for m in methods)):
        raise Refused(f"{where}.stack_method_ must name prediction methods, got {str(methods)[:80]}")


def _check_surrogate_trees(obj, attrs, where) -> None:
    """radiomix's surrogate-split trees: the imputer hands each tree the rows of its predictors only."""
    from ..impute import SurrogateTreeClassifier, SurrogateTreeImputer, SurrogateTreeRegressor, _cart

    if not isinstance(obj, (SurrogateTreeRegressor, SurrogateTreeClassifier, SurrogateTreeImputer)):
        return
    if isinstance(obj, (SurrogateTreeRegressor, SurrogateTreeClassifier)) and "tree_" in attrs:
        tree = attrs["tree_"]
        if not isinstance(tree, _cart.Tree):
            raise Refused(f"{where}.tree_ is not a surrogate tree")
        _check_cart(tree, f"{where}.tree_")
        if tree.ncat.shape[0] != attrs.get("n_features_in_"):
            raise Refused(f"{where}.tree_ was grown on {tree.ncat.shape[0]} predictors; the estimator has "
                           f"{attrs.get('n_features_in_')}")
    if not isinstance(obj, SurrogateTreeImputer) or "imputation_sequence_" not in attrs:
        return
    p = checked_int(attrs.get("n_features_in_"), f"{where}.n_features_in_", 1)
    ncat = checked_array(attrs.get("_ncat"), f"{where}._ncat", np.int64, 1, (p,))
    chosen = attrs.get("predictors_")
    if chosen is not None:
        chosen = checked_array(chosen, f"{where}.predictors_", np.int64, 2)
        if chosen.shape[0] != p or ((chosen < -1) | (chosen >= p)).any():
            raise Refused(f"{where}.predictors_ must hold, per column, predictor columns below {p} (or -1)")
    seq = attrs["imputation_sequence_"]
    if not isinstance(seq, list):
        raise Refused(f"{where}.imputation_sequence_ must be a list")
    for k, step in enumerate(seq):
        label = f"{where}.imputation_sequence_[{k}]"
        if not (isinstance(step, tuple) and len(step) == 3 and isinstance(step[2], _cart.Tree)):
            raise Refused(f"{label} must be (round, column, tree)")
        checked_int(step[0], f"{label} round")
        j = checked_int(step[1], f"{label} column")
        if j >= p:
            raise Refused(f"{label} imputes column {j} of {p}")
        _check_cart(step[2], label)
        idx = chosen[j] if chosen is not None and chosen[j, 0] >= 0 else slice(None)
        if not np.array_equal(step[2].ncat, ncat[idx]):
            raise Refused(f"{label}: the tree's predictors (levels {step[2].ncat.tolist()[:10]}) are not the ones "
                           "the imputer hands it")


def _check_cart(tree, where) -> None:
    try:
        tree.validate()
    except (ValueError, AttributeError, TypeError) as err:
        raise Refused(f"{where}: {one_line(err)}") from None


def _check_column_selector(obj, attrs, where) -> None:
    """A column selector's regular expression runs at every ``transform`` with Python's backtracking ``re``: a
    crafted ``(a+)+b`` would hang ``predict``. radiomix's pipelines select by dtype only, so a pattern is refused."""
    if _is(obj, "sklearn.compose._column_transformer", ("make_column_selector",)) and \
            attrs.get("pattern") is not None:
        raise Refused(f"{where}: a column selector with a regular expression ({str(attrs['pattern'])[:60]!r}); "
                       "radiomix's pipelines select columns by dtype only")


_OWNER_CHECKS = (_check_ensemble, _check_onehot, _check_libsvm, _check_neighbors, _check_stacking,
                 _check_surrogate_trees, _check_column_selector)
