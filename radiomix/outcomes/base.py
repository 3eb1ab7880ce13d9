"""The :class:`Task` protocol: every decision that differs between outcome types, asked by every other part of
radiomix (the Study, nested CV, the final model, the safeguards, predict/evaluate and the report). No module
outside :mod:`radiomix.outcomes` tests which outcome type it handles: it calls the Task.

A new outcome type is one subclass of :class:`Task` registered with :func:`radiomix.outcomes.register_task`; the
methods below without a default must be implemented, the others have the behaviour of a task that has no such
thing (no threshold, no probability correction, nothing extra per fold...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Task", "ClassProbabilityModels", "check_labels", "per_patient"]


@dataclass(frozen=True)
class Task:
    """What differs per outcome type. Subclasses implement the methods; the attributes describe it.

    name : ``"binary"``, ... (the config's ``task``).
    metrics : names of the metrics in a run's summary, in report order; ``headline`` is the one quoted first
        (``headline_label`` its name in text).
    scoring : scikit-learn scorer used to rank hyperparameter candidates on the inner folds.
    default_model : registry name of the model ``model.name: auto`` (the default) resolves to.
    explainer_output : the scale of SHAP values of the default model (e.g. ``"log-odds"``).
    estimator_kinds : which of a registry model's factories serve this task, in order of preference
        (``"binary_classifier"``, ``"classifier"``, ``"regressor"``, ``"survival"``).
    prediction_method : the method a model class named by import path must have (``predict_proba``, ``predict``);
        ``estimator_noun`` what such a class is called in messages (``classifier``...).
    model_defaults : registry model name -> parameters this task sets unless the config does.
    target_width : columns of the outcome (1; survival: 2, time and event).
    drops_missing_target : rows without a target are left out (said); False: refused by :meth:`encode_target`.
    clinical_baseline : the clinical-block baseline's registry model and parameters.
    baseline_kinds : how the volume and the clinical baselines are described (e.g. ``("Cox", "penalized Cox")``).
    report_header : id of the report's header for this task; ``report_layout``: the ids of its sections, in order
        (:data:`radiomix.report.SECTIONS_BY_ID`).
    """

    name: str = "task"
    metrics: tuple = ()
    headline: str = ""
    headline_label: str = ""
    scoring: str = ""
    default_model: str = ""
    explainer_output: str = ""
    estimator_kinds: tuple = ()
    prediction_method: str = "predict"
    estimator_noun: str = "estimator"
    model_defaults: dict = field(default_factory=dict)
    target_width: int = 1
    drops_missing_target: bool = True
    clinical_baseline: tuple = ("logistic", {"C": 1.0})
    baseline_kinds: tuple = ("logistic", "logistic")
    report_header: str = "header.outcome"
    report_layout: tuple = ()

    # ------------------------------------------------------------------------------------------ the target
    def encode_target(self, target, column, positive=None) -> tuple[np.ndarray, list]:
        """``(y, classes)``: the model's target and the original labels (empty when there are none); ``target``
        is a Series (a DataFrame of ``target_width`` columns when wider); ``positive`` names the positive class
        where the task has one."""
        raise NotImplementedError

    def encode_array(self, y) -> tuple[np.ndarray, list]:
        """``(y, classes)`` for your own Pipeline's ``y`` (:meth:`radiomix.study.Study.from_pipeline`)."""
        if self.target_width > 1:
            return self.encode_target(pd.DataFrame(np.asarray(y), columns=self.placeholder_target()), "y")
        return self.encode_target(pd.Series(np.asarray(y)), "y")

    def placeholder_target(self):
        """The config's ``target`` when a Study is made from arrays (your own Pipeline): a column name, or the
        names of the outcome's columns."""
        return "y" if self.target_width == 1 else [f"y{k}" for k in range(self.target_width)]

    def target_notes(self, classes, column, positive_given: bool) -> list[str]:
        """What the run should say about how the target was read (e.g. which class is positive)."""
        return []

    # ---------------------------------------------------------------------------------------- the settings
    def check_settings(self, settings: dict, notes: list) -> None:
        """Refuse (ValueError naming the key) config settings that do not apply to this outcome, before any fit.
        ``settings``: ``balance``, ``recalibrate``, ``early_stopping``, ``scoring``, ``fusion`` values."""

    def check_scoring(self, scoring: str) -> str:
        """The inner-fold scorer for the config's ``cv.inner.scoring`` (``auto``: :attr:`scoring`); refuse one
        that does not score this outcome."""
        return self.scoring if scoring == "auto" else scoring

    def threshold_rule(self, configured) -> object:
        """What the decision threshold of each fitted model is (``"youden"``, a number, ``"median_risk"``,
        ``"none"``): the configured ``threshold`` where the task has one."""
        return "none"

    def probability_correction(self, recalibrate: str, balance: str, correction: str, notes: list) -> str | None:
        """The probability correction learned on inner out-of-fold predictions (None: none)."""
        return None

    def resolve_outcome(self, y, settings: dict, columns: list, notes: list) -> dict:
        """Task settings resolved on the data (survival: horizons, tau...), kept in ``study.outcome``."""
        return {}

    # --------------------------------------------------------------------------------------------- folds
    def strata(self, y) -> np.ndarray:
        """Labels to stratify folds on."""
        raise NotImplementedError

    @property
    def inner_strata(self):
        """``strata`` for splitters that must not stratify on ``y`` itself (a continuous or a time/event target),
        else None (the splitter stratifies on ``y``)."""
        return None

    def check_folds(self, y, n_splits: int, classes=None) -> None:
        """Raise ValueError when ``y`` cannot be split into ``n_splits`` stratified outer folds."""
        raise NotImplementedError

    def check_training_folds(self, y, folds, classes) -> None:
        """Raise ValueError when an outer fold's training rows cannot train a model of this outcome."""

    # -------------------------------------------------------------------------------------------- models
    def predict(self, estimator, X) -> np.ndarray:
        """The model output that metrics are computed on (probability of the positive class, risk score...)."""
        raise NotImplementedError

    def stacking(self, estimators: list, cv):
        """The late-fusion meta-model over the blocks' pipelines (inner folds ``cv``)."""
        raise NotImplementedError

    def volume_model(self):
        """The volume baseline's model (one feature: log tumour volume)."""
        raise NotImplementedError

    def case_mix_scores(self, X, y, cv, groups) -> np.ndarray:
        """Out-of-fold predictions of the outcome from the site indicators ``X`` alone (case mix), under ``cv``."""
        raise NotImplementedError

    def site_rates(self, y, classes, sites) -> tuple[str, pd.Series]:
        """``(name, per-site summary of the outcome)`` for the case-mix record."""
        raise NotImplementedError

    #: The case-mix score (the headline metric of the site alone predicting the outcome) from which the
    #: verdict flags sites that differ in outcome.
    case_mix_alarm: float = 0.6

    def effective_events(self, y, groups=None) -> tuple[int, str | None]:
        """``(events, what they are)`` for events-per-feature: the patients that limit what a model can learn
        (one outcome per patient with ``groups``). Default: every patient."""
        return len(per_patient(np.asarray(y) if np.ndim(y) == 1 else np.arange(len(y)), groups)), "patients"

    def supports_delong(self) -> bool:
        """Whether DeLong's test of correlated ROC AUCs compares two of this outcome's models."""
        return False

    # --------------------------------------------------------------------------------- metrics, summaries
    def fold_metrics(self, y, scores, labels) -> dict:
        """Metrics of one set of predictions."""
        raise NotImplementedError

    def headline_score(self, y, p, blocks=None) -> float:
        """The headline metric of predictions ``p`` for the encoded target ``y``. ``blocks`` (one integer label
        per row: the outer fold of each row inside one repeat; None: one block) is for a metric that compares
        predictions between rows (survival's concordance: only pairs within a block, each fold's risks being
        on their own model's scale); a metric that pools predictions across folds (AUC, R2) ignores it."""
        raise NotImplementedError

    def headline_name(self, leave_site_out: bool) -> str:
        """How the run's headline (:attr:`headline_label`) is aggregated over rows, in words."""
        return f"mean per-site {self.headline_label}" if leave_site_out else f"pooled {self.headline_label}"

    def encode_scores_target(self, y) -> np.ndarray:
        """``y`` as the metrics of this outcome take it (class codes as integers)."""
        return np.asarray(y)

    def bootstrap_strata(self, y) -> np.ndarray:
        """What bootstrap resamples of this outcome are stratified on."""
        return np.zeros(len(y), int)

    def fold_extras(self, model, X, outcome: dict) -> dict:
        """What an outer fold's model must give beyond its scores (survival: ``S(t)``)."""
        return {}

    def summarize(self, study, results) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """``(oof, folds, summary)`` of a nested CV from its outer-fold results."""
        raise NotImplementedError

    def ci_resampling(self) -> dict:
        """How the bootstrap of each metric draws patients (for the run record)."""
        return {"every metric": "patients freely (within site under leave-site-out)"}

    def score_external(self, model, table: pd.DataFrame, target, *, n_bootstrap: int, random_state: int) -> dict:
        """A saved model's metrics with CIs on an external cohort (``target``: the outcome column(s))."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ the final model
    def model_extras(self, study) -> dict:
        """What a saved model keeps beyond the pipeline and threshold (survival: the horizons)."""
        return {}

    def prediction_frame(self, model, ids, scores, thresholds, X, fallback) -> pd.DataFrame:
        """Per patient, what ``predict`` returns for this outcome (without the novelty columns)."""
        raise NotImplementedError

    def score_shape(self, n: int, classes) -> tuple:
        """Shape of the scores of ``n`` rows."""
        return (n,)

    def check_saved_model(self, model) -> str | None:
        """What is wrong with a loaded model of this outcome (None: nothing)."""
        return None

    def explained_outputs(self, classes) -> list:
        """``[(label, class_index)]``: the outputs SHAP explains one at a time (``[(None, None)]``: the one output)."""
        return [(None, None)]

    # ---------------------------------------------------------------------------------------------- text
    def describe_outcome(self, summary: dict, config: dict, data: dict, epv: dict) -> str:
        """The outcome in one sentence of the report's checklist."""
        return f"column {config.get('target')!r}"

    def describe_performance(self, summary: dict) -> str:
        """The performance in one sentence of the report's checklist."""
        s = summary[self.headline]
        return f"{self.headline_label} {s['estimate']:.3f} ({s['ci_low']:.3f}-{s['ci_high']:.3f})"


def check_labels(obs: pd.Series, column: str) -> None:
    """Refuse text labels that differ only in case or surrounding spaces (``Yes`` / ``yes ``)."""
    if obs.dtype == object or pd.api.types.is_string_dtype(obs):
        text = obs.astype(str)
        folded = text.str.strip().str.lower()
        clash = sorted({v for v in text.unique() if text[folded == v.strip().lower()].nunique() > 1})
        if clash:
            raise ValueError(f"target {column!r} holds labels that differ only in case or spaces: {clash}; "
                             "make them identical in the table")


def per_patient(values, groups=None) -> pd.Series:
    """``values`` (one per row) as one per patient: the first row's of each group when ``groups`` is given."""
    v = pd.Series(np.asarray(values))
    return v if groups is None else v.groupby(np.asarray(groups, dtype=object)).first()


class ClassProbabilityModels:
    """The models a class-label outcome (binary, multiclass) shares: a stacking classifier over class
    probabilities, a logistic volume baseline, and logistic out-of-fold class probabilities of the case mix."""

    def stacking(self, estimators: list, cv):
        from sklearn.ensemble import StackingClassifier
        from sklearn.linear_model import LogisticRegression

        return StackingClassifier(estimators, final_estimator=LogisticRegression(max_iter=1000), cv=cv,
                                  stack_method="predict_proba")

    def volume_model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)

    def case_mix_probabilities(self, X, y, cv, groups) -> np.ndarray:
        """Out-of-fold class probabilities of the outcome from the site indicators ``X`` alone."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_predict

        return cross_val_predict(LogisticRegression(max_iter=1000), X, y, cv=cv, groups=groups, method="predict_proba")
