"""radiomix.impute: rpart-equivalent surrogate trees (R oracle), the tree imputer and the mixed kNN imputer."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import KNNImputer as SkKNNImputer

from radiomix.impute import (
    MixedKNNImputer,
    SurrogateTreeClassifier,
    SurrogateTreeImputer,
    SurrogateTreeRegressor,
    _cart,
)

ORACLES = Path(__file__).resolve().parent / "oracles"
RPART = Path(__file__).resolve().parent / "fixtures" / "rpart"

# name -> (data set, target, dropped column, method, estimator parameters = the R script's rpart.control)
CASES = {
    "diabetes_anova_d4": ("diabetes", "y", None, "anova", dict(max_depth=4, cp=0.0)),
    "diabetes_anova_cp": ("diabetes", "y", None, "anova", dict(cp=0.01)),
    "breast_gini_d4": ("breast", "y", None, "class", dict(max_depth=4, cp=0.0)),
    "breast_gini_sur1": ("breast", "y", None, "class",
                         dict(cp=0.01, max_surrogates=3, use_surrogates=1, min_samples_split=30, min_samples_leaf=5)),
    "mixed_anova_d4": ("mixed", "y", "y3", "anova", dict(max_depth=4, cp=0.0)),
    "mixed_class3_sur0": ("mixed", "y3", "y", "class",
                          dict(max_depth=5, cp=0.0, use_surrogates=0, min_samples_split=12, min_samples_leaf=4)),
}
R_OUTPUTS = [f"{case}_{part}.csv" for case in CASES for part in ("frame", "splits", "pred")] + [
    "mixed_anova_d4_csplit.csv", "mixed_class3_sur0_csplit.csv"]


def _read_set(data, target, drop, directory=RPART):
    """The oracle's input tables, typed as R reads them (text columns -> factors with sorted levels)."""
    train = pd.read_csv(directory / f"{data}_train.csv")
    test = pd.read_csv(directory / f"{data}_test.csv")
    if drop:
        train = train.drop(columns=drop)
    y = train.pop(target)
    for c in train.columns:
        if not pd.api.types.is_numeric_dtype(train[c]):
            levels = sorted(train[c].dropna().unique())
            train[c] = pd.Categorical(train[c], categories=levels)
            test[c] = pd.Categorical(test[c], categories=levels)
    return train, y, test[train.columns]


def _fit_case(case):
    data, target, drop, method, params = CASES[case]
    X, y, X_test = _read_set(data, target, drop)
    est = (SurrogateTreeClassifier if method == "class" else SurrogateTreeRegressor)(**params).fit(X, y)
    return est, X, y, X_test


@pytest.fixture(scope="module", params=list(CASES))
def oracle_case(request):
    case = request.param
    est, X, y, X_test = _fit_case(case)
    frame = pd.read_csv(RPART / f"{case}_frame.csv")
    splits = pd.read_csv(RPART / f"{case}_splits.csv")
    pred = pd.read_csv(RPART / f"{case}_pred.csv")
    csplit_path = RPART / f"{case}_csplit.csv"
    csplit = pd.read_csv(csplit_path).to_numpy() if csplit_path.exists() else None
    return case, est, X, X_test, frame, splits, pred, csplit


# ------------------------------------------------------------------------------------------------
# the tree against R's rpart
# ------------------------------------------------------------------------------------------------


def test_tree_frame_matches_rpart(oracle_case):
    case, est, X, _, frame, _, _, _ = oracle_case
    mine = est.rpart_frame()
    assert mine["node"].tolist() == frame["node"].tolist(), "different tree shape"
    assert mine["var"].tolist() == frame["var"].tolist()
    assert mine["n"].tolist() == frame["n"].tolist()
    np.testing.assert_allclose(mine["dev"], frame["dev"], rtol=1e-10)
    np.testing.assert_allclose(mine["complexity"], frame["complexity"], rtol=1e-8, atol=1e-13)
    assert mine["nsurrogate"].tolist() == frame["nsurrogate"].tolist()
    if isinstance(est, SurrogateTreeRegressor):
        np.testing.assert_allclose(mine["yval"], frame["yval"], rtol=1e-12)
    else:
        assert [list(est.classes_).index(v) + 1 for v in mine["yval"]] == frame["yval"].astype(int).tolist()


def test_primary_and_surrogate_splits_match_rpart(oracle_case):
    """Same variable and cut point at every node; same surrogates, in order, with the same agreement
    (``improve``), adjusted agreement and counts of rows they placed."""
    case, est, X, _, _, splits, _, csplit = oracle_case
    mine = est.rpart_splits()
    want = splits[splits["kind"] != "competitor"].reset_index(drop=True)
    assert len(mine) == len(want)
    assert mine["node"].tolist() == want["node"].tolist()
    assert mine["kind"].tolist() == want["kind"].tolist()
    assert mine["var"].tolist() == want["var"].tolist()
    assert mine["count"].tolist() == want["count"].tolist()
    assert mine["ncat"].tolist() == want["ncat"].tolist()
    np.testing.assert_allclose(mine["improve"], want["improve"], rtol=1e-9)
    np.testing.assert_allclose(mine["adj"], want["adj"], rtol=1e-9, atol=1e-12)
    cont = want["ncat"].abs() == 1
    # Cut points are midpoints of the same two data values: equal to the last bit.
    assert mine.loc[cont, "index"].tolist() == want.loc[cont, "index"].tolist()
    side = {1: -1, 3: 1, 2: 0}  # R's csplit: 1 left, 3 right, 2 level absent from the node
    for i in np.flatnonzero(~cont.to_numpy()):
        r = want.iloc[i]
        expected = [side[int(v)] for v in csplit[int(r["index"]) - 1, : int(r["ncat"])]]
        assert mine.iloc[i]["levels"].tolist() == expected, (r["node"], r["var"])
    assert (mine["kind"] == "surrogate").sum() > 0


def test_node_and_prediction_of_every_row_match_rpart(oracle_case):
    """Training rows land where rpart put them (``fit$where``); rows of a second table with 50% missing
    values reach the same node and get the same prediction as ``predict.rpart``."""
    case, est, X, X_test, _, _, pred, _ = oracle_case
    tree = est.tree_
    r_train = pred[pred["table"] == "train"]
    r_test = pred[pred["table"] == "test"]
    np.testing.assert_array_equal(tree.node_id[tree.train_where], r_train["node"])
    np.testing.assert_array_equal(est.apply(X_test), r_test["node"])
    for table, rows in (("train", X), ("test", X_test)):
        want = pred[pred["table"] == table]
        if isinstance(est, SurrogateTreeRegressor):
            np.testing.assert_allclose(est.predict(rows), want["pred"].astype(float), rtol=1e-12)
        else:
            assert est.predict(rows).tolist() == want["pred"].tolist()
            probs = want[[f"prob_{c}" for c in est.classes_]].to_numpy(float)
            np.testing.assert_allclose(est.predict_proba(rows), probs, rtol=1e-10, atol=1e-15)


def test_oracle_exercises_missing_value_routing():
    """The fixtures are only a test of surrogates if rows actually need them."""
    est, X, _, X_test = _fit_case("diabetes_anova_d4")
    t = est.tree_
    root_var = t.feature[0]
    assert np.isnan(X.iloc[:, root_var]).sum() > 50
    used = sum(s["count"] for ss in t.surrogates for s in ss)
    assert used > 100
    # Some test rows miss the primary and every surrogate at some node: the majority rule is exercised.
    Xt = X_test.to_numpy(float).T
    stuck = 0
    for i in range(t.node_count):
        if t.feature[i] < 0:
            continue
        vars_ = [t.feature[i]] + [s["feature"] for s in t.surrogates[i]]
        stuck += int(np.isnan(Xt[vars_]).all(axis=0).sum())
    assert stuck > 0


@pytest.mark.r_oracle
def test_r_oracle_reproduces_the_stored_fixtures(rscript, tmp_path):
    """Re-run the oracle: the input tables regenerate byte-identically and R gives the stored outputs."""
    subprocess.run([sys.executable, str(ORACLES / "make_rpart_inputs.py"), str(tmp_path)], check=True)
    for name in ("diabetes", "breast", "mixed"):
        for part in ("train", "test"):
            assert filecmp.cmp(tmp_path / f"{name}_{part}.csv", RPART / f"{name}_{part}.csv", shallow=False)
    out = tmp_path / "out"
    subprocess.run([rscript, str(ORACLES / "rpart_surrogates.R"), str(RPART), str(out)], check=True,
                   capture_output=True)
    for f in R_OUTPUTS:
        a = pd.read_csv(out / f)
        b = pd.read_csv(RPART / f)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-14)


def test_pure_python_kernels_grow_the_same_tree(monkeypatch):
    """Without numba the same loops run as Python: same tree (checked on a small case)."""
    if not _cart.HAVE_NUMBA:
        pytest.skip("numba absent: the kernels already run as Python everywhere")
    _, X, y, X_test = _fit_case("mixed_anova_d4")
    fast = SurrogateTreeRegressor(max_depth=3, cp=0.0).fit(X, y)
    # Every compiled kernel, the tree grower included (its Python body then calls the other kernels' Python
    # versions through the module's globals).
    kernels = [name for name in dir(_cart) if hasattr(getattr(_cart, name), "py_func")]
    assert "_grow_nodes" in kernels and "_best_splits" in kernels
    for name in kernels:
        monkeypatch.setattr(_cart, name, getattr(_cart, name).py_func)
    slow = SurrogateTreeRegressor(max_depth=3, cp=0.0).fit(X, y)
    pd.testing.assert_frame_equal(slow.rpart_splits().drop(columns="levels"),
                                  fast.rpart_splits().drop(columns="levels"))
    np.testing.assert_array_equal(slow.predict(X_test), fast.predict(X_test))


# ------------------------------------------------------------------------------------------------
# tree estimators: behaviour
# ------------------------------------------------------------------------------------------------


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    x1 = x0 + rng.normal(scale=0.3, size=n)  # a good surrogate for x0
    x2 = rng.normal(size=n)
    y = np.where(x0 > 0, 10.0, 0.0) + rng.normal(scale=0.1, size=n)
    return np.column_stack([x0, x1, x2]), y


def test_surrogate_routes_rows_missing_the_primary():
    X, y = _toy()
    reg = SurrogateTreeRegressor(max_depth=1).fit(X, y)
    assert reg.tree_.feature[0] == 0
    assert reg.tree_.surrogates[0][0]["feature"] == 1
    Xm = X.copy()
    Xm[:, 0] = np.nan
    # x1 reproduces the x0 split for most rows: predictions stay close to the truth.
    acc = np.mean((reg.predict(Xm) > 5) == (X[:, 0] > 0))
    assert acc > 0.8
    # Without surrogates (usesurrogate=0) those rows stop at the root and get the overall mean.
    reg0 = SurrogateTreeRegressor(max_depth=1, use_surrogates=0).fit(X, y)
    np.testing.assert_allclose(reg0.predict(Xm), y.mean())


def test_majority_rule_for_rows_missing_every_surrogate():
    X, y = _toy()
    X = X[:, :1]
    y = np.where(X[:, 0] > 0.5, 10.0, 0.0)  # the right child (x0 >= 0.5) is the minority
    Xnew = np.full((1, 1), np.nan)
    two = SurrogateTreeRegressor(max_depth=1, use_surrogates=2).fit(X, y)
    one = SurrogateTreeRegressor(max_depth=1, use_surrogates=1).fit(X, y)
    t = two.tree_
    big = t.children_left[0] if t.n_node_samples[t.children_left[0]] > t.n_node_samples[t.children_right[0]] \
        else t.children_right[0]
    assert two.predict(Xnew)[0] == t.value[big] == 0.0
    assert one.predict(Xnew)[0] == pytest.approx(y.mean())


def test_cp_prunes_and_max_depth_limits():
    X, y = _toy(seed=3)
    y = y + X[:, 2]
    sizes = [SurrogateTreeRegressor(cp=cp).fit(X, y).get_n_leaves() for cp in (0.0, 0.001, 0.05, 0.5)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert SurrogateTreeRegressor(cp=0, max_depth=2).fit(X, y).get_depth() <= 2


def test_classifier_with_categorical_predictors_and_unseen_level_error():
    rng = np.random.default_rng(1)
    n = 240
    grade = pd.Categorical(rng.choice(["G1", "G2", "G3"], n), categories=["G1", "G2", "G3"])
    size = rng.normal(size=n)
    y = np.where((np.asarray(grade) == "G3") | (size > 1), "bad", "good")
    X = pd.DataFrame({"grade": grade, "size": size})
    X.loc[::10, "grade"] = np.nan
    clf = SurrogateTreeClassifier().fit(X, y)
    assert clf.categorical_.tolist() == [True, False]
    assert clf.score(X, y) > 0.9
    # Each row's probabilities are the class mix of the training rows in the leaf it reaches.
    leaf = clf.apply(X)
    mix = pd.crosstab(leaf, y, normalize="index")[list(clf.classes_)]
    np.testing.assert_allclose(clf.predict_proba(X), mix.loc[leaf].to_numpy(), rtol=1e-12)
    assert len(np.unique(leaf)) > 2
    bad = X.head(3).copy()
    bad["grade"] = pd.Categorical(["G1", "G4", "G2"])
    with pytest.raises(ValueError, match="'grade'.*G4"):
        clf.predict(bad)


def test_tree_param_validation():
    X, y = _toy(50)
    with pytest.raises(ValueError, match="use_surrogates"):
        SurrogateTreeRegressor(use_surrogates=3).fit(X, y)
    with pytest.raises(ValueError, match="cp"):
        SurrogateTreeRegressor(cp=-1).fit(X, y)


# ------------------------------------------------------------------------------------------------
# SurrogateTreeImputer
# ------------------------------------------------------------------------------------------------


def _mixed_frame(n=200, seed=0, rate=0.15):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    df = pd.DataFrame({
        "a": a,
        "b": 2 * a + rng.normal(scale=0.2, size=n),
        "c": rng.normal(size=n),
        "grade": pd.Categorical(np.where(a > 0.3, "high", np.where(a < -0.3, "low", "mid")),
                                categories=["low", "mid", "high"]),
        "site": pd.Categorical(rng.choice(["A", "B"], n)),
    }, index=[f"P{i:03d}" for i in range(n)])
    full = df.copy()
    for c in df.columns:
        df.loc[rng.random(n) < rate, c] = np.nan
    return df, full


def test_tree_imputer_mixed_frame_keeps_categories_and_index():
    df, full = _mixed_frame()
    imp = SurrogateTreeImputer(random_state=0).set_output(transform="pandas")
    out = imp.fit_transform(df)
    assert out.isna().sum().sum() == 0
    assert list(out.columns) == list(df.columns) and out.index.equals(df.index)
    for c in ("grade", "site"):
        assert isinstance(out[c].dtype, pd.CategoricalDtype)
        assert list(out[c].cat.categories) == list(df[c].cat.categories)
    observed = df.notna()
    for c in df.columns:  # observed cells are untouched
        assert (out.loc[observed[c], c].astype(object) == df.loc[observed[c], c].astype(object)).all()
    # The structure is learnt: b ~ 2a, grade from a.
    miss = df["b"].isna()
    err = np.sqrt(np.mean((out.loc[miss, "b"] - full.loc[miss, "b"]) ** 2))
    assert err < 0.5 * full["b"].std()
    miss = df["grade"].isna()
    assert (out.loc[miss, "grade"] == full.loc[miss, "grade"]).mean() > 0.7


def test_tree_imputer_transform_replays_fit():
    df, _ = _mixed_frame(seed=1)
    imp = SurrogateTreeImputer(max_iter=4).set_output(transform="pandas")
    a = imp.fit_transform(df)
    b = imp.transform(df)
    pd.testing.assert_frame_equal(a, b)
    assert {r for r, _, _ in imp.imputation_sequence_} == set(range(imp.n_iter_))
    # New rows, imputed only from what was fitted (rows are independent).
    new, _ = _mixed_frame(n=30, seed=7, rate=0.3)
    part = imp.transform(new.iloc[:10])
    whole = imp.transform(new)
    pd.testing.assert_frame_equal(part, whole.iloc[:10])


def test_rounds_follow_the_documented_stopping_rule():
    df, _ = _mixed_frame(seed=1)
    c = SurrogateTreeImputer(max_iter=4, tol=0).fit(df).changes_  # change after rounds 2, 3, 4
    assert SurrogateTreeImputer(max_iter=1).fit(df).n_iter_ == 1
    assert SurrogateTreeImputer(max_iter=4, tol=np.inf).fit(df).n_iter_ == 2  # stops after one re-grow
    assert c[1] < c[0]
    tol = (c[0] + c[1]) / 2
    stop = SurrogateTreeImputer(max_iter=4, tol=tol).set_output(transform="pandas")
    out = stop.fit_transform(df)
    assert stop.n_iter_ == 3  # first round whose change is <= tol
    more = SurrogateTreeImputer(max_iter=20, tol=tol).set_output(transform="pandas").fit_transform(df)
    pd.testing.assert_frame_equal(more, out)  # a bigger budget changes nothing


def test_tree_imputer_first_round_is_rpart_imputation():
    """max_iter=1: each column is the prediction of an rpart tree grown on the raw incomplete table."""
    df, _ = _mixed_frame(seed=2)
    num = df[["a", "b", "c"]]
    out = SurrogateTreeImputer(max_iter=1).fit_transform(num)
    for j, c in enumerate(num.columns):
        other = num.drop(columns=c)
        obs = num[c].notna()
        reg = SurrogateTreeRegressor(min_samples_split=20, min_samples_leaf=5, cp=1e-4).fit(other[obs], num.loc[obs, c])
        np.testing.assert_allclose(out[~obs.to_numpy(), j], reg.predict(other[~obs]))


def test_tree_imputer_indicator_numpy_output_and_determinism():
    df, _ = _mixed_frame(seed=3)
    imp = SurrogateTreeImputer(add_indicator=True, imputation_order="random", random_state=5)
    out = imp.fit_transform(df)
    assert out.dtype == object and out.shape == (len(df), 10)  # categorical values need an object array
    assert set(out[:, 3]) <= {"low", "mid", "high"}
    names = imp.get_feature_names_out()
    assert list(names[5:]) == [f"missingindicator_{c}" for c in df.columns]
    np.testing.assert_array_equal(out[:, 5:].astype(float), df.isna().to_numpy().astype(float))
    again = SurrogateTreeImputer(add_indicator=True, imputation_order="random", random_state=5).fit_transform(df)
    assert (out == again).all()
    numeric = SurrogateTreeImputer().fit_transform(df[["a", "b", "c"]].to_numpy())
    assert numeric.dtype == np.float64


def test_imputer_errors_name_the_column():
    df, _ = _mixed_frame(seed=4)
    for Imp in (SurrogateTreeImputer, MixedKNNImputer):
        bad = df.copy()
        bad["empty"] = np.nan
        with pytest.raises(ValueError, match="'empty'.*no observed value"):
            Imp().fit(bad)
        imp = Imp().fit(df)
        new = df.head(5).copy()
        new["site"] = pd.Categorical(["A", "C", "B", "A", "A"])
        with pytest.raises(ValueError, match="'site'.*'C'.*not seen at fit"):
            imp.transform(new)
        new = df.head(5).copy()
        new["c"] = ["1.5", "oops", None, "2", "3"]
        with pytest.raises(ValueError, match="'c'.*non-numeric.*oops"):
            imp.transform(new)
        with pytest.raises(ValueError, match="'a'.*non-numeric"):
            Imp(categorical_features=["grade", "site"]).fit(df.assign(a=df["a"].astype(object).fillna("n/a")))


def test_timing_moderate_table_is_fast():
    """A 300 x 40 table with 20% missing imputes in a few seconds (the benchmark times 1,000 x 200)."""
    import time

    rng = np.random.default_rng(0)
    F = rng.normal(size=(300, 4))
    X = F @ rng.normal(size=(4, 40)) + rng.normal(size=(300, 40))
    X[rng.random(X.shape) < 0.2] = np.nan
    SurrogateTreeImputer(max_iter=1).fit(X[:50])  # compile/load the kernels
    t = time.perf_counter()
    SurrogateTreeImputer().fit_transform(X)
    assert time.perf_counter() - t < 30


# ------------------------------------------------------------------------------------------------
# MixedKNNImputer (formerly KNNImputer)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_knn_equals_sklearn_on_standardised_numeric_data(weights):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)) * [1, 10, 100, 1, 1, 5] + [0, 5, 50, 0, 0, 1]
    X[rng.random(X.shape) < 0.2] = np.nan
    X[3] = np.nan  # a row with nothing observed: column means
    mine = MixedKNNImputer(n_neighbors=4, weights=weights).fit(X)
    mu, sd = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    ref = SkKNNImputer(n_neighbors=4, weights=weights).fit((X - mu) / sd)
    np.testing.assert_allclose(mine.transform(X), ref.transform((X - mu) / sd) * sd + mu, rtol=1e-9, atol=1e-9)
    Xnew = rng.normal(size=(10, 6))
    Xnew[rng.random(Xnew.shape) < 0.4] = np.nan
    np.testing.assert_allclose(mine.transform(Xnew), ref.transform((Xnew - mu) / sd) * sd + mu, rtol=1e-9, atol=1e-9)


def test_knn_mixed_uses_matching_distance_and_mode():
    df = pd.DataFrame({
        "age": [60.0, 61.0, 59.0, 30.0, 31.0, 60.5, 30.5],
        "sex": pd.Categorical(["M", "M", "M", "F", "F", None, None]),
        "stage": pd.Categorical(["III", "III", "II", "I", "I", "III", "I"]),
    })
    out = MixedKNNImputer(n_neighbors=3).set_output(transform="pandas").fit_transform(df)
    assert out["sex"].tolist() == ["M", "M", "M", "F", "F", "M", "F"]
    assert list(out["sex"].cat.categories) == ["F", "M"]
    # A numeric value from the rows that share the categories.
    df2 = pd.DataFrame({"x": [1.0, 2.0, 100.0, 101.0, np.nan], "g": pd.Categorical(["A", "A", "B", "B", "B"])})
    assert MixedKNNImputer(n_neighbors=2).fit_transform(df2)[4, 0] == 100.5


# ------------------------------------------------------------------------------------------------
# real clinical table: after radiomix's merge typing
# ------------------------------------------------------------------------------------------------


def _horng(shared_data, na_values=("#NAME?",)):
    from radiomix.tables import merge

    d = shared_data / "tables" / "horng_nsclc_radiogenomics_captk"
    # One row of the CaPTk export holds Excel's "#NAME?" in 9 feature columns: a missing value.
    rad = pd.read_csv(d / "Sandy-Captk.csv", encoding="utf-8-sig", na_values=list(na_values))
    cli = pd.read_csv(d / "clinical-demographics.csv")
    cli = cli.rename(columns={cli.columns[0]: "SubjectID"})
    return merge(rad, clinical=cli, on="SubjectID", how="inner", verbose=False)


@pytest.fixture(scope="module")
def horng(shared_data):
    return _horng(shared_data)


def test_real_table_with_stray_text_in_a_feature_is_reported(shared_data):
    raw = _horng(shared_data, na_values=())
    with pytest.raises(ValueError, match="'T1_ED_Morphologic_Eccentricity'.*non-numeric.*#NAME"):
        SurrogateTreeImputer().fit(raw)


@pytest.mark.parametrize("Imp", [SurrogateTreeImputer, MixedKNNImputer])
def test_real_clinical_table_is_completed_with_valid_categories(horng, Imp):
    df = horng
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    assert cats and df.isna().sum().sum() > 500  # real missing values, "no data" already mapped to NaN
    out = Imp().set_output(transform="pandas").fit_transform(df)
    assert out.shape == df.shape and out.isna().sum().sum() == 0
    assert out.index.equals(df.index)
    for c in cats:
        assert list(out[c].cat.categories) == list(df[c].cat.categories)


def _hidden_cell_nrmse(df, Imp, seed=0, rate=0.1):
    """Hide ``rate`` of the observed numeric cells; NRMSE of ``Imp`` and of the column mean on them."""
    num = [c for c in df.columns if not isinstance(df[c].dtype, pd.CategoricalDtype)]
    rng = np.random.default_rng(seed)
    hide = (rng.random((len(df), len(num))) < rate) & df[num].notna().to_numpy()
    masked = df.copy()
    masked[num] = df[num].mask(hide)
    out = Imp().set_output(transform="pandas").fit_transform(masked)
    sd = df[num].std()
    err = ((out[num] - df[num]) / sd).to_numpy()[hide]
    base = ((masked[num].mean() - df[num]) / sd).to_numpy()[hide]
    assert hide.sum() > 50 and np.isfinite(err).all()
    return np.sqrt(np.mean(err**2)), np.sqrt(np.mean(base**2))


@pytest.mark.parametrize("Imp", [SurrogateTreeImputer, MixedKNNImputer])
def test_real_table_hidden_cells_beat_mean_imputation(horng, Imp):
    nrmse, nrmse_mean = _hidden_cell_nrmse(horng, Imp)
    assert nrmse < 0.85 * nrmse_mean, (nrmse, nrmse_mean)


def _generated_clinical_table(n=250, seed=0, rate=0.1):
    """Numeric columns driven by two latent factors, a categorical that follows one of them, and MCAR gaps."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    load = rng.normal(size=(2, 8))
    df = pd.DataFrame(z @ load + 0.4 * rng.normal(size=(n, 8)), columns=[f"f{i}" for i in range(8)],
                      index=[f"P{i:03d}" for i in range(n)])
    df["stage"] = pd.Categorical(np.where(z[:, 0] > 0.5, "III", np.where(z[:, 0] < -0.5, "I", "II")),
                                 categories=["I", "II", "III"])
    df["sex"] = pd.Categorical(rng.choice(["F", "M"], n))
    for c in df.columns:
        df.loc[rng.random(n) < rate, c] = np.nan
    return df


@pytest.mark.parametrize("Imp", [SurrogateTreeImputer, MixedKNNImputer])
def test_generated_table_hidden_cells_beat_mean_imputation(Imp):
    """The same check as on the real table, on data made here (runs without ../shared/data)."""
    df = _generated_clinical_table()
    assert df.isna().sum().sum() > 200  # the table already has gaps before cells are hidden
    nrmse, nrmse_mean = _hidden_cell_nrmse(df, Imp)
    assert nrmse < 0.85 * nrmse_mean, (nrmse, nrmse_mean)


def test_docstring_examples_run():
    import doctest

    import radiomix.impute.knn
    import radiomix.impute.surrogate
    import radiomix.impute.trees

    for module in (radiomix.impute.trees, radiomix.impute.surrogate, radiomix.impute.knn):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_block_missing_rows_get_block_level_imputation_not_trees():
    """Rows missing a whole block: training means, no tree per block column, said once; sporadic cells in the
    block still get their trees (identical to the imputer without blocks after one round); fit_transform equals
    transform."""
    import warnings

    from radiomix.impute import BlockMissingWarning, SurrogateTreeImputer

    rng = np.random.default_rng(0)
    n, p = 200, 30
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"r{i}" for i in range(p)])
    X["r1"] = X["r0"] + rng.normal(0, 0.1, n)
    X["age"] = rng.normal(60, 10, n)
    X.iloc[:3, :p] = np.nan            # three patients without the radiomic block
    X.loc[20:27, "r1"] = np.nan         # sporadic cells inside the block
    X.loc[40:44, "age"] = np.nan
    block = [f"r{i}" for i in range(p)]
    imp = SurrogateTreeImputer(max_iter=1, blocks=[block]).set_output(transform="pandas")
    with pytest.warns(BlockMissingWarning, match=r"3 row\(s\) miss a whole block .*\['0', '1', '2'\]"):
        out = imp.fit_transform(X)
    assert imp.block_missing_ == [3]
    assert sorted(j for _, j, _ in imp.imputation_sequence_) == [1, p]   # r1 and age only
    np.testing.assert_allclose(out.iloc[:3][block].to_numpy(), np.tile(X.iloc[3:][block].mean().to_numpy(), (3, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = SurrogateTreeImputer(max_iter=1).set_output(transform="pandas").fit_transform(X)
    np.testing.assert_allclose(out.loc[20:27, "r1"], plain.loc[20:27, "r1"])
    pd.testing.assert_frame_equal(out, imp.transform(X))
    assert not out.isna().any().any()


def test_pipeline_passes_large_blocks_to_the_surrogate_tree_imputer():
    from radiomix.config import validate_config
    from radiomix.pipeline import build_pipeline

    cfg = validate_config({"impute": {"method": "surrogate_tree"}})
    radiomic = [f"original_firstorder_F{i}" for i in range(25)]
    pipe = build_pipeline(cfg, radiomic + ["age"], blocks={"radiomic": radiomic, "clinical": ["age"]})
    assert pipe.named_steps["impute"].blocks == [radiomic]          # the clinical block is too small (< 20)
    off = build_pipeline(validate_config({"impute": {"method": "surrogate_tree", "block_missing": None}}),
                         radiomic + ["age"], blocks={"radiomic": radiomic, "clinical": ["age"]})
    assert off.named_steps["impute"].blocks is None


def test_max_predictors_grows_each_tree_on_its_most_correlated_columns():
    """quickpred-style predictor choice: each tree sees only its k most correlated columns (the true predictor
    among them), imputes nearly as well as with every column, replays identically at transform, and survives a
    skops round trip."""
    import warnings

    import skops.io as sio

    from radiomix.impute import SurrogateTreeImputer

    rng = np.random.default_rng(1)
    n, p = 300, 60
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"c{i}" for i in range(p)])
    X["c1"] = 2 * X["c0"] + rng.normal(0, 0.2, n)
    truth = X["c1"].copy()
    X.loc[X.index[::7], "c1"] = np.nan
    miss = X["c1"].isna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quick = SurrogateTreeImputer(max_predictors=5, max_iter=1).set_output(transform="pandas").fit(X)
        full = SurrogateTreeImputer(max_iter=1).set_output(transform="pandas").fit(X)
    assert quick.predictors_[1, 0] == 0 and (quick.predictors_[1] != 1).all()   # c0 first, never c1 itself
    tree = next(t for _, j, t in quick.imputation_sequence_ if j == 1)
    assert int(np.max(tree.feature[tree.feature >= 0])) < 5                       # indices into the 5 chosen
    err_quick = np.sqrt(np.mean((quick.transform(X).loc[miss, "c1"] - truth[miss]) ** 2))
    err_full = np.sqrt(np.mean((full.transform(X).loc[miss, "c1"] - truth[miss]) ** 2))
    assert err_quick < 1.2 * err_full + 0.05, (err_quick, err_full)
    again = sio.loads(sio.dumps(quick), trusted=sio.get_untrusted_types(data=sio.dumps(quick)))
    pd.testing.assert_frame_equal(again.transform(X), quick.transform(X))


def test_knn_imputer_old_name_is_a_deprecated_alias():
    import radiomix.impute as imp

    with pytest.warns(DeprecationWarning, match="use radiomix.impute.MixedKNNImputer"):
        assert imp.KNNImputer is MixedKNNImputer
