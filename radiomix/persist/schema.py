"""``schema.json`` against the fixed structure of the skops node kinds a radiomix model file holds."""

from __future__ import annotations

import json
import re

import numpy as np

from ._common import MAX_DEPTH, PROTOCOL, Refused, Tokens, check_tokens, one_line

__all__ = ["PLAIN_TYPES", "Schema"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_COMMON = frozenset({"__class__", "__module__", "__loader__", "__id__"})
#: Node kind -> (required, optional) keys beyond the common ones: the structure skops (protocol 2) writes.
_KINDS = {
    "ObjectNode": (frozenset(), frozenset({"content"})),
    "DictNode": (frozenset({"content", "key_types"}), frozenset()),
    "ListNode": (frozenset({"content"}), frozenset()),
    "TupleNode": (frozenset({"content"}), frozenset()),
    "SetNode": (frozenset({"content"}), frozenset()),
    "SliceNode": (frozenset({"content"}), frozenset()),
    "JsonNode": (frozenset({"content", "is_json"}), frozenset()),
    "TypeNode": (frozenset(), frozenset()),
    "FunctionNode": (frozenset(), frozenset()),
    "NdArrayNode": (frozenset({"type"}), frozenset({"file", "content", "shape"})),
    "DTypeNode": (frozenset({"content"}), frozenset()),
    "BytesNode": (frozenset({"file"}), frozenset()),
    "BytearrayNode": (frozenset({"file"}), frozenset()),
    # Raw scikit-learn trees and sparse matrices: structure checked so that the refusal names the type.
    "TreeNode": (frozenset({"__reduce__", "content"}), frozenset()),
    "SparseMatrixNode": (frozenset({"type", "file"}), frozenset()),
}
_NUMPY_SCALARS = sorted({f"numpy.{t.__name__}" for t in set(np.sctypeDict.values())
                         if np.dtype(t).kind in "biufcSU" and t.__module__ == "numpy"})
#: Plain-data types any model file may hold: builtins, numpy arrays, scalars and dtypes, scikit-learn's Bunch.
PLAIN_TYPES = frozenset({
    "builtins.str", "builtins.int", "builtins.float", "builtins.bool", "builtins.complex", "builtins.list",
    "builtins.tuple", "builtins.dict", "builtins.set", "builtins.slice", "builtins.bytes", "builtins.bytearray",
    "collections.OrderedDict", "numpy.ndarray", "numpy.dtype", "numpy.number", "numpy.generic", "numpy.integer",
    "numpy.floating", "sklearn.utils._bunch.Bunch", *_NUMPY_SCALARS})
#: The classes a container node may build (skops calls the class the file names).
_CONTAINER_CLASSES = {
    "DictNode": {"builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"},
    "ListNode": {"builtins.list"}, "TupleNode": {"builtins.tuple"}, "SetNode": {"builtins.set"},
    "SliceNode": {"builtins.slice"}, "DTypeNode": {"numpy.dtype"}, "BytesNode": {"builtins.bytes"},
    "BytearrayNode": {"builtins.bytearray"}, "NdArrayNode": {"numpy.ndarray", *_NUMPY_SCALARS},
}
# Dictionary keys are rebuilt by calling their recorded type on the key's text.
_KEY_TYPES = {"builtins.str", "builtins.int", "builtins.float", "builtins.bool", *_NUMPY_SCALARS}


def _what(value) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number")


class Schema:
    """Checks ``schema.json`` node by node; collects the type names it asks for and the array members it reads."""

    def __init__(self, members: set, tokens: Tokens):
        self.members, self.types, self.arrays, self.tokens = members, set(), set(), tokens

    def root(self, schema) -> None:
        if not isinstance(schema, dict):
            raise Refused(f"schema.json holds {_what(schema)}, not a skops schema (an object)")
        protocol = schema.get("protocol")
        if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol != PROTOCOL:
            raise Refused(f"schema.json has skops protocol {protocol!r}; radiomix reads protocol {PROTOCOL}")
        if not isinstance(schema.get("_skops_version"), str):
            raise Refused("schema.json has no skops version")
        if schema.get("__loader__") != "ObjectNode" or not isinstance(schema.get("content"), dict):
            raise Refused("schema.json's top level is not an object with content (a radiomix model is one)")
        node = {k: v for k, v in schema.items() if k not in ("protocol", "_skops_version")}
        self.node(node, "schema.json", 0, ())

    def node(self, node, where: str, depth: int, ancestors: tuple) -> None:
        if depth > MAX_DEPTH:
            raise Refused(f"{where}: nodes nest deeper than {MAX_DEPTH} levels; a model's schema never does")
        if not isinstance(node, dict):
            raise Refused(f"{where}: expected a node (an object), got {_what(node)}")
        kind = node.get("__loader__")
        if kind not in _KINDS:
            raise Refused(f"{where}: node kind {kind!r} is not one radiomix model files hold "
                           f"({sorted(_KINDS)})")
        required, optional = _KINDS[kind]
        keys = set(node) - _COMMON
        missing = sorted((required | _COMMON) - set(node))
        extra = sorted(keys - required - optional)
        if missing or extra:
            raise Refused(f"{where}: a {kind} " + (f"lacks {missing}" if missing else f"has unexpected keys {extra}"))
        cls, mod, ident = node["__class__"], node["__module__"], node["__id__"]
        if not (isinstance(cls, str) and _IDENT.match(cls) and isinstance(mod, str) and _DOTTED.match(mod)):
            raise Refused(f"{where}: a {kind} names class {cls!r} in module {mod!r}; both must be Python names")
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise Refused(f"{where}: __id__ must be an integer, got {_what(ident)}")
        if ident in ancestors:
            raise Refused(f"{where}: node {ident} contains itself")
        name = f"{mod}.{cls}"
        allowed = _CONTAINER_CLASSES.get(kind)
        if allowed is not None and name not in allowed:
            raise Refused(f"{where}: a {kind} cannot build {name}")
        if kind in ("ObjectNode", "TypeNode", "FunctionNode", "TreeNode", "SparseMatrixNode"):
            self.types.add(name)
        getattr(self, "_" + kind)(node, f"{where}/{cls}", depth + 1, (*ancestors, ident))

    def _children(self, values, where, depth, ancestors) -> None:
        if not isinstance(values, list):
            raise Refused(f"{where}: content must be a list, got {_what(values)}")
        for i, value in enumerate(values):
            self.node(value, f"{where}[{i}]", depth, ancestors)

    def _file(self, node, where, suffix) -> str:
        f = node["file"]
        if not isinstance(f, str) or f not in self.members or not f.endswith(suffix):
            raise Refused(f"{where}: refers to member {str(f)[:80]!r}, which is not a {suffix} member of the zip")
        return f

    def _ObjectNode(self, node, where, depth, ancestors):
        if "content" in node:
            self.node(node["content"], where, depth, ancestors)

    def _DictNode(self, node, where, depth, ancestors):
        content, keys = node["content"], node["key_types"]
        if not isinstance(content, dict):
            raise Refused(f"{where}: content must be an object, got {_what(content)}")
        # skops pairs each key with its recorded type; a shorter list silently drops keys (an empty model).
        if not (isinstance(keys, dict) and keys.get("__loader__") == "ListNode"
                and isinstance(keys.get("content"), list) and len(keys["content"]) == len(content)):
            raise Refused(f"{where}: key_types must list one type per key ({len(content)})")
        for i, key_type in enumerate(keys["content"]):
            if not isinstance(key_type, dict) or key_type.get("__loader__") != "TypeNode" or \
                    f"{key_type.get('__module__')}.{key_type.get('__class__')}" not in _KEY_TYPES:
                raise Refused(f"{where}: key_types[{i}] is not the type of a plain key")
        self.node(keys, f"{where}.key_types", depth, ancestors)
        for key, value in content.items():
            self.node(value, f"{where}.{key[:40]}", depth, ancestors)

    def _ListNode(self, node, where, depth, ancestors):
        self._children(node["content"], where, depth, ancestors)

    _TupleNode = _SetNode = _ListNode

    def _SliceNode(self, node, where, depth, ancestors):
        c = node["content"]
        if not (isinstance(c, dict) and set(c) == {"start", "stop", "step"}
                and all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in c.values())):
            raise Refused(f"{where}: a slice must hold integer or null start, stop and step")

    def _JsonNode(self, node, where, depth, ancestors):
        text = node["content"]
        if node["is_json"] is not True or not isinstance(text, str):
            raise Refused(f"{where}: a JSON value must be held as JSON text")
        check_tokens(text, "schema.json's JSON values", self.tokens)
        try:  # NaN and infinities are Python floats skops writes (e.g. SimpleImputer's missing_values)
            json.loads(text)
        except RecursionError:
            raise Refused(f"{where}: a JSON value nests deeper than Python's JSON reader can follow") from None
        except ValueError as err:
            raise Refused(f"{where}: not valid JSON ({one_line(err)})") from None

    def _TypeNode(self, node, where, depth, ancestors):
        pass

    _FunctionNode = _TypeNode

    def _NdArrayNode(self, node, where, depth, ancestors):
        kind = node["type"]
        if kind == "numpy" and set(node) - _COMMON == {"type", "file"}:
            self.arrays.add(self._file(node, where, ".npy"))
        elif kind == "json" and set(node) - _COMMON == {"type", "content", "shape"} and \
                node["__class__"] == "ndarray":
            self._children(node["content"], where, depth, ancestors)
            self.node(node["shape"], f"{where}.shape", depth, ancestors)
        else:
            raise Refused(f"{where}: an array must be a .npy member or a JSON list with a shape")

    def _DTypeNode(self, node, where, depth, ancestors):
        content = node["content"]
        if not isinstance(content, dict) or content.get("__loader__") != "NdArrayNode":
            raise Refused(f"{where}: a dtype must be held as an empty array")
        self.node(content, where, depth, ancestors)

    def _BytesNode(self, node, where, depth, ancestors):
        self._file(node, where, "")

    _BytearrayNode = _BytesNode

    def _TreeNode(self, node, where, depth, ancestors):
        reduce = node["__reduce__"]
        if not isinstance(reduce, dict) or set(reduce) != {"args"}:
            raise Refused(f"{where}: __reduce__ must hold args only")
        self.node(reduce["args"], f"{where}.args", depth, ancestors)
        self.node(node["content"], where, depth, ancestors)

    def _SparseMatrixNode(self, node, where, depth, ancestors):
        if node["type"] != "scipy":
            raise Refused(f"{where}: a sparse matrix must be a scipy .npz member")
        self._file(node, where, ".npz")
