"""A TRIPOD+AI / CLEAR-style checklist filled from a run: what radiomix did and recorded, and what the authors
must still provide (study design, acquisition, segmentation, ethics...). Topic names follow TRIPOD+AI
(Collins et al., BMJ 2024) and CLEAR (Kocak et al., Insights Imaging 2023); item numbers are left to the
guideline documents. The checklist is a writing aid: it says where each fact is, it does not certify anything.
"""

from __future__ import annotations

from .document import fmt_number as _f
from .run import RunRecord

__all__ = ["checklist_rows"]

FROM_RUN, PARTLY, PROVIDE = "filled from the run", "partly: complete it", "you must provide"


def _model_text(cfg: dict, settings: dict) -> str:
    m = cfg.get("model", {})
    sel = cfg.get("select", {})
    steps = []
    if cfg.get("harmonize", {}).get("method") == "combat":
        steps.append("ComBat (fitted in each training fold)")
    if cfg.get("impute", {}).get("method", "none") != "none":
        steps.append(f"imputation: {cfg['impute']['method']}")
    if sel.get("near_zero_variance"):
        steps.append("near-zero-variance filter")
    if sel.get("correlation_threshold"):
        steps.append(f"correlation filter |r| > {sel['correlation_threshold']}")
    if sel.get("mrmr"):
        steps.append(f"mRMR keeping {sel['mrmr']}")
    if cfg.get("balance", {}).get("method", "none") != "none":
        steps.append(f"balancing: {cfg['balance']['method']} (correction {settings.get('probability_correction')})")
    steps.append(f"{m.get('name', '?')} tuned by {settings.get('search', '?')} search on inner folds "
                 f"({settings.get('inner') or settings.get('inner_splits', '?')})")
    return "; ".join(steps)


def _task(run: RunRecord):
    from ..outcomes import DEFAULT_TASK, get_task

    return get_task(run.settings.get("task", DEFAULT_TASK))


def checklist_rows(run: RunRecord) -> list[dict]:
    """``[{guideline, topic, from this run, status}]`` in reporting order."""
    s, cfg, settings = run.summary, run.config, run.settings
    data = run.metrics.get("data", {})
    epv = s.get("events_per_feature") or {}
    sites = s.get("per_site") or {}
    perf = _task(run).describe_performance(s)
    base = s.get("baselines") or {}
    v = s.get("verdict") or {}
    has_shap = (run.path / "shap_heldout.parquet").is_file()
    rows = [
        ("TRIPOD+AI", "Source of data, study dates, centres", f"{len(sites) or 'no'} site(s) in column "
         f"{cfg.get('batch')!r}: " + ", ".join(f"{k} (n={x['n']})" for k, x in sites.items()) if sites else
         "no site column", PARTLY),
        ("TRIPOD+AI", "Participants: eligibility, flow, numbers", f"{data.get('n_rows', len(run.pooled))} rows "
         f"analysed, {data.get('n_dropped_missing_target', 0)} dropped for a missing outcome"
         + (f", {data['n_groups']} patients" if data.get("n_groups") else ""), PARTLY),
        ("TRIPOD+AI", "Outcome: definition, horizon, blinding", _task(run).describe_outcome(s, cfg, data, epv), PARTLY),
        ("TRIPOD+AI", "Predictors: candidate features and their blocks", f"{data.get('n_features', '?')} candidate "
         "features (" + ", ".join(f"{k}: {n}" for k, n in (data.get("column_groups") or {}).items()) + ")", PARTLY),
        ("TRIPOD+AI", "Sample size", f"{_f(epv.get('per_candidate_feature'), '{:.3g}')} events per candidate "
         f"feature, {_f(epv.get('per_model_feature'), '{:.3g}')} per feature in the model"
         + (f" (warning: {epv['warning']})" if epv.get("warning") else ""), PARTLY),
        ("TRIPOD+AI", "Missing data: how handled", f"imputation {cfg.get('impute', {}).get('method')!r} fitted in "
         "each training fold; missing cells per block in the Data section", FROM_RUN),
        ("TRIPOD+AI", "Analytical methods: pipeline, tuning, internal validation", _model_text(cfg, settings)
         + f"; outer {settings.get('outer', '?')} ({settings.get('outer_splits', '?')} folds x "
         f"{settings.get('n_repeats', 1)})", FROM_RUN),
        ("TRIPOD+AI", "Class imbalance", f"balance {cfg.get('balance', {}).get('method')!r}, probability correction "
         f"{settings.get('probability_correction', 'none')!r}", FROM_RUN),
        ("TRIPOD+AI", "Model performance: discrimination, calibration, clinical utility", perf, FROM_RUN),
        ("TRIPOD+AI", "Fairness: performance by subgroup", "per-site results in the Sites section" if sites else
         "no site column; subgroups (sex, age, scanner) must be analysed separately", PARTLY if sites else PROVIDE),
        ("TRIPOD+AI", "Comparison with simple models", v.get("sentence", "no baselines run") if base else
         "no baselines run (safeguards.baselines: false, or none applied)", FROM_RUN if base else PROVIDE),
        ("TRIPOD+AI", "Interpretability", "SHAP of each outer-fold model on its own held-out patients" if has_shap
         else "no held-out SHAP in this run", FROM_RUN if has_shap else PROVIDE),
        ("TRIPOD+AI", "External validation", "leave-one-site-out: every site scored by a model that never saw it"
         if settings.get("outer") == "leave_site_out" else "internal validation only (no site held out)", PARTLY),
        ("TRIPOD+AI", "Software, code and versions", "package versions and resolved configuration in the last "
         "section; add the code/data repository and its DOI", PARTLY),
        ("TRIPOD+AI", "Ethics approval, consent, funding, conflicts, registration, data sharing", "", PROVIDE),
        ("CLEAR", "Image acquisition and reconstruction parameters per site", f"site column {cfg.get('batch')!r}; "
         "scanner, kernel, slice thickness, contrast must be tabulated by the authors", PROVIDE),
        ("CLEAR", "Segmentation: method, readers, software, inter-reader agreement", "", PROVIDE),
        ("CLEAR", "Preprocessing and feature extraction: software, version, settings (IBSI)", "recorded by radiomix "
         "extract in the features table's sidecar, not in this run", PROVIDE),
        ("CLEAR", "Feature robustness (test-retest, perturbation, inter-reader ICC)", "", PROVIDE),
        ("CLEAR", "Harmonization", f"ComBat on {len(data.get('harmonized') or [])} column(s), covariates "
         f"{cfg.get('harmonize', {}).get('covariates')}" if data.get("harmonized") else "none", FROM_RUN),
        ("CLEAR", "Feature selection inside the validation loop", "every selection step is fitted on the training "
         "fold only (nested cross-validation)", FROM_RUN),
        ("CLEAR", "Selected features vs volume (Welch et al. 2019)", f"{sum(r['volume_surrogate'] for r in s['volume_correlation'])} "
         f"of {len(s['volume_correlation'])} selected features with |Spearman rho| >= 0.8 to volume"
         if s.get("volume_correlation") else "no volume column in this run", FROM_RUN if s.get("volume_correlation")
         else PROVIDE),
        ("CLEAR", "Test against chance (permutation / y-randomization)", f"p = {_f(s['permutation']['p_value'])} "
         f"({s['permutation']['n_permutations']} permutations)" if s.get("permutation") else "not run (set "
         "safeguards.permutations or --permutations)", FROM_RUN if s.get("permutation") else PROVIDE),
    ]
    return [{"guideline": g, "topic": t, "from this run": w, "status": st} for g, t, w, st in rows]
