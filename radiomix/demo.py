"""``radiomix demo``: the whole path on a synthetic multi-site cohort, each stage through its public function."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out: str | os.PathLike = "radiomix_demo", *, n_patients: int = 150, n_sites: int = 3, n_jobs: int = -1,
             random_state: int = 0, params: str = "ct-original", config: str = "train_multisite.yaml",
             signal: str = "mixed", console=None, overwrite: bool = False) -> dict:
    """The mission path on a synthetic multi-site cohort, each stage through its public function:
    make_cohort -> extract (pyradiomics) -> merge (clinical + genetic) -> ``radiomix train`` with the shipped
    multi-site configuration (``params/train_multisite.yaml``: ComBat inside each training fold, surrogate-split
    tree imputation, near-zero-variance + correlation filter + mRMR, tuned L2 logistic regression, leave-one-site-out nested CV)
    -> baselines under the same folds (log volume, clinical, no ComBat) -> held-out SHAP -> report.

    Writes ``cohort/`` (images, manifest, clinical, genetic, truth), ``features.parquet`` (+ sidecars),
    ``table.parquet`` (the merged modelling table) and ``run/`` (metrics.json with the verdict, folds.csv,
    oof_predictions.csv, shap_heldout*.parquet, model.skops, report.html) under ``out``. ``signal`` is
    :func:`radiomix.datasets.make_cohort`'s (``mixed``, ``beyond_volume``, ``volume``). ``out`` must be new, empty
    or an earlier demo folder (replaced only with ``overwrite``); everything is written into a hidden sibling
    and moved into place when complete. Returns the paths and the train result.
    """
    from rich.console import Console

    from ._resources import resolve_params_file
    from .interrupts import catch_interrupts
    from .outputs import check_output_folder, staged_folder

    con = console or Console(stderr=True)
    final = check_output_folder(out, kind=DEMO_KIND, overwrite=overwrite)
    config_path = resolve_params_file(config)
    with catch_interrupts(), staged_folder(final, kind=DEMO_KIND, overwrite=overwrite) as stage:
        res = _stages(stage, con, n_patients=n_patients, n_sites=n_sites, n_jobs=n_jobs, random_state=random_state,
                      params=params, config_path=config_path, signal=signal)
    res["paths"] = {k: final / Path(v).relative_to(stage) for k, v in res["paths"].items()}
    res["cohort"].out_dir = final / "cohort"
    return res


#: The kind recorded in a demo folder's marker (:data:`radiomix.outputs.MARKER`).
DEMO_KIND = "demo"


def _stages(out: Path, con, *, n_patients, n_sites, n_jobs, random_state, params, config_path, signal) -> dict:
    """The four stages of :func:`run_demo`, written under ``out`` (the staging folder)."""
    from .datasets import make_cohort
    from .extraction import extract, write_extraction
    from .io import write_table
    from .tables import merge
    from .train import train

    t = time.perf_counter()
    con.rule(f"1/4 synthetic cohort: {n_patients} patients, {n_sites} sites (signal: {signal})")
    cohort = make_cohort(n_patients, n_sites, out_dir=out / "cohort", random_state=random_state, n_jobs=n_jobs,
                         progress=True, signal=signal)
    con.print(f"images, masks and tables in {cohort.out_dir} ({time.perf_counter() - t:.0f} s)")

    t = time.perf_counter()
    con.rule(f"2/4 radiomic features (pyradiomics, preset {params!r})")
    feats, diag, errors = extract(cohort.files["manifest"], params, n_jobs=n_jobs, return_details=True)
    paths = write_extraction(feats, out / "features.parquet", diagnostics=diag, errors=errors)
    con.print(f"{len(feats)} cases x {feats.shape[1] - 1} features, {len(errors)} failed ({time.perf_counter() - t:.0f} s)")

    con.rule("3/4 merge clinical + genetic")
    table = merge(feats, clinical=cohort.files["clinical"], genetic=cohort.files["genetic"], on="id")
    write_table(table, out / "table.parquet", metadata=table.attrs["radiomix"])
    g = table.attrs["radiomix"]["groups"]
    con.print(f"{len(table)} cases: {len(g['radiomic'])} radiomic, {len(g['clinical'])} clinical, "
              f"{len(g['genetic'])} genetic columns")

    t = time.perf_counter()
    con.rule(f"4/4 radiomix train --config {config_path.name}: ComBat -> imputation -> mRMR -> L2 logistic, "
             "leave-one-site-out nested CV, baselines, held-out SHAP, report")
    res = train(table.reset_index(), config_path, out=out / "run", id="id", n_jobs=n_jobs,
                random_state=random_state)
    con.print(f"nested CV, baselines, final model and report done ({time.perf_counter() - t:.0f} s)")
    return {"cohort": cohort, "features": feats, "table": table, "train": res,
            "paths": {"cohort": cohort.out_dir, "features": paths["features"], "table": out / "table.parquet",
                      "run": out / "run", "report": out / "run" / "report.html"}}
