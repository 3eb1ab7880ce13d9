"""Tests for radiomix.select: mRMR against mrmr-selection (test oracle only), pre-filters, stability."""

import functools
import warnings
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.feature_selection import f_regression, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from radiomix.select import CorrelationFilter, MRMRSelector, NearZeroVarianceFilter, selection_frequency

PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


@pytest.fixture(scope="session")
def oracle():
    """mrmr-selection (GPL-3): reference output only; its import silences all warnings, so scope it."""
    with warnings.catch_warnings():
        mrmr = pytest.importorskip("mrmr")
    return mrmr


def _run_oracle(oracle, X, y, K, task, **kwargs):
    func = oracle.mrmr_classif if task == "classification" else oracle.mrmr_regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(X, y, K=K, n_jobs=1, show_progress=False, return_scores=True, **kwargs)


def _oracle_denominators(selected, redundancy, denominator):
    # mrmr-selection does not return its scores; rebuild each pick's denominator from its redundancy table.
    func = np.mean if denominator == "mean" else np.max
    out = [1.0]
    for i in range(1, len(selected)):
        row = redundancy.loc[[selected[i]], selected[:i]].apply(func, axis=1).replace(1.0, np.inf)
        out.append(float(row.iloc[0]))
    return np.asarray(out)


def _assert_same_as_oracle(oracle, X, y, K, task, **kwargs):
    selected, relevance, redundancy = _run_oracle(oracle, X, y, K, task, **kwargs)
    ours = MRMRSelector(K, task=task, **kwargs).fit(X, y)
    assert ours.selected_features_ == selected
    # Same relevance, bit for bit, for the features mrmr-selection keeps (relevance > 0).
    kept = ours.relevance_ > 0
    assert list(X.columns[kept]) == list(relevance.index)
    np.testing.assert_array_equal(ours.relevance_[kept], relevance.to_numpy())
    if PANDAS_3 and not kwargs.get("only_same_domain"):
        np.testing.assert_array_equal(
            ours.redundancy_, _oracle_denominators(selected, redundancy, kwargs.get("denominator", "mean"))
        )
    return ours


def _radiomics_like(n, p, seed, task="classification", nan=False):
    """Blocks of correlated features on wildly different scales, with duplicates, constants and NaN."""
    rng = np.random.default_rng(seed)
    n_factors = max(p // 25, 4)
    factors = rng.normal(size=(n, n_factors))
    loadings = rng.normal(size=(n_factors, p)) * (rng.random((n_factors, p)) < 0.15)
    X = factors @ loadings + rng.normal(size=(n, p)) * rng.uniform(0.2, 2.0, p)
    X = X * rng.lognormal(0, 2, p) + rng.normal(0, 5, p) * rng.lognormal(0, 2, p)
    signal = factors[:, 0] - factors[:, 1] + 0.7 * rng.normal(size=n)
    y = (signal > 0).astype(int) if task == "classification" else 12.5 * signal + 40.0
    columns = [f"{['original', 'log', 'wavelet-LLH', 'wavelet-HHH', 'square'][j % 5]}_f{j}" for j in range(p)]
    df = pd.DataFrame(X, columns=columns)
    # Exact copies, power-of-two rescalings and sign flips are perfectly redundant pairs whose correlation
    # mrmr-selection computes as 1 or 1 - 1 ulp: the copies must tie-break and score exactly as there.
    top = np.argsort(-np.abs(np.corrcoef(X.T, signal)[-1, :-1]))[:8]
    for k, src in enumerate(top):
        dst = (src + 17 * (k + 1)) % p
        df.iloc[:, dst] = df.iloc[:, src].to_numpy() * (1.0, 2.0, -1.0, 0.25)[k % 4]
    df.iloc[:, 5] = 7.0  # constant: relevance NaN there, 0 here
    df.iloc[:, 6] = 0.0
    if nan:
        missing = rng.random((n, p)) < 0.03
        missing[:, : p // 2] = False
        missing[rng.random(n) < 0.05, p // 2 : p // 2 + 40] = True  # a block missing for some patients
        df = df.mask(missing)
        df.iloc[:, 7] = np.nan
    return df, pd.Series(y, name="y")


# --------------------------------------------------------------------------------------------------
# Same selections as mrmr-selection
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"relevance": "ks"}, {"relevance": "rf"}, {"denominator": "max"}, {"only_same_domain": True}],
    ids=["f-mean", "ks", "rf", "max", "same-domain"],
)
def test_breast_cancer_same_as_mrmr_selection(oracle, kwargs):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    _assert_same_as_oracle(oracle, X, y, 30, "classification", **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{}, {"relevance": "rf"}, {"denominator": "max"}], ids=["f-mean", "rf", "max"]
)
def test_diabetes_same_as_mrmr_selection(oracle, kwargs):
    # diabetes is C-ordered (strided columns), which changes sklearn's f_regression arithmetic.
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    ours = _assert_same_as_oracle(oracle, X, y, 10, "regression", **kwargs)
    assert MRMRSelector(10, **kwargs).fit(X, y).task_ == "regression"  # float y -> regression
    assert ours.selected_indices_.size == 10


def test_generated_2000_features_classification_same_as_mrmr_selection(oracle):
    X, y = _radiomics_like(150, 2000, seed=5, nan=True)
    ours = _assert_same_as_oracle(oracle, X, y, 15, "classification")
    assert not ours.support_[[5, 6, 7]].any()


def test_generated_2000_features_regression_same_as_mrmr_selection(oracle):
    X, y = _radiomics_like(150, 2000, seed=6, task="regression")
    _assert_same_as_oracle(oracle, X, y, 10, "regression")


def test_generated_same_domain_and_max_same_as_mrmr_selection(oracle):
    X, y = _radiomics_like(120, 300, seed=7, nan=True)
    _assert_same_as_oracle(oracle, X, y, 25, "classification", only_same_domain=True)
    _assert_same_as_oracle(oracle, X, y, 25, "classification", denominator="max")
    _assert_same_as_oracle(oracle, X, y, 25, "classification", relevance="ks")


def test_real_radiomics_table_same_as_mrmr_selection(oracle, shared_data):
    table = pd.read_csv(shared_data / "tables" / "keek2020_hnscc_multicenter" / "Keek2020.csv")
    y = table.pop("Target")
    X = table.drop(columns=["ID"])
    _assert_same_as_oracle(oracle, X, y, 10, "classification")


def test_duplicate_columns_tie_to_the_first(oracle):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8].copy()
    X.insert(0, "copy of worst", X["mean concave points"])
    X["copy of worst 2"] = X["mean concave points"]
    selected, _, _ = _run_oracle(oracle, X, y, 10, "classification")
    ours = MRMRSelector(10).fit(X, y)
    assert ours.selected_features_ == selected
    assert ours.selected_features_[0] == "copy of worst"


@pytest.mark.parametrize("denominator", ["mean", "max"])
@pytest.mark.parametrize(
    "base",
    [
        ["worst concave points", "mean texture", "worst perimeter"],
        ["mean radius", "mean texture", "mean smoothness"],
    ],
    ids=["self-corr-1", "self-corr-1-ulp"],
)
def test_perfectly_redundant_copies(oracle, base, denominator):
    # pandas gives "mean radius" a correlation of 1 - 2**-52 with itself but "worst perimeter" exactly 1;
    # mrmr-selection scores a denominator of exactly 1 as 0, so copies of the first are picked early and
    # copies of the second last. Copies and x2 rescalings must reproduce this bit for bit.
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    Z = X[base].copy()
    for c in base:
        Z[c + " copy"] = X[c]
        Z[c + " x2"] = 2 * X[c]
    _assert_same_as_oracle(oracle, Z, y, 9, "classification", denominator=denominator)


def test_same_domain_ties_when_no_candidate_shares_the_domain(oracle):
    # Names without "_" are each their own domain, so every step after the first reuses the previous
    # denominators; mrmr-selection then breaks ties by name (sorted pandas index), not by column.
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    top = X["worst perimeter"]
    Z = pd.concat([top.rename("c"), top.rename("b"), top.rename("a"), X.iloc[:, :5]], axis=1)
    selected, _, _ = _run_oracle(oracle, Z, y, 6, "classification", only_same_domain=True)
    ours = MRMRSelector(6, only_same_domain=True).fit(Z, y)
    assert ours.selected_features_ == selected
    assert ours.selected_features_[:3] == ["c", "a", "b"]


def test_constant_column_is_never_selected(oracle):
    # sklearn's F for a constant 0.3 column of 569 rows is inf (rounding), so mrmr-selection picks it first;
    # radiomix gives constants relevance 0 and otherwise selects what mrmr-selection selects without it.
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with_constant = X.assign(flat=0.3)
    ours = MRMRSelector(10).fit(with_constant, y)
    assert "flat" not in ours.selected_features_
    assert ours.relevance_[-1] == 0.0
    selected, _, _ = _run_oracle(oracle, X, y, 10, "classification")
    assert ours.selected_features_ == selected


# --------------------------------------------------------------------------------------------------
# Behaviour of the selector itself
# --------------------------------------------------------------------------------------------------


def test_attributes_and_more_features_requested_than_available():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    sel = MRMRSelector(n_features=50).fit(X, y)
    assert sel.selected_indices_.size == 10 and sel.support_.all()
    assert sorted(sel.ranking_) == list(range(1, 11))
    assert sel.selected_features_[0] == X.columns[np.argmax(sel.relevance_)]


def test_mrmr_scores_follow_the_documented_rule_recomputed_with_pandas_and_sklearn():
    # Relevance: sklearn's F statistic; redundancy: mean |Pearson r| with the picks so far (floor 0.001);
    # each step picks the greatest relevance / redundancy. Recomputed here without radiomix.
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    sel = MRMRSelector(n_features=6).fit(X, y)
    f = pd.Series(f_regression(X, y)[0], index=X.columns)
    np.testing.assert_allclose(sel.relevance_, f.to_numpy(), rtol=1e-10)
    corr = X.corr().abs().clip(lower=0.001)
    chosen = list(sel.selected_features_)
    assert len(chosen) == 6
    for i, name in enumerate(chosen):
        rest = [c for c in X.columns if c not in chosen[:i]]
        denom = corr.loc[rest, chosen[:i]].mean(axis=1) if i else pd.Series(1.0, index=rest)
        score = f[rest] / denom
        assert score.idxmax() == name, (i, score.idxmax(), name)  # greedy pick
        np.testing.assert_allclose(sel.scores_[i], score[name], rtol=1e-10)
        np.testing.assert_allclose(sel.redundancy_[i], denom[name], rtol=1e-10)


def test_pandas_output_pipeline_and_feature_names():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    sel = MRMRSelector(5).set_output(transform="pandas").fit(X, y)
    out = sel.transform(X)
    assert isinstance(out, pd.DataFrame)
    # transform keeps the input column order; selected_features_ has the mRMR order.
    assert (
        list(out.columns)
        == list(sel.get_feature_names_out())
        == [c for c in X.columns if c in sel.selected_features_]
    )
    assert sorted(sel.selected_features_) == sorted(out.columns)
    # numpy input gets x0, x1, ... names, like scikit-learn's own selectors.
    sel_np = MRMRSelector(5).fit(X.to_numpy(), y.to_numpy())
    assert sel_np.selected_features_ == [f"x{list(X.columns).index(c)}" for c in sel.selected_features_]


def test_string_labels_and_explicit_task():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    labels = y.map({0: "malignant", 1: "benign"})
    assert MRMRSelector(8).fit(X, labels).selected_features_ == MRMRSelector(8).fit(X, y).selected_features_
    Xd, yd = load_diabetes(return_X_y=True)
    assert MRMRSelector(3).fit(Xd, yd.round().astype(int)).task_ == "classification"
    assert MRMRSelector(3, task="regression").fit(Xd, yd.round().astype(int)).task_ == "regression"


def test_missing_values_edge_cases():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6].copy()
    X["all missing"] = np.nan
    X["one class only"] = np.where(y == 1, X["mean radius"], np.nan)  # rows of class 0 all missing
    sel = MRMRSelector(10).fit(X, y)
    assert sel.relevance_[-2:].tolist() == [0.0, 0.0]
    assert "all missing" not in sel.selected_features_ and "one class only" not in sel.selected_features_
    assert sel.selected_indices_.size == 6


def test_callable_relevance():
    X, y = load_breast_cancer(return_X_y=True)
    mi = functools.partial(mutual_info_classif, random_state=0)
    a = MRMRSelector(5, relevance=mi).fit(X, y)
    b = MRMRSelector(5, relevance=mi).fit(X, y)
    assert a.selected_features_ == b.selected_features_
    np.testing.assert_allclose(a.relevance_, mi(X, y))


def test_errors_name_the_column():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    bad = X.assign(**{"mean radius": X["mean radius"].where(y == 0, np.inf)})
    with pytest.raises(ValueError, match="'mean radius'.*infinity"):
        MRMRSelector().fit(bad, y)
    with pytest.raises(ValueError, match="'site' is not numeric"):
        MRMRSelector().fit(X.assign(site="AVL"), y)
    Xd, yd = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="relevance='ks'"):
        MRMRSelector(relevance="ks").fit(Xd, yd)
    with pytest.raises(ValueError, match="n_features"):
        MRMRSelector(0).fit(Xd, yd)
    with pytest.raises(ValueError, match="single class"):
        MRMRSelector().fit(X, np.zeros(len(X), dtype=int))


# --------------------------------------------------------------------------------------------------
# Pre-filters
# --------------------------------------------------------------------------------------------------


def test_near_zero_variance_matches_caret_rule():
    n = 100
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "unique": np.arange(n, dtype=float),
            "rare": np.r_[np.zeros(99), 1.0],  # ratio 99, 2 % distinct -> near zero
            "constant": np.full(n, 3.0),
            "missing": np.full(n, np.nan),
            "balanced": np.r_[np.zeros(50), np.ones(50)],  # ratio 1
            "skewed": np.r_[np.zeros(90), np.ones(10)],  # ratio 9 < 19
            "tied_top": np.r_[np.zeros(40), np.ones(40), np.full(20, 2.0)],  # caret: 40 / 40
            "spike": np.r_[np.ones(96), [2.0, 3.0, 4.0, 5.0]],  # ratio 96, 5 % distinct -> near zero
            "half_missing": np.r_[np.full(50, np.nan), rng.normal(size=50)],  # 50 % distinct
        }
    )
    nzv = NearZeroVarianceFilter().fit(X)
    np.testing.assert_allclose(nzv.freq_ratio_, [1, 99, 0, 0, 1, 9, 1, 96, 1])
    np.testing.assert_allclose(nzv.percent_unique_, [100, 2, 1, 0, 2, 2, 3, 5, 50])
    assert list(nzv.get_feature_names_out()) == ["unique", "balanced", "skewed", "tied_top", "half_missing"]
    assert list(NearZeroVarianceFilter(freq_cut=5).fit(X).get_feature_names_out()) == [
        "unique",
        "balanced",
        "tied_top",
        "half_missing",
    ]


def _greedy_reference(X: pd.DataFrame, relevance, threshold):
    # Straightforward O(p^2) version of the documented rule, on pandas' pairwise-complete correlations.
    corr = X.corr().abs().fillna(0.0).to_numpy()
    kept, partner = [], np.full(X.shape[1], -1)
    for j in np.argsort(-relevance, kind="stable"):
        hits = [k for k in kept if corr[j, k] > threshold]
        if hits:
            partner[j] = hits[0]
        else:
            kept.append(j)
    return partner


@pytest.mark.parametrize("nan", [False, True])
def test_correlation_filter_matches_greedy_reference(nan):
    X, y = _radiomics_like(120, 150, seed=3, nan=nan)
    filt = CorrelationFilter(threshold=0.8).fit(X, y)
    np.testing.assert_array_equal(filt.correlated_with_, _greedy_reference(X, filt.relevance_, 0.8))
    kept = filt.get_feature_names_out()
    assert (X[kept].corr().abs().fillna(0.0).to_numpy()[np.triu_indices(len(kept), 1)] <= 0.8).all()
    dropped = np.flatnonzero(~filt.support_)
    assert (filt.relevance_[filt.correlated_with_[dropped]] >= filt.relevance_[dropped]).all()


def test_correlation_filter_keeps_the_more_relevant_feature():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    filt = CorrelationFilter(threshold=0.95).fit(X, y)
    names = list(filt.get_feature_names_out())
    assert "worst perimeter" in names and "worst radius" not in names and "mean radius" not in names
    unsupervised = CorrelationFilter(threshold=0.95, relevance=None).fit(X)
    assert "mean radius" in unsupervised.get_feature_names_out()


def test_correlation_filter_never_drops_constant_columns():
    # Centring 0.1, 0.3 or 1/3 leaves identical rounding residues, which must not count as r = 1.
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100), "c1": 0.1, "c2": 0.3, "c3": 1 / 3})
    assert CorrelationFilter(0.9, relevance=None).fit(X).support_.all()
    X.loc[3, "a"] = np.nan
    assert CorrelationFilter(0.9, relevance=None).fit(X).support_.all()


def test_filters_and_mrmr_in_a_cross_validated_pipeline():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    pipe = Pipeline(
        [
            ("nzv", NearZeroVarianceFilter()),
            ("corr", CorrelationFilter(threshold=0.95)),
            ("mrmr", MRMRSelector(5)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression()),
        ]
    ).set_output(transform="pandas")
    result = cross_validate(pipe, X, y, cv=StratifiedKFold(3), return_estimator=True)
    assert result["test_score"].mean() > 0.85
    freq = selection_frequency(result["estimator"], feature_names=X.columns)
    assert list(freq.columns) == ["n_selected", "frequency", "mean_rank"]
    assert len(freq) == X.shape[1] and freq["n_selected"].sum() == 15
    assert freq["frequency"].is_monotonic_decreasing
    assert freq["n_selected"].iloc[-1] == 0 and np.isnan(freq["mean_rank"].iloc[-1])


# --------------------------------------------------------------------------------------------------
# Stability across folds
# --------------------------------------------------------------------------------------------------


def test_selection_frequency_from_lists_and_selectors():
    freq = selection_frequency([["a", "b"], ["a", "c"], ["b", "a"]])
    assert list(freq.index) == ["a", "b", "c"]
    np.testing.assert_allclose(freq["frequency"], [1, 2 / 3, 1 / 3])
    np.testing.assert_allclose(freq["mean_rank"], [4 / 3, 1.5, 2.0])

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    folds = [MRMRSelector(4).fit(X.iloc[idx], y.iloc[idx]) for idx, _ in StratifiedKFold(4).split(X, y)]
    freq = selection_frequency(folds)
    assert freq["n_selected"].sum() == 16
    top = freq.index[0]
    assert all(top in f.selected_features_ for f in folds) == (freq.loc[top, "frequency"] == 1.0)
    unordered = selection_frequency([NearZeroVarianceFilter().fit(X)])
    assert unordered["mean_rank"].isna().all() and (unordered["n_selected"] == 1).all()
    with pytest.raises(ValueError, match="no folds"):
        selection_frequency([])


def test_selection_frequency_counted_directly_from_the_folds():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = np.random.default_rng(0).choice(len(X), 80, replace=False)  # small folds: the selections differ
    Xs, ys = X.iloc[rows], y.iloc[rows]
    folds = [
        MRMRSelector(4).fit(Xs.iloc[idx], ys.iloc[idx])
        for idx, _ in StratifiedKFold(5, shuffle=True, random_state=0).split(Xs, ys)
    ]
    freq = selection_frequency(folds, feature_names=X.columns)
    ranks = defaultdict(list)
    for f in folds:
        for r, c in enumerate(f.selected_features_, start=1):
            ranks[c].append(r)
    exp_freq = pd.Series({c: len(ranks.get(c, [])) / len(folds) for c in X.columns})
    exp_rank = pd.Series({c: np.mean(ranks[c]) if c in ranks else np.nan for c in X.columns})
    assert exp_freq.between(0, 1, inclusive="neither").any()  # the data really give partial frequencies
    assert sorted(freq.index) == sorted(X.columns)
    np.testing.assert_allclose(freq["frequency"], exp_freq[freq.index])
    np.testing.assert_allclose(freq["n_selected"], exp_freq[freq.index] * len(folds))
    np.testing.assert_allclose(freq["mean_rank"], exp_rank[freq.index])
