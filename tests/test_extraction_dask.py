"""Dask: a LocalCluster with 2 worker processes gives the same table as local processes."""

import pandas as pd
import pytest

from radiomix.extraction import extract
from radiomix.extraction.synthetic import write_case

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask_cases")
    rows = []
    for i in range(6):
        ip, mp = write_case(root, f"d{i}", seed=20 + i, n_labels=1 + i % 2)
        rows.append({"id": f"d{i}", "image": str(ip), "mask": str(mp), "label": "1;2" if i % 2 else "1"})
    (root / "broken.nii.gz").write_bytes(b"not a mask")
    rows[2]["mask"] = str(root / "broken.nii.gz")  # a broken case fails on the cluster as it does locally
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_localcluster_equals_local_processes(manifest, tmp_path):
    local, ldiag, lerr = extract(manifest, "ct", n_jobs=2, progress=False, return_details=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote, rdiag, rerr = extract(manifest, "ct", scheduler=client, progress=False, return_details=True)
            prov = remote.attrs["radiomix"]["provenance"]
            assert prov["engine_engine"] == "dask" and prov["engine_workers"] == 2
        # an address works too (radiomix opens and closes its own client), here with the cache
        by_address = extract(manifest, "ct", scheduler=cluster.scheduler_address, cache_dir=tmp_path / "c",
                             progress=False)
    pd.testing.assert_frame_equal(remote, local)
    pd.testing.assert_frame_equal(by_address, local)
    pd.testing.assert_frame_equal(rerr.drop(columns="traceback"), lerr.drop(columns="traceback"))
    assert len(lerr) == 1 and lerr.loc[0, "id"] == "d2"
    cols = ["region", "roi_voxels", "resampled_size"]
    pd.testing.assert_frame_equal(rdiag[cols], ldiag[cols])
    again = extract(manifest, "ct", cache_dir=tmp_path / "c", progress=False)  # Dask's cache serves local runs
    assert again.attrs["radiomix"]["provenance"]["n_cached"] == 5
    pd.testing.assert_frame_equal(again, local)
