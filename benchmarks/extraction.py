"""Extraction throughput: radiomix against pyradiomics on the same generated CT cohort.

Runs, on the same cases and the same parameter file (default: the ``ct`` preset, Original + LoG + Wavelet):

- ``pyradiomics direct``: ``RadiomicsFeatureExtractor.execute`` in a loop, one process;
- ``pyradiomics CLI --jobs 1`` and ``--jobs N``: pyradiomics' own batch command;
- ``radiomix -j 1`` and ``radiomix -j N``: ``radiomix extract`` (no cache).

Every run is a fresh process timed wall-clock (interpreter start and imports included, as a user sees it).
Runs are interleaved round-robin and repeated; the table quotes medians and the spread. Features of
radiomix and pyradiomics' CLI are compared value by value at the end.

``--memory`` also measures the peak resident memory of one worker extracting one 512x512x300 CT (radiomix's
worker body vs pyradiomics' ``execute``).

The cohort (default 24 cases, 512x512 x 100-300 slices, 0.6-0.9 mm pixels, 1-2.5 mm slices, lesions of
8-25 mm radius) is generated once into ``--data`` (about 1.5 GB of .nii.gz) and reused.

``--presets A B ...`` times ``radiomix extract`` with each preset instead (fresh processes, same cohort,
interleaved, medians) and prints each one's time relative to the first.

``--versus-pyradiomics PYTHON`` runs no timing: it extracts the 27 configurations of pyradiomics' own
reference baselines (brain1, brain2, breast1 x 9 settings, from ../shared/data/pyradiomics) with
pyradiomics called directly, once in this interpreter and once in PYTHON (another environment with another
pyradiomics build), and counts the values that are bit-identical; then the same for radiomix's presets
``ct``, ``ct-original`` and ``mr`` on the three cases. PyPI's pyradiomics 3.1.0 sdist does not build (its
``cmatrices.h`` is missing); an environment with 3.1.0 can be made from the git tag:
``git clone -b v3.1.0 https://github.com/AIM-Harvard/pyradiomics``, then in a fresh venv
``pip install numpy SimpleITK PyWavelets pykwalify six versioneer setuptools wheel`` and
``pip install --no-build-isolation ./pyradiomics``.

    python benchmarks/extraction.py                  # 24 cases, 3 repeats
    python benchmarks/extraction.py --quick          # 8 smaller cases, 1 repeat
    python benchmarks/extraction.py --memory --only memory
    python benchmarks/extraction.py --quick --presets ct ct-original
    python benchmarks/extraction.py --versus-pyradiomics /path/to/other/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_cohort(data: Path, n: int, quick: bool) -> Path:
    """Generate (once) n CT-like cases; returns the radiomix manifest path."""
    from radiomix.extraction.synthetic import write_case

    manifest = data / "manifest.csv"
    if manifest.exists() and len(pd.read_csv(manifest)) == n:
        return manifest
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    rows = []
    for i in range(n):
        if quick:
            shape, spacing = (256, 256, int(rng.integers(40, 80))), (0.8, 0.8, 2.0)
        else:
            px = float(rng.uniform(0.6, 0.9))
            shape, spacing = (512, 512, int(rng.integers(100, 301))), (px, px, float(rng.choice([1.0, 1.25, 2.0, 2.5])))
        radius = float(rng.uniform(8, 25))
        t = time.perf_counter()
        ip, mp = write_case(data, f"case{i:03d}", seed=i, shape=shape, spacing=spacing, lesion_radius_mm=radius)
        rows.append({"id": f"case{i:03d}", "image": ip.name, "mask": mp.name, "slices": shape[2],
                     "spacing_z": spacing[2], "lesion_radius_mm": round(radius, 1)})
        print(f"  generated {ip.name} {shape} in {time.perf_counter() - t:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(data / "cases.csv", index=False)
    df[["id", "image", "mask"]].to_csv(manifest, index=False)
    pd.DataFrame({"ID": df["id"], "Image": [str(data / p) for p in df["image"]],
                  "Mask": [str(data / p) for p in df["mask"]]}).to_csv(data / "pyradiomics_batch.csv", index=False)
    return manifest


DIRECT = """
import sys, time, logging, pandas as pd, radiomics
from radiomics.featureextractor import RadiomicsFeatureExtractor
radiomics.setVerbosity(logging.ERROR)
batch = pd.read_csv(sys.argv[1]); ex = RadiomicsFeatureExtractor(sys.argv[2])
for im, mk in zip(batch["Image"], batch["Mask"]):
    ex.execute(im, mk)
"""


def commands(data: Path, params: Path, out: Path, jobs: int) -> dict[str, list[str]]:
    batch = data / "pyradiomics_batch.csv"
    return {
        "pyradiomics direct (1 process)": [sys.executable, "-c", DIRECT, str(batch), str(params)],
        "pyradiomics CLI --jobs 1": [str(BIN / "pyradiomics"), str(batch), "-p", str(params), "-f", "csv", "-o",
                                     str(out / "pyr_j1.csv"), "-j", "1", "--logging-level", "ERROR"],
        f"pyradiomics CLI --jobs {jobs}": [str(BIN / "pyradiomics"), str(batch), "-p", str(params), "-f", "csv", "-o",
                                           str(out / f"pyr_j{jobs}.csv"), "-j", str(jobs), "--logging-level", "ERROR"],
        "radiomix -j 1": [str(BIN / "radiomix"), "extract", str(data / "manifest.csv"), "-p", str(params), "-o",
                          str(out / "rmx_j1.csv"), "-j", "1", "-q"],
        f"radiomix -j {jobs}": [str(BIN / "radiomix"), "extract", str(data / "manifest.csv"), "-p", str(params), "-o",
                                str(out / f"rmx_j{jobs}.csv"), "-j", str(jobs), "-q"],
    }


def timed(cmd: list[str]) -> float:
    for f in Path(cmd[cmd.index("-o") + 1]).parent.glob("pyr_*.csv") if "-o" in cmd and "pyradiomics" in cmd[0] else []:
        if str(f) == cmd[cmd.index("-o") + 1]:
            f.unlink()  # pyradiomics' CLI appends to its output file
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{res.stderr[-3000:]}")
    return wall


def compare(out: Path, data: Path) -> str:
    """Value-by-value comparison of radiomix's table and pyradiomics' CLI output."""
    rmx = pd.read_csv(out / "rmx_j1.csv", index_col="id")
    pyr = pd.read_csv(out / "pyr_j1.csv")
    pyr.index = pd.Index(pyr["ID"].astype(str), name="id")
    cols = [c for c in rmx.columns if c in pyr.columns]
    a, b = rmx.loc[pyr.index, cols].to_numpy(float), pyr[cols].to_numpy(float)
    same = np.isclose(a, b, rtol=0, atol=0, equal_nan=True)
    rel = np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))
    return (f"{int(same.sum())} of {same.size} values identical ({len(cols)} features x {len(pyr)} cases; "
            f"largest relative difference {rel:.1e})")


MEMORY = """
import sys, time, logging
kind, image, mask, params = sys.argv[1:5]
def status(key):  # kB -> MiB, from /proc (ru_maxrss survives exec and would report the parent's peak)
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
import radiomics, SimpleITK as sitk
from radiomics.featureextractor import RadiomicsFeatureExtractor
from radiomix.extraction.case import Task, run_task
from radiomix.extraction.params import load_params
radiomics.setVerbosity(logging.ERROR)
p = load_params(params)
base = status("VmRSS")
try:
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak: measure the extraction alone
except OSError:
    pass
t = time.perf_counter()
if kind == "radiomix":
    res = run_task(Task(case="m", modality="", image=image, mask=mask, regions=[], params=p, threads=1))
    assert not res["errors"], res["errors"]
else:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    RadiomicsFeatureExtractor(params).execute(image, mask)
peak = status("VmHWM")
print(f"{base:.0f} {peak:.0f} {time.perf_counter() - t:.1f}")
"""


def memory(data: Path, params: Path) -> list[str]:
    from radiomix.extraction.synthetic import write_case

    ip, mp = data / "mem_image.nii.gz", data / "mem_mask.nii.gz"
    if not ip.exists():
        write_case(data, "mem", seed=99, shape=(512, 512, 300), spacing=(0.7, 0.7, 1.0), lesion_radius_mm=20)
    lines = []
    for kind in ("radiomix", "pyradiomics"):
        out = subprocess.run([sys.executable, "-c", MEMORY, kind, str(ip), str(mp), str(params)], capture_output=True,
                             text=True, cwd=ROOT)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        base, peak, sec = out.stdout.split()
        lines.append(f"| {kind} worker, 512x512x300 int16 CT, 20 mm lesion | {float(base):.0f} MiB | "
                     f"{float(peak):.0f} MiB | {float(peak) - float(base):.0f} MiB | {sec} s |")
    return lines


# Runs in either interpreter: pyradiomics directly, every baseline configuration; JSON {column: {feature: value}}.
BASELINE_RUN = """
import ast, glob, json, logging, os, sys
import numpy as np, pandas as pd, SimpleITK as sitk, radiomics
from radiomics.featureextractor import RadiomicsFeatureExtractor
radiomics.setVerbosity(logging.ERROR)
pr, out = sys.argv[1], sys.argv[2]
base = {os.path.basename(f)[9:-4]: pd.read_csv(f, index_col=0) for f in sorted(glob.glob(pr + "/baseline/baseline_*.csv"))}
cols = sorted({c for df in base.values() for c in df.columns if c.split("_")[0] in ("brain1", "brain2", "breast1")})
res = {}
for col in cols:
    case = col.split("_")[0]
    classes = [c for c, df in base.items() if col in df.columns]
    first = base[classes[0]]
    settings = ast.literal_eval(first.loc["diagnostics_Configuration_Settings", col])
    image = sitk.ReadImage(pr + f"/{case}_image.nrrd")
    mask = sitk.ReadImage(pr + f"/{case}_label.nrrd")
    if col.endswith("_shape2D"):  # the 2D baseline used a one-slice mask (the slice in its bounding box)
        bb = ast.literal_eval(first.loc["diagnostics_Mask-corrected_BoundingBox", col])
        arr = sitk.GetArrayFromImage(mask)
        one = np.zeros_like(arr)
        one[bb[2]] = arr[bb[2]]
        mask = sitk.GetImageFromArray(one)
        mask.CopyInformation(image)
    ex = RadiomicsFeatureExtractor({"setting": settings, "imageType": {"Original": {}},
                                    "featureClass": dict.fromkeys(classes)})
    feats = ex.execute(image, mask)
    res[col] = {k: float(np.asarray(v)) for k, v in feats.items() if not k.startswith("diagnostics_")}
for preset, params in zip(sys.argv[3::2], sys.argv[4::2]):  # radiomix's presets, as parameter files
    ex = RadiomicsFeatureExtractor(params)
    for case in ("brain1", "brain2", "breast1"):
        feats = ex.execute(pr + f"/{case}_image.nrrd", pr + f"/{case}_label.nrrd")
        res[f"{preset}:{case}"] = {k: float(np.asarray(v)) for k, v in feats.items() if not k.startswith("diagnostics_")}
json.dump({"version": radiomics.__version__, "file": radiomics.__file__, "numpy": np.__version__,
           "SimpleITK": sitk.Version_VersionString(), "values": res}, open(out, "w"))
"""


def versus_pyradiomics(other_python: str, shared: Path, presets=("ct", "ct-original", "mr")) -> str:
    """Bit-for-bit comparison of pyradiomics in this interpreter and in ``other_python``: pyradiomics' baseline
    configurations, then radiomix's presets (as parameter files), on brain1, brain2 and breast1."""
    from radiomix._resources import resolve_params_file

    extra = [a for p in presets for a in (p, str(resolve_params_file(p)))]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, exe in (("this", sys.executable), ("other", other_python)):
            out = Path(tmp) / f"{label}.json"
            # cwd=ROOT: a stray module in the current folder must not shadow the other environment's stdlib
            res = subprocess.run([exe, "-c", BASELINE_RUN, str(shared), str(out), *extra], capture_output=True,
                                 text=True, cwd=ROOT)
            if res.returncode:
                raise RuntimeError(f"{exe} failed:\n{res.stderr[-3000:]}")
            runs[label] = json.loads(out.read_text())
    a, b = runs["this"], runs["other"]
    for label, r in (("this", a), ("other", b)):
        print(f"  {label}: pyradiomics {r['version']} ({r['file']}), numpy {r['numpy']}, SimpleITK {r['SimpleITK']}")
    groups = {"pyradiomics' baseline settings (27 = 3 cases x 9)": lambda c: ":" not in c}
    groups.update({f"preset {p} (3 cases)": (lambda c, p=p: c.startswith(p + ":")) for p in presets})
    lines, total_n, total_same = [], 0, 0
    for group, member in groups.items():
        n = same = only = 0
        worst = 0.0
        cols = sorted(c for c in set(a["values"]) | set(b["values"]) if member(c))
        for col in cols:
            va, vb = a["values"].get(col, {}), b["values"].get(col, {})
            only += len(set(va) ^ set(vb))
            for k in set(va) & set(vb):
                x, y = va[k], vb[k]
                n += 1
                if x == y or (np.isnan(x) and np.isnan(y)):
                    same += 1
                else:
                    worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
        total_n, total_same = total_n + n, total_same + same
        lines.append(f"  {group}: {same} of {n} values bit-identical (largest relative difference {worst:.1e}; "
                     f"{only} feature names in only one of the two)")
    return "\n".join(lines + [f"all: {total_same} of {total_n} feature values bit-identical "
                               "(brain1, brain2, breast1)"])


def time_presets(args, out: Path) -> dict:
    """``radiomix extract -j JOBS`` with each preset on the same cohort: medians, and ratios to the first."""
    from radiomix._resources import resolve_params_file

    runs = {}
    for preset in args.presets:
        p = resolve_params_file(preset)
        runs[preset] = [str(BIN / "radiomix"), "extract", str(args.data / "manifest.csv"), "-p", str(p), "-o",
                        str(out / f"rmx_{p.stem}.csv"), "-j", str(args.jobs), "-q"]
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.repeats):
        for name, cmd in runs.items():
            times[name].append(timed(cmd))
            print(f"  repeat {r + 1}: radiomix -j {args.jobs} --params {name}: {times[name][-1]:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    first = args.presets[0]
    print(f"\n{args.cases} cases{' (--quick)' if args.quick else ''}, radiomix extract -j {args.jobs}, "
          f"{args.repeats} repeat(s), load average: {os.getloadavg()[0]:.1f}\n")
    print(f"| preset | features | median wall | min-max | {first} / preset |\n|---|---|---|---|---|")
    for k in runs:
        n_feat = len(pd.read_csv(out / f"rmx_{resolve_params_file(k).stem}.csv", nrows=1).columns) - 1
        print(f"| {k} | {n_feat} | {med[k]:.1f} s | {min(times[k]):.1f}-{max(times[k]):.1f} s | "
              f"{med[first] / med[k]:.2f}x |")
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    ap.add_argument("--params", default="ct", help="preset or parameter file (default: ct)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="workers for the parallel runs")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "radiomix_bench_extraction")
    ap.add_argument("--quick", action="store_true", help="8 small cases, 1 repeat")
    ap.add_argument("--memory", action="store_true", help="also measure peak memory per worker (512x512x300)")
    ap.add_argument("--only", nargs="*", default=None, help="run only these runs (substring match), or 'memory'")
    ap.add_argument("--json", type=Path, default=None, help="write the raw timings here")
    ap.add_argument("--presets", nargs="+", default=None, metavar="PRESET",
                    help="time `radiomix extract -j JOBS` with each preset (ratios to the first)")
    ap.add_argument("--versus-pyradiomics", metavar="PYTHON", default=None,
                    help="compare pyradiomics here with pyradiomics in another interpreter, bit for bit")
    args = ap.parse_args(argv)
    from radiomix._resources import resolve_params_file

    if args.versus_pyradiomics:
        shared = (ROOT / ".." / "shared" / "data" / "pyradiomics").resolve()
        print(f"pyradiomics here vs {args.versus_pyradiomics}, baseline configurations of {shared}:", flush=True)
        print(versus_pyradiomics(args.versus_pyradiomics, shared))
        return
    params = resolve_params_file(args.params)
    if args.quick:
        args.cases = 8
        args.data = args.data.with_name(args.data.name + "_quick")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    print(f"cohort: {args.cases} cases in {args.data}", flush=True)
    if args.only != ["memory"]:
        make_cohort(args.data, args.cases, args.quick)
    out = Path(tempfile.mkdtemp(prefix="radiomix_bench_out_"))
    if args.presets:
        time_presets(args, out)
        return
    runs = commands(args.data, params, out, args.jobs)
    if args.only and args.only != ["memory"]:
        runs = {k: v for k, v in runs.items() if any(s in k for s in args.only)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    if args.only != ["memory"]:
        for r in range(args.repeats):
            for name, cmd in runs.items():
                t = timed(cmd)
                times[name].append(t)
                print(f"  repeat {r + 1}: {name}: {t:.1f} s ({args.cases / t * 60:.1f} cases/min)", flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        cpm = {k: args.cases / v * 60 for k, v in med.items()}
        print(f"\n{args.cases} cases, params {params.name}, {args.repeats} repeat(s), jobs={args.jobs}, "
              f"load average before: {os.getloadavg()[0]:.1f}\n")
        print("| run | median wall | min-max | cases/min | vs pyradiomics CLI --jobs 1 |")
        print("|---|---|---|---|---|")
        base = med.get("pyradiomics CLI --jobs 1")
        for k in runs:
            ratio = f"{base / med[k]:.2f}x" if base else "-"
            print(f"| {k} | {med[k]:.1f} s | {min(times[k]):.1f}-{max(times[k]):.1f} s | {cpm[k]:.1f} | {ratio} |")
        j = args.jobs
        pairs = [("radiomix -j 1", "pyradiomics CLI --jobs 1"), (f"radiomix -j {j}", "radiomix -j 1"),
                 (f"radiomix -j {j}", f"pyradiomics CLI --jobs {j}"),
                 (f"pyradiomics CLI --jobs {j}", "pyradiomics CLI --jobs 1"),
                 ("radiomix -j 1", "pyradiomics direct (1 process)")]
        print()
        for a, b in pairs:
            if a in med and b in med:
                print(f"{a} / {b}: {med[b] / med[a]:.2f}x")
        if "radiomix -j 1" in runs and "pyradiomics CLI --jobs 1" in runs:
            print("\nfeatures: " + compare(out, args.data))
        if args.json:
            args.json.write_text(json.dumps({"cases": args.cases, "params": str(params), "times": times}, indent=2))
    if args.memory or args.only == ["memory"]:
        print("\n| worker | RSS after imports | peak RSS | extraction's share | time |\n|---|---|---|---|---|")
        for line in memory(args.data, params):
            print(line, flush=True)


if __name__ == "__main__":
    main()
