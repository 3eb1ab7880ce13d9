"""Which harmonized columns do not look like image features: the rule behind ComBat's note.

``ComBat(features=None)`` harmonizes every numeric column it is given (scikit-learn's convention). It says
which of those columns do not look like image features, by this rule:

1. A column looks like an image feature when the table's recorded column groups
   (:func:`radiomix.tables.column_groups`, from :func:`radiomix.merge` / :func:`radiomix.extract`) put it in
   the radiomic block (a recorded block decides for the columns it lists), or, for a column in no recorded
   block, when its name is a pyradiomics name (:func:`radiomix.tables.feature_name_parts`) or
   IBSI-style: a texture/filter family token anywhere in the name (``glcm``, ``glrlm``, ``glszm``, ``gldzm``,
   ``gldm``, ``ngtdm``, ``ngldm``, ``firstorder``, ``shape``, ``wavelet``, ``lbp``...), or an IBSI family tag
   as its first token (``morph_volume``, ``stat_mean``, ``ih_entropy``, ``cm_contrast``, ``szm_sze``...).
2. Any other column is named: when the recorded groups put it in the clinical or genetic block (said so);
   else when its name reads as a time or outcome (``days``, ``time``, ``os``,
   ``pfs``, ``event``, ``status``, ``outcome``, ``survival``, ``death``...) or clinical (``age``, ``sex``,
   ``stage``, ``grade``, ``bmi``, ``smoking``...) -- matched on whole name tokens split at ``_``, ``-``,
   ``.``, spaces and camelCase, so ``stat`` or ``age`` inside a longer word never count; else when the table
   records column groups and it is in none of them; else when other harmonized columns are recognised as
   image features (a table of pyradiomics features with a few other numeric columns).
3. A column whose name matches no rule in a table where nothing is recognised (``f00``, ``feature_7``
   only) is taken as a feature: there is nothing to tell it apart by.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["TIME_OUTCOME_TOKENS", "CLINICAL_TOKENS", "looks_like_image_feature", "non_image_columns"]

#: Name tokens that mark a survival time, an event or another outcome.
TIME_OUTCOME_TOKENS = frozenset({
    "day", "days", "time", "times", "month", "months", "year", "years", "os", "pfs", "dfs", "efs", "rfs", "ttp",
    "event", "events", "status", "outcome", "outcomes", "survival", "surv", "death", "dead", "died", "censor",
    "censored", "censoring", "followup", "recurrence", "relapse", "progression", "response", "vital",
    "label", "target",
})
#: Name tokens that mark a common clinical variable.
CLINICAL_TOKENS = frozenset({
    "age", "sex", "gender", "stage", "grade", "bmi", "smoking", "smoker", "packyears", "weight", "height", "ecog",
    "kps", "hpv", "psa", "gleason", "histology", "ldh", "tnm", "treatment", "chemo", "chemotherapy",
})
# Texture/filter families (pyradiomics, IBSI long names, common extractors): anywhere in the name.
_FAMILY_TOKENS = frozenset({
    "glcm", "glrlm", "glszm", "gldzm", "gldm", "ngtdm", "ngldm", "firstorder", "shape", "shape2d", "texture",
    "wavelet", "lbp", "laplacian", "gabor", "histogram",
})
# IBSI 1 feature family tags (reference manual, chapter 3): only as the first token, since short words like
# "loc" or "stat" also occur inside clinical names.
_IBSI_TAGS = frozenset({"morph", "loc", "stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"})
_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _tokens(name) -> list[str]:
    return [t.lower() for part in re.split(r"[\s_.\-/()\[\]]+", str(name)) for t in _TOKEN.findall(part)]


def _parts(name) -> list[str]:
    return [p.lower() for p in re.split(r"[\s_.\-/()\[\]]+", str(name)) if p]


def looks_like_image_feature(name) -> bool:
    """Whether a column name is a pyradiomics or IBSI-style image feature name (rule 1 of the module)."""
    from ..tables import feature_name_parts

    if feature_name_parts(name) != ("other", "other"):
        return True
    parts = _parts(name)
    if not parts:
        return False
    return bool(_FAMILY_TOKENS.intersection(parts)) or parts[0] in _IBSI_TAGS


def _name_kind(name) -> str | None:
    tokens = set(_tokens(name)) | set(_parts(name))
    if tokens & TIME_OUTCOME_TOKENS or tokens & CLINICAL_TOKENS:
        return "clinical, time or outcome-like name"
    return None


def non_image_columns(X: pd.DataFrame, columns: list) -> dict[str, list]:
    """The columns among ``columns`` that do not look like image features, by reason (the module's rule).

    Returns ``{reason: [columns]}`` in the order of ``columns``; empty when every column looks like an
    image feature or nothing tells them apart.
    """
    from ..tables import column_groups

    # The recorded groups count only when some recorded column is in this frame (column_groups' own test);
    # otherwise column_groups falls back to the name rule, which rule 1 already applies.
    meta = X.attrs.get("radiomix") if isinstance(X.attrs.get("radiomix"), dict) else {}
    recorded = meta.get("groups") if isinstance(meta.get("groups"), dict) else {}
    cols = set(map(str, X.columns))
    groups = column_groups(X) if any(str(c) in cols for g in recorded.values() for c in g) else None
    block_of = {str(c): g for g in ("genetic", "clinical", "radiomic") for c in (groups or {}).get(g, [])}
    # A recorded block decides for its columns; the name rule for the others.
    image = {c for c in columns if block_of.get(str(c), "radiomic" if looks_like_image_feature(c) else None) == "radiomic"}
    out: dict[str, list] = {}
    for c in columns:
        if c in image:
            continue
        block = block_of.get(str(c))
        reason = f"recorded as {block}" if block else _name_kind(c)
        if reason is None and groups is not None:
            reason = "in no recorded column group"
        if reason is None and image:
            reason = f"not named like an image feature, beside {len(image)} that are"
        if reason is not None:
            out.setdefault(reason, []).append(c)
    return out
