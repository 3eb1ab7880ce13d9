"""Shared test fixtures: the read-only reference data in ../shared/data (tests only, never at run time)."""

import shutil
from pathlib import Path

import pytest

SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ORACLES = Path(__file__).resolve().parent / "oracles"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when the checkout has no shared data beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


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
