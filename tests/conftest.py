"""Shared test fixtures: the read-only reference data in ../shared/data (tests only, never at run time)."""

import os
import shutil
from pathlib import Path

import pytest

SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ORACLES = Path(__file__).resolve().parent / "oracles"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data. Without it the test fails in CI (``CI=true``: the data must be there) and is
    skipped on a developer's machine that has no data beside the checkout."""
    if not SHARED_DATA.is_dir():
        if in_ci():
            pytest.fail(f"CI=true but the shared test data are missing at {SHARED_DATA}")
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


def in_ci() -> bool:
    """True when the suite runs in CI (``CI`` set to true/1/yes)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def rscript() -> str:
    """Path to Rscript; skips the test when R is not installed (fixtures stored in tests/fixtures still run)."""
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("Rscript not installed; the stored R fixtures are checked by the other tests")
    return path


@pytest.fixture(scope="session")
def demo_cohort(tmp_path_factory):
    """A 60-patient, 3-site synthetic cohort with images, rendered once per test session."""
    from radiomix.datasets import make_cohort

    return make_cohort(60, 3, out_dir=tmp_path_factory.mktemp("cohort"), random_state=0, n_jobs=2)


@pytest.fixture(scope="session")
def demo_features(demo_cohort):
    """``(features, cohort)``: the demo cohort extracted with the ``ct-original`` preset."""
    from radiomix.extraction import extract

    feats = extract(demo_cohort.files["manifest"], "ct-original", n_jobs=2, progress=False)
    return feats, demo_cohort
