"""The tumour-volume column of a table and the one feature the volume baseline is fitted on.

Welch et al. 2019 (Radiother Oncol) showed that many radiomic signatures reduce to tumour volume, so
:mod:`radiomix.safeguards` compares every model with volume alone. Two things about real tables decide whether
that baseline is fair:

* which column is the volume. :func:`volume_candidates` finds it by name (:data:`VOLUME_PATTERNS`, most specific
  first). Multi-modal and multi-mask tables carry one volume per image or mask (``CT_original_shape_MeshVolume``
  and ``PET_original_shape_MeshVolume``; ``manual_...`` and ``semi_...``): each is a candidate. Two matches for
  the same image or mask are a true ambiguity and are refused with the fix.
* how the column is transformed. Raw volumes are right-skewed and enter as ``log(volume)``; shared tables are
  often already standardized (z-scored or centred), where the log of a non-positive value does not exist.
  :func:`volume_feature` takes the log only when every value is positive and otherwise keeps the column as given
  (and says so). :func:`volume_study` then ranks the column inside each training fold (:class:`RankScaler`), so
  the baseline's out-of-fold scores do not depend on any increasing transform of the volumes: a raw and a
  standardized copy of a table give the same baseline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["VOLUME_PATTERNS", "VolumeColumn", "RankScaler", "volume_candidates", "volume_feature", "volume_study"]

#: Names of a tumour-volume feature in common extractors, most specific first. Each pattern matches at the end
#: of a column name; whatever precedes the match (minus a joining ``_``) is the column's modality/mask prefix.
VOLUME_PATTERNS = (
    ("pyradiomics MeshVolume", re.compile(r"(^|_)original_shape_MeshVolume$")),
    ("pyradiomics VoxelVolume", re.compile(r"(^|_)original_shape_VoxelVolume$")),
    ("IBSI morph_volume", re.compile(r"(?i)(^|_)morph_vol(ume)?$")),
    ("IBSI-style Shape_volume", re.compile(r"(?i)^shape_volume$")),
    ("CaPTk Volume", re.compile(r"(?i)(^|_)volume(_mm3|_cc)?$")),
)

_CONFIG_KEY = "safeguards.volume"


@dataclass(frozen=True)
class VolumeColumn:
    """One tumour-volume column of a table.

    column : the column name.
    how : how it was found (``"named in the config (safeguards.volume)"`` or ``"detected by name (<pattern>)"``).
    prefix : the modality/mask prefix before the matched name (``"CT"``, ``"PET"``, ``"manual"``); ``""`` when
        the column has none; None for a column named in the config that matches no pattern.
    """

    column: str
    how: str
    prefix: str | None = None


#: A feature-class stem left before a generic volume name (``ADC_original_shape_Volume``): not part of the prefix.
_STEM = re.compile(r"(?i)(^|_)(original_)?shape$")


def _prefix(column: str, rx: re.Pattern) -> str:
    m = rx.search(column)
    return _STEM.sub("", column[:m.start()].rstrip("_")) if m else ""


def volume_candidates(columns, explicit: str | None = None) -> list[VolumeColumn]:
    """The tumour-volume columns among ``columns``: each a candidate for the volume baseline.

    ``explicit`` (``safeguards.volume``) wins and is the only candidate. Otherwise the first pattern of
    :data:`VOLUME_PATTERNS` that matches any column gives one candidate per modality/mask prefix, sorted by
    prefix (the unprefixed column first, then case-insensitive alphabetical: ``CT`` before ``PET``, ``manual``
    before ``semi``), so the order does not depend on the table's column order.

    Raises
    ------
    ValueError
        ``explicit`` is not a column, or two columns of the first matching pattern share a prefix (the same
        image and mask twice: ``morph_vol`` and ``morph_volume``); the message names them and the fix.
    LookupError
        No column matches any pattern.

    Examples
    --------
    >>> [v.column for v in volume_candidates(["PET_original_shape_MeshVolume", "CT_original_shape_MeshVolume",
    ...                                        "CT_original_glcm_Contrast"])]
    ['CT_original_shape_MeshVolume', 'PET_original_shape_MeshVolume']
    """
    columns = [str(c) for c in columns]
    if explicit is not None:
        if explicit not in columns:
            raise ValueError(f"{_CONFIG_KEY} names {explicit!r}, which is not a feature column")
        prefix = next((_prefix(explicit, rx) for _, rx in VOLUME_PATTERNS if rx.search(explicit)), None)
        return [VolumeColumn(explicit, f"named in the config ({_CONFIG_KEY})", prefix)]
    for label, rx in VOLUME_PATTERNS:
        hits = [c for c in columns if rx.search(c)]
        if not hits:
            continue
        by_prefix: dict[str, list[str]] = {}
        for c in hits:
            by_prefix.setdefault(_prefix(c, rx), []).append(c)
        clash = {p: cs for p, cs in by_prefix.items() if len(cs) > 1}
        if clash:
            p, cs = sorted(clash.items())[0]
            where = f"prefix {p!r}" if p else "no modality/mask prefix"
            raise ValueError(f"several volume columns match {label} for the same image and mask ({where}): {cs}; "
                             f"set {_CONFIG_KEY}: <one of {', '.join(cs)}>")
        return [VolumeColumn(cs[0], f"detected by name ({label})", p)
                for p, cs in sorted(by_prefix.items(), key=lambda kv: (kv[0] != "", kv[0].lower(), kv[0]))]
    raise LookupError("no tumour-volume column found (pyradiomics MeshVolume/VoxelVolume, IBSI morph_volume, "
                      f"Shape_volume, CaPTk Volume); name it in {_CONFIG_KEY}")


def volume_feature(x: pd.Series) -> tuple[np.ndarray, str]:
    """``(values, description)``: the feature the volume baseline is fitted on, and what was done to ``x``.

    ``log(x)`` when every non-missing value is > 0 (raw volumes: right-skewed, multiplicative). Otherwise the
    column as given, because a volume of 0 or below is not a raw volume: the column was standardized or
    centred (or holds empty masks), and log needs positive volumes. Clipping such values (what the baseline
    used to do) ties every non-positive patient at one value and destroys the ordering the baseline ranks by.
    Missing values stay missing (the baseline's pipeline imputes them inside each fold); values that are not
    numbers count as missing and are named in the description.

    Examples
    --------
    >>> v, how = volume_feature(pd.Series([-1.0, 0.5, 0.5]))
    >>> v.tolist(), how
    ([-1.0, 0.5, 0.5], 'as given: 33 % of values <= 0 (1 of 3), the column looks centred or transformed; log needs positive volumes')
    """
    raw = pd.Series(x)
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    num = num.where(np.isfinite(num))
    bad = int((num.isna() & raw.notna()).sum())
    missing = int(raw.isna().sum())
    ok = num.dropna().to_numpy()
    if ok.size == 0:
        raise ValueError(f"volume column {raw.name!r} has no numeric value")
    notes = []
    if missing:
        notes.append(f"{missing} missing")
    if bad:
        notes.append(f"{bad} not a finite number, treated as missing")
    tail = f" ({'; '.join(notes)})" if notes else ""
    n_nonpos = int((ok <= 0).sum())
    if n_nonpos == 0:
        return np.log(num.to_numpy()), f"log: all {ok.size} non-missing values > 0{tail}"
    share = f"{100 * n_nonpos / ok.size:.0f} % of values <= 0 ({n_nonpos} of {ok.size})"
    mean, sd = float(ok.mean()), float(ok.std(ddof=1)) if ok.size > 1 else 0.0
    if (ok < 0).any() and sd > 0 and abs(mean) < 0.05 * sd and abs(sd - 1) < 0.05:
        looks = "the column looks standardized (mean 0, SD 1)"
    elif (ok < 0).any():
        looks = "the column looks centred or transformed"
    else:
        looks = f"{n_nonpos} volume(s) of exactly 0 (empty masks?)"
    return num.to_numpy(), f"as given: {share}, {looks}; log needs positive volumes{tail}"


class RankScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Normal scores of each column's ranks among the training values (mid-ranks for ties).

    A value ``v`` becomes ``Phi^-1(r / n)`` with ``r = (#{train < v} + #{train <= v}) / 2`` clipped to
    ``[1/2, n - 1/2]``: a training value of rank ``k`` (no ties) gets the Hazen position ``(k - 1/2) / n``; a
    value outside the training range gets the lowest or highest score. The output depends only on the ordering of the values, so any increasing transform of the input
    (log, z-score, centring) gives exactly the same output: what the volume baseline needs to score the same
    on a raw and on a standardized table. Missing values are refused (impute before).

    Attributes
    ----------
    sorted_ : list of the training values of each column, sorted.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (when fitted on a DataFrame)

    Examples
    --------
    >>> RankScaler().fit([[1.0], [10.0], [100.0], [1000.0]]).transform([[10.0], [5.0]]).round(3).ravel().tolist()
    [-0.319, -0.674]
    """

    _parameter_constraints: dict = {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Keep each column's training values, sorted."""
        X = validate_data(self, X, dtype=np.float64)
        self.sorted_ = [np.sort(X[:, j]) for j in range(X.shape[1])]
        return self

    def transform(self, X):
        """The normal scores of ``X``'s values among the training values."""
        from scipy.stats import norm

        check_is_fitted(self, "sorted_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = np.empty_like(X)
        for j, ref in enumerate(self.sorted_):
            n = ref.size
            mid = (np.searchsorted(ref, X[:, j], "left") + np.searchsorted(ref, X[:, j], "right")) / 2
            out[:, j] = norm.ppf(np.clip(mid, 0.5, n - 0.5) / n)
        return out


def volume_study(study, column: str, *, scale: str = "rank"):
    """``(Study, transform description)``: the volume baseline of ``study`` (a :class:`radiomix.study.Study`):
    ``column`` alone, transformed by :func:`volume_feature`, median-imputed, scaled and fitted with the task's
    volume model, under the study's outer folds and rows, without harmonization or a hyperparameter search.

    ``scale``: ``"rank"`` (:class:`RankScaler`, fitted inside each training fold: the baseline's out-of-fold
    scores are the same for raw and standardized volumes, which benchmarks/volume_baseline.py measured) or
    ``"standard"`` (``StandardScaler``: the baseline then depends on whether the table was standardized, by
    0.016 AUC on average and up to 0.14 on 20 synthetic tables). Warns once when the column is not taken as
    log volume or has values that are not numbers (the description says which and why)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .model_selection import SearchPlan

    if scale not in ("rank", "standard"):
        raise ValueError(f"scale must be 'rank' or 'standard', not {scale!r}")
    values, how = volume_feature(study.X[column])
    if not how.startswith("log") or "not a finite number" in how:
        import warnings

        warnings.warn(f"volume baseline on {column!r}: {how}", stacklevel=2)
    X = pd.DataFrame({column: values}, index=study.X.index)
    scaler = RankScaler() if scale == "rank" else StandardScaler()
    pipe = make_pipeline(SimpleImputer(strategy="median"), scaler, study.task.volume_model())
    cfg = study.config.replace({"harmonize.method": "none"})
    base = replace(study, X=X, pipeline=pipe, config=cfg,
                   columns=replace(study.columns, features=[column], categorical=[], harmonized=[]),
                   search=SearchPlan({}, inner_splits=study.search.inner_splits, threshold=study.search.threshold,
                                     strata=study.search.strata))
    if scale == "rank":
        how += "; then ranked (normal scores, fitted in each training fold)"
    return base, how
