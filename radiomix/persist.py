"""The radiomix model file: what it may hold, checked before and after skops builds it.

A model file is a skops zip: ``schema.json`` describes the object graph, one member per array holds the numbers.
skops never runs code from a file, but it does build the objects of the types it trusts from the file's numbers,
and several of those hand their arrays to compiled code that does no bounds checking: scikit-learn's ``Tree``
(child and feature indices), ``KDTree``/``BallTree`` and distance metrics, SciPy's sparse matrices (column
indices), an XGBoost ``Booster`` (its own model parser), radiomix's surrogate-split tree (numba kernels). A
crafted file of trusted types then loads, and the process dies later with a segmentation fault (or silently
corrupts memory). Some estimators skops trusts by default are the same: a ``OneHotEncoder`` whose stored output
widths disagree with its categories writes past a buffer at ``transform``.

So radiomix writes those objects as plain-data stand-ins (:class:`TreeState`, :class:`BoosterState`,
:class:`NeighborsTreeState`, :class:`SparseState`: numeric arrays, numbers, strings) and, on load, builds the real
objects only after checking every index, then checks that each estimator agrees with what it holds (a forest's
trees see as many features as the forest, an encoder's output widths match its categories). Before skops reads
anything, :func:`check_model_file` checks the zip (declared and actual sizes, before anything is decompressed),
every array header, and ``schema.json`` against the fixed structure of the node kinds a radiomix file holds.
Every refusal is one line that starts with the file's name.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import re
import struct
import types
import zipfile
import zlib

import numpy as np

__all__ = ["DEFAULT_MAX_BYTES", "MAX_BYTES_ENV", "max_model_bytes", "check_model_file", "never_raw", "to_plain",
           "from_plain", "one_line", "TreeState", "BoosterState", "NeighborsTreeState", "SparseState",
           "STATE_TYPES", "PLAIN_TYPES"]

#: Default limit on a model file's size, on each member's and on all members' uncompressed size together.
DEFAULT_MAX_BYTES = 1 << 30
#: Environment variable that raises (or lowers) that limit, in bytes.
MAX_BYTES_ENV = "RADIOMIX_MAX_MODEL_BYTES"
# Bounds on the zip's and the schema's own bookkeeping. A real model is far below them (a 200-tree forest:
# ~2,000 members, a 5 MB schema of 80,000 JSON tokens, nodes nested ~25 deep); the worst file within them
# still parses in a few hundred MB.
MAX_MEMBERS = 200_000
MAX_DIRECTORY_BYTES = 16 << 20
MAX_SCHEMA_BYTES = 64 << 20
MAX_SCHEMA_TOKENS = 2_000_000  # both grow with a raised size limit (1/16 and 1/512 of it)
MAX_DEPTH = 64
# The skops protocol whose node structure is checked below; a new skops protocol needs this module reviewed.
PROTOCOL = 2

#: Types whose objects a model file never holds raw: their state reaches compiled code unchecked (radiomix writes
#: them as the plain-data states below); trusting them by name does not help.
_NEVER_RAW = frozenset({"sklearn.tree._tree.Tree", "xgboost.core.Booster"})
_NEVER_RAW_MODULES = ("sklearn.neighbors._kd_tree.", "sklearn.neighbors._ball_tree.",
                      "sklearn.neighbors._binary_tree.", "sklearn.metrics._dist_metrics.", "scipy.sparse.")


def never_raw(type_name: str) -> bool:
    """True for a type a model file may never hold as a raw object (see the module docstring)."""
    return type_name in _NEVER_RAW or type_name.startswith(_NEVER_RAW_MODULES)


def one_line(err: BaseException, limit: int = 300) -> str:
    """An exception's message as one short line (compiled libraries append backtraces)."""
    lines = [s.strip() for s in str(err).splitlines() if s.strip()]
    text = " ".join(lines[0].split()) if lines else type(err).__name__
    return text if len(text) <= limit else text[:limit] + " ..."


def max_model_bytes(max_bytes=None) -> int:
    """The size limit for a model file: ``max_bytes``, else ``$RADIOMIX_MAX_MODEL_BYTES``, else 1 GiB."""
    source = "max_bytes"
    if max_bytes is None:
        env = os.environ.get(MAX_BYTES_ENV, "").strip()
        if not env:
            return DEFAULT_MAX_BYTES
        source = MAX_BYTES_ENV
        try:
            max_bytes = int(env)
        except ValueError:
            raise ValueError(f"{MAX_BYTES_ENV}={env!r} is not a whole number of bytes (e.g. 4000000000)") from None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Integral) or max_bytes <= 0:
        raise ValueError(f"{source} must be a positive whole number of bytes, got {max_bytes!r}")
    return int(max_bytes)


class _Refused(Exception):
    """A reason to refuse the file; :func:`check_model_file` and :func:`from_plain` prefix the file's name."""


def _raise_limit(limit: int) -> str:
    return (f"over the {limit:,}-byte limit for a model file; if you trust the file, raise the limit with "
            f"load_model(path, max_bytes=...) or the environment variable {MAX_BYTES_ENV}")


# ------------------------------------------------------------------------------------------------ the archive
def check_model_file(fh, name, max_bytes: int, check_types) -> set[str]:
    """Check the model file open as ``fh`` (binary, seekable) before skops reads it.

    The zip directory, every member's declared size (each and together at most ``max_bytes``; checked before
    anything is decompressed), its compression (stored, or deflated and verified in bounded chunks to inflate to
    exactly its declared size), every array member's header (plain numeric or text dtype, a shape that matches
    its bytes), and ``schema.json`` (size, token count, nesting, and the fixed structure of each node kind).
    ``check_types(names)`` gets the names of the types the schema asks skops to build (objects, types, functions)
    as soon as they are known, for the caller's trust decision (it raises to refuse); they are also returned.
    Raises a one-line ValueError that starts with ``name``.
    """
    try:
        return _Archive(fh, max_bytes).check(check_types)
    except _Refused as err:
        raise ValueError(f"{name}: {err}") from None


def _unreadable(detail: str) -> _Refused:
    return _Refused(f"not a readable radiomix model file (corrupt, truncated or not a skops file: {detail})")


def _directory_size(fh, size: int):
    """``(entries, directory bytes)`` from the zip's end record (zip64 too), read before zipfile parses the
    directory (zipfile reads as many entries as the end record's size allows), or None without an end record."""
    tail_len = min(size, 22 + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = len(tail) - 22 if tail[-22:-18] == b"PK\x05\x06" else tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    if entries != 0xFFFF and cd_size != 0xFFFFFFFF:
        return entries, cd_size
    locator = size - tail_len + at - 20
    if locator < 0:
        return None
    fh.seek(locator)
    loc = fh.read(20)
    if loc[:4] != b"PK\x06\x07":
        return None
    (offset,) = struct.unpack("<Q", loc[8:16])
    if offset + 56 > size:
        return None
    fh.seek(offset)
    rec = fh.read(56)
    if rec[:4] != b"PK\x06\x06":
        return None
    return struct.unpack("<QQ", rec[32:48])


class _Archive:
    def __init__(self, fh, limit):
        self.fh, self.limit = fh, limit
        self.tokens = _Tokens(max(MAX_SCHEMA_TOKENS, limit // 512))

    def check(self, check_types) -> set[str]:
        fh, limit = self.fh, self.limit
        size = fh.seek(0, os.SEEK_END)
        if size > limit:
            raise _Refused(f"the file holds {size:,} bytes, {_raise_limit(limit)}")
        directory = _directory_size(fh, size)
        if directory is None:
            raise _unreadable("no zip directory")
        if directory[0] > MAX_MEMBERS or directory[1] > MAX_DIRECTORY_BYTES:
            raise _Refused(f"the zip directory lists {directory[0]:,} members in {directory[1]:,} bytes, more than a "
                           f"model file holds (at most {MAX_MEMBERS:,} members, {MAX_DIRECTORY_BYTES:,} bytes)")
        fh.seek(0)
        try:
            self.zf = zipfile.ZipFile(fh)
        except Exception as err:  # zipfile raises several types for a broken directory
            raise _unreadable(type(err).__name__) from None
        self.members = self._check_members()
        schema = self._read_schema()
        check = _Schema(set(self.members), self.tokens)
        check.root(schema)
        check_types(check.types)
        for member in sorted(check.arrays):
            self._check_npy(self.members[member])
        return check.types

    def _check_members(self) -> dict:
        members, total = {}, 0
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _Refused(f"the zip holds {len(infos):,} members, more than a model file holds ({MAX_MEMBERS:,})")
        for info in infos:
            label = f"member {info.filename[:80]!r}"
            if info.filename in members:
                raise _Refused(f"{label} appears twice in the zip (a reader could pick either)")
            members[info.filename] = info
            if info.file_size > self.limit:
                raise _Refused(f"{label} declares {info.file_size:,} bytes uncompressed, {_raise_limit(self.limit)}")
            total += info.file_size
            if total > self.limit:
                raise _Refused(f"the members declare {total:,} bytes uncompressed together (so far, at {label}), "
                               f"{_raise_limit(self.limit)}")
            if info.flag_bits & 0x1:
                raise _Refused(f"{label} is encrypted; radiomix model files never are")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.compress_size != info.file_size:
                    raise _Refused(f"{label} is stored uncompressed but declares {info.compress_size:,} stored and "
                                   f"{info.file_size:,} uncompressed bytes")
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                self._check_inflates(info, label)
            else:
                method = zipfile.compressor_names.get(info.compress_type, str(info.compress_type))
                raise _Refused(f"{label} is compressed with {method}; radiomix reads stored or deflated members only "
                               "(other decompressors cannot be bounded before they run; radiomix writes stored members)")
        return members

    def _check_inflates(self, info, label) -> None:
        """A deflated member must inflate to exactly its declared size. zipfile inflates a member in one call
        when skops reads it, whatever its header declares, so the raw stream is inflated here in bounded chunks
        (memory stays at a few MB whatever the stream expands to)."""
        fh = self.fh
        fh.seek(info.header_offset)
        head = fh.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise _unreadable(f"{label} has no local header")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        inflate, left, out = zlib.decompressobj(-15), info.compress_size, 0
        try:
            while left > 0 and not inflate.eof:
                chunk = fh.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
                while chunk and not inflate.eof:
                    out += len(inflate.decompress(chunk, 1 << 20))
                    chunk = inflate.unconsumed_tail
                    if out > info.file_size:
                        raise _Refused(f"{label} inflates to more than the {info.file_size:,} bytes it declares")
        except zlib.error as err:
            raise _unreadable(f"{label}: {err}") from None
        if not inflate.eof or out != info.file_size:
            raise _unreadable(f"{label} inflates to {out:,} bytes, not the {info.file_size:,} it declares")

    def _read_schema(self):
        info = self.members.get("schema.json")
        if info is None:
            raise _unreadable("no schema.json")
        cap = min(self.limit, max(MAX_SCHEMA_BYTES, self.limit // 16))
        if info.file_size > cap:
            raise _Refused(f"schema.json declares {info.file_size:,} bytes, over the {cap:,}-byte limit for a "
                           f"model's schema; if you trust the file, raise the file limit with load_model(path, "
                           f"max_bytes=...) or the environment variable {MAX_BYTES_ENV}")
        try:
            raw = self.zf.read(info)
        except Exception as err:  # a bad CRC or a short member
            raise _unreadable(f"schema.json: {type(err).__name__}") from None
        _check_tokens(raw, "schema.json", self.tokens)
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except RecursionError:
            raise _Refused("schema.json nests deeper than Python's JSON reader can follow; a model's schema "
                           f"nests at most {MAX_DEPTH} node levels") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise _Refused(f"schema.json is not valid JSON ({one_line(err)})") from None

    def _check_npy(self, info) -> None:
        label = f"array member {info.filename[:80]!r}"
        fmt = np.lib.format
        try:
            with self.zf.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(f)
                else:
                    raise _Refused(f"{label} has .npy format version {version}; numpy writes 1.0 or 2.0")
                start = f.tell()
        except _Refused:
            raise
        except Exception as err:  # numpy raises ValueError/TypeError/SyntaxError on a bad header
            raise _Refused(f"{label} is not a readable numpy array ({one_line(err)})") from None
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcSU":
            raise _Refused(f"{label} holds dtype {str(dtype)[:60]}; model arrays hold numbers or text")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _Refused(f"{label} declares shape {shape}")
        need = math.prod(shape) * dtype.itemsize
        if start + need != info.file_size:
            raise _Refused(f"{label} declares a {shape} {dtype} array ({need:,} bytes) but holds "
                           f"{info.file_size - start:,} bytes")


def _no_constant(value):
    raise ValueError(f"{value} is not a number JSON allows")


class _Tokens:
    """A running bound on JSON values parsed from one file, counted before parsing: each value costs a Python
    object of tens of bytes however short its text."""

    def __init__(self, cap: int):
        self.cap, self.seen = cap, 0


def _check_tokens(raw, where: str, tokens: _Tokens) -> None:
    marks = (b"{", b"[", b",") if isinstance(raw, bytes) else ("{", "[", ",")
    tokens.seen += sum(raw.count(m) for m in marks)
    if tokens.seen > tokens.cap:
        raise _Refused(f"{where} holds about {tokens.seen:,} JSON values, over the {tokens.cap:,} a model file's "
                       f"limit allows; if you trust the file, raise the limit with load_model(path, max_bytes=...) "
                       f"or the environment variable {MAX_BYTES_ENV}")


# ------------------------------------------------------------------------------------------------ the schema
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


class _Schema:
    """Checks ``schema.json`` node by node; collects the type names it asks for and the array members it reads."""

    def __init__(self, members: set, tokens: _Tokens):
        self.members, self.types, self.arrays, self.tokens = members, set(), set(), tokens

    def root(self, schema) -> None:
        if not isinstance(schema, dict):
            raise _Refused(f"schema.json holds {_what(schema)}, not a skops schema (an object)")
        protocol = schema.get("protocol")
        if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol != PROTOCOL:
            raise _Refused(f"schema.json has skops protocol {protocol!r}; radiomix reads protocol {PROTOCOL}")
        if not isinstance(schema.get("_skops_version"), str):
            raise _Refused("schema.json has no skops version")
        if schema.get("__loader__") != "ObjectNode" or not isinstance(schema.get("content"), dict):
            raise _Refused("schema.json's top level is not an object with content (a radiomix model is one)")
        node = {k: v for k, v in schema.items() if k not in ("protocol", "_skops_version")}
        self.node(node, "schema.json", 0, ())

    def node(self, node, where: str, depth: int, ancestors: tuple) -> None:
        if depth > MAX_DEPTH:
            raise _Refused(f"{where}: nodes nest deeper than {MAX_DEPTH} levels; a model's schema never does")
        if not isinstance(node, dict):
            raise _Refused(f"{where}: expected a node (an object), got {_what(node)}")
        kind = node.get("__loader__")
        if kind not in _KINDS:
            raise _Refused(f"{where}: node kind {kind!r} is not one radiomix model files hold "
                           f"({sorted(_KINDS)})")
        required, optional = _KINDS[kind]
        keys = set(node) - _COMMON
        missing = sorted((required | _COMMON) - set(node))
        extra = sorted(keys - required - optional)
        if missing or extra:
            raise _Refused(f"{where}: a {kind} " + (f"lacks {missing}" if missing else f"has unexpected keys {extra}"))
        cls, mod, ident = node["__class__"], node["__module__"], node["__id__"]
        if not (isinstance(cls, str) and _IDENT.match(cls) and isinstance(mod, str) and _DOTTED.match(mod)):
            raise _Refused(f"{where}: a {kind} names class {cls!r} in module {mod!r}; both must be Python names")
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise _Refused(f"{where}: __id__ must be an integer, got {_what(ident)}")
        if ident in ancestors:
            raise _Refused(f"{where}: node {ident} contains itself")
        name = f"{mod}.{cls}"
        allowed = _CONTAINER_CLASSES.get(kind)
        if allowed is not None and name not in allowed:
            raise _Refused(f"{where}: a {kind} cannot build {name}")
        if kind in ("ObjectNode", "TypeNode", "FunctionNode", "TreeNode", "SparseMatrixNode"):
            self.types.add(name)
        getattr(self, "_" + kind)(node, f"{where}/{cls}", depth + 1, (*ancestors, ident))

    def _children(self, values, where, depth, ancestors) -> None:
        if not isinstance(values, list):
            raise _Refused(f"{where}: content must be a list, got {_what(values)}")
        for i, value in enumerate(values):
            self.node(value, f"{where}[{i}]", depth, ancestors)

    def _file(self, node, where, suffix) -> str:
        f = node["file"]
        if not isinstance(f, str) or f not in self.members or not f.endswith(suffix):
            raise _Refused(f"{where}: refers to member {str(f)[:80]!r}, which is not a {suffix} member of the zip")
        return f

    def _ObjectNode(self, node, where, depth, ancestors):
        if "content" in node:
            self.node(node["content"], where, depth, ancestors)

    def _DictNode(self, node, where, depth, ancestors):
        content, keys = node["content"], node["key_types"]
        if not isinstance(content, dict):
            raise _Refused(f"{where}: content must be an object, got {_what(content)}")
        # skops pairs each key with its recorded type; a shorter list silently drops keys (an empty model).
        if not (isinstance(keys, dict) and keys.get("__loader__") == "ListNode"
                and isinstance(keys.get("content"), list) and len(keys["content"]) == len(content)):
            raise _Refused(f"{where}: key_types must list one type per key ({len(content)})")
        for i, key_type in enumerate(keys["content"]):
            if not isinstance(key_type, dict) or key_type.get("__loader__") != "TypeNode" or \
                    f"{key_type.get('__module__')}.{key_type.get('__class__')}" not in _KEY_TYPES:
                raise _Refused(f"{where}: key_types[{i}] is not the type of a plain key")
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
            raise _Refused(f"{where}: a slice must hold integer or null start, stop and step")

    def _JsonNode(self, node, where, depth, ancestors):
        text = node["content"]
        if node["is_json"] is not True or not isinstance(text, str):
            raise _Refused(f"{where}: a JSON value must be held as JSON text")
        _check_tokens(text, "schema.json's JSON values", self.tokens)
        try:  # NaN and infinities are Python floats skops writes (e.g. SimpleImputer's missing_values)
            json.loads(text)
        except RecursionError:
            raise _Refused(f"{where}: a JSON value nests deeper than Python's JSON reader can follow") from None
        except ValueError as err:
            raise _Refused(f"{where}: not valid JSON ({one_line(err)})") from None

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
            raise _Refused(f"{where}: an array must be a .npy member or a JSON list with a shape")

    def _DTypeNode(self, node, where, depth, ancestors):
        content = node["content"]
        if not isinstance(content, dict) or content.get("__loader__") != "NdArrayNode":
            raise _Refused(f"{where}: a dtype must be held as an empty array")
        self.node(content, where, depth, ancestors)

    def _BytesNode(self, node, where, depth, ancestors):
        self._file(node, where, "")

    _BytearrayNode = _BytesNode

    def _TreeNode(self, node, where, depth, ancestors):
        reduce = node["__reduce__"]
        if not isinstance(reduce, dict) or set(reduce) != {"args"}:
            raise _Refused(f"{where}: __reduce__ must hold args only")
        self.node(reduce["args"], f"{where}.args", depth, ancestors)
        self.node(node["content"], where, depth, ancestors)

    def _SparseMatrixNode(self, node, where, depth, ancestors):
        if node["type"] != "scipy":
            raise _Refused(f"{where}: a sparse matrix must be a scipy .npz member")
        self._file(node, where, ".npz")


# ------------------------------------------------------------------------------------------------ plain states
def _int(value, what: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise _Refused(f"{what} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _array(value, what: str, dtype, ndim: int, shape=None) -> np.ndarray:
    """``value`` as exactly this dtype and rank (a file cannot pick a dtype a compiled kernel misreads)."""
    if not isinstance(value, np.ndarray) or value.dtype != np.dtype(dtype) or value.ndim != ndim:
        got = f"{value.dtype} array of rank {value.ndim}" if isinstance(value, np.ndarray) else type(value).__name__
        raise _Refused(f"{what} must be a {np.dtype(dtype)} array of rank {ndim}, got {got}")
    if shape is not None and value.shape != tuple(shape):
        raise _Refused(f"{what} has shape {value.shape}, expected {tuple(shape)}")
    return np.ascontiguousarray(value)


def _check_children(left: np.ndarray, right: np.ndarray, what: str) -> None:
    """Children arrays of a binary tree stored parent-first: a leaf has both children -1; an internal node ``i``
    has two different children in ``i+1 .. n-1``; every node but the root has exactly one parent. Then every
    walk from the root ends at a leaf inside the arrays (no cycle, no index out of range)."""
    n = left.shape[0]
    idx = np.arange(n)
    leaf = left == -1
    odd = np.flatnonzero(leaf != (right == -1))
    if odd.size:
        raise _Refused(f"{what}: node {odd[0]} has one child ({left[odd[0]]}, {right[odd[0]]})")
    inner = ~leaf
    bad = np.flatnonzero(inner & ~((left > idx) & (left < n) & (right > idx) & (right < n) & (left != right)))
    if bad.size:
        i = bad[0]
        raise _Refused(f"{what}: node {i} points to children {left[i]} and {right[i]}, outside {i + 1}..{n - 1} "
                       f"({n} nodes)")
    parents = np.bincount(np.concatenate([left[inner], right[inner]]), minlength=n)
    wrong = np.flatnonzero(parents != np.r_[0, np.ones(n - 1, dtype=parents.dtype)])
    if wrong.size:
        raise _Refused(f"{what}: node {wrong[0]} has {parents[wrong[0]]} parents")


class _State:
    """A plain-data stand-in (numbers, strings, numeric arrays) for an object whose state reaches compiled code."""

    FIELDS: tuple = ()

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def _fields(self, what: str) -> dict:
        got = vars(self)
        if set(got) != set(self.FIELDS):
            raise _Refused(f"{what} holds fields {sorted(got)}, expected {sorted(self.FIELDS)}")
        return got


class TreeState(_State):
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
            raise _Refused(f"{what}: this scikit-learn's tree nodes have fields {NODE_DTYPE.names}; radiomix "
                           f"reads {self._NODE_FIELDS}")
        n_features = _int(f["n_features"], f"{what}.n_features", 1)
        n_outputs = _int(f["n_outputs"], f"{what}.n_outputs", 1)
        n_classes = _array(f["n_classes"], f"{what}.n_classes", np.int64, 1, (n_outputs,))
        if (n_classes < 1).any():
            raise _Refused(f"{what}.n_classes must be >= 1, got {n_classes.tolist()}")
        left = _array(f["left_child"], f"{what}.left_child", np.int64, 1)
        n = left.shape[0]
        if n == 0:
            raise _Refused(f"{what} has no nodes")
        arrays = {k: _array(f[k], f"{what}.{k}", NODE_DTYPE.fields[k][0], 1, (n,)) for k in self._NODE_FIELDS}
        right, feature, threshold = arrays["right_child"], arrays["feature"], arrays["threshold"]
        _check_children(left, right, what)
        inner = left != -1
        bad = np.flatnonzero(np.where(inner, (feature < 0) | (feature >= n_features), feature != -2))
        if bad.size:
            raise _Refused(f"{what}: node {bad[0]} splits on feature {feature[bad[0]]}, outside 0..{n_features - 1}")
        if np.isnan(threshold[inner]).any():
            raise _Refused(f"{what}: node {np.flatnonzero(inner & np.isnan(threshold))[0]} has a NaN threshold")
        if not np.isin(arrays["missing_go_to_left"], (0, 1)).all():
            raise _Refused(f"{what}: missing_go_to_left must be 0 or 1")
        values = _array(f["values"], f"{what}.values", np.float64, 3, (n, n_outputs, int(n_classes.max())))
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


class BoosterState(_State):
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
            raise _Refused(f"{what}.model must be bytes")
        # Mostly number lists (~32 bytes per value parsed): 1,000 depth-6 trees hold ~1.3 million.
        _check_tokens(f["model"], f"{what}'s XGBoost model", _Tokens(4 * MAX_SCHEMA_TOKENS))
        try:
            doc = json.loads(f["model"], parse_constant=_no_constant)
        except RecursionError:
            raise _Refused(f"{what}: the XGBoost model nests too deeply") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise _Refused(f"{what}: the XGBoost model is not valid JSON ({one_line(err)})") from None
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
        raise _Refused(f"{self.what}: XGBoost model: {msg}")

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


class NeighborsTreeState(_State):
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
            raise _Refused(f"{what}: kind {f['kind']!r} / metric {f['metric']!r} not read")
        data = _array(f["data"], f"{what}.data", np.float64, 2)
        if min(data.shape) < 1 or not np.isfinite(data).all():
            raise _Refused(f"{what}.data must be a non-empty finite matrix")
        p = f["p"]
        if (p is None) != (f["metric"] != "minkowski") or (p is not None and not (isinstance(p, float) and p >= 1)):
            raise _Refused(f"{what}.p must be a number >= 1 for minkowski only, got {p!r}")
        kw = {"p": p} if p is not None else {}
        cls = KDTree if f["kind"] == "kd_tree" else BallTree
        return cls(data, leaf_size=_int(f["leaf_size"], f"{what}.leaf_size", 1), metric=f["metric"], **kw)


class SparseState(_State):
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
            raise _Refused(f"{what}: sparse kind {f['kind']!r} not read")
        shape = f["shape"]
        if not (isinstance(shape, tuple) and len(shape) == 2):
            raise _Refused(f"{what}.shape must be two integers")
        shape = tuple(_int(s, f"{what}.shape", 0) for s in shape)
        data = f["data"]
        if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype.kind not in "biuf":
            raise _Refused(f"{what}.data must be a numeric vector")
        index = f["indices"].dtype if isinstance(f["indices"], np.ndarray) else np.int32
        if index not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise _Refused(f"{what}.indices must be int32 or int64")
        indices = _array(f["indices"], f"{what}.indices", index, 1)
        indptr = _array(f["indptr"], f"{what}.indptr", index, 1)
        try:
            m = getattr(scipy.sparse, f["kind"])((np.ascontiguousarray(data), indices, indptr), shape=shape)
            m.check_format(full_check=True)
        except (ValueError, TypeError, IndexError) as err:
            raise _Refused(f"{what}: {one_line(err)}") from None
        return m


#: The plain-data stand-ins, by the type name a file names them with.
STATE_TYPES = frozenset(f"{__name__}.{c.__name__}" for c in (TreeState, BoosterState, NeighborsTreeState, SparseState))


# ------------------------------------------------------------------------------------------------ the object graph
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


def _type_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"


def _to_state(obj, where: str):
    name = _type_name(obj)
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
        if isinstance(o, _State):
            try:
                real = o.build(where)
            except _Refused:
                raise
            except Exception as err:  # a library's own check on what passed ours: still one line
                raise _Refused(f"{where}: {type(err).__name__}: {one_line(err)}") from None
            built.add(id(real))
            return real
        if never_raw(_type_name(o)) and id(o) not in built:
            raise _Refused(f"{where} is a raw {_type_name(o)}")
        return None

    def after(o, where):
        try:
            _check_owner(o, where)
        except _Refused:
            raise
        except Exception as err:  # an attribute of the wrong kind where a check expected an array
            raise _Refused(f"{where}: {type(err).__name__}: {one_line(err)}") from None

    try:
        return _walk(obj, "model", visit, after, {})
    except _Refused as err:
        raise ValueError(f"{name}: {err}") from None


# ------------------------------------------------------------------------------------------------ estimators
def _check_owner(obj, where: str) -> None:
    """What compiled code assumes about an estimator and the objects it holds, checked after loading."""
    from sklearn.tree._tree import Tree

    attrs = vars(obj)
    n_in = attrs.get("n_features_in_")
    if isinstance(attrs.get("tree_"), Tree):
        tree = attrs["tree_"]
        if n_in != tree.n_features or attrs.get("n_outputs_", tree.n_outputs) != tree.n_outputs:
            raise _Refused(f"{where}.tree_ has {tree.n_features} features and {tree.n_outputs} outputs; the "
                           f"estimator has {n_in} and {attrs.get('n_outputs_')}")
    booster = next((v for v in attrs.values() if _type_name(v) == "xgboost.core.Booster"), None)
    if booster is not None and "n_features_in_" in attrs and booster.num_features() != n_in:
        raise _Refused(f"{where}: its XGBoost model has {booster.num_features()} features; the estimator has {n_in}")
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
    n = _int(attrs.get("n_features_in_"), f"{where}.n_features_in_", 1)
    estimators = attrs.get("estimators_")
    if not isinstance(estimators, list):
        raise _Refused(f"{where}.estimators_ must be a list")
    features = attrs.get("estimators_features_")
    if features is not None and (not isinstance(features, list) or len(features) != len(estimators)):
        raise _Refused(f"{where}.estimators_features_ must list one feature set per estimator")
    drawn = attrs.get("_max_features", n)
    for k, est in enumerate(estimators):
        want = n
        if features is not None:
            f = features[k]
            if not isinstance(f, np.ndarray) or f.ndim != 1 or f.dtype.kind not in "iu" or \
                    ((f < 0) | (f >= n)).any() or f.shape[0] != drawn:
                raise _Refused(f"{where}.estimators_features_[{k}] must hold {drawn} column indices below {n}")
            want = f.shape[0]
        got = getattr(est, "n_features_in_", None)
        if got != want:
            raise _Refused(f"{where}.estimators_[{k}] sees {got} features; the ensemble gives it {want}")


def _check_onehot(obj, attrs, where) -> None:
    """``transform`` builds a sparse matrix whose column indices come from ``categories_`` and whose width comes
    from ``_n_features_outs``; unequal, the densifying routine writes past its buffer."""
    if not _is(obj, "sklearn.preprocessing._encoders", ("OneHotEncoder",)) or "categories_" not in attrs:
        return  # unfitted templates (a ColumnTransformer keeps them beside the fitted copies) hold no arrays
    cats = attrs.get("categories_")
    if not isinstance(cats, list) or not all(isinstance(c, np.ndarray) and c.ndim == 1 for c in cats):
        raise _Refused(f"{where}.categories_ must be a list of vectors")
    if attrs.get("drop_idx_") is not None or attrs.get("_drop_idx_after_grouping") is not None or \
            attrs.get("_infrequent_enabled") is not False:
        raise _Refused(f"{where}: dropped or infrequent categories are not read (radiomix never sets them)")
    if attrs.get("_n_features_outs") != [len(c) for c in cats] or attrs.get("n_features_in_") != len(cats):
        raise _Refused(f"{where}: output widths {attrs.get('_n_features_outs')} disagree with its categories "
                       f"{[len(c) for c in cats]}")


def _check_libsvm(obj, attrs, where) -> None:
    """libsvm copies the support vectors, coefficients and intercepts by the counts it is given."""
    if not _is(obj, "sklearn.svm._base", ("BaseLibSVM",)) or "support_vectors_" not in attrs:
        return
    from sklearn.svm._base import LIBSVM_IMPL

    impl, n_in = getattr(obj, "_impl", None), attrs.get("n_features_in_")  # a class attribute, unless the file sets it
    if impl not in LIBSVM_IMPL or attrs.get("_sparse") is not False or \
            attrs.get("kernel") not in ("linear", "poly", "rbf", "sigmoid"):
        raise _Refused(f"{where}: only dense models with a linear, poly, rbf or sigmoid kernel are read")
    sv = _array(attrs.get("support_vectors_"), f"{where}.support_vectors_", np.float64, 2)
    n_sv = sv.shape[0]
    counts = _array(attrs.get("_n_support"), f"{where}._n_support", np.int32, 1)
    classes = len(attrs.get("classes_", [])) if LIBSVM_IMPL.index(impl) < 2 else 2
    pairs = max(classes * (classes - 1) // 2, 1)
    shape_fit = attrs.get("shape_fit_")
    if sv.shape[1] != n_in or not isinstance(shape_fit, tuple) or len(shape_fit) != 2 or shape_fit[1] != n_in or \
            counts.shape[0] != classes or (counts < 0).any() or (LIBSVM_IMPL.index(impl) < 2 and counts.sum() != n_sv):
        raise _Refused(f"{where}: support vectors {sv.shape}, counts {counts.tolist()} and {n_in} features disagree")
    _array(attrs.get("support_"), f"{where}.support_", np.int32, 1, (n_sv,))
    _array(attrs.get("_dual_coef_"), f"{where}._dual_coef_", np.float64, 2, (max(classes - 1, 1), n_sv))
    _array(attrs.get("_intercept_"), f"{where}._intercept_", np.float64, 1, (pairs,))
    for key in ("_probA", "_probB"):
        a = _array(attrs.get(key), f"{where}.{key}", np.float64, 1)
        if a.shape[0] not in (0, pairs):
            raise _Refused(f"{where}.{key} has {a.shape[0]} entries, expected 0 or {pairs}")


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
        raise _Refused(f"{where}: fit method {method!r} and its tree ({type(tree).__name__}) disagree")
    if scipy.sparse.issparse(X):
        if method != "brute":
            raise _Refused(f"{where}: sparse training data goes with brute force only")
    elif not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float64, np.float32)):
        raise _Refused(f"{where}._fit_X must be a float matrix")
    if X.shape[1] != n_in or attrs.get("n_samples_fit_") != X.shape[0] or \
            (tree is not None and np.asarray(tree.data).shape != X.shape):
        raise _Refused(f"{where}: training data {X.shape}, n_samples_fit_ {attrs.get('n_samples_fit_')} and "
                       f"{n_in} features disagree")
    if "classes_" in attrs and "_y" in attrs:
        y, classes = attrs["_y"], attrs["classes_"]
        outputs = classes if attrs.get("outputs_2d_") else [classes]
        y2 = y if attrs.get("outputs_2d_") else np.asarray(y)[:, None] if isinstance(y, np.ndarray) else y
        if not isinstance(y2, np.ndarray) or y2.dtype.kind not in "iu" or y2.shape != (X.shape[0], len(outputs)) \
                or any(((y2[:, j] < 0) | (y2[:, j] >= len(c))).any() for j, c in enumerate(outputs)):
            raise _Refused(f"{where}._y must hold one class index (below the number of classes) per training row")


def _check_stacking(obj, attrs, where) -> None:
    """Stacking calls each block's method by the name it stored; only prediction methods are names it writes."""
    if not _is(obj, "sklearn.ensemble._stacking", ("StackingClassifier", "StackingRegressor")) or \
            "stack_method_" not in attrs:
        return
    methods = attrs["stack_method_"]
    if not (isinstance(methods, list) and all(m in ("predict_proba", "decision_function", "predict", "drop")
                                              for m in methods)):
        raise _Refused(f"{where}.stack_method_ must name prediction methods, got {str(methods)[:80]}")


def _check_surrogate_trees(obj, attrs, where) -> None:
    """radiomix's surrogate-split trees: the imputer hands each tree the rows of its predictors only."""
    if type(obj).__module__ != "radiomix.impute":
        return
    from . import _cart

    name = type(obj).__name__
    if name in ("SurrogateTreeRegressor", "SurrogateTreeClassifier") and "tree_" in attrs:
        tree = attrs["tree_"]
        if not isinstance(tree, _cart.Tree):
            raise _Refused(f"{where}.tree_ is not a surrogate tree")
        _check_cart(tree, f"{where}.tree_")
        if tree.ncat.shape[0] != attrs.get("n_features_in_"):
            raise _Refused(f"{where}.tree_ was grown on {tree.ncat.shape[0]} predictors; the estimator has "
                           f"{attrs.get('n_features_in_')}")
    if name != "SurrogateTreeImputer" or "imputation_sequence_" not in attrs:
        return
    p = _int(attrs.get("n_features_in_"), f"{where}.n_features_in_", 1)
    ncat = _array(attrs.get("_ncat"), f"{where}._ncat", np.int64, 1, (p,))
    chosen = attrs.get("predictors_")
    if chosen is not None:
        chosen = _array(chosen, f"{where}.predictors_", np.int64, 2)
        if chosen.shape[0] != p or ((chosen < -1) | (chosen >= p)).any():
            raise _Refused(f"{where}.predictors_ must hold, per column, predictor columns below {p} (or -1)")
    seq = attrs["imputation_sequence_"]
    if not isinstance(seq, list):
        raise _Refused(f"{where}.imputation_sequence_ must be a list")
    for k, step in enumerate(seq):
        label = f"{where}.imputation_sequence_[{k}]"
        if not (isinstance(step, tuple) and len(step) == 3 and isinstance(step[2], _cart.Tree)):
            raise _Refused(f"{label} must be (round, column, tree)")
        _int(step[0], f"{label} round")
        j = _int(step[1], f"{label} column")
        if j >= p:
            raise _Refused(f"{label} imputes column {j} of {p}")
        _check_cart(step[2], label)
        idx = chosen[j] if chosen is not None and chosen[j, 0] >= 0 else slice(None)
        if not np.array_equal(step[2].ncat, ncat[idx]):
            raise _Refused(f"{label}: the tree's predictors (levels {step[2].ncat.tolist()[:10]}) are not the ones "
                           "the imputer hands it")


def _check_cart(tree, where) -> None:
    try:
        tree.validate()
    except (ValueError, AttributeError, TypeError) as err:
        raise _Refused(f"{where}: {one_line(err)}") from None


def _check_column_selector(obj, attrs, where) -> None:
    """A column selector's regular expression runs at every ``transform`` with Python's backtracking ``re``: a
    crafted ``(a+)+b`` would hang ``predict``. radiomix's pipelines select by dtype only, so a pattern is refused."""
    if _is(obj, "sklearn.compose._column_transformer", ("make_column_selector",)) and \
            attrs.get("pattern") is not None:
        raise _Refused(f"{where}: a column selector with a regular expression ({str(attrs['pattern'])[:60]!r}); "
                       "radiomix's pipelines select columns by dtype only")


_OWNER_CHECKS = (_check_ensemble, _check_onehot, _check_libsvm, _check_neighbors, _check_stacking,
                 _check_surrogate_trees, _check_column_selector)
