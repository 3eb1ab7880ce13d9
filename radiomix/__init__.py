"""radiomix: classical radiomics and tabular machine learning for medicine.

images + masks -> radiomic table -> merge clinical/genetic -> ComBat -> imputation -> mRMR
-> class balancing -> model -> nested CV -> metrics with CIs -> SHAP -> report.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "extract", "merge", "make_cohort"]


def __getattr__(name):
    # Lazy imports keep `import radiomix` and `radiomix --help` fast (pyradiomics and xgboost are heavy).
    if name == "extract":
        from .extraction import extract

        return extract
    if name == "merge":
        from .tables import merge

        return merge
    if name == "make_cohort":
        from .datasets import make_cohort

        return make_cohort
    raise AttributeError(f"module 'radiomix' has no attribute {name!r}")
