"""Multiclass and regression outcomes on the real NSCLC-Radiogenomics table (issue #13), with the pipeline of
``benchmarks/survival.py`` (ComBat over GE vs Siemens, surrogate-tree imputation of the clinical columns,
filters + mRMR 5, 5-fold stratified outer folds, baselines, held-out SHAP, report):

* multiclass: pathological T stage. The table codes it 1-7 with codes 6 and 7 (T4 subgroups) held by 7 and 6
  patients; codes are merged into three ordered groups, said in the output: 1-2, 3-4, 5-7. Histology cannot be
  used: its third class has 4 patients (fewer than the 5 outer folds) and merging it leaves two classes.
  Model: multinomial logistic (C tuned).
* regression: age at diagnosis (years), the only continuous clinical column measured in most patients (159 of
  192); an honest check that a weakly related target gives an R2 near 0 with its CI. Model: elastic net.

Run: ``python benchmarks/outcomes_real.py`` (about a minute on 2 cores). Needs ../shared/data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from survival import ROOT, load_horng_survival  # noqa: E402

T_GROUPS = {1: "T codes 1-2", 2: "T codes 1-2", 3: "T codes 3-4", 4: "T codes 3-4", 5: "T codes 5-7",
            6: "T codes 5-7", 7: "T codes 5-7"}


def _config(over: dict, target: str, model: dict) -> dict:
    cfg = yaml.safe_load((ROOT / "params" / "train_survival.yaml").read_text())
    for k, v in over.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    cfg.update(target=target, task="auto", model=model)
    cfg.pop("survival", None)
    clinical = [c for c in cfg["features"]["groups"]["clinical"] if c not in (target, "path-t-stage")]
    cfg["features"] = {**cfg["features"], "groups": {**cfg["features"]["groups"], "clinical": clinical},
                       "exclude": ["os_days", "os_event"]}
    return cfg


def run(name: str, table, cfg: dict) -> None:
    from radiomix.train import train

    t0 = time.perf_counter()
    res = train(table, cfg, overwrite=True, out=ROOT / ".radiomix-cache" / "benchmarks" / f"{name}_horng", batch="site",
                progress=False)
    s = res.summary
    print(f"\n== {name}: {res.study.task.name}, {len(res.study.y)} patients, {time.perf_counter() - t0:.0f} s")
    for m in res.study.task.metrics:
        print(f"{m}: {s[m]['estimate']:.3f} (95% CI {s[m]['ci_low']:.3f}-{s[m]['ci_high']:.3f})")
    for c, pc in (s.get("per_class") or {}).items():
        print(f"  class {c}: n={pc['n']}, sensitivity {pc['sensitivity']:.3f}, PPV {pc['ppv']:.3f}, AUC {pc['auc']:.3f}")
    if "calibration" in s and "slope" in s["calibration"] and name == "regression":
        print(f"calibration-in-the-large {s['calibration']['intercept']:.2f}, slope {s['calibration']['slope']:.2f}")
    for b, r in s.get("baselines", {}).items():
        print(f"baseline {b} ({r['description']}): {r['baseline']:.3f} vs model {r['model']:.3f}, difference "
              f"{r['difference']:+.3f} (95% CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f})")
    print(f"verdict: {s['verdict']['sentence']}")


def main() -> None:
    table, over = load_horng_survival()
    codes = pd.to_numeric(table["path-t-stage"], errors="coerce")
    mc = table.assign(t_stage=codes.map(T_GROUPS)).drop(columns=["path-t-stage"])
    print(f"T stage codes merged: {T_GROUPS}; patients per group {mc['t_stage'].value_counts().to_dict()}, "
          f"{int(mc['t_stage'].isna().sum())} without a T stage (left out by the run)")
    run("multiclass", mc, _config(over, "t_stage", {"name": "logistic", "params": {},
                                                    "search": {"C": [0.01, 0.1, 1.0]}}))
    run("regression", table, _config(over, "age", {"name": "elastic_net", "params": {"l1_ratio": 0.5},
                                                    "search": {"alpha": [0.03, 0.3, 3.0]}}))


if __name__ == "__main__":
    main()
