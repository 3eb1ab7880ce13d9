"""Time ``radiomix demo`` end to end and print its out-of-fold AUC next to the true-risk oracle's.

Runs :func:`radiomix.demo.run_demo` in this process, the function behind the README's main command
``radiomix demo --out radiomix_demo`` (same defaults: 150 patients, 3 sites, preset ``ct-original``, all
cores, seed 0, ``params/train_multisite.yaml``): synthetic cohort -> extraction -> merge -> leave-one-site-out
nested CV (ComBat, imputation, filters, mRMR, tuned L2 logistic) -> baselines and verdict -> held-out SHAP -> final model -> run
folder and HTML report. The whole call and each stage are timed with ``time.perf_counter`` (the stages by wrapping the
public functions ``run_demo`` calls; nothing in radiomix is changed). With ``--repeats N`` the demo runs N
times, each in a fresh folder, and medians are printed. ``--cli`` runs the command itself in a subprocess
instead (total wall time only, interpreter start and imports included).

Printed at the end:

* total seconds and seconds per stage (medians over the repeats, with min-max);
* the run's headline (mean per-site AUC under leave-site-out) with its 95 % CI, as ``radiomix demo`` prints it
  last, and the pooled out-of-fold AUC beside it (secondary);
* the per-site AUC and the verdict sentence (baselines under the same folds);
* the AUC of the true risk on the same patients: ``roc_auc_score(truth.outcome, truth.risk)`` with
  ``truth.csv`` written by :func:`radiomix.datasets.make_cohort` (the probability each patient's outcome was
  drawn from), i.e. what an oracle that knows the generating model reaches.

    python benchmarks/demo.py                       # one run in a temporary folder (a few minutes on 2 cores)
    python benchmarks/demo.py --repeats 3
    python benchmarks/demo.py --out radiomix_demo   # keep the outputs
    python benchmarks/demo.py --cli                 # time `radiomix demo` as a command
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]

# stage -> the public functions (module, attribute) whose time is charged to it. run_demo and train look
# these up at call time (module attributes), so wrapping them here times exactly the calls the demo makes.
STAGES = {
    "cohort (make_cohort: render images, masks, tables)": [("radiomix.datasets", "make_cohort")],
    "extraction (extract + write_extraction)": [("radiomix.extraction", "extract"),
                                                ("radiomix.extraction", "write_extraction")],
    "merge (merge + write_table)": [("radiomix.tables", "merge"), ("radiomix.io", "write_table")],
    "nested CV (leave-one-site-out: ComBat, trees imputation, filters, mRMR, tuned model)": [("radiomix.train", "nested_cv")],
    "safeguards (baselines, case mix, verdict)": [("radiomix.train", "run_safeguards")],
    "held-out SHAP (fold models)": [("radiomix.explain", "fold_shap")],
    "final model refit": [("radiomix.train", "fit_final_model")],
    "run folder (write_run)": [("radiomix.train", "write_run")],
    "HTML report (write_report)": [("radiomix.report", "write_report")],
}


@contextlib.contextmanager
def stage_timers(acc: dict):
    """Wrap each stage's functions so that their wall time adds up in ``acc[stage]``; restore afterwards."""
    saved = []
    active = [0]  # a wrapped function called from inside another one is charged to the outer stage only

    def wrap(fn, stage):
        def timed(*args, **kwargs):
            if active[0]:
                return fn(*args, **kwargs)
            active[0] += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[stage] = acc.get(stage, 0.0) + time.perf_counter() - t
                active[0] -= 1

        return timed

    try:
        for stage, targets in STAGES.items():
            for mod_name, attr in targets:
                mod = importlib.import_module(mod_name)
                fn = getattr(mod, attr)
                saved.append((mod, attr, fn))
                setattr(mod, attr, wrap(fn, stage))
        yield acc
    finally:
        for mod, attr, fn in reversed(saved):
            setattr(mod, attr, fn)


def _auc_and_oracle(out: Path, oof: pd.DataFrame, summary: dict) -> dict:
    """The demo's out-of-fold AUC and CI, and the true risk's AUC on the same patients."""
    truth = pd.read_csv(out / "cohort" / "truth.csv")
    truth["id"] = truth["id"].astype(str)
    per_patient = oof.assign(id=oof["id"].astype(str)).groupby("id", sort=False)["y"].first()
    t = truth.set_index("id").loc[per_patient.index]
    if not (t["outcome"].to_numpy() == per_patient.to_numpy()).all():
        raise RuntimeError("truth.csv's outcome differs from the outcome the demo trained on")
    a = summary["auc"]
    h = summary.get("headline") or {"name": "pooled AUC", **a}
    return {"auc": a["estimate"], "ci_low": a["ci_low"], "ci_high": a["ci_high"], "n": len(t),
            "headline": h["name"], "headline_estimate": h["estimate"], "headline_ci": (h["ci_low"], h["ci_high"]),
            "n_positive": int(t["outcome"].sum()), "oracle_auc": float(roc_auc_score(t["outcome"], t["risk"])),
            "verdict": (summary.get("verdict") or {}).get("sentence", ""),
            "per_site": {k: v["auc"] for k, v in (summary.get("per_site") or {}).items()}}


def run_in_process(out: Path, args) -> tuple[float, dict, dict]:
    from radiomix.demo import run_demo

    acc: dict = {}
    with stage_timers(acc):
        t = time.perf_counter()
        res = run_demo(out, n_patients=args.patients, n_sites=args.sites, n_jobs=args.jobs,
                       random_state=args.seed, console=_console(args.verbose), overwrite=True)
        total = time.perf_counter() - t
    acc["other (run_demo's own work)"] = total - sum(acc.values())
    tr = res["train"]
    return total, acc, _auc_and_oracle(out, tr.cv.oof, tr.summary)


def run_cli(out: Path, args) -> tuple[float, dict, dict]:
    exe = Path(sys.executable).parent / "radiomix"
    cmd = [str(exe), "demo", "--out", str(out), "--patients", str(args.patients), "--sites", str(args.sites),
           "--jobs", str(args.jobs), "--seed", str(args.seed), "--overwrite"]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=not args.verbose, text=True, cwd=ROOT)
    total = time.perf_counter() - t
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(res.stderr or '')[-3000:]}")
    summary = json.loads((out / "run" / "metrics.json").read_text())["summary"]
    oof = pd.read_csv(out / "run" / "oof_predictions.csv")
    return total, {}, _auc_and_oracle(out, oof, summary)


def _console(verbose: bool):
    from rich.console import Console

    return Console(stderr=True, quiet=not verbose)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="runs (medians are printed; default 1)")
    ap.add_argument("--out", type=Path, default=None, help="keep the outputs here (default: a temporary folder)")
    ap.add_argument("--patients", type=int, default=150)
    ap.add_argument("--sites", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=-1, help="processes for rendering and extraction (-1: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="run the `radiomix demo` command in a subprocess")
    ap.add_argument("--verbose", action="store_true", help="show the demo's own output")
    args = ap.parse_args(argv)

    print(f"radiomix demo: {args.patients} patients, {args.sites} sites, jobs={args.jobs}, seed {args.seed}; "
          f"{'command in a subprocess' if args.cli else 'run_demo in-process'}; {args.repeats} run(s); "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    totals, stages, scores = [], [], []
    tmp = None if args.out else Path(tempfile.mkdtemp(prefix="radiomix_bench_demo_"))
    try:
        for r in range(args.repeats):
            base = args.out if args.out else tmp
            out = base if args.repeats == 1 else base / f"run{r + 1}"
            total, st, sc = (run_cli if args.cli else run_in_process)(out, args)
            totals.append(total)
            stages.append(st)
            scores.append(sc)
            print(f"  run {r + 1}: {total:.1f} s total"
                  + "".join(f"; {k.split(' (')[0]} {v:.1f} s" for k, v in st.items())
                  + f"; AUC {sc['auc']:.3f}, oracle {sc['oracle_auc']:.3f}", flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def spread(v):
        return f"{statistics.median(v):.1f} s" + (f" ({min(v):.1f}-{max(v):.1f})" if len(v) > 1 else "")

    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    print(f"\n| stage | seconds (median{' and min-max' if args.repeats > 1 else ''} of {args.repeats}) |")
    print("|---|---|")
    for k in (stages[0] if stages else {}):
        print(f"| {k} | {spread([s[k] for s in stages])} |")
    print(f"| **total** | **{spread(totals)}** |")
    s = scores[0]
    if any(abs(x["auc"] - s["auc"]) > 0 or abs(x["oracle_auc"] - s["oracle_auc"]) > 0 for x in scores):
        print("note: the AUC differed between runs:", [round(x["auc"], 4) for x in scores])
    print(f"\nheadline: {s['headline']} {s['headline_estimate']:.3f} (95% CI {s['headline_ci'][0]:.3f}-"
          f"{s['headline_ci'][1]:.3f}), as the console's last line and the verdict give it")
    print(f"out-of-fold pooled AUC (secondary) {s['auc']:.3f} (95% CI {s['ci_low']:.3f}-{s['ci_high']:.3f}), "
          f"{s['n']} patients ({s['n_positive']} positive)")
    print(f"true-risk oracle AUC on the same patients: {s['oracle_auc']:.3f}")
    print("per-site AUC (each site held out): " + ", ".join(f"{k} {v:.3f}" for k, v in s["per_site"].items()))
    print(f"verdict: {s['verdict']}")
    return {"total": totals, "stages": stages, "scores": scores}


if __name__ == "__main__":
    main()
