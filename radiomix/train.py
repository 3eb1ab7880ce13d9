"""The ``radiomix train`` workflow: table + config -> Study -> nested CV -> final model -> run folder."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .interrupts import catch_interrupts, raise_if_interrupted
from .io import atomic_write_text, read_table, write_table
from .model import fit_final_model, save_model
from .model_selection.validation import NestedCVResult, nested_cv
from .outputs import check_output_folder, staged_folder
from .runmeta import to_jsonable, versions
from .study import Study, make_study

__all__ = ["train", "write_run", "TrainResult"]


@dataclass
class TrainResult:
    """A finished run: the nested-CV result, the resolved config, the files written and the final model."""

    cv: NestedCVResult
    config: dict
    files: dict
    model: object = None
    study: Study | None = None

    @property
    def summary(self) -> dict:
        return self.cv.summary


def train(table, config=None, *, out: str | os.PathLike | None = None, overwrite: bool = False,
          progress: bool = True, report: bool = True, scheduler=None, trusted_modules=(),
          **overrides) -> TrainResult:
    """Run nested cross-validation on a merged table, refit the final model, and (optionally) write a run folder.

    Parameters
    ----------
    table : DataFrame or path (CSV/TSV/Parquet)
        One row per case with the id, target and feature columns.
    config : dict, path or None
        A ``radiomix train`` config (YAML path or dict); None uses ``params/train_default.yaml``.
    out : path, optional
        Run folder receiving ``metrics.json``, ``folds.csv``, ``oof_predictions.csv``,
        ``config.resolved.yaml``, ``model.skops`` (each written atomically) and, with ``report=True``,
        ``report.html`` + ``figures/`` (see :func:`radiomix.report.write_report`), and last the marker
        ``radiomix-run.json`` listing them. It must be absent, empty or an earlier radiomix run folder; anything
        else is refused before any work (:func:`radiomix.outputs.check_output_folder`).
    overwrite : bool
        Replace ``out`` when it holds an earlier radiomix run (and nothing else); never a folder radiomix did
        not write, nor one holding the table or config file.
    scheduler : distributed.Client or str, optional
        Run on a Dask cluster (a client, or a scheduler address such as ``tcp://10.0.0.5:8786``): the outer
        folds, the baselines' folds and the permutation refits go through joblib's Dask backend, on all the
        cluster's workers (``n_jobs`` 1 becomes -1, said). Results are identical to a local run (each fold and
        permutation has its own seed). Needs ``radiomix[dask]``.
    trusted_modules : list of str
        Packages beyond radiomix's trusted ones whose classes ``model.name`` may import (importing runs their
        code; CLI ``--trust-module``, or the ``RADIOMIX_TRUST_MODULES`` environment variable). A config file cannot
        set this.
    **overrides
        Top-level config keys that replace the config's (``target=``, ``id=``, ``batch=``, ``groups=``...).

    The run folder appears only when the run is complete: everything is written into a hidden sibling
    folder that is renamed at the end, so an error, Ctrl-C or a kill never leaves a half-written folder that
    looks finished (a Ctrl-C that a library swallowed inside a fit still ends the run:
    :mod:`radiomix.interrupts`). Each distinct warning of the run is kept once, with its count, in
    ``warnings.txt``, ``metrics.json`` and the report, and shown once at the end.
    """
    with catch_interrupts(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if out is not None:
            inputs = [p for p in (table, config) if isinstance(p, (str, os.PathLike))]
            out = check_output_folder(out, kind=RUN_KIND, overwrite=overwrite, inputs=inputs)
        if not isinstance(table, pd.DataFrame):
            table = read_table(table)

        def check_study(study):  # the robustness table, known once the config is resolved, is an input too
            robust = study.config.select.robustness.table if study.config.select.robustness is not None else None
            if out is not None and isinstance(robust, (str, os.PathLike)):
                check_output_folder(out, kind=RUN_KIND, overwrite=overwrite, inputs=[robust])

        study, cv, model, heldout = _run(table, config, scheduler=scheduler, progress=progress,
                                         overrides={**overrides, "trusted_modules": trusted_modules},
                                         check_study=check_study)
        raise_if_interrupted()
    run_warnings = collect_warnings(caught)
    files = {}
    if out is not None:
        with catch_interrupts(), staged_folder(out, kind=RUN_KIND, overwrite=overwrite) as stage:
            written = write_run(study, cv, model, stage, run_warnings=run_warnings, heldout_shap=heldout)
            if report:
                from .report import write_report

                written["report"] = write_report(stage, table=table, model=model)
        files = {k: out / Path(v).relative_to(stage) for k, v in written.items()}
    for w in run_warnings:  # each distinct warning once, at the end (the CLI prints these with counts)
        warnings.warn_explicit(w["message"] + (f" (x{w['count']})" if w["count"] > 1 else ""), w["category_class"],
                               w["filename"], w["lineno"])
    return TrainResult(cv=cv, config=study.config, files=files, model=model, study=study)


#: The kind recorded in a training run folder's marker (:data:`radiomix.outputs.MARKER`).
RUN_KIND = "train"


def _run(table: pd.DataFrame, config, *, scheduler, progress: bool, overrides: dict, check_study):
    """Study, nested CV, safeguards, held-out SHAP and the final model (inside train's warning capture);
    ``check_study(study)`` runs before any fit."""
    with _on_cluster(scheduler) as cluster:
        study = make_study(table, config, **overrides)
        check_study(study)
        if cluster is not None:
            study = _spread_over(study, cluster)
        if study.config.safeguards.baselines:
            from .safeguards import detect_volume_column

            try:  # an ambiguous volume column is refused now, not after the nested CV
                detect_volume_column(study.columns.features, study.config.safeguards.volume)
            except LookupError:
                pass  # said when the baselines run
        cv = nested_cv(study, progress=progress)
        run_safeguards(study, cv, progress=progress)
        heldout = _heldout_shap(study, cv) if study.config.safeguards.shap else None
        model = fit_final_model(study, cv_summary=to_jsonable(cv.summary)) if study.config.final_model else None
    return study, cv, model, heldout


class _on_cluster:
    """``with _on_cluster(scheduler) as client``: joblib's Dask backend on that cluster (None: local, nothing
    changes); a client made here from an address is closed on exit."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self._stack = None

    def __enter__(self):
        import contextlib

        if self.scheduler is None:
            return None
        try:
            import joblib
            from distributed import Client
        except ImportError as err:
            raise ImportError("scheduler= needs Dask: pip install 'radiomix[dask]' (dask[distributed])") from err
        self._stack = contextlib.ExitStack()
        client = self.scheduler if isinstance(self.scheduler, Client) else \
            self._stack.enter_context(Client(self.scheduler))
        self._stack.enter_context(joblib.parallel_config(backend="dask"))
        return client

    def __exit__(self, *exc):
        if self._stack is not None:
            self._stack.close()
        return False


def _spread_over(study: Study, client) -> Study:
    """The study with ``n_jobs`` -1 (every worker of the cluster) when it was 1, said."""
    import dataclasses

    if study.n_jobs not in (1, None):
        return study
    n = len(client.scheduler_info().get("workers", {}))
    note = f"n_jobs 1 became -1 on the Dask cluster at {client.scheduler.address} ({n} worker(s))"
    warnings.warn(note, stacklevel=3)
    return dataclasses.replace(study, config=study.config.replace({"n_jobs": -1}), notes=[*study.notes, note])


def run_safeguards(study: Study, cv: NestedCVResult, *, progress: bool = False) -> None:
    """Add the safeguards to ``cv.summary`` (config ``safeguards``): baselines under the same outer folds,
    case mix, events per feature, each selected feature's correlation with volume, the permutation test, and
    last the verdict that sums them up (:func:`radiomix.verdict.verdict`)."""
    from .safeguards import (
        case_mix,
        compare_with_baselines,
        detect_volume_column,
        permutation_test,
        study_headline,
    )
    from .verdict import events_per_feature, verdict, volume_correlations

    sg = study.config.safeguards
    volume = None
    try:
        volume = detect_volume_column(study.columns.features, sg.volume)[0]
    except LookupError:
        pass  # said by baseline_studies when the baselines run
    except ValueError as err:  # ambiguous or misnamed: refused before the nested CV when baselines run
        if sg.baselines:
            raise
        warnings.warn(f"safeguards: selected features not compared with tumour volume: {err}", stacklevel=2)
    cv.summary["events_per_feature"] = events_per_feature(study, cv)
    if sg.baselines:
        cv.summary["baselines"] = compare_with_baselines(study, cv, volume=sg.volume, progress=progress)
        mix = case_mix(study)
        if mix is not None:
            cv.summary["case_mix"] = mix
    if volume is not None:
        cv.summary["volume_correlation"] = volume_correlations(study, cv, volume)
    if sg.permutations:
        cv.summary["permutation"] = permutation_test(
            study, study_headline(study, cv), sg.permutations, progress=progress,
            observed_logrank=(cv.summary.get("risk_groups") or {}).get("logrank_chi2"))
    cv.summary["verdict"] = verdict(cv.summary)


def _heldout_shap(study: Study, cv: NestedCVResult):
    """SHAP of each outer-fold model on its own test patients ({class: ShapResult} for a multiclass outcome), or
    None (with a warning) when it fails."""
    from .explain import fold_shap

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="shap")
            outputs = study.task.explained_outputs(study.classes)  # one explanation per class, or the one output
            if outputs == [(None, None)]:
                return fold_shap(cv, study.X, ids=study.ids, random_state=study.random_state)
            return {label: fold_shap(cv, study.X, ids=study.ids, random_state=study.random_state, class_index=j)
                    for label, j in outputs}
    except (ValueError, TypeError) as err:  # late fusion, or a model SHAP cannot explain
        warnings.warn(f"held-out SHAP not computed: {err}", stacklevel=2)
        return None


def collect_warnings(caught) -> list[dict]:
    """Distinct warnings with counts, in order of first appearance, attributed to the radiomix module that
    raised them when their category is radiomix's (warnings raised by radiomix code deep inside scikit-learn
    otherwise point at a scikit-learn file)."""
    out: dict = {}
    for w in caught:
        key = (w.category.__name__, str(w.message))
        if key not in out:
            module = w.category.__module__
            source = module if module.startswith("radiomix") else f"{Path(w.filename).name}:{w.lineno}"
            out[key] = {"category": w.category.__name__, "message": str(w.message), "count": 0, "source": source,
                        "category_class": w.category, "filename": w.filename, "lineno": w.lineno}
        out[key]["count"] += 1
    return list(out.values())


def _robustness_table(cv: NestedCVResult):
    """Per feature, the ICC of the outer folds' RobustnessFilters (``select.robustness``), or None."""
    from .select import fitted_robustness_filters, robustness_summary

    filters = [f for model, *_ in cv.models for f in fitted_robustness_filters(model)]
    if not filters:
        return None
    table = robustness_summary(filters)
    table.attrs["record"] = {"form": filters[0].form_, "design": filters[0].design_,
                             "statistic": filters[0].statistic, "threshold": filters[0].threshold,
                             "n_assessed": int(len(table)), "kept_in_every_fold": int((table["kept"] == 1).sum()),
                             "kept_in_no_fold": int((table["kept"] == 0).sum())}
    return table


def write_run(study: Study, cv: NestedCVResult, model, out: str | os.PathLike, *, run_warnings=(),
              heldout_shap=None) -> dict:
    """Write a run folder: ``metrics.json`` (summary, settings, data record, final threshold, versions),
    ``folds.csv``, ``oof_predictions.csv``, ``config.resolved.yaml``, ``model.skops`` (when a final model
    was fitted) and the held-out SHAP values (``shap_heldout*.parquet``, when given), each atomically.
    Returns ``{name: path}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "summary": cv.summary,
        "settings": cv.settings,
        "data": study.data_record(),
        "final_model": {"threshold": model.threshold} if model is not None else None,
        "versions": versions(),
        "warnings": [{k: w[k] for k in ("category", "message", "count", "source")} for w in run_warnings],
    }
    robust = _robustness_table(cv)
    if robust is not None:
        metrics["robustness"] = robust.attrs["record"]
    if isinstance(heldout_shap, dict):
        metrics["shap_heldout_classes"] = list(heldout_shap)
    files = {"metrics": atomic_write_text(out / "metrics.json", json.dumps(to_jsonable(metrics), indent=2))}
    folds = cv.folds.copy()
    folds["params"] = folds["params"].map(lambda d: json.dumps(to_jsonable(d)))
    if "selected" in folds.columns:
        folds["selected"] = folds["selected"].map(json.dumps)
    files["folds"] = write_table(folds, out / "folds.csv", index=False)
    files["oof_predictions"] = write_table(cv.oof, out / "oof_predictions.csv", index=False)
    if robust is not None:
        files["robustness"] = write_table(robust, out / "robustness.csv")
    files["config"] = atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(study.config.to_dict(), sort_keys=False))
    files["warnings"] = atomic_write_text(out / "warnings.txt", "".join(
        f"{w['category']} ({w['source']}, x{w['count']}): {w['message']}\n" for w in run_warnings))
    if model is not None:
        files["model"] = save_model(model, out / "model.skops")
    if isinstance(heldout_shap, dict):  # multiclass: shap_heldout_class<k>*.parquet, classes in metrics.json
        for k, res in enumerate(heldout_shap.values()):
            files.update(res.save(out, f"shap_heldout_class{k}"))
    elif heldout_shap is not None:
        files.update(heldout_shap.save(out, "shap_heldout"))
    return files
