"""``radiomix demo``: the whole path on a synthetic multi-site cohort, each stage through its public function."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out: str | os.PathLike = "radiomix_demo", *, n_patients: int = 150, n_sites: int = 3, n_jobs: int = -1,
             random_state: int = 0, params: str = "ct-original", console=None) -> dict:
    """make_cohort -> extract -> merge (clinical + genetic) -> nested CV with XGBoost.

    Writes ``cohort/`` (images, manifest, clinical, genetic, truth), ``features.parquet`` (+ sidecars),
    ``table.parquet`` (the merged modelling table) and ``run/`` (metrics.json, folds.csv,
    oof_predictions.csv, config.resolved.yaml) under ``out``. Returns the paths and the train result.
    """
    from rich.console import Console

    from .datasets import make_cohort
    from .extraction import extract, write_extraction
    from .io import write_table
    from .tables import merge
    from .train import train

    con = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    con.rule(f"1/4 synthetic cohort: {n_patients} patients, {n_sites} sites")
    cohort = make_cohort(n_patients, n_sites, out_dir=out / "cohort", random_state=random_state, n_jobs=n_jobs,
                         progress=True)
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
    con.rule("4/4 nested cross-validation (XGBoost, 5 outer x 3 inner folds, random search)")
    res = train(table.reset_index(), None, out=out / "run", target="outcome", id="id", batch="site",
                n_jobs=n_jobs, random_state=random_state)
    con.print(f"nested CV done ({time.perf_counter() - t:.0f} s)")
    return {"cohort": cohort, "features": feats, "table": table, "train": res,
            "paths": {"cohort": cohort.out_dir, "features": paths["features"], "table": out / "table.parquet",
                      "run": out / "run"}}
