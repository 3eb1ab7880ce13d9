"""Perturbation robustness (issue #15): ``radiomix.extraction.robustness`` on the synthetic cohort, ICC(1,1)
per feature, and a smoke test on the real CTs lung1/lung2.

1. renders the synthetic multi-site cohort (``radiomix.datasets.make_cohort``, images on, 3 sites, fewer
   below 6 patients) into
   ``--data`` (reused when it is there with the same number of patients);
2. the baseline: ``extract`` of the cohort once, unperturbed, same parameters, same engine;
3. ``robustness`` with ``--n-perturbations`` perturbations per case (default chain: rotation, translation,
   noise, volume change) plus the original ``p00``, with the progress bar and a cache in ``--data``;
4. ICC(1,1) per feature over the perturbed rows (``radiomix.reliability.icc``; the original left out), then
   a summary: number of features, median ICC and the share of features whose 95 % CI lower bound exceeds 0.75,
   by feature class (shape, firstorder, glcm, glrlm, glszm, gldm, ngtdm) and by image filter (original,
   wavelet-*, log-sigma-*);
5. lung1 and lung2 (512 x 512 CT, ../shared/data/pyradiomics) with ``--real-perturbations`` perturbations
   each: that real CTs go through (timing, failures), not an ICC worth reading (two cases).

It prints wall times and the ratio of the robustness run to ``n + 1`` unperturbed extractions (what the
perturbations cost on top of extracting that many images).

    python benchmarks/robustness.py                                    # 100 patients x 10 perturbations, ct
    python benchmarks/robustness.py --n-patients 4 --n-perturbations 2 # a quick check
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared" / "data" / "pyradiomics").resolve()
CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def cohort_manifest(data: Path, n_patients: int, seed: int, jobs: int) -> Path:
    """Render (once) the synthetic cohort; returns its manifest."""
    from radiomix.datasets import make_cohort

    manifest = data / "manifest.csv"
    if manifest.exists() and len(pd.read_csv(manifest)) == n_patients:
        print(f"cohort: reusing {manifest} ({n_patients} patients)")
        return manifest
    n_sites = min(3, n_patients // 2)  # make_cohort needs 2 patients per site
    t = time.perf_counter()
    make_cohort(n_patients, n_sites, out_dir=data, images=True, random_state=seed, n_jobs=jobs, progress=True)
    print(f"cohort: {n_patients} patients at {n_sites} sites rendered in {time.perf_counter() - t:.1f} s -> {data}")
    return manifest


def icc_per_feature(table: pd.DataFrame) -> pd.DataFrame:
    """ICC(1,1) per feature over the perturbed rows (warnings about constant features counted, not shown)."""
    from radiomix.reliability import icc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = icc(table[table["kind"] != "original"], case="id",
                  features=table.attrs["radiomix"]["groups"]["radiomic"], form="auto")
    for w in caught:
        print(f"  note: {str(w.message)[:200]}")
    return res


def summary(res: pd.DataFrame, by: str) -> pd.DataFrame:
    """Median ICC and the share with CI lower bound > 0.75, grouped by feature class or image filter."""
    from radiomix.tables import feature_name_parts

    key = [feature_name_parts(n)[1 if by == "class" else 0] for n in res.index]
    frame = res.assign(group=key, robust=(res["ci_low"] > 0.75).to_numpy())
    out = frame.groupby("group", sort=False).agg(features=("icc", "size"), median_icc=("icc", "median"),
                                                 share_ci_low_above_075=("robust", "mean"))
    if by == "class":
        out = out.reindex([c for c in CLASSES if c in out.index] + [c for c in out.index if c not in CLASSES])
    else:
        order = sorted(out.index, key=lambda f: (0 if f == "original" else 1 if f.startswith("log") else 2, f))
        out = out.reindex(order)
    total = pd.DataFrame({"features": [len(res)], "median_icc": [res["icc"].median()],
                          "share_ci_low_above_075": [float((res["ci_low"] > 0.75).mean())]}, index=["all"])
    return pd.concat([out, total]).round(3)


def run_cohort(args) -> None:
    from radiomix.extraction import extract, robustness

    data = Path(args.data)
    manifest = cohort_manifest(data, args.n_patients, args.seed, args.jobs)
    t = time.perf_counter()
    extract(manifest, args.params, n_jobs=args.jobs, progress=True)
    t_extract = time.perf_counter() - t
    t = time.perf_counter()
    table = robustness(manifest, args.params, n_perturbations=args.n_perturbations, seed=args.seed,
                       n_jobs=args.jobs, cache_dir=data / f"cache_{args.params}", progress=True)
    t_rob = time.perf_counter() - t
    prov = table.attrs["radiomix"]["provenance"]
    res = icc_per_feature(table)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        table.to_parquet(Path(args.out) / "perturbations.parquet", index=False)
        res.to_csv(Path(args.out) / "icc.csv")
    print(f"\nsynthetic cohort: {args.n_patients} patients x ({args.n_perturbations} perturbations + original), "
          f"preset {args.params!r}, {len(table.attrs['radiomix']['groups']['radiomic'])} features, "
          f"{prov['n_failed']} failed task(s), {prov['n_cached']} from cache")
    print(res.attrs["design"])
    for by in ("class", "filter"):
        print(f"\nICC(1,1) by feature {by}:")
        print(summary(res, by).to_string())
    n_versions = args.n_perturbations + 1
    per_task = t_rob / max(prov["n_computed"], 1)
    print(f"\ntiming: extract (unperturbed, {args.n_patients} cases) {t_extract:.1f} s; robustness "
          f"{t_rob:.1f} s for {prov['n_computed']} computed tasks ({per_task:.2f} s/task, engine "
          f"{prov['engine_engine']} x {prov['engine_workers']}); robustness / ({n_versions} x extract) = "
          f"{t_rob / (n_versions * t_extract):.2f}" + ("" if prov["n_cached"] == 0 else " (partly cached)"))


def run_real(args) -> None:
    from radiomix.extraction import robustness

    if not SHARED.is_dir():
        print(f"\nreal CT smoke test skipped: {SHARED} not found")
        return
    mf = pd.DataFrame({"id": ["lung1", "lung2"], "image": [str(SHARED / f"{c}_image.nrrd") for c in ("lung1", "lung2")],
                       "mask": [str(SHARED / f"{c}_label.nrrd") for c in ("lung1", "lung2")]})
    t = time.perf_counter()
    table, errors = robustness(mf, args.params, n_perturbations=args.real_perturbations, seed=args.seed,
                               n_jobs=args.jobs, progress=True, return_details=True)
    wall = time.perf_counter() - t
    feats = table.attrs["radiomix"]["groups"]["radiomic"]
    pert = table[table["kind"] != "original"]
    orig = table[table["kind"] == "original"].set_index("id")[feats]
    rel = (pert.set_index("id")[feats] - orig).abs().div(orig.abs().replace(0, np.nan))
    print(f"\nreal CT (lung1, lung2): {len(table)} tasks in {wall:.1f} s, {len(errors)} error(s); "
          f"median |relative change| of a feature under a perturbation {np.nanmedian(rel.to_numpy()):.3f}")
    cols = ["id", "perturbation", "angle_deg", "translation_mm", "noise_sd", "volume_change_target", "volume_change"]
    print(table[cols].round(3).to_string(index=False))
    if len(errors):
        print(errors[["id", "perturbation", "stage", "message"]].to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-patients", type=int, default=100, help="synthetic patients (default 100)")
    ap.add_argument("--n-perturbations", type=int, default=10, help="perturbations per case (default 10)")
    ap.add_argument("--real-perturbations", type=int, default=3, help="perturbations of lung1/lung2 (default 3)")
    ap.add_argument("--params", default="ct", help="extraction preset or file (default ct)")
    ap.add_argument("--jobs", "-j", type=int, default=-1, help="worker processes (default all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="/tmp/radiomix_robustness_bench", help="cohort folder (reused) and cache")
    ap.add_argument("--out", default=None, help="also write perturbations.parquet and icc.csv here")
    ap.add_argument("--skip-real", action="store_true", help="no lung1/lung2 smoke test")
    args = ap.parse_args()
    if args.n_patients < 2 or args.n_perturbations < 2:
        ap.error("ICC needs --n-patients >= 2 and --n-perturbations >= 2")
    t = time.perf_counter()
    run_cohort(args)
    if not args.skip_real:
        run_real(args)
    print(f"\ntotal {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
