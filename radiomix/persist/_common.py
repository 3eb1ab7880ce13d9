"""What the model-file checks share: limits, the refusal exception, one-line messages."""

from __future__ import annotations

import numbers
import os

import numpy as np

__all__ = ["DEFAULT_MAX_BYTES", "MAX_BYTES_ENV", "MAX_MEMBERS", "MAX_DIRECTORY_BYTES", "MAX_SCHEMA_BYTES", "MAX_SCHEMA_TOKENS", "MAX_DEPTH", "PROTOCOL", "Refused", "never_raw", "one_line", "max_model_bytes", "raise_limit", "no_constant", "Tokens", "check_tokens", "checked_int", "checked_array", "type_name"]

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


class Refused(Exception):
    """A reason to refuse the file; :func:`check_model_file` and :func:`from_plain` prefix the file's name."""


def raise_limit(limit: int) -> str:
    return (f"over the {limit:,}-byte limit for a model file; if you trust the file, raise the limit with "
            f"load_model(path, max_bytes=...) or the environment variable {MAX_BYTES_ENV}")


def no_constant(value):
    raise ValueError(f"{value} is not a number JSON allows")


class Tokens:
    """A running bound on JSON values parsed from one file, counted before parsing: each value costs a Python
    object of tens of bytes however short its text."""

    def __init__(self, cap: int):
        self.cap, self.seen = cap, 0


def check_tokens(raw, where: str, tokens: Tokens) -> None:
    marks = (b"{", b"[", b",") if isinstance(raw, bytes) else ("{", "[", ",")
    tokens.seen += sum(raw.count(m) for m in marks)
    if tokens.seen > tokens.cap:
        raise Refused(f"{where} holds about {tokens.seen:,} JSON values, over the {tokens.cap:,} a model file's "
                       f"limit allows; if you trust the file, raise the limit with load_model(path, max_bytes=...) "
                       f"or the environment variable {MAX_BYTES_ENV}")


def checked_int(value, what: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise Refused(f"{what} must be an integer >= {lo}, got {value!r}")
    return int(value)


def checked_array(value, what: str, dtype, ndim: int, shape=None) -> np.ndarray:
    """``value`` as exactly this dtype and rank (a file cannot pick a dtype a compiled kernel misreads)."""
    if not isinstance(value, np.ndarray) or value.dtype != np.dtype(dtype) or value.ndim != ndim:
        got = f"{value.dtype} array of rank {value.ndim}" if isinstance(value, np.ndarray) else type(value).__name__
        raise Refused(f"{what} must be a {np.dtype(dtype)} array of rank {ndim}, got {got}")
    if shape is not None and value.shape != tuple(shape):
        raise Refused(f"{what} has shape {value.shape}, expected {tuple(shape)}")
    return np.ascontiguousarray(value)


def type_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"
