"""radiomix: classical radiomics and tabular machine learning for medicine.

images + masks -> radiomic table -> merge clinical/genetic -> ComBat -> imputation -> mRMR
-> class balancing -> model -> nested CV -> metrics with CIs -> SHAP -> report.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "extract", "merge", "make_cohort", "read_table", "write_table", "make_study",
           "nested_cv", "nested_cv_table", "nested_cv_pipeline", "load_model", "score_external"]

# Lazy imports keep `import radiomix` and `radiomix --help` fast (pyradiomics and xgboost are heavy).
_LAZY = {
    "extract": ("radiomix.extraction", "extract"),
    "merge": ("radiomix.tables", "merge"),
    "make_cohort": ("radiomix.datasets", "make_cohort"),
    "read_table": ("radiomix.io", "read_table"),
    "write_table": ("radiomix.io", "write_table"),
    "make_study": ("radiomix.study", "make_study"),
    "nested_cv": ("radiomix.model_selection.validation", "nested_cv"),
    "nested_cv_table": ("radiomix.model_selection.validation", "nested_cv_table"),
    "nested_cv_pipeline": ("radiomix.model_selection.validation", "nested_cv_pipeline"),
    "load_model": ("radiomix.model", "load_model"),
    "score_external": ("radiomix.model", "score_external"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'radiomix' has no attribute {name!r}")
