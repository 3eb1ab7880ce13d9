"""Cross-key rules of a configuration, in one place: what one key's value requires of another's (ComBat needs a
batch column, leave-site-out with ComBat needs ``unseen: estimate``...), what the outcome type refuses, what a
model name may import, and what a config may never do (extend its own trust, name a path for a library to write,
hold a backtracking regular expression). Each rule raises a one-line :class:`ConfigError` with the fix."""

from __future__ import annotations

import os
import re

from .validate import ConfigError, Where

__all__ = ["TRUST_ENV", "resolve_trusted_modules", "refuse_own_trust", "model_defaults", "check_rules",
           "target_columns", "task_settings"]

#: Environment variable with extra import roots ``model.name`` may use (comma-separated), set by the user.
TRUST_ENV = "RADIOMIX_TRUST_MODULES"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: Model parameters that make a library write files (a cache folder, a log, a model dump).
_WRITING_PARAMS = re.compile(r"(?i)^(memory|cache(_dir|_path)?|.*_(dir|path|file|folder)|filename|output.*|save.*|"
                             r"log.*file.*|checkpoint.*)$")


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


def refuse_own_trust(raw: dict, trusted: list, where: Where) -> dict:
    """``raw`` without ``model.trusted_modules``, refused when it tries to trust anything (a resolved config
    carrying exactly the modules trusted outside it is accepted as it is)."""
    model = raw.get("model") if isinstance(raw, dict) else None
    if not (isinstance(model, dict) and "trusted_modules" in model):
        return raw
    if model["trusted_modules"] not in (None, [], trusted):
        raise ConfigError(f"{where.prefix('model.trusted_modules')}config key 'model.trusted_modules' "
                          f"({model['trusted_modules']!r}) cannot be set in a config: a file may not extend its own "
                          "trust. Give modules on the command line (radiomix train --trust-module MODULE), as "
                          f"trusted_modules= in Python, or in {TRUST_ENV}")
    return {**raw, "model": {k: v for k, v in model.items() if k != "trusted_modules"}}


def model_defaults(raw: dict, full: dict) -> None:
    """A config that names a model but not its ``params`` / ``search`` gets that model's own (the registry's), not
    the default model's (XGBoost's parameters would not fit a logistic regression)."""
    from ..models import MODELS

    model = raw.get("model") if isinstance(raw, dict) else None
    if not isinstance(model, dict) or "name" not in model:
        return
    if full["model"]["name"] == "auto":  # resolved with the outcome type; null params/search: the model's own
        return
    spec = MODELS.get(full["model"]["name"])
    for key in ("params", "search"):
        if key not in model:
            full["model"][key] = dict(getattr(spec, f"default_{key}", {}) or {}) if spec is not None else {}


def target_columns(cfg) -> list[str]:
    """The outcome's columns: ``[target]``, or ``[time, event]`` for a survival target (a mapping or Settings)."""
    t = cfg["target"] if isinstance(cfg, dict) else cfg.target
    return [t["time"], t["event"]] if hasattr(t, "keys") else [t]


def task_settings(cfg) -> dict:
    """The config's settings an outcome type checks (:meth:`radiomix.outcomes.Task.check_settings`)."""
    if isinstance(cfg, dict):
        return {"balance": cfg["balance"]["method"], "recalibrate": cfg["calibration"]["recalibrate"],
                "early_stopping": (cfg["model"]["params"] or {}).get("early_stopping_rounds")}
    return {"balance": cfg.balance.method, "recalibrate": cfg.calibration.recalibrate,
            "early_stopping": (cfg.model.params or {}).get("early_stopping_rounds")}


def check_rules(full: dict, where: Where) -> None:
    """Every cross-key rule on the merged configuration ``full`` (a plain mapping), in a fixed order."""
    _check_target(full, where)
    _check_model(full, where)
    _check_patterns(full)
    h, outer, inner = full["harmonize"], full["cv"]["outer"], full["cv"]["inner"]
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
    if inner["kind"] == "site_folds" and not full["batch"]:
        raise ConfigError("cv.inner.kind 'site_folds' deals the training sites into folds: set 'batch' (or --batch)")
    if kind == "grouped" and not full["groups"]:
        raise ConfigError("cv.outer.kind 'grouped' needs a groups column: set 'groups' (or --groups)")
    if full["balance"]["method"] != "none" and full["impute"]["method"] == "none" and \
            full["model"]["name"] == "xgboost":
        raise ConfigError("balance.method needs complete data: set impute.method (median, knn or surrogate_tree)")
    _check_early_stopping(full)
    rob = full["select"]["robustness"]
    if rob is not None and rob["table"] is None:
        raise ConfigError(f"{where.prefix('select.robustness')}select.robustness.table must name the repeated-measures "
                          "table (radiomix robustness's perturbations.parquet, or an extraction with session/rater "
                          "columns), got None")
    if full["fusion"]["mode"] == "late" and len(full["fusion"]["blocks"] or []) < 2:
        raise ConfigError("fusion.mode 'late' needs at least two fusion.blocks")
    _check_task(full, where)


def _check_target(full: dict, where: Where) -> None:
    """A mapping target is exactly ``{time, event}`` with two different columns."""
    t = full["target"]
    if isinstance(t, dict):
        if set(t) != {"time", "event"} or not all(isinstance(v, str) and v for v in t.values()):
            raise ConfigError(f"{where.prefix('target')}config key 'target' as a mapping must be {{time: <column>, "
                              f"event: <column>}} (a survival outcome), got {t!r}")
        if t["time"] == t["event"]:
            raise ConfigError(f"{where.prefix('target')}config key 'target': time and event name the same column "
                              f"{t['time']!r}")


def _check_task(full: dict, where: Where) -> None:
    """The declared task exists and fits the target's shape; when the config already says which outcome type it is,
    that type's own refusals of settings (:meth:`radiomix.outcomes.Task.check_settings`) apply now."""
    from ..outcomes import TASKS, get_task

    if full["task"] != "auto" and full["task"] not in TASKS:
        raise ConfigError(f"{where.prefix('task')}config key 'task' is {full['task']!r}; valid values: "
                          f"{['auto', *sorted(TASKS)]}")
    width = len(target_columns(full))
    fitting = sorted(name for name, task in TASKS.items() if task.target_width == width)
    if full["task"] in TASKS and get_task(full["task"]).target_width != width:
        if width > 1:
            raise ConfigError(f"config key 'task' is {full['task']!r} but target names time and event columns "
                              f"(a survival outcome): set task: {' or '.join(fitting)} or auto")
        raise ConfigError(f"task {full['task']!r} needs target: {{time: <column>, event: <column>}} (or --time/--event)")
    declared = full["task"] if full["task"] in TASKS else (fitting[0] if width > 1 and len(fitting) == 1 else None)
    if declared is not None:
        try:
            get_task(declared).check_settings(task_settings(full), [])
        except ValueError as err:
            raise ConfigError(str(err)) from None


def _check_model(full: dict, where: Where) -> None:
    from ..models import check_model_name

    m = full["model"]
    try:
        if m["name"] != "auto":  # auto: resolved per outcome type once the data say which (make_study)
            check_model_name(m["name"], m["trusted_modules"])  # before any import: importing runs module code
    except ValueError as err:
        raise ConfigError(f"{where.prefix('model.name')}config key {err}") from None
    items = [(f"model.params.{k}", k, v) for k, v in (m["params"] or {}).items()]
    items += [(f"model.search.{k}", k, x) for k, v in (m["search"] or {}).items() for x in v]
    for key, name, value in items:
        if value is None or isinstance(value, (bool, int, float)):
            continue
        if _WRITING_PARAMS.match(str(name)) or _looks_like_path(value):
            raise ConfigError(f"{where.prefix(key)}config key {key!r} = {value!r} would make the model read or write "
                              "files; a config may not name paths or caches for a model (radiomix writes only inside "
                              "the run folder)")


def _looks_like_path(v) -> bool:
    return isinstance(v, str) and ("/" in v or "\\" in v or v.startswith(("~", ".")))


def _check_patterns(full: dict) -> None:
    """Every regular expression of the config compiles under radiomix's linear-time engine, checked now."""
    from ..patterns import PatternError, compile_user_pattern

    specs = [("features.include", full["features"]["include"]), ("harmonize.exclude", full["harmonize"]["exclude"])]
    hf = full["harmonize"]["features"]
    if isinstance(hf, str) and hf not in ("radiomic", "all"):
        specs.append(("harmonize.features", hf))
    specs += [(f"features.groups.{k}", v) for k, v in (full["features"].get("groups") or {}).items()]
    for key, spec in specs:
        if isinstance(spec, str):
            try:
                compile_user_pattern(spec, f"config key {key!r}")
            except PatternError as err:
                raise ConfigError(str(err)) from None


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
