"""The model's object graph: unsafe objects to plain states on save, back after checks on load."""

from __future__ import annotations

import copy
import types

import numpy as np

from ._common import Refused, never_raw, one_line, type_name
from .owners import check_owner
from .states import BoosterState, NeighborsTreeState, SparseState, State, TreeState

__all__ = ["to_plain", "from_plain", "type_name"]

_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _walk(obj, where: str, visit, after, memo: dict):
    """Depth first over lists, tuples, dicts, object arrays and instance attributes, replacing each object by
    ``visit(obj, where)`` when that returns something (memo keeps shared objects shared); ``after(obj, where)``
    runs on each instance once its attributes are done."""
    key = id(obj)
    if key in memo:
        return memo[key]
    new = visit(obj, where)
    if new is not None:
        memo[key] = new
        return new
    memo[key] = obj
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = _walk(v, f"{where}[{i}]", visit, after, memo)
    elif isinstance(obj, dict):
        for k in list(obj):
            obj[k] = _walk(obj[k], f"{where}[{str(k)[:40]!r}]", visit, after, memo)
    elif isinstance(obj, tuple):
        items = [_walk(v, f"{where}[{i}]", visit, after, memo) for i, v in enumerate(obj)]
        if any(a is not b for a, b in zip(items, obj)):
            memo[key] = new = type(obj)(items) if type(obj) is tuple else type(obj)(*items)
            return new
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            for i in np.ndindex(obj.shape):
                obj[i] = _walk(obj[i], f"{where}[{', '.join(map(str, i))}]", visit, after, memo)
    elif hasattr(obj, "__dict__") and not isinstance(obj, _OPAQUE):
        attrs = vars(obj)
        for k in list(attrs):
            attrs[k] = _walk(attrs[k], f"{where}.{k}", visit, after, memo)
        after(obj, where)
    return obj




def _to_state(obj, where: str):
    name = type_name(obj)
    if name == "sklearn.tree._tree.Tree":
        return TreeState.of(obj)
    if name == "xgboost.core.Booster":
        return BoosterState.of(obj)
    if name.startswith(("sklearn.neighbors._kd_tree.", "sklearn.neighbors._ball_tree.")):
        return NeighborsTreeState.of(obj, where)
    if name.startswith("scipy.sparse."):
        return SparseState.of(obj, where)
    if never_raw(name):
        raise ValueError(f"cannot save {where}: a {name} cannot be written to a radiomix model file")
    return None


def to_plain(obj):
    """A deep copy of ``obj`` in which every object whose state reaches compiled code unchecked (a scikit-learn
    Tree, an XGBoost Booster, a KDTree/BallTree, a sparse matrix) is replaced by its plain-data state, wherever it
    sits (estimator attributes, lists, tuples, dicts). ``obj`` itself is not changed."""
    return _walk(copy.deepcopy(obj), "model", _to_state, lambda o, w: None, {})


def from_plain(obj, name):
    """``obj`` as skops built it from the file ``name``, with every plain-data state replaced by the real object
    after checking it, and every estimator checked against what it holds (see the module docstring). Raises a
    one-line ValueError that starts with ``name``."""
    built: set = set()

    def visit(o, where):
        if isinstance(o, State):
            try:
                real = o.build(where)
            except Refused:
                raise
            except Exception as err:  # a library's own check on what passed ours: still one line
                raise Refused(f"{where}: {type(err).__name__}: {one_line(err)}") from None
            built.add(id(real))
            return real
        if never_raw(type_name(o)) and id(o) not in built:
            raise Refused(f"{where} is a raw {type_name(o)}")
        return None

    def after(o, where):
        try:
            check_owner(o, where)
        except Refused:
            raise
        except Exception as err:  # an attribute of the wrong kind where a check expected an array
            raise Refused(f"{where}: {type(err).__name__}: {one_line(err)}") from None

    try:
        return _walk(obj, "model", visit, after, {})
    except Refused as err:
        raise ValueError(f"{name}: {err}") from None
