"""The declarative schema of a ``radiomix train`` configuration: every dotted key's kind, range, choices, default
and documentation, in one place. It is the single source of the validation (:mod:`.validate`), of the error
messages, of the shipped defaults file (``params/train_default.yaml`` is generated from it: :func:`defaults_yaml`)
and of the documentation's configuration reference (:func:`reference_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Key", "Section", "SCHEMA", "allowed", "defaults", "defaults_yaml", "iter_keys", "reference_rows", "reference_markdown", "lookup"]


@dataclass(frozen=True)
class Key:
    """One configuration value.

    kind : what the value is (``bool``, ``int``, ``number``, ``choice``, ``column``, ``target``, ``label``,
        ``columns_or_pattern``, ``columns``, ``groups``, ``params``, ``space``, ``threshold``, ``int_or_auto``,
        ``harmonize_features``, ``table``, ``times``, ``names``, ``model``); :mod:`.validate` checks each kind.
    default : its value when the config does not set it.
    doc : one line for the defaults file and the reference (the first line of the comment).
    choices : the valid values of a ``choice``; ``low``/``high`` inclusive bounds of numbers (``low_open`` /
        ``high_open``: exclusive); ``nullable``: null (``None``) is valid too.
    """

    kind: str
    default: object = None
    doc: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    more: str = ""  # further lines of the comment in the defaults file


@dataclass(frozen=True)
class Section:
    """A mapping of keys. ``nullable``: the whole section may be ``null`` (off); given as a mapping, its keys
    take their defaults where unset."""

    doc: str
    keys: dict = field(default_factory=dict)
    nullable: bool = False
    default_null: bool = False


def _bounds(key: Key) -> str:
    parts = []
    if key.low is not None:
        parts.append(f"{'>' if key.low_open else '>='} {key.low:g}")
    if key.high is not None:
        parts.append(f"{'<' if key.high_open else '<='} {key.high:g}")
    return " and ".join(parts)


def allowed(key: Key) -> str:
    """What ``key`` accepts, in words (error messages and the reference)."""
    text = {
        "bool": "true or false",
        "int": "an integer",
        "number": "a number",
        "choice": f"one of {list(key.choices)}",
        "column": "a column name",
        "task": "auto or an outcome type (binary, multiclass, regression, survival, or a registered one)",
        "target": "a column name, or {time: <column>, event: <column>} for a survival outcome",
        "label": "a class label (text, number or true/false)",
        "columns_or_pattern": "a list of column names or a regular expression",
        "columns": "a list of column names",
        "groups": "a mapping of block names to lists of columns or regular expressions",
        "params": "a mapping of parameter names to values",
        "space": "a mapping of parameter names to non-empty lists of values",
        "threshold": "youden, or a number in (0, 1)",
        "int_or_auto": "auto or an integer",
        "harmonize_features": "radiomic, all, a list of columns or a regular expression",
        "table": "a path to the repeated-measures table (or a DataFrame in Python)",
        "times": "a non-empty list of positive times",
        "names": "a list of block names",
        "model": "a model name of the registry or an import path of an estimator class",
        "scorer": "auto or a scikit-learn scorer name",
    }[key.kind]
    bounds = _bounds(key)
    if bounds and key.kind in ("int", "number", "int_or_auto"):
        text += f" {bounds}"
    return text + (" or null" if key.nullable else "")


def _k(kind, default=None, doc="", **kw) -> Key:
    return Key(kind, default, doc, **kw)


_TASKS_DOC = "auto: survival for {time, event}, binary for two values, multiclass for 3-20 labels (text or integers), " \
    "regression for other numbers; said in the output | binary | multiclass | regression | survival"

SCHEMA = Section("radiomix train configuration", {
    "id": _k("column", "id", "case-id column (or the table's index name)"),
    "target": _k("target", "outcome", "outcome column (binary, multiclass labels or a continuous value); a survival "
                 "outcome: {time: os_days, event: os_event}", more="(event 1 = event, 0 = censored; on the CLI --time/--event)"),
    "task": _k("task", "auto", _TASKS_DOC),
    "positive": _k("label", None, "label of the positive class; null: 1 / True, else the second label in sorted order "
                   "(said in the output)", nullable=True),
    "batch": _k("column", None, "site/scanner column (never a model feature; ComBat and leave-site-out use it)",
                nullable=True),
    "groups": _k("column", None, "patient column when one patient has several rows (lesions): no split ever separates "
                 "them", nullable=True, more="(outer, inner, stacking, calibration, bootstrap); without it duplicate ids are "
                 "an error"),
    "unseen_categories": _k("choice", "error", "at predict time, a category never seen in training: error | warn "
                            "(encoded as no known level)", choices=("error", "warn")),
    "aggregate": _k("choice", "none", "with groups: also score patients, from their rows' predictions (max | mean), or "
                    "none", choices=("none", "max", "mean")),
    "features": Section("which columns are features", {
        "include": _k("columns_or_pattern", None, "list of columns or a regex; null = every column except "
                      "id/target/batch/groups/exclude", nullable=True),
        "exclude": _k("columns", [], "columns never used as features (other outcomes, dates...)"),
        "groups": _k("groups", {}, "extra/overriding column blocks for late fusion: name -> list or regex"),
    }),
    "harmonize": Section("ComBat harmonization of the site effect, fitted inside each training fold", {
        "method": _k("choice", "none", "none | combat (needs batch)", choices=("none", "combat")),
        "features": _k("harmonize_features", "radiomic", "radiomic: the radiomic block (recorded by extract/merge, or "
                       "named in features.groups.radiomic;", more="refused when other numeric columns fit no block) | all: "
                       "every numeric feature column | list | regex"),
        "exclude": _k("columns_or_pattern", [], "columns never harmonized (list or regex), named in the run record and "
                      "the report"),
        "covariates": _k("columns", [], "biological covariates ComBat protects (never the target)"),
        "categorical": _k("columns", [], "which covariates are categorical"),
        "parametric": _k("bool", True, "parametric (true) or non-parametric (false) empirical Bayes"),
        "eb": _k("bool", True, "empirical Bayes shrinkage of the site estimates"),
        "mean_only": _k("bool", False, "adjust site means only (no scaling)"),
        "ref_batch": _k("label", None, "a reference site left unchanged, or null", nullable=True),
        "unseen": _k("choice", "error", "a site absent from training: error, or estimate (transductive: its shift is "
                     "estimated from its own rows in the call;", choices=("error", "estimate"),
                     more="leave-site-out needs it and must say so)"),
        "min_unseen_rows": _k("int", 10, "estimate needs at least this many rows of the new site in one call", low=1),
    }),
    "impute": Section("imputation of missing values, fitted inside each training fold", {
        "method": _k("choice", "none", "none (XGBoost handles missing values) | median | knn | surrogate_tree",
                     choices=("none", "median", "knn", "surrogate_tree")),
        "n_neighbors": _k("int", 5, "knn: neighbours", low=1),
        "max_iter": _k("int", 5, "surrogate_tree: rounds", low=1),
        "add_indicator": _k("bool", False, "add missingness-indicator columns"),
        "block_missing": _k("int", 20, "surrogate_tree: a row missing every column of a block (radiomic, clinical, "
                            "genetic) of at least", low=2, nullable=True, more="this many columns gets the block's "
                            "training means/modes, not one tree per column (said); null: per-column trees everywhere"),
        "max_predictors": _k("int_or_auto", "auto", "surrogate_tree: grow each column's tree on its k most correlated "
                             "columns (mice's quickpred", low=1, nullable=True, more="idea; 30 makes a 1,000-column "
                             "table ~20x faster to impute); null: on all columns; auto: all columns up to 200 feature "
                             "columns, the 30 most correlated beyond (said)"),
    }),
    "encoding": Section("categorical columns", {
        "categorical": _k("choice", "onehot", "onehot | ordinal", choices=("onehot", "ordinal")),
    }),
    "scale": _k("choice", "auto", "auto (standardise when the model needs it) | standard | robust | none",
                choices=("auto", "standard", "robust", "none")),
    "select": Section("feature selection, fitted inside each training fold", {
        "near_zero_variance": _k("bool", True, "drop constant and near-constant features (caret's rule)"),
        "correlation_threshold": _k("number", None, "e.g. 0.9: drop the less relevant of each pair above it", low=0,
                                    high=1, low_open=True, nullable=True),
        "mrmr": _k("int", None, "number of features mRMR keeps, or null", low=1, nullable=True),
        "relevance": _k("choice", "auto", "auto (F statistic; survival: univariate Cox score test) | f | ks | rf | cox",
                        choices=("auto", "f", "ks", "rf", "cox")),
        "robustness": Section("keep features whose ICC over repeated measurements of the TRAINING patients is high "
                              "(first selection step, refitted in every training fold); CLI: train --robustness", {
                                  "table": _k("table", None, "`radiomix robustness` output, or an extraction with "
                                              "session/rater columns"),
                                  "icc": _k("number", 0.75, "ICC threshold", low=0, high=1),
                                  "statistic": _k("choice", "ci_low", "ci_low (lower 95% bound, Koo & Li) | icc",
                                                  choices=("ci_low", "icc")),
                                  "source": _k("choice", "perturbation", "perturbation (ICC(1,1), the unperturbed p00 "
                                               "rows left out) | repeats (shared raters/sessions: ICC(2,1))",
                                               choices=("perturbation", "repeats")),
                                  "case": _k("column", None, "the table's case-id column (null: the id column)",
                                             nullable=True),
                              }, nullable=True, default_null=True),
    }),
    "balance": Section("class balancing (fit only; never applied to test rows)", {
        "method": _k("choice", "none", "none | smote | smotenc | adasyn | random_over | random_under (fit only)",
                     choices=("none", "smote", "smotenc", "adasyn", "random_over", "random_under")),
        "k_neighbors": _k("int", 5, "SMOTE/ADASYN neighbours", low=1),
        "correction": _k("choice", "auto", "how probabilities are brought back to the training prevalence after "
                         "resampling:", choices=("auto", "prevalence", "recalibrate", "none"),
                         more="auto: prevalence (exact logit shift) for random_over/random_under, recalibrate for "
                         "smote/smotenc/adasyn | prevalence | recalibrate (sigmoid on inner out-of-fold predictions of "
                         "rows that were not resampled) | none (probabilities stay distorted; said in the report)"),
    }),
    "fusion": Section("one table (early) or one pipeline per block with a stacking meta-model (late)", {
        "mode": _k("choice", "early", "early (one table) | late (one pipeline per block + stacking meta-model)",
                   choices=("early", "late")),
        "blocks": _k("names", ["radiomic", "clinical", "genetic"], "the blocks of late fusion"),
    }),
    "model": Section("the model and its hyperparameters", {
        "name": _k("model", "auto", "auto: L1 logistic regression (C tuned) for a binary outcome, chosen on 25 public "
                   "radiomics tables (benchmarks/README.md); XGBoost for the other outcome types (said in the output) |",
                   more="binary/multiclass: xgboost | logistic | svm | random_forest | knn | lda | plsda (binary); "
                   "regression: xgboost | elastic_net | random_forest | svr (svm) | pls | knn; "
                   "survival: xgboost (survival:cox) | coxph | xgboost_aft | random_survival_forest (needs the GPL extra "
                   "radiomix[survival-extra]); or an import path of an estimator class under radiomix, sklearn, "
                   "xgboost, imblearn, lightgbm, catboost, or a module you trust on the command line (--trust-module "
                   "MODULE or RADIOMIX_TRUST_MODULES; never in a config: importing runs the module's code)"),
        "params": _k("params", None, "fixed parameters; null: the model's own (logistic: l1_ratio 1, liblinear; XGBoost: "
                     "200 trees, hist)", nullable=True),
        "trusted_modules": _k("names", [], "modules trusted outside the config (--trust-module, trusted_modules=, "
                              "RADIOMIX_TRUST_MODULES), recorded by the run; a config may not set it"),
        "search": _k("space", None, "hyperparameter search space (lists = choices), tuned on the inner folds only; "
                     "null: the model's own", nullable=True, more="(logistic: C over 13 values from 0.01 to 10; XGBoost: "
                     "max_depth, learning_rate, subsample, colsample_bytree, min_child_weight); {}: no tuning"),
    }),
    "search": Section("how hyperparameters are chosen on the inner folds", {
        "method": _k("choice", "auto", "auto: every point of a space of at most 25 (grid; random when n_candidates "
                     "covers it), else random | random | grid | halving (successive halving)", choices=("auto", "random", "grid", "halving")),
        "n_candidates": _k("int", 10, "candidates per outer fold (random, halving); grid tries all", low=1),
        "time_budget": _k("number", None, "seconds per search (random/grid stop there after at least one candidate)",
                          low=0, low_open=True, nullable=True),
    }),
    "cv": Section("nested cross-validation", {
        "outer": Section("the outer folds (performance estimate)", {
            "kind": _k("choice", "stratified", "stratified (grouped automatically when groups is set) | grouped | "
                       "leave_site_out (needs batch;", choices=("stratified", "grouped", "leave_site_out"),
                       more="inner folds then leave one training site out, with >= 3 training sites)"),
            "n_splits": _k("int", 5, "outer folds", low=2),
            "n_repeats": _k("int", 1, "repeats of the outer folds (stratified/grouped)", low=1),
        }),
        "inner": Section("the inner folds (tuning, threshold, calibration)", {
            "kind": _k("choice", "auto", "auto: stratified, but leave one training site out when the outer folds leave "
                       "a site out", choices=("auto", "stratified", "site_folds"), more="(>= 3 training sites) | "
                       "site_folds: the training sites dealt into n_splits folds (needs batch; fewer fits than one fold "
                       "per site) | stratified: sites ignored"),
            "n_splits": _k("int", 5, "inner folds (5: 3 tuned less well on small tables, benchmarks/README.md)", low=2),
            "scoring": _k("scorer", "auto", "auto: roc_auc (binary), c_index (survival: Harrell's C) | a scikit-learn "
                          "scorer name"),
        }),
    }),
    "calibration": Section("probability recalibration and the reliability curve", {
        "recalibrate": _k("choice", "none", "none | sigmoid | isotonic: learned on inner out-of-fold predictions of the "
                          "training fold", choices=("none", "sigmoid", "isotonic"),
                          more="(grouped by patient, rows never resampled), applied to the tuned model"),
        "n_bins": _k("int", 10, "reliability-curve bins", low=2),
    }),
    "safeguards": Section("baselines, permutation test and explanations that every run reports", {
        "baselines": _k("bool", True, "volume-only, clinical-only and (with ComBat) no-harmonization baselines under "
                        "the same folds"),
        "volume": _k("column", None, "the tumour-volume column; null: detected by name (pyradiomics/IBSI/CaPTk) and "
                     "reported", nullable=True),
        "permutations": _k("int", 0, "> 0: permutation test of the whole nested CV (outcomes permuted within site); "
                           "slow", low=0),
        "shap": _k("bool", True, "SHAP of each outer-fold model on its own held-out patients (shap_heldout*.parquet, "
                   "report)"),
    }),
    "survival": Section("time-to-event outcomes only", {
        "horizons": _k("times", None, "times at which time-dependent AUC, Brier score and calibration are reported; "
                       "null: quartiles", nullable=True, more="of the event times"),
        "tau": _k("number", None, "truncation time of Uno's C; null: 90th percentile of the event times", low=0,
                  low_open=True, nullable=True),
    }),
    "threshold": _k("threshold", "youden", "decision threshold chosen inside each training fold: youden, or a number "
                    "in (0, 1)"),
    "bootstrap": _k("int", 2000, "bootstrap resamples for the 95% confidence intervals", low=0),
    "final_model": _k("bool", True, "refit on all data with the same procedure and save model.skops"),
    "random_state": _k("int", 0, "seed of every split, search and model"),
    "n_jobs": _k("int", -1, "parallel outer folds (-1: all cores; results do not depend on it)"),
})


def iter_keys(section: Section = SCHEMA, prefix: str = ""):
    """``(dotted path, Key or Section)`` for every entry of the schema, depth first, in schema order."""
    for name, entry in section.keys.items():
        path = f"{prefix}{name}"
        yield path, entry
        if isinstance(entry, Section):
            yield from iter_keys(entry, path + ".")


def lookup(path: str):
    """The Key or Section at a dotted ``path`` (KeyError when there is none)."""
    node = SCHEMA
    for part in path.split("."):
        if not isinstance(node, Section) or part not in node.keys:
            raise KeyError(path)
        node = node.keys[part]
    return node


def defaults(section: Section = SCHEMA) -> dict:
    """The default configuration as a plain (new) mapping."""
    import copy

    out = {}
    for name, entry in section.keys.items():
        if isinstance(entry, Section):
            out[name] = None if entry.default_null else defaults(entry)
        else:
            out[name] = copy.deepcopy(entry.default)
    return out


def _yaml_value(v) -> str:
    import yaml

    return yaml.safe_dump(v, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _comment_lines(entry) -> list[str]:
    text = entry.doc + (" " + entry.more if getattr(entry, "more", "") else "")
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > 78:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + ([line] if line else [])


def defaults_yaml() -> str:
    """The text of ``params/train_default.yaml``: every key with its default and its documentation."""
    out = ["# radiomix train: default configuration (used when `radiomix train` gets no --config).",
           "# Generated from radiomix/config/schema.py (python -m radiomix.config > params/train_default.yaml).",
           "# Every key is optional in your own file; unknown keys are refused with the list of valid ones.",
           "# Every learned step below is fitted inside the training fold only.", ""]

    def emit(section: Section, indent: str):
        for name, entry in section.keys.items():
            if isinstance(entry, Section):
                if entry.default_null:
                    out.append(f"{indent}{name}: null  # {entry.doc}")
                    for key, sub in entry.keys.items():
                        lines = _comment_lines(sub)
                        out.append(f"{indent}  #   {key}: {_yaml_value(sub.default)}  {lines[0] if lines else ''}")
                    continue
                if not indent:
                    out.append("")
                out.append(f"{indent}{name}:  # {entry.doc}")
                emit(entry, indent + "  ")
                continue
            lines = _comment_lines(entry)
            value = _yaml_value(entry.default)
            if entry.kind in ("params", "space") and entry.default:
                out.append(f"{indent}{name}:  # {lines[0]}")
                out.extend(f"{indent}  # {line}" for line in lines[1:])
                for k, v in entry.default.items():
                    out.append(f"{indent}  {k}: {_yaml_value(v)}")
                continue
            out.append(f"{indent}{name}: {value}  # {lines[0] if lines else ''}".rstrip())
            out.extend(f"{indent}  # {line}" for line in lines[1:])

    emit(SCHEMA, "")
    return "\n".join(out) + "\n"


def reference_rows() -> list[dict]:
    """One row per key for the documentation's configuration reference: key, kind, default, allowed, description."""
    rows = []
    for path, entry in iter_keys():
        if isinstance(entry, Section):
            rows.append({"key": path, "kind": "section" + (" (or null)" if entry.nullable else ""),
                         "default": "null" if entry.default_null else "", "allowed": "", "description": entry.doc})
        else:
            rows.append({"key": path, "kind": entry.kind, "default": _yaml_value(entry.default),
                         "allowed": allowed(entry), "description": (entry.doc + " " + entry.more).strip()})
    return rows


def reference_markdown() -> str:
    """The text of ``docs/configuration.md``: one table row per key (``python -m radiomix.config --reference``)."""

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    out = ["# `radiomix train` configuration reference", "",
           "Generated from `radiomix/config/schema.py` (`python -m radiomix.config --reference > docs/configuration.md`;",
           "`tests/test_config.py` fails when it is stale). Every key is optional; unknown keys, wrong types and",
           "values out of range are refused with a one-line message naming the key, what it accepts and the file line.",
           "The defaults file `params/train_default.yaml` is generated from the same schema.", "",
           "| key | kind | default | allowed | what |", "|---|---|---|---|---|"]
    for r in reference_rows():
        out.append(f"| `{r['key']}` | {cell(r['kind'])} | {('`' + cell(r['default']) + '`') if r['default'] else ''} "
                   f"| {cell(r['allowed'])} | {cell(r['description'])} |")
    return "\n".join(out) + "\n"
