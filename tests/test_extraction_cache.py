"""The resumable cache: hits, invalidation, and SIGKILL at any moment followed by a re-run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiomix.extraction import extract
from radiomix.extraction.synthetic import write_case


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache_cases")
    rows = []
    for i in range(8):
        ip, mp = write_case(root, f"p{i}", seed=10 + i, shape=(80, 80, 28))
        rows.append({"id": f"p{i}", "image": ip.name, "mask": mp.name, "site": "AB"[i % 2]})
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _cache_files(cache):
    return sorted(p for p in cache.rglob("*.json"))


def test_cache_hits_and_invalidation(manifest, tmp_path):
    mf = pd.read_csv(manifest).head(4)
    mf["image"] = [str(manifest.parent / p) for p in mf["image"]]
    mf["mask"] = [str(manifest.parent / p) for p in mf["mask"]]
    cache = tmp_path / "cache"
    a = extract(mf, "ct-original", cache_dir=cache, progress=False)
    first = _cache_files(cache)
    assert a.attrs["radiomix"]["provenance"]["n_computed"] == 4 and len(first) == 4
    b = extract(mf, "ct-original", cache_dir=cache, progress=False)
    prov = b.attrs["radiomix"]["provenance"]
    assert prov["n_cached"] == 4 and prov["n_computed"] == 0
    pd.testing.assert_frame_equal(a, b)
    _, diag, _ = extract(mf, "ct-original", cache_dir=cache, progress=False, return_details=True)
    assert diag["cached"].all()

    # A changed mask file: only that case is recomputed.
    m = sitk.ReadImage(mf.loc[1, "mask"])
    sitk.WriteImage(sitk.BinaryErode(m, [1, 1, 0]), str(tmp_path / "eroded.nii.gz"))
    mf2 = mf.copy()
    mf2.loc[1, "mask"] = str(tmp_path / "eroded.nii.gz")
    c = extract(mf2, "ct-original", cache_dir=cache, progress=False)
    assert c.attrs["radiomix"]["provenance"]["n_computed"] == 1
    assert not np.array_equal(c.loc[mf.loc[1, "id"]].iloc[1:].to_numpy(float), a.loc[mf.loc[1, "id"]].iloc[1:].to_numpy(float))
    # Changed parameters: everything is recomputed.
    d = extract(mf, {"setting": {"binWidth": 10}, "imageType": {"Original": {}}, "featureClass": {"firstorder": None}},
                cache_dir=cache, progress=False)
    assert d.attrs["radiomix"]["provenance"]["n_computed"] == 4
    # A damaged cache entry is recomputed, not trusted.
    victim = first[0]
    victim.write_text("{ truncated")
    e = extract(mf, "ct-original", cache_dir=cache, progress=False)
    assert e.attrs["radiomix"]["provenance"]["n_computed"] == 1
    pd.testing.assert_frame_equal(e, a)
    # Failures are not cached: they are retried on the next run.
    bad = mf.copy()
    bad.loc[0, "label"] = 5
    f = extract(bad, "ct-original", cache_dir=cache, progress=False)
    g = extract(bad, "ct-original", cache_dir=cache, progress=False)
    assert f.attrs["radiomix"]["provenance"]["n_failed"] == 1 and g.attrs["radiomix"]["provenance"]["n_computed"] == 1


def _cli(*args):
    return [sys.executable, "-c", "from radiomix.cli import main; main()", "extract", *map(str, args)]


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_table(manifest, tmp_path):
    reference = extract(manifest, "ct", progress=False)
    cache, out = tmp_path / "cache", tmp_path / "features.parquet"
    proc = subprocess.Popen(_cli(manifest, "-p", "ct", "-o", out, "--cache", cache, "-q"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while len(_cache_files(cache)) < 3:
            assert proc.poll() is None, "the run finished before it could be killed"
            assert time.time() < deadline, "no case was cached in time"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # never half a table
    done = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _cache_files(cache)}
    assert 3 <= len(done) < 8
    for p in done:  # every entry a killed run left behind is complete
        assert json.loads(p.read_text())["features"]

    res = subprocess.run(_cli(manifest, "-p", "ct", "-o", out, "--cache", cache, "-q"), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    prov = json.loads((tmp_path / "features.provenance.json").read_text())
    assert prov["n_cached"] == len(done) and prov["n_computed"] == 8 - len(done)
    for p, stamp in done.items():  # finished cases were read, not recomputed or rewritten
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp
    resumed = pd.read_parquet(out)
    pd.testing.assert_frame_equal(resumed, reference)
