"""Checking a configuration against :data:`.schema.SCHEMA`: unknown keys (with the valid ones and the closest
match), values of the wrong kind or out of range (with what is allowed), each a one-line :class:`ConfigError`
naming the dotted key and, for a file, the file and line."""

from __future__ import annotations

import copy
import difflib
import math
import os

from .schema import SCHEMA, Key, Section, allowed, defaults

__all__ = ["ConfigError", "check_and_merge", "allowed", "Where"]


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key and lists the valid ones."""


class Where:
    """Where a configuration came from: ``source`` (a file name, or None for a mapping given in Python) and
    ``lines`` (dotted key -> line number in that file)."""

    def __init__(self, source: str | None = None, lines: dict | None = None):
        self.source, self.lines = source, lines or {}

    def prefix(self, path: str) -> str:
        """``"FILE line N: "`` for the key at ``path`` (the nearest enclosing key with a line), or ``""``."""
        if self.source is None:
            return ""
        parts = path.split(".")
        for k in range(len(parts), 0, -1):
            line = self.lines.get(".".join(parts[:k]))
            if line is not None:
                return f"{self.source} line {line}: "
        return f"{self.source}: "


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)






def _is_columns(v) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(c, str) and c for c in v)


def _ok(key: Key, v) -> bool:
    """Whether ``v`` is a value of ``key``'s kind and range (null handled by the caller)."""
    kind = key.kind
    if kind == "bool":
        return isinstance(v, bool)
    if kind in ("int", "int_or_auto"):
        if kind == "int_or_auto" and v == "auto":
            return True
        return isinstance(v, int) and not isinstance(v, bool) and _in_range(key, v)
    if kind == "number":
        return _num(v) and _in_range(key, v)
    if kind == "choice":
        return v in key.choices
    if kind in ("column", "task", "model", "scorer"):
        return isinstance(v, str) and bool(v)
    if kind == "target":
        return (isinstance(v, str) and bool(v)) or isinstance(v, dict)
    if kind == "label":
        return isinstance(v, (str, int, float, bool))
    if kind == "columns_or_pattern":
        return (isinstance(v, str) and bool(v)) or _is_columns(v)
    if kind in ("columns", "names"):
        return _is_columns(v)
    if kind == "groups":
        return isinstance(v, dict) and all(isinstance(k, str) and (isinstance(x, str) or _is_columns(x))
                                           for k, x in v.items())
    if kind == "params":
        return isinstance(v, dict) and all(isinstance(k, str) for k in v)
    if kind == "space":
        return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, list) and x for k, x in v.items())
    if kind == "threshold":
        return v == "youden" or (_num(v) and 0 < v < 1)
    if kind == "harmonize_features":
        return (isinstance(v, str) and bool(v)) or _is_columns(v)
    if kind == "table":
        return isinstance(v, (str, os.PathLike)) or hasattr(v, "columns")
    if kind == "times":
        return isinstance(v, list) and bool(v) and all(_num(x) and x > 0 for x in v)
    raise AssertionError(f"unknown kind {kind!r}")  # pragma: no cover - the schema names only the kinds above


def _in_range(key: Key, v) -> bool:
    if key.low is not None and (v < key.low or (key.low_open and v == key.low)):
        return False
    return not (key.high is not None and (v > key.high or (key.high_open and v == key.high)))


def _space_problem(path: str, v) -> str | None:
    """The model.search entry that is not a non-empty list, named (``model.search.max_depth``)."""
    if not isinstance(v, dict):
        return None
    for k, x in v.items():
        if not isinstance(x, list) or not x:
            return f"config key '{path}.{k}' must be a non-empty list of values, got {x!r}"
    return None


def _check_value(path: str, key: Key, v, where: Where):
    if v is None and key.nullable:
        return None
    if not _ok(key, v):
        if key.kind == "space" and (msg := _space_problem(path, v)):
            raise ConfigError(where.prefix(path) + msg)
        raise ConfigError(f"{where.prefix(path)}config key {path!r} must be {allowed(key)}, got {v!r}")
    return copy.deepcopy(v) if not hasattr(v, "columns") else v


def _unknown(path: str, name: str, section: Section, where: Where) -> ConfigError:
    full = f"{path}.{name}" if path else str(name)
    valid = sorted(section.keys)
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
    hint = f" (did you mean {(path + '.' if path else '') + close[0]!r}?)" if close else ""
    under = f" under {path!r}" if path else ""
    return ConfigError(f"{where.prefix(full)}unknown config key {full!r}; valid keys{under}: {valid}{hint}")


def check_and_merge(raw: dict, where: Where, section: Section = SCHEMA, path: str = "") -> dict:
    """``raw`` checked key by key against ``section`` and merged over its defaults (a new mapping)."""
    if not isinstance(raw, dict):
        what = f"config key {path!r}" if path else "a config"
        raise ConfigError(f"{where.prefix(path)}{what} must be a mapping with keys {sorted(section.keys)}, got "
                          f"{raw!r}")
    out = defaults(section)
    for name, value in raw.items():
        if name not in section.keys:
            raise _unknown(path, name, section, where)
        entry, full = section.keys[name], f"{path}.{name}" if path else str(name)
        if isinstance(entry, Section):
            if value is None:
                if not entry.nullable:
                    raise ConfigError(f"{where.prefix(full)}config key {full!r} must be a mapping with keys "
                                      f"{sorted(entry.keys)}, got null")
                out[name] = None
            else:
                out[name] = check_and_merge(value, where, entry, full)
        else:
            out[name] = _check_value(full, entry, value, where)
    return out
