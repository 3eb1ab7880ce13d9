"""Frozen settings: a validated configuration read by attribute (``settings.cv.outer.kind``), never edited in place.
A changed copy is made with :meth:`Settings.replace`; :meth:`Settings.to_dict` gives the plain mapping a run records
(``config.resolved.yaml``, the saved model)."""

from __future__ import annotations

import copy
from types import MappingProxyType

from .schema import Section, lookup

__all__ = ["Settings"]


def _frozen(value):
    """A read-only view of a value: mappings as MappingProxyType, lists as tuples, recursively."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value):
    if isinstance(value, (dict, MappingProxyType)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if hasattr(value, "columns") else copy.deepcopy(value)


class Settings:
    """A validated configuration (or one section of it), read by attribute; immutable.

    ``settings.model.name``, ``settings.cv.outer.n_splits``... A section is a Settings; a free mapping (``model.params``)
    a read-only mapping; a list a tuple. Made by :func:`radiomix.config.load_config` / ``validate_config``.
    """

    __slots__ = ("_data", "_path")

    def __init__(self, data: dict, path: str = ""):
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str):
        data = object.__getattribute__(self, "_data")
        path = object.__getattribute__(self, "_path")
        if name.startswith("__") or name not in data:
            raise AttributeError(f"the configuration has no key {path + name!r}")
        value = data[name]
        try:
            entry = lookup(path + name)
        except KeyError:
            entry = None
        if isinstance(entry, Section) and value is not None:
            return Settings(value, f"{path}{name}.")
        return _frozen(value)

    def __setattr__(self, name, value):
        raise AttributeError("settings are read-only: make a changed copy with settings.replace({'dotted.key': value})")

    def __reduce__(self):  # pickled for worker processes; immutable, so rebuilt from its data
        return (Settings, (self._data, self._path))

    def __contains__(self, name) -> bool:
        return name in self._data

    def __eq__(self, other) -> bool:
        return isinstance(other, Settings) and self.to_dict() == other.to_dict()

    def __hash__(self):  # pragma: no cover - settings are not dictionary keys
        raise TypeError("Settings are not hashable")

    def __repr__(self) -> str:
        return f"Settings({self._path.rstrip('.') or 'config'}: {sorted(self._data)})"

    def to_dict(self) -> dict:
        """The plain mapping (a deep copy): what ``config.resolved.yaml`` and a saved model record."""
        return _plain(self._data)

    def replace(self, changes: dict) -> Settings:
        """A copy with ``changes`` (dotted key -> value) applied; every key must exist in the configuration."""
        data = self.to_dict()
        for dotted, value in changes.items():
            node = data
            parts = dotted.split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {} if node.get(part) is None else node[part]
                node = node[part]
            if parts[-1] not in node and not self._path:
                lookup(dotted)  # KeyError for a key the schema does not know
            node[parts[-1]] = value
        return Settings(data, self._path)
