"""The configuration of ``radiomix train``: one declarative schema (:mod:`.schema`: every key's kind, range, choices,
default and documentation), checked key by key (:mod:`.validate`) and by the cross-key rules (:mod:`.rules`), and
handed on as frozen :class:`Settings` read by attribute. Command-line overrides are applied to the file's mapping
once, before the one validation.

    settings = load_config("my.yaml", target="y", **{"safeguards.permutations": 100})
    settings.cv.outer.kind, settings.model.params
"""

from __future__ import annotations

import os
from pathlib import Path

from .rules import (
    TRUST_ENV,
    check_rules,
    model_defaults,
    refuse_own_trust,
    resolve_trusted_modules,
    target_columns,
    task_settings,
)
from .schema import SCHEMA, defaults, defaults_yaml
from .settings import Settings
from .validate import ConfigError, Where, check_and_merge

__all__ = ["ConfigError", "Settings", "SCHEMA", "default_config", "load_config", "validate_config", "read_config_file",
           "target_columns", "task_settings", "resolve_trusted_modules", "TRUST_ENV", "defaults_yaml", "apply_overrides", "NULL"]


class _Null:
    """An override that sets a key to null (a None override means "not given" and changes nothing)."""

    def __repr__(self):
        return "NULL"


#: pass as an override value to set a key to null: ``load_config(path, batch=NULL)``
NULL = _Null()


def default_config() -> dict:
    """The default configuration as a plain mapping (the schema's defaults; ``params/train_default.yaml`` is
    generated from the same schema)."""
    return defaults()


def apply_overrides(raw: dict, overrides: dict) -> dict:
    """``raw`` (a config mapping) with ``overrides`` applied: keys are dotted paths (``target``,
    ``safeguards.permutations``, ``select.robustness.table``); None values are skipped, :data:`NULL` sets null.
    Returns a new mapping."""
    import copy

    out = copy.deepcopy(raw) if raw else {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        if value is NULL:
            value = None
        node = out
        parts = str(dotted).split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def validate_config(cfg: dict, *, trusted_modules=(), source: str | None = None, lines: dict | None = None) -> Settings:
    """Check a configuration mapping against the schema and the cross-key rules; return it merged over the defaults
    as frozen :class:`Settings`.

    ``trusted_modules``: extra import roots for ``model.name`` given by the user outside the file (with
    :data:`TRUST_ENV`'s, see :func:`resolve_trusted_modules`); recorded as ``model.trusted_modules``. A config that
    sets ``model.trusted_modules`` itself is refused. ``source`` / ``lines`` (a file name and dotted key -> line)
    put the file and line into error messages. A config that names a model but not its parameters or search space
    gets that model's own (not XGBoost's)."""
    where = Where(source, lines)
    trusted = resolve_trusted_modules(trusted_modules)  # + RADIOMIX_TRUST_MODULES
    raw = refuse_own_trust(cfg, trusted, where)
    full = check_and_merge(raw, where)
    model_defaults(raw, full)
    full["model"]["trusted_modules"] = trusted
    check_rules(full, where)
    return Settings(full)


def read_config_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(mapping, lines)`` of a config file, read with :func:`radiomix.safeyaml.load_yaml`'s limits (size, aliases,
    depth, duplicate keys, no object tags; every problem a one-line ConfigError naming the file and line); ``lines``
    maps each dotted key to its line."""
    from ..safeyaml import YAMLInputError, load_yaml_with_lines

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        cfg, lines = load_yaml_with_lines(p, what="config")
    except YAMLInputError as err:
        raise ConfigError(str(err)) from None
    cfg = cfg or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {p}: a config must be a YAML mapping of keys, got {type(cfg).__name__}")
    return cfg, lines


def load_config(path: str | os.PathLike | dict | None = None, *, trusted_modules=(), **overrides) -> Settings:
    """Load a YAML config (a path; a mapping given in Python; None: the defaults), apply ``overrides`` (dotted keys:
    ``target=``, ``id=``, ``batch=``, or ``**{"safeguards.permutations": 100}``; None values skipped) and validate it
    once (``trusted_modules``: see :func:`validate_config`)."""
    if isinstance(path, Settings):
        path = path.to_dict()
    if isinstance(path, dict):
        raw, lines, source = path, {}, None
    elif path is not None:
        (raw, lines), source = read_config_file(path), f"config {path}"
    else:
        raw, lines, source = {}, {}, None
    return validate_config(apply_overrides(raw, overrides), trusted_modules=trusted_modules, source=source, lines=lines)
