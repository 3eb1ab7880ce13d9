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
