"""Merging radiomic, clinical and genetic tables: typing, id reports, column groups."""

import numpy as np
import pandas as pd
import pytest

from radiomix.tables import column_groups, merge


@pytest.fixture()
def tables():
    rad = pd.DataFrame({"id": ["a", "b", "c"], "site": ["s1", "s1", "s2"],
                        "original_shape_MeshVolume": [1.0, 2.0, 3.0],
                        "ct_log-sigma-2-0-mm-3D_glcm_Contrast": [0.1, 0.2, 0.3]})
    cli = pd.DataFrame({"id": ["a", "b", "d"], "age": ["61", "no data", "70"], "stage": ["II", "N/A", "IV"],
                        "outcome": [0, 1, 1]})
    gen = pd.DataFrame({"id": ["a", "c"], "mut_TP53": [1, 0]})
    return rad, cli, gen


def test_merge_types_reports_and_groups(tables, capsys):
    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen)
    assert list(out.index) == ["a", "b", "c", "d"]  # outer: nobody dropped
    assert out["age"].dtype == float and np.isnan(out.loc["b", "age"])  # "no data" -> missing, numeric
    assert isinstance(out["stage"].dtype, pd.CategoricalDtype) and pd.isna(out.loc["b", "stage"])
    g = column_groups(out)
    assert g["radiomic"] == ["original_shape_MeshVolume", "ct_log-sigma-2-0-mm-3D_glcm_Contrast"]
    assert g["clinical"] == ["age", "stage", "outcome"] and g["genetic"] == ["mut_TP53"]
    rep = out.attrs["radiomix"]["id_report"]
    assert rep == {"radiomic": ["d"], "clinical": ["c"], "genetic": ["b", "d"]}
    assert "no row in the genetic table" in capsys.readouterr().err


def test_merge_inner_and_overrides(tables):
    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen, how="inner", categorical=["outcome"], verbose=False)
    assert list(out.index) == ["a"]
    assert isinstance(out["outcome"].dtype, pd.CategoricalDtype)


def test_merge_refuses_duplicates_and_clashes(tables):
    rad, cli, _ = tables
    with pytest.raises(ValueError, match=r"duplicate ids in column 'id': \['a'\]"):
        merge(rad, clinical=pd.concat([cli, cli.head(1)]))
    with pytest.raises(ValueError, match="'site' appears in both"):
        merge(rad, clinical=cli.assign(site="x"))
    with pytest.raises(ValueError, match="declared numeric but holds non-numeric"):
        merge(rad, clinical=cli, numeric=["stage"])


def test_column_groups_fallback_without_attrs(tables):
    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen, verbose=False)
    plain = pd.DataFrame(out.to_dict())  # attrs lost
    assert column_groups(plain)["radiomic"] == ["original_shape_MeshVolume", "ct_log-sigma-2-0-mm-3D_glcm_Contrast"]
