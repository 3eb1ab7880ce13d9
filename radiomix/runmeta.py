"""Run metadata shared by training, the final model, the CLI and the report: library versions and JSON
conversion of numpy values. A leaf module: it imports nothing else from radiomix but the version."""

from __future__ import annotations

import numpy as np

from . import __version__

__all__ = ["versions", "to_jsonable"]


def versions() -> dict:
    """Versions of radiomix and the libraries that decide a run's numbers."""
    import pandas as pd
    import sklearn
    import xgboost

    return {"radiomix": __version__, "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


def to_jsonable(o):
    """``o`` with numpy scalars as Python numbers, non-finite floats as None and tuples as lists, recursively
    (what ``json.dumps`` accepts and what ``metrics.json`` stores)."""
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, dict):
        return {str(k): to_jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_jsonable(v) for v in o]
    return o
