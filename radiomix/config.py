"""The YAML configuration of ``radiomix train``: defaults, loading and validation with clear messages."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import yaml

from ._resources import params_dir

__all__ = ["ConfigError", "default_config", "load_config", "validate_config", "target_columns", "task_settings",
           "read_config_file", "resolve_trusted_modules", "TRUST_ENV"]


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key and lists the valid ones."""


def default_config() -> dict:
    """The shipped default configuration (``params/train_default.yaml``) as a dict."""
    return yaml.safe_load((params_dir() / "train_default.yaml").read_text())


# Keys whose value is a free-form mapping (model parameters, search spaces): not checked key by key.
_FREE = {"model.params", "model.search", "features.groups", "target", "survival.horizons", "select.robustness"}


def _check(node, ref, path: str):
    if path in _FREE or ref is None:
        return
    if not isinstance(ref, dict):
        # A leaf: its type must match the default's where the default is a flag or a count.
        if isinstance(ref, bool) and not isinstance(node, bool):
            raise ConfigError(f"config key {path!r} must be true or false, got {node!r}")
        if isinstance(ref, int) and not isinstance(ref, bool) and node is not None and \
                (isinstance(node, bool) or not isinstance(node, int)):
            raise ConfigError(f"config key {path!r} must be an integer, got {node!r}")
        if isinstance(ref, dict) is False and isinstance(node, dict) and not isinstance(ref, dict):
            raise ConfigError(f"config key {path!r} takes a value, not a mapping: {node!r}")
        return
    if not isinstance(node, dict):
        raise ConfigError(f"config key {path!r} must be a mapping with keys {sorted(ref)}, got {node!r}")
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in ref:
            raise ConfigError(f"unknown config key {where!r}; valid keys{' under ' + repr(path) if path else ''}: {sorted(ref)}")
        _check(value, ref[key], where)


def _merge(base: dict, over: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        where = f"{path}.{k}" if path else str(k)
        if isinstance(v, dict) and isinstance(out.get(k), dict) and where not in _FREE:
            out[k] = _merge(out[k], v, where)
        else:
            out[k] = copy.deepcopy(v)
    return out


_ENUMS = {
    "harmonize.method": ("none", "combat"),
    "harmonize.unseen": ("error", "estimate"),
    "aggregate": ("none", "max", "mean"),
    "unseen_categories": ("error", "warn"),
    "balance.correction": ("auto", "prevalence", "recalibrate", "none"),
    "impute.method": ("none", "median", "knn", "surrogate_tree"),
    "encoding.categorical": ("onehot", "ordinal"),
    "scale": ("auto", "standard", "robust", "none"),
    "select.relevance": ("auto", "f", "ks", "rf", "cox"),
    "balance.method": ("none", "smote", "smotenc", "adasyn", "random_over", "random_under"),
    "fusion.mode": ("early", "late"),
    "search.method": ("random", "grid", "halving"),
    "cv.outer.kind": ("stratified", "grouped", "leave_site_out"),
    "cv.inner.kind": ("auto", "stratified", "site_folds"),
    "calibration.recalibrate": ("none", "sigmoid", "isotonic"),
}


def _get(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


#: Environment variable with extra import roots ``model.name`` may use (comma-separated), set by the user.
TRUST_ENV = "RADIOMIX_TRUST_MODULES"


def resolve_trusted_modules(extra=()) -> list[str]:
    """The modules (beyond radiomix's trusted packages) whose classes ``model.name`` may import: ``extra`` (from the
    command line's ``--trust-module`` or the API's ``trusted_modules=``) plus :data:`TRUST_ENV`. Never from a
    config file: a file must not be able to extend its own trust."""
    env = [m.strip() for m in os.environ.get(TRUST_ENV, "").split(",") if m.strip()]
    out = list(dict.fromkeys([*(extra or ()), *env]))
    bad = [m for m in out if not isinstance(m, str) or not _MODULE.match(m)]
    if bad:
        raise ConfigError(f"trusted module(s) {bad} are not module names (from --trust-module / trusted_modules= / "
                          f"{TRUST_ENV})")
    return out


_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def validate_config(cfg: dict, *, trusted_modules=()) -> dict:
    """Check keys against the default schema and values for type/range; return the config merged over defaults.

    ``trusted_modules``: extra import roots for ``model.name`` given by the user outside the file (with
    :data:`TRUST_ENV`'s, see :func:`resolve_trusted_modules`); recorded as ``model.trusted_modules`` in the
    resolved config. A config that sets ``model.trusted_modules`` itself is refused."""
    ref = default_config()
    trusted = resolve_trusted_modules(trusted_modules)  # + RADIOMIX_TRUST_MODULES
    model = cfg.get("model") if isinstance(cfg, dict) else None
    if isinstance(model, dict) and "trusted_modules" in model:
        if model["trusted_modules"] not in (None, [], trusted):
            raise ConfigError(f"config key 'model.trusted_modules' ({model['trusted_modules']!r}) cannot be set in a "
                              "config: a file may not extend its own trust. Give modules on the command line "
                              f"(radiomix train --trust-module MODULE), as trusted_modules= in Python, or in {TRUST_ENV}")
        cfg = {**cfg, "model": {k: v for k, v in model.items() if k != "trusted_modules"}}
    _check(cfg, ref, "")
    full = _merge(ref, cfg)
    full["model"]["trusted_modules"] = trusted
    if not isinstance(full["id"], str) or not full["id"]:
        raise ConfigError(f"config key 'id' must be a column name, got {full['id']!r}")
    _check_target(full)
    for key in ("batch", "groups"):
        if full[key] is not None and not isinstance(full[key], str):
            raise ConfigError(f"config key {key!r} must be a column name or null, got {full[key]!r}")
    outer, inner = full["cv"]["outer"], full["cv"]["inner"]
    for where, val, lo in (("cv.outer.n_splits", outer["n_splits"], 2), ("cv.outer.n_repeats", outer["n_repeats"], 1),
                           ("cv.inner.n_splits", inner["n_splits"], 2),
                           ("search.n_candidates", full["search"]["n_candidates"], 1),
                           ("bootstrap", full["bootstrap"], 0), ("impute.n_neighbors", full["impute"]["n_neighbors"], 1),
                           ("impute.max_iter", full["impute"]["max_iter"], 1),
                           ("balance.k_neighbors", full["balance"]["k_neighbors"], 1),
                           ("calibration.n_bins", full["calibration"]["n_bins"], 2),
                           ("harmonize.min_unseen_rows", full["harmonize"]["min_unseen_rows"], 1)):
        if not isinstance(val, int) or isinstance(val, bool) or val < lo:
            raise ConfigError(f"config key {where!r} must be an integer >= {lo}, got {val!r}")
    for where, valid in {**_ENUMS, "task": ("auto", *_registered_tasks())}.items():
        got = _get(full, where)
        if got not in valid:
            raise ConfigError(f"config key {where!r} is {got!r}; valid values: {list(valid)}")
    thr = full["threshold"]
    if not (thr == "youden" or (isinstance(thr, (int, float)) and not isinstance(thr, bool) and 0 < thr < 1)):
        raise ConfigError(f"config key 'threshold' must be 'youden' or a number in (0, 1), got {thr!r}")
    mrmr = full["select"]["mrmr"]
    if mrmr is not None and (not isinstance(mrmr, int) or isinstance(mrmr, bool) or mrmr < 1):
        raise ConfigError(f"config key 'select.mrmr' must be a positive integer or null, got {mrmr!r}")
    ct = full["select"]["correlation_threshold"]
    if ct is not None and not (isinstance(ct, (int, float)) and 0 < ct <= 1):
        raise ConfigError(f"config key 'select.correlation_threshold' must be in (0, 1] or null, got {ct!r}")
    tb = full["search"]["time_budget"]
    if tb is not None and not (isinstance(tb, (int, float)) and tb > 0):
        raise ConfigError(f"config key 'search.time_budget' must be a positive number of seconds or null, got {tb!r}")
    from .models import check_model_name

    try:
        check_model_name(full["model"]["name"], full["model"]["trusted_modules"])  # before any import
    except ValueError as err:
        raise ConfigError(f"config key {err}") from None
    if not isinstance(full["model"]["params"] or {}, dict):
        raise ConfigError("config key 'model.params' must map parameter names to values")
    if not isinstance(full["model"]["search"] or {}, dict):
        raise ConfigError("config key 'model.search' must map parameter names to lists of values")
    for k, v in (full["model"]["search"] or {}).items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"config key 'model.search.{k}' must be a non-empty list of values, got {v!r}")
    _check_no_paths(full["model"])
    _check_patterns(full)
    # Cross-key rules, each with the fix in the message.
    h = full["harmonize"]
    hf = h["features"]
    if not (hf in ("radiomic", "all") or (isinstance(hf, list) and all(isinstance(c, str) for c in hf))
            or (isinstance(hf, str) and hf)):
        raise ConfigError(f"config key 'harmonize.features' must be 'radiomic', 'all', a list of columns or a regex, "
                          f"got {hf!r}")
    if not isinstance(h["exclude"] or [], (list, str)):
        raise ConfigError(f"config key 'harmonize.exclude' must be a list of columns or a regex, got {h['exclude']!r}")
    if full["positive"] is not None and not isinstance(full["positive"], (str, int, float, bool)):
        raise ConfigError(f"config key 'positive' must be a class label, got {full['positive']!r}")
    bm = full["impute"]["block_missing"]
    if bm is not None and (not isinstance(bm, int) or isinstance(bm, bool) or bm < 2):
        raise ConfigError(f"config key 'impute.block_missing' must be an integer >= 2 (columns in a block) or null, "
                          f"got {bm!r}")
    mp = full["impute"]["max_predictors"]
    if mp is not None and mp != "auto" and (not isinstance(mp, int) or isinstance(mp, bool) or mp < 1):
        raise ConfigError(f"config key 'impute.max_predictors' must be a positive integer, auto or null, got {mp!r}")
    perms = full["safeguards"]["permutations"]
    if not isinstance(perms, int) or isinstance(perms, bool) or perms < 0:
        raise ConfigError(f"config key 'safeguards.permutations' must be an integer >= 0, got {perms!r}")
    if not isinstance(full["safeguards"]["volume"], (str, type(None))):
        raise ConfigError(f"config key 'safeguards.volume' must be a column name or null, got {full['safeguards']['volume']!r}")
    if full["aggregate"] != "none" and not full["groups"]:
        raise ConfigError("aggregate (patient-level scores from lesion rows) needs a groups column: set 'groups'")
    if h["method"] == "combat" and not full["batch"]:
        raise ConfigError("harmonize.method 'combat' needs a batch column: set 'batch' (or --batch)")
    for col in target_columns(full):
        if col in (h["covariates"] or []):
            raise ConfigError(f"harmonize.covariates names the target column {col!r}: the outcome (label, time or event) "
                              "must never be a ComBat covariate in a predictive pipeline")
    kind = outer["kind"]
    if kind == "leave_site_out" and not full["batch"]:
        raise ConfigError("cv.outer.kind 'leave_site_out' needs a batch column: set 'batch' (or --batch)")
    if kind == "leave_site_out" and h["method"] == "combat" and h["unseen"] != "estimate":
        raise ConfigError("leave_site_out with ComBat tests on sites unseen in training: set harmonize.unseen: estimate")
    if full["cv"]["inner"]["kind"] == "site_folds" and not full["batch"]:
        raise ConfigError("cv.inner.kind 'site_folds' deals the training sites into folds: set 'batch' (or --batch)")
    if kind == "grouped" and not full["groups"]:
        raise ConfigError("cv.outer.kind 'grouped' needs a groups column: set 'groups' (or --groups)")
    if full["balance"]["method"] != "none" and full["impute"]["method"] == "none" and \
            full["model"]["name"] == "xgboost":
        raise ConfigError("balance.method needs complete data: set impute.method (median, knn or surrogate_tree)")
    _check_early_stopping(full)
    full["select"]["robustness"] = _check_robustness(full["select"]["robustness"])
    if full["fusion"]["mode"] == "late" and len(full["fusion"]["blocks"] or []) < 2:
        raise ConfigError("fusion.mode 'late' needs at least two fusion.blocks")
    return full


#: Model parameters that make a library write files (a cache folder, a log, a model dump).
_WRITING_PARAMS = re.compile(r"(?i)^(memory|cache(_dir|_path)?|.*_(dir|path|file|folder)|filename|"
                                           r"output.*|save.*|log.*file.*|checkpoint.*)$")


def _looks_like_path(v) -> bool:
    return isinstance(v, str) and ("/" in v or "\\" in v or v.startswith(("~", ".")))


def _check_no_paths(model: dict) -> None:
    """No model parameter (fixed or searched) may name a file system path: a library given one writes there,
    outside the run folder (``Pipeline(memory=...)``, checkpoints). Paths come only from the command line."""
    items = [(f"model.params.{k}", k, v) for k, v in (model["params"] or {}).items()]
    items += [(f"model.search.{k}", k, x) for k, v in (model["search"] or {}).items() for x in v]
    for where, name, value in items:
        if value is None or isinstance(value, (bool, int, float)):
            continue
        if _WRITING_PARAMS.match(str(name)) or _looks_like_path(value):
            raise ConfigError(f"config key {where!r} = {value!r} would make the model read or write files; a config "
                              "may not name paths or caches for a model (radiomix writes only inside the run folder)")


def _check_patterns(full: dict) -> None:
    """Every regular expression of the config compiles under radiomix's linear-time engine, checked now."""
    from .patterns import PatternError, compile_user_pattern

    specs = [("features.include", full["features"]["include"]), ("harmonize.exclude", full["harmonize"]["exclude"])]
    hf = full["harmonize"]["features"]
    if isinstance(hf, str) and hf not in ("radiomic", "all"):
        specs.append(("harmonize.features", hf))
    specs += [(f"features.groups.{k}", v) for k, v in (full["features"].get("groups") or {}).items()]
    for where, spec in specs:
        if isinstance(spec, str):
            try:
                compile_user_pattern(spec, f"config key {where!r}")
            except PatternError as err:
                raise ConfigError(str(err)) from None


#: select.robustness keys and their defaults (``table`` is required).
ROBUSTNESS_DEFAULTS = {"table": None, "icc": 0.75, "statistic": "ci_low", "source": "perturbation", "case": None}


def _check_robustness(spec):
    """``select.robustness`` merged over its defaults, or None; a one-line ConfigError naming the bad key."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ConfigError(f"config key 'select.robustness' must be a mapping (table, icc, statistic, source, case) or "
                          f"null, got {spec!r}")
    unknown = sorted(set(spec) - set(ROBUSTNESS_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in select.robustness; valid: {sorted(ROBUSTNESS_DEFAULTS)}")
    out = {**ROBUSTNESS_DEFAULTS, **spec}
    if out["table"] is None or not (isinstance(out["table"], (str, os.PathLike)) or hasattr(out["table"], "columns")):
        raise ConfigError("select.robustness.table must name the repeated-measures table (radiomix robustness's "
                          f"perturbations.parquet, or an extraction with session/rater columns), got {out['table']!r}")
    icc = out["icc"]
    if not isinstance(icc, (int, float)) or isinstance(icc, bool) or not 0 <= icc <= 1:
        raise ConfigError(f"select.robustness.icc must be a number in [0, 1], got {icc!r}")
    for key, valid in (("statistic", ("ci_low", "icc")), ("source", ("perturbation", "repeats"))):
        if out[key] not in valid:
            raise ConfigError(f"select.robustness.{key} must be one of {list(valid)}, got {out[key]!r}")
    if out["case"] is not None and not isinstance(out["case"], str):
        raise ConfigError(f"select.robustness.case must be a column name or null, got {out['case']!r}")
    return out


def _check_early_stopping(full: dict) -> None:
    params = full["model"]["params"] or {}
    if params.get("early_stopping_rounds") is None:
        if "validation_fraction" in params:
            raise ConfigError("model.params.validation_fraction only applies with model.params.early_stopping_rounds")
        return
    if full["model"]["name"] != "xgboost":
        raise ConfigError("model.params.early_stopping_rounds: radiomix holds out the validation rows for model "
                          f"'xgboost' only, not {full['model']['name']!r}")
    if full["groups"]:
        raise ConfigError("model.params.early_stopping_rounds holds out random rows of each training set, which "
                          f"cannot keep the rows of one patient ({full['groups']!r}) together; leave it out with groups")


def target_columns(cfg: dict) -> list[str]:
    """The outcome's columns: ``[target]``, or ``[time, event]`` for a survival target."""
    t = cfg["target"]
    return [t["time"], t["event"]] if isinstance(t, dict) else [t]


def _registered_tasks() -> list[str]:
    from .outcomes import TASKS

    return sorted(TASKS)


def _check_target(full: dict) -> None:
    """The target's shape (a column, or ``{time, event}`` for a time-to-event outcome) against the declared task,
    and the outcome type's own refusals of settings when the config already says which type it is."""
    from .outcomes import TASKS, get_task

    t = full["target"]
    if isinstance(t, dict):
        if set(t) != {"time", "event"} or not all(isinstance(v, str) and v for v in t.values()):
            raise ConfigError(f"config key 'target' as a mapping must be {{time: <column>, event: <column>}} "
                              f"(a survival outcome), got {t!r}")
        if t["time"] == t["event"]:
            raise ConfigError(f"config key 'target': time and event name the same column {t['time']!r}")
    elif not isinstance(t, str) or not t:
        raise ConfigError(f"config key 'target' must be a column name (or {{time:, event:}}), got {t!r}")
    width = len(target_columns(full))
    wide = sorted(name for name, task in TASKS.items() if task.target_width == width)
    if full["task"] in TASKS and get_task(full["task"]).target_width != width:
        if width > 1:
            raise ConfigError(f"config key 'task' is {full['task']!r} but target names time and event columns "
                              f"(a survival outcome): set task: {' or '.join(wide)} or auto")
        raise ConfigError(f"task {full['task']!r} needs target: {{time: <column>, event: <column>}} (or --time/--event)")
    sv = full.get("survival") or {}
    hz, tau = sv.get("horizons"), sv.get("tau")
    if hz is not None and not (isinstance(hz, list) and hz and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in hz)):
        raise ConfigError(f"config key 'survival.horizons' must be a list of positive times or null, got {hz!r}")
    if tau is not None and not (isinstance(tau, (int, float)) and not isinstance(tau, bool) and tau > 0):
        raise ConfigError(f"config key 'survival.tau' must be a positive time or null, got {tau!r}")
    declared = full["task"] if full["task"] in TASKS else (wide[0] if width > 1 and len(wide) == 1 else None)
    if declared is not None:
        try:
            get_task(declared).check_settings(task_settings(full), [])
        except ValueError as err:
            raise ConfigError(str(err)) from None


def task_settings(cfg: dict) -> dict:
    """The config's settings an outcome type checks (:meth:`radiomix.outcomes.Task.check_settings`)."""
    return {"balance": cfg["balance"]["method"], "recalibrate": cfg["calibration"]["recalibrate"],
            "early_stopping": (cfg["model"]["params"] or {}).get("early_stopping_rounds")}


def read_config_file(path: str | os.PathLike) -> dict:
    """A config file's mapping, read with :func:`radiomix.safeyaml.load_yaml`'s limits (size, aliases, depth,
    duplicate keys, no object tags); every problem a one-line ConfigError naming the file and line."""
    from .safeyaml import YAMLInputError, load_yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        cfg = load_yaml(p, what="config") or {}
    except YAMLInputError as err:
        raise ConfigError(str(err)) from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {p}: a config must be a YAML mapping of keys, got {type(cfg).__name__}")
    return cfg


def load_config(path: str | os.PathLike | None = None, *, trusted_modules=(), **overrides) -> dict:
    """Load a YAML config (default: the shipped one), apply non-None ``overrides`` (top-level keys such as
    ``target=``, ``id=``, ``batch=``, ``groups=``) and validate it (``trusted_modules``: see
    :func:`validate_config`)."""
    cfg = read_config_file(path) if path is not None else {}
    for k, v in overrides.items():
        if v is not None:
            cfg[k] = v
    return validate_config(cfg, trusted_modules=trusted_modules)
