"""Feature reliability across repeated measurements: intraclass correlation (ICC) and Lin's CCC.

:func:`icc` takes a long table (one row per case x repeat) and returns one ICC per feature, with its
confidence interval and F test, for thousands of features at once: the two-way ANOVA mean squares are
computed for all features together on a ``(cases, repeats, features)`` array. The six forms are those of
Shrout & Fleiss (1979) and McGraw & Wong (1996), as recommended by Koo & Li (2016):

============  ==========================  =================================================================
form          pingouin / McGraw & Wong    model
============  ==========================  =================================================================
``ICC(1,1)``  ``ICC(1,1)``                one-way random effects, single measurement
``ICC(2,1)``  ``ICC(A,1)``                two-way random effects, absolute agreement, single measurement
``ICC(3,1)``  ``ICC(C,1)``                two-way mixed effects, consistency, single measurement
``ICC(1,k)``  ``ICC(1,k)``                as ICC(1,1), for the mean of the k repeats
``ICC(2,k)``  ``ICC(A,k)``                as ICC(2,1), for the mean of the k repeats
``ICC(3,k)``  ``ICC(C,k)``                as ICC(3,1), for the mean of the k repeats
============  ==========================  =================================================================

Which form fits the design: repeats drawn independently per case (image perturbations, test-retest scans
without a fixed scanner order) share no raters, so only the one-way ICC(1,1) is meaningful; the same
observers, scanners or segmentation methods applied to every case are shared raters, and ICC(2,1)
(absolute agreement, rater effects count as error) or ICC(3,1) (consistency, rater effects removed) apply.
``form="auto"`` picks ICC(1,1) or ICC(2,1) from the table and records why in the result's
``attrs["design"]``.

Point estimates, F tests and confidence intervals follow ``pingouin.intraclass_corr`` (0.7) formula by
formula, including the Satterthwaite-type degrees of freedom of the ICC(2,1) interval; the tests check
agreement to 1e-10. :func:`ccc` is Lin's (1989, 2000) concordance correlation coefficient of two
measurements of the same cases, with the z-transform confidence interval.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ICC_FORMS", "ReliabilityWarning", "icc", "ccc"]

#: The ICC forms :func:`icc` computes (Shrout & Fleiss naming).
ICC_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")

# Short and McGraw & Wong (pingouin) spellings accepted for ``form``.
_ALIASES = {
    "ICC1": "ICC(1,1)", "ICC2": "ICC(2,1)", "ICC3": "ICC(3,1)",
    "ICC1k": "ICC(1,k)", "ICC2k": "ICC(2,k)", "ICC3k": "ICC(3,k)",
    "ICC(A,1)": "ICC(2,1)", "ICC(C,1)": "ICC(3,1)", "ICC(A,k)": "ICC(2,k)", "ICC(C,k)": "ICC(3,k)",
}
_MODELS = {
    "1": "one-way random effects",
    "2": "two-way random effects, absolute agreement",
    "3": "two-way mixed effects, consistency",
}
_COLUMNS = ["icc", "ci_low", "ci_high", "F", "df1", "df2", "p_value", "n_cases"]
# How many offending case ids or feature names a message lists.
_SHOW = 5


class ReliabilityWarning(UserWarning):
    """Features left without a value (constant, too few complete cases) or cases dropped for missing values."""


# --------------------------------------------------------------------------------------------------
# Input checks: features, balance, design
# --------------------------------------------------------------------------------------------------


def _feature_columns(table: pd.DataFrame, case: str, rater: str | None, features) -> list:
    ids = [case] + ([rater] if rater is not None else [])
    for col in ids:
        if col not in table.columns:
            raise ValueError(f"column {col!r} is not in the table; columns are {list(table.columns)[:10]}...")
    if features is None:
        rest = [c for c in table.columns if c not in ids]
        features = [c for c in rest if _is_number(table[c])]
        left = [c for c in rest if c not in features]
        if left:
            warnings.warn(f"icc: {len(left)} non-numeric column(s) are not features and are left out: "
                          f"{left[:_SHOW]}", ReliabilityWarning, stacklevel=3)
    features = list(features)
    if not features:
        raise ValueError("no feature columns: pass features=[...] naming numeric columns of the table")
    for col in features:
        if col not in table.columns:
            raise ValueError(f"feature column {col!r} is not in the table")
        if col in ids or not _is_number(table[col]):
            raise ValueError(f"feature column {col!r} is not numeric (dtype {table[col].dtype}) or is an id column")
    return features


def _is_number(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _check_ids(table: pd.DataFrame, col: str) -> None:
    missing = table[col].isna()
    if missing.any():
        raise ValueError(f"column {col!r} is missing in {int(missing.sum())} row(s) (first at index "
                         f"{table.index[missing.to_numpy()][0]!r}); fill or drop those rows")


def _repeats_per_case(table: pd.DataFrame, case: str) -> int:
    """k, the number of rows of every case; a one-line error names the cases that differ."""
    counts = table.groupby(case, sort=False).size()
    k = int(counts.mode().max())
    odd = counts[counts != k]
    if len(odd):
        shown = ", ".join(f"{c!r} has {n}" for c, n in odd.iloc[:_SHOW].items())
        raise ValueError(f"unbalanced design: every case needs the same number of repeats; most cases have {k} "
                         f"but {len(odd)} differ ({shown}); drop or complete those cases")
    if k < 2:
        raise ValueError(f"each case has a single row; ICC needs at least 2 repeats per case (column {case!r})")
    if len(counts) < 2:
        raise ValueError(f"only one case ({counts.index[0]!r}); ICC needs at least 2 cases")
    return k


def _raters_shared(table: pd.DataFrame, case: str, rater: str) -> bool:
    """True when every case has the same set of rater labels, False when no label is in two cases."""
    dup = table.duplicated([case, rater])
    if dup.any():
        row = table.loc[dup.to_numpy()].iloc[0]
        raise ValueError(f"case {row[case]!r} has rater {row[rater]!r} more than once; each case needs one row "
                         f"per rater (aggregate or drop the duplicate rows)")
    cases_per_label = table.groupby(rater, sort=False)[case].nunique()
    if (cases_per_label == 1).all():
        return False
    sets = table.groupby(case, sort=False)[rater].agg(frozenset)
    common = sets.value_counts().index[0]
    odd = sets[sets != common]
    if len(odd):
        shown = "; ".join(f"{c!r} lacks {sorted(map(str, common - s))} has {sorted(map(str, s - common))}"
                          for c, s in odd.iloc[:_SHOW].items())
        raise ValueError(f"unbalanced design: {len(odd)} case(s) were not measured by the same raters "
                         f"(column {rater!r}) as the others: {shown}; drop those cases, or pass rater=None if "
                         f"the repeats are not shared raters")
    return True


def _resolve_form(form: str, rater: str | None, shared: bool) -> tuple[str, str]:
    """The ICC form and a sentence saying why it fits the design."""
    if form == "auto":
        if shared:
            return "ICC(2,1)", (f"the same raters (column {rater!r}) measured every case, so rater effects are "
                                f"shared and count as error (absolute agreement); form='auto' chose ICC(2,1)")
        why = ("no rater column" if rater is None
               else f"the labels of column {rater!r} differ between cases (no label measured two cases)")
        return "ICC(1,1)", (f"{why}, so the repeats are taken as drawn independently per case (e.g. image "
                            f"perturbations) and are not shared raters; form='auto' chose ICC(1,1)")
    name = _ALIASES.get(form, form)
    if name not in ICC_FORMS:
        raise ValueError(f"form={form!r} is not one of 'auto', {', '.join(map(repr, ICC_FORMS))} "
                         f"(or ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k, ICC(A,1), ICC(C,1), ICC(A,k), ICC(C,k))")
    if name[4] != "1" and not shared:
        raise ValueError(f"form {name} needs raters shared by all cases: pass rater=<column> naming the rater, "
                         f"scanner or session that measured every case, or use form='ICC1' for repeats drawn "
                         f"independently per case")
    raters = (f"the raters (column {rater!r}) are shared by all cases" if shared
              else "the repeats are not shared raters")
    return name, f"form={form!r} as requested; {raters}"


def _design_text(name: str, k: int, why: str) -> str:
    measure = "single measurement" if name.endswith("1)") else f"mean of k={k} measurements"
    return f"{name}: {_MODELS[name[4]]}, {measure}; {why}"


# --------------------------------------------------------------------------------------------------
# The (cases, repeats, features) array and the ANOVA
# --------------------------------------------------------------------------------------------------


def _cube(table: pd.DataFrame, case: str, rater: str | None, shared: bool, features: list, k: int) -> np.ndarray:
    """The feature values as a (cases, repeats, features) float array."""
    case_code, cases = pd.factorize(table[case], sort=False)
    if shared:
        rater_code = pd.factorize(table[rater], sort=False)[0]
    else:
        # Repeats that are not shared raters have no order across cases: their position within the case is
        # arbitrary, and only the one-way forms, which ignore it, are allowed.
        rater_code = table.groupby(case, sort=False).cumcount().to_numpy()
    values = table[features].to_numpy(dtype=float, na_value=np.nan)
    cube = np.empty((len(cases), k, len(features)))
    cube[case_code, rater_code] = values
    return cube


def _mean_squares(y: np.ndarray, keep: np.ndarray) -> dict:
    """Two-way ANOVA without replication for every feature of ``y`` (cases, raters, features), each on the
    cases that ``keep`` (cases, features) marks; ``n`` is the number of those cases per feature."""
    k = y.shape[1]
    n = keep.sum(axis=0)
    y = np.where(keep[:, None, :], y, 0.0)
    case_mean = y.mean(axis=1)
    rater_mean = y.sum(axis=0) / n
    grand = case_mean.sum(axis=0) / n
    resid = (y - case_mean[:, None, :] - (rater_mean - grand)[None, :, :]) * keep[:, None, :]
    ss_rows = k * (keep * (case_mean - grand) ** 2).sum(axis=0)
    ss_cols = n * ((rater_mean - grand) ** 2).sum(axis=0)
    ss_err = (resid**2).sum(axis=(0, 1))
    return {
        "n": n,
        "msr": ss_rows / (n - 1),
        "msc": ss_cols / (k - 1),
        "mse": ss_err / ((n - 1) * (k - 1)),
        # Within-case mean square of the one-way model: rater and error sums of squares pooled.
        "msw": (ss_cols + ss_err) / (n * (k - 1)),
    }


def _f_ratio_form(msr, denom, df1, df2, k: int, average: bool, alpha: float) -> dict:
    """ICC(1,.) and ICC(3,.): the between-case mean square against ``denom`` (within-case, or residual), with
    the exact F-distribution interval (Shrout & Fleiss 1979)."""
    f_obs = msr / denom
    f_low = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
    f_up = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
    if average:
        value, low, up = (msr - denom) / msr, 1 - 1 / f_low, 1 - 1 / f_up
    else:
        value = (msr - denom) / (msr + (k - 1) * denom)
        low, up = (f_low - 1) / (f_low + k - 1), (f_up - 1) / (f_up + k - 1)
    return {"icc": value, "ci_low": low, "ci_high": up, "F": f_obs, "df1": df1, "df2": df2,
            "p_value": stats.f.sf(f_obs, df1, df2)}


def _one_way(ms: dict, n: np.ndarray, k: int, average: bool, alpha: float) -> dict:
    return _f_ratio_form(ms["msr"], ms["msw"], n - 1, n * (k - 1), k, average, alpha)


def _consistency(ms: dict, n: np.ndarray, k: int, average: bool, alpha: float) -> dict:
    return _f_ratio_form(ms["msr"], ms["mse"], n - 1, (n - 1) * (k - 1), k, average, alpha)


def _agreement(ms: dict, n: np.ndarray, k: int, average: bool, alpha: float) -> dict:
    msr, msc, mse = ms["msr"], ms["msc"], ms["mse"]
    df1, df2 = n - 1, (n - 1) * (k - 1)
    single = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    # McGraw & Wong (1996) interval with Satterthwaite's approximate denominator degrees of freedom v.
    fj = msc / mse
    a = n * (1 + (k - 1) * single) - k * single
    v = df2 * (k * single * fj + a) ** 2 / (df1 * k**2 * single**2 * fj**2 + a**2)
    f_up = stats.f.ppf(1 - alpha / 2, df1, v)
    f_low = stats.f.ppf(1 - alpha / 2, v, df1)
    denom = k * msc + (k * n - k - n) * mse
    low = n * (msr - f_up * mse) / (f_up * denom + n * msr)
    up = n * (f_low * msr - mse) / (denom + n * f_low * msr)
    if average:
        value = (msr - mse) / (msr + (msc - mse) / n)
        low, up = low * k / (1 + low * (k - 1)), up * k / (1 + up * (k - 1))
    else:
        value = single
    f_obs = msr / mse
    return {"icc": value, "ci_low": low, "ci_high": up, "F": f_obs, "df1": df1, "df2": df2,
            "p_value": stats.f.sf(f_obs, df1, df2)}


_FORMULAS = {"1": _one_way, "2": _agreement, "3": _consistency}


def _icc_all_features(cube: np.ndarray, name: str, alpha: float) -> pd.DataFrame:
    """Each feature on its complete cases (pingouin's ``nan_policy='omit'``); the case count, and so the
    degrees of freedom, may differ between features, which every formula takes elementwise."""
    keep = ~np.isnan(cube).any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ms = _mean_squares(cube, keep)
        out = _FORMULAS[name[4]](ms, ms["n"], cube.shape[1], name.endswith("k)"), alpha)
    return pd.DataFrame(out).assign(n_cases=ms["n"])[_COLUMNS].astype(float)


def _blank_degenerate(res: pd.DataFrame, cube: np.ndarray, features: list) -> None:
    """NaN for features that are constant on their complete cases, or have fewer than 2 of them; warn."""
    complete = ~np.isnan(cube).any(axis=1)
    y = np.where(complete[:, None, :], cube, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        constant = np.nanmax(y, axis=(0, 1)) == np.nanmin(y, axis=(0, 1))
    few = res["n_cases"].to_numpy() < 2
    constant &= ~few
    res.loc[constant, ["icc", "ci_low", "ci_high", "F", "p_value"]] = np.nan
    res.loc[few, _COLUMNS[:-1]] = np.nan
    names = np.asarray(features, dtype=object)
    if constant.any():
        warnings.warn(f"icc: {int(constant.sum())} constant feature(s) have no ICC (NaN): "
                      f"{list(names[constant][:_SHOW])}", ReliabilityWarning, stacklevel=3)
    if few.any():
        warnings.warn(f"icc: {int(few.sum())} feature(s) have fewer than 2 complete cases and no ICC (NaN): "
                      f"{list(names[few][:_SHOW])}", ReliabilityWarning, stacklevel=3)


def icc(table: pd.DataFrame, *, case: str, rater: str | None = None, features=None, form: str = "auto",
        confidence: float = 0.95) -> pd.DataFrame:
    """Intraclass correlation of every feature over repeated measurements of the same cases.

    Parameters
    ----------
    table : pandas.DataFrame
        Long table: one row per case and repeat (perturbation, rater, scanner, session).
    case : str
        Column holding the case id.
    rater : str or None
        Column naming who or what produced each repeat. Pass it only when the same raters (observers,
        scanners, segmentation methods) measured every case: each case must then have exactly one row per
        rater. With ``None`` (or labels that are unique to each case) the repeats are taken as drawn
        independently per case and only the one-way forms ICC(1,1) and ICC(1,k) are available.
    features : list of str or None
        Feature columns. ``None``: every numeric column other than ``case`` and ``rater``; the columns this
        leaves out are named in a :class:`ReliabilityWarning`.
    form : str
        One of :data:`ICC_FORMS` (``"ICC1"``, ``"ICC2"``, ``"ICC3"``, ``"ICC1k"``, ... and McGraw & Wong's
        ``"ICC(A,1)"``, ``"ICC(C,1)"``, ... are accepted), or ``"auto"``: ICC(2,1) with shared raters,
        ICC(1,1) without.
    confidence : float
        Level of the confidence intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature, columns ``icc``, ``ci_low``, ``ci_high``, ``F``, ``df1``, ``df2``, ``p_value``
        (F test of ICC = 0) and ``n_cases`` (complete cases used). ``attrs`` holds ``form``, ``design`` (the
        model and why it was chosen), ``n_repeats`` and ``confidence``.

    Raises
    ------
    ValueError
        When the design is unbalanced (cases with different numbers of repeats, or raters missing from some
        cases; the message names the cases), or when a two-way form is asked for without shared raters.

    Notes
    -----
    A feature with a missing value in a case is computed without that case (listwise deletion per feature,
    as ``pingouin.intraclass_corr(..., nan_policy="omit")``); ``n_cases`` shows how many remain, and a
    :class:`ReliabilityWarning` says how many features lost cases. Constant features get NaN, with a warning.

    Examples
    --------
    >>> import pandas as pd
    >>> from radiomix.reliability import icc
    >>> t = pd.DataFrame({"patient": [1, 1, 2, 2, 3, 3], "scanner": ["A", "B"] * 3,
    ...                   "volume": [10.0, 11.0, 20.0, 19.0, 30.0, 32.0]})
    >>> res = icc(t, case="patient", rater="scanner")
    >>> res.attrs["form"], round(float(res.loc["volume", "icc"]), 4)
    ('ICC(2,1)', 0.9906)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    features = _feature_columns(table, case, rater, features)
    _check_ids(table, case)
    k = _repeats_per_case(table, case)
    shared = False
    if rater is not None:
        _check_ids(table, rater)
        shared = _raters_shared(table, case, rater)
    name, why = _resolve_form(form, rater, shared)
    cube = _cube(table, case, rater, shared, features, k)
    res = _icc_all_features(cube, name, 1 - confidence)
    res.index = pd.Index(features, name="feature")
    _blank_degenerate(res, cube, features)
    _warn_dropped_cases(res, len(cube))
    res["n_cases"] = res["n_cases"].astype(int)
    res.attrs.update(form=name, design=_design_text(name, k, why), n_repeats=k, confidence=confidence)
    return res


def _warn_dropped_cases(res: pd.DataFrame, n: int) -> None:
    lost = res["n_cases"].to_numpy() < n
    if lost.any():
        worst = int(n - res["n_cases"].min())
        warnings.warn(f"icc: {int(lost.sum())} feature(s) have missing values; each is computed on its complete "
                      f"cases only (up to {worst} of {n} cases dropped, see column n_cases): "
                      f"{list(res.index[lost][:_SHOW])}", ReliabilityWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------------
# Lin's concordance correlation coefficient
# --------------------------------------------------------------------------------------------------


def _paired_frames(x: pd.DataFrame, y: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    for name, df in (("x", x), ("y", y)):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{name} must be a DataFrame (rows = cases, columns = features), got {type(df).__name__}")
        if df.index.has_duplicates:
            raise ValueError(f"{name} has duplicate case ids in its index, e.g. {df.index[df.index.duplicated()][0]!r}")
    if set(x.columns) != set(y.columns):
        raise ValueError(f"x and y need the same feature columns; only in x: {sorted(map(str, set(x.columns) - set(y.columns)))[:_SHOW]}, "
                         f"only in y: {sorted(map(str, set(y.columns) - set(x.columns)))[:_SHOW]}")
    if set(x.index) != set(y.index):
        only = sorted(map(str, set(x.index) ^ set(y.index)))
        raise ValueError(f"x and y need the same cases (index); {len(only)} case(s) are in only one: {only[:_SHOW]}")
    y = y.loc[x.index, x.columns]
    for col in x.columns:
        if not (_is_number(x[col]) and _is_number(y[col])):
            raise ValueError(f"feature column {col!r} is not numeric in x or y")
    xv, yv = x.to_numpy(dtype=float, na_value=np.nan), y.to_numpy(dtype=float, na_value=np.nan)
    pair_missing = np.isnan(xv) | np.isnan(yv)
    return np.where(pair_missing, np.nan, xv), np.where(pair_missing, np.nan, yv)


def ccc(x: pd.DataFrame, y: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Lin's concordance correlation coefficient between two measurements of every feature.

    .. math::

        \\rho_c = \\frac{2 s_{xy}}{s_x^2 + s_y^2 + (\\bar x - \\bar y)^2}

    with the moments divided by n (Lin 1989). The confidence interval is Lin's z-transform interval:
    :math:`z = \\operatorname{atanh} \\rho_c` with (Lin 1989, corrected in Lin 2000)

    .. math::

        \\operatorname{var} z = \\frac{1}{n-2}\\left[\\frac{(1-r^2)\\rho_c^2}{(1-\\rho_c^2) r^2}
        + \\frac{2\\rho_c^3(1-\\rho_c)u^2}{r(1-\\rho_c^2)^2} - \\frac{\\rho_c^4 u^4}{2r^2(1-\\rho_c^2)^2}\\right],

    where r is Pearson's correlation and :math:`u = (\\bar x - \\bar y)/\\sqrt{s_x s_y}`; the bounds are
    :math:`\\tanh(z \\mp z_{1-\\alpha/2} \\sqrt{\\operatorname{var} z})`, as in R's ``epiR::epi.ccc`` and
    ``DescTools::CCC``.

    Parameters
    ----------
    x, y : pandas.DataFrame
        The two measurements: rows are cases (matched on the index), columns are features (matched by name).
    confidence : float
        Level of the confidence intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature, columns ``ccc``, ``ci_low``, ``ci_high``, ``pearson_r``, ``bias_correction``
        (Lin's C_b = ccc / r) and ``n_cases``. A case missing in x or y is left out of that feature
        (pairwise), with a :class:`ReliabilityWarning`; constant features get NaN, with a warning.

    Examples
    --------
    >>> import pandas as pd
    >>> from radiomix.reliability import ccc
    >>> x = pd.DataFrame({"volume": [1.0, 2.0, 3.0]})
    >>> y = pd.DataFrame({"volume": [2.0, 3.0, 4.0]})  # shifted by 1: 2 * (2/3) / (2 * (2/3) + 1) = 4/7
    >>> round(float(ccc(x, y).loc["volume", "ccc"]), 6)
    0.571429
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    xv, yv = _paired_frames(x, y)
    n = (~np.isnan(xv)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mx, my = np.nanmean(xv, axis=0), np.nanmean(yv, axis=0)
        sxx, syy = np.nanmean((xv - mx) ** 2, axis=0), np.nanmean((yv - my) ** 2, axis=0)
        sxy = np.nanmean((xv - mx) * (yv - my), axis=0)
        rho = 2 * sxy / (sxx + syy + (mx - my) ** 2)
        r = sxy / np.sqrt(sxx * syy)
        u = (mx - my) / (sxx * syy) ** 0.25
        var_z = ((1 - r**2) * rho**2 / ((1 - rho**2) * r**2)
                 + 2 * rho**3 * (1 - rho) * u**2 / (r * (1 - rho**2) ** 2)
                 - rho**4 * u**4 / (2 * r**2 * (1 - rho**2) ** 2)) / (n - 2)
        half = stats.norm.ppf(1 - (1 - confidence) / 2) * np.sqrt(var_z)
        z = np.arctanh(rho)
    res = pd.DataFrame({"ccc": rho, "ci_low": np.tanh(z - half), "ci_high": np.tanh(z + half), "pearson_r": r,
                        "bias_correction": rho / r, "n_cases": n}, index=pd.Index(x.columns, name="feature"))
    _warn_ccc(res, (sxx == 0) | (syy == 0), len(xv))
    return res


def _warn_ccc(res: pd.DataFrame, constant: np.ndarray, n: int) -> None:
    constant = constant | (res["n_cases"].to_numpy() < 3)
    res.loc[constant, ["ccc", "ci_low", "ci_high", "pearson_r", "bias_correction"]] = np.nan
    if constant.any():
        warnings.warn(f"ccc: {int(constant.sum())} feature(s) are constant in x or y or have fewer than 3 "
                      f"complete pairs; their CCC is NaN: {list(res.index[constant][:_SHOW])}",
                      ReliabilityWarning, stacklevel=3)
    lost = res["n_cases"].to_numpy() < n
    if lost.any():
        warnings.warn(f"ccc: {int(lost.sum())} feature(s) have cases missing in x or y; each uses its complete "
                      f"pairs only (see column n_cases): {list(res.index[lost][:_SHOW])}",
                      ReliabilityWarning, stacklevel=3)
