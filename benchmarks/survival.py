"""Survival on a real multi-scanner table (issue #13): NSCLC-Radiogenomics CaPTk CT features (Horng et al.)
with the clinical table's overall survival (``days``, ``event``).

ComBat over the CT manufacturer (GE vs Siemens; the other manufacturers are too few to be a batch and are
left out, counted in the output), surrogate-tree imputation of the messy clinical columns, near-zero-variance
and correlation filters, mRMR 5 (univariate Cox score test), penalized Cox tuned on inner folds, 5-fold
stratified outer folds (event x follow-up tertile; two scanners are too few for leave-site-out with ComBat),
horizons 730 and 1,095 days, baselines (log tumour volume, the clinical columns), held-out SHAP and the report.
Concordance and time-dependent AUC pair patients of the same outer fold only, pooled over folds; the per-fold
C are printed beside them.

Run: ``python benchmarks/survival.py [--out DIR]`` (about a minute on 2 cores). Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tables" / "horng_nsclc_radiogenomics_captk"
VOLUME = "T1_ED_Volumetric_Volume"


def load_horng_survival() -> tuple[pd.DataFrame, dict]:
    from radiomix.io import read_table

    feats = read_table(DATA / "Sandy-Captk.csv").rename(columns={"SubjectID": "id"})
    ct = read_table(DATA / "Sandy-CT-parameters.csv")
    ct["id"] = ct["clc"].astype(str).map(lambda s: s[:-1] if len(s) > 7 and s.endswith("L") else s)
    clin = read_table(DATA / "clinical-demographics.csv")
    clin = clin.rename(columns={clin.columns[0]: "id"})
    keep = ["id", "event", "days", "age", "sex", "smoking", "histology", "path-t-stage", "path-n-stage"]
    t = feats.merge(ct[["id", "Manufacturer"]], on="id").merge(clin[keep], on="id")
    counts = t["Manufacturer"].value_counts()
    major = {"GE MEDICAL SYSTEMS": "GE", "SIEMENS": "Siemens"}
    dropped = {k: int(v) for k, v in counts.items() if k not in major}
    print(f"manufacturers: {dict(counts)}; kept GE and Siemens, left out (too few for a ComBat batch): {dropped}")
    t = t[t["Manufacturer"].isin(list(major))].copy()
    t["site"] = t.pop("Manufacturer").map(major)
    t = t.rename(columns={"days": "os_days", "event": "os_event"})
    for c in ("sex", "smoking", "histology", "path-t-stage", "path-n-stage"):
        t[c] = t[c].astype("string")
    radiomic = [c for c in t.columns if c.startswith("T1_ED_")]
    bad = {c: int(pd.to_numeric(t[c], errors="coerce").isna().sum() - t[c].isna().sum()) for c in radiomic}
    bad = {c: k for c, k in bad.items() if k}
    for c in bad:
        t[c] = pd.to_numeric(t[c], errors="coerce")
    print(f"non-numeric radiomic cells (spreadsheet errors such as '#NAME?') read as missing: {bad}")
    clinical = ["age", "sex", "smoking", "histology", "path-t-stage", "path-n-stage"]
    cfg = {"features": {"groups": {"radiomic": radiomic, "clinical": clinical}},
           "harmonize": {"method": "combat", "covariates": [], "unseen": "estimate"},
           "survival": {"horizons": [730, 1095], "tau": None},
           "safeguards": {"baselines": True, "volume": VOLUME, "permutations": 0, "shap": True},
           "bootstrap": 1000}
    return t.reset_index(drop=True), cfg


def main(argv=None) -> None:
    import yaml

    from radiomix.train import train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / ".radiomix-cache" / "benchmarks" / "survival_horng"))
    args = ap.parse_args(argv)
    table, over = load_horng_survival()
    cfg = yaml.safe_load((ROOT / "params" / "train_survival.yaml").read_text())
    for k, v in over.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    ev = table["os_event"]
    print(f"{len(table)} patients, {int(ev.sum())} deaths ({int(((table.os_days <= 365) & (ev == 1)).sum())} by day "
          f"365, {int(((table.os_days <= 730) & (ev == 1)).sum())} by day 730); sites {table.site.value_counts().to_dict()}")
    t0 = time.perf_counter()
    res = train(table, cfg, out=args.out, overwrite=True, batch="site", progress=False)
    s = res.summary
    print(f"\nseconds: {time.perf_counter() - t0:.0f}")
    for m, label in (("c_index", "Harrell's C"), ("uno_c", f"Uno's C (tau {s['survival']['tau']:g})"),
                     ("ibs", "integrated Brier")):
        print(f"{label}: {s[m]['estimate']:.3f} (95% CI {s[m]['ci_low']:.3f}-{s[m]['ci_high']:.3f})")
    f = s["c_index_folds"]
    print(f"per-fold Harrell's C: {f['mean']:.3f} +- {f['sd']:.3f} over {f['n']} folds "
          f"({', '.join(f'{v:.3f}' for v in f['values'])}); {s['survival']['pairs']}")
    for h, a in s["td_auc"].items():
        print(f"AUC at {h} days: " + (f"{a['estimate']:.3f} (95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f})"
                                      if a["estimable"] else f"not estimable ({a['cases']} cases)"))
    for name, b in s.get("baselines", {}).items():
        print(f"baseline {name} ({b['description']}): {b['baseline']:.3f} vs model {b['model']:.3f}, difference "
              f"{b['difference']:+.3f} (95% CI {b['ci_low']:+.3f} to {b['ci_high']:+.3f})")
    epv = s["events_per_feature"]
    print(f"events per candidate feature {epv['per_candidate_feature']:.3f}, per model feature "
          f"{epv['per_model_feature']:.1f}; warning: {epv['warning']}")
    g = s["risk_groups"]["groups"]
    print(f"risk groups: low n={g['low']['n']} ({g['low']['events']} deaths), high n={g['high']['n']} "
          f"({g['high']['events']} deaths); report: {res.files.get('report')}")
    print(f"verdict: {s['verdict']['sentence']}")
    _ = np


if __name__ == "__main__":
    main()
