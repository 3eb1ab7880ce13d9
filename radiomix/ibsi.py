"""IBSI 1 conformance of the pyradiomics features radiomix extracts.

The Image Biomarker Standardisation Initiative (IBSI 1; Zwanenburg et al., Radiology 2020,
doi:10.1148/radiol.2020191145) publishes consensus values for two phantoms: a 5 x 4 x 4 digital phantom
(integer grey levels, no image processing) and a CT phantom under five processing configurations A-E
(IBSI reference manual, Table 5.1). This module holds

- :data:`IBSI_TAGS`: pyradiomics feature name -> IBSI feature tag, for every feature pyradiomics computes by
  default on the original image (texture tags in the variant pyradiomics' aggregation corresponds to; see
  :func:`ibsi_tags`), :data:`NOT_IN_IBSI` for the few without an IBSI counterpart, and :data:`DEVIATIONS`,
  the documented definitions by which a pyradiomics feature differs from its IBSI namesake;
- :data:`CONFIGURATIONS` / :func:`configuration` / :func:`pyradiomics_settings`: the pyradiomics parameters
  that express each IBSI configuration, and the processing steps they cannot express;
- :func:`conformance`: the comparison with the reference values at the references' precision;
- :func:`run_conformance` and :func:`summarize`: extraction of the phantoms from a folder the caller names
  (nothing is read at import, and no data ship with the package).

pyradiomics' deprecated features (disabled unless named: ``StandardDeviation``, ``Compactness1/2``,
``SphericalDisproportion``, ``Dissimilarity``, ``SumVariance``, ``Homogeneity1/2``, GLDM
``GrayLevelNonUniformityNormalized`` and ``DependencePercentage``) are not mapped.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["IBSI_TAGS", "NOT_IN_IBSI", "DEVIATIONS", "CONFIGURATIONS", "FEATURE_CLASSES", "PHANTOM_FILES",
           "REFERENCE_SIGNIFICANT_DIGITS", "ZERO_ATOL", "IBSIConfig", "ibsi_tags", "configuration",
           "pyradiomics_settings", "read_reference", "reference_digits", "matches_reference", "conformance",
           "run_conformance", "summarize"]

#: pyradiomics feature classes the conformance runs enable (all their non-deprecated features).
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
#: IBSI 1 gives consensus values with tolerance 0 to this many significant figures.
REFERENCE_SIGNIFICANT_DIGITS = 3
#: A reference value of exactly 0 (tolerance 0) is matched by values this close to 0 (floating-point noise).
ZERO_ATOL = 1e-9

_SHAPE = {
    "MeshVolume": "morph_volume", "VoxelVolume": "morph_vol_approx", "SurfaceArea": "morph_area_mesh",
    "SurfaceVolumeRatio": "morph_av", "Sphericity": "morph_sphericity", "Maximum3DDiameter": "morph_diam",
    "MajorAxisLength": "morph_pca_maj_axis", "MinorAxisLength": "morph_pca_min_axis",
    "LeastAxisLength": "morph_pca_least_axis", "Elongation": "morph_pca_elongation",
    "Flatness": "morph_pca_flatness",
}
# Entropy and Uniformity are computed on the discretised intensities: IBSI's intensity-histogram features.
_FIRSTORDER = {
    "Mean": "stat_mean", "Variance": "stat_var", "Skewness": "stat_skew", "Kurtosis": "stat_kurt",
    "Median": "stat_median", "Minimum": "stat_min", "10Percentile": "stat_p10", "90Percentile": "stat_p90",
    "Maximum": "stat_max", "InterquartileRange": "stat_iqr", "Range": "stat_range",
    "MeanAbsoluteDeviation": "stat_mad", "RobustMeanAbsoluteDeviation": "stat_rmad",
    "Energy": "stat_energy", "RootMeanSquared": "stat_rms", "Entropy": "ih_entropy", "Uniformity": "ih_uniformity",
}
_GLCM = {
    "MaximumProbability": "cm_joint_max", "JointAverage": "cm_joint_avg", "SumSquares": "cm_joint_var",
    "JointEntropy": "cm_joint_entr", "DifferenceAverage": "cm_diff_avg", "DifferenceVariance": "cm_diff_var",
    "DifferenceEntropy": "cm_diff_entr", "SumAverage": "cm_sum_avg", "SumEntropy": "cm_sum_entr",
    "JointEnergy": "cm_energy", "Contrast": "cm_contrast", "Id": "cm_inv_diff", "Idn": "cm_inv_diff_norm",
    "Idm": "cm_inv_diff_mom", "Idmn": "cm_inv_diff_mom_norm", "InverseVariance": "cm_inv_var",
    "Correlation": "cm_corr", "Autocorrelation": "cm_auto_corr", "ClusterTendency": "cm_clust_tend",
    "ClusterShade": "cm_clust_shade", "ClusterProminence": "cm_clust_prom", "Imc1": "cm_info_corr1",
    "Imc2": "cm_info_corr2",
}
_GLRLM = {
    "ShortRunEmphasis": "rlm_sre", "LongRunEmphasis": "rlm_lre", "LowGrayLevelRunEmphasis": "rlm_lgre",
    "HighGrayLevelRunEmphasis": "rlm_hgre", "ShortRunLowGrayLevelEmphasis": "rlm_srlge",
    "ShortRunHighGrayLevelEmphasis": "rlm_srhge", "LongRunLowGrayLevelEmphasis": "rlm_lrlge",
    "LongRunHighGrayLevelEmphasis": "rlm_lrhge", "GrayLevelNonUniformity": "rlm_glnu",
    "GrayLevelNonUniformityNormalized": "rlm_glnu_norm", "RunLengthNonUniformity": "rlm_rlnu",
    "RunLengthNonUniformityNormalized": "rlm_rlnu_norm", "RunPercentage": "rlm_r_perc",
    "GrayLevelVariance": "rlm_gl_var", "RunVariance": "rlm_rl_var", "RunEntropy": "rlm_rl_entr",
}
_GLSZM = {
    "SmallAreaEmphasis": "szm_sze", "LargeAreaEmphasis": "szm_lze", "LowGrayLevelZoneEmphasis": "szm_lgze",
    "HighGrayLevelZoneEmphasis": "szm_hgze", "SmallAreaLowGrayLevelEmphasis": "szm_szlge",
    "SmallAreaHighGrayLevelEmphasis": "szm_szhge", "LargeAreaLowGrayLevelEmphasis": "szm_lzlge",
    "LargeAreaHighGrayLevelEmphasis": "szm_lzhge", "GrayLevelNonUniformity": "szm_glnu",
    "GrayLevelNonUniformityNormalized": "szm_glnu_norm", "SizeZoneNonUniformity": "szm_zsnu",
    "SizeZoneNonUniformityNormalized": "szm_zsnu_norm", "ZonePercentage": "szm_z_perc",
    "GrayLevelVariance": "szm_gl_var", "ZoneVariance": "szm_zs_var", "ZoneEntropy": "szm_zs_entr",
}
# pyradiomics' GLDM with alpha 0 and distance 1 is IBSI's neighbouring grey level dependence matrix (NGLDM).
_GLDM = {
    "SmallDependenceEmphasis": "ngl_lde", "LargeDependenceEmphasis": "ngl_hde", "LowGrayLevelEmphasis": "ngl_lgce",
    "HighGrayLevelEmphasis": "ngl_hgce", "SmallDependenceLowGrayLevelEmphasis": "ngl_ldlge",
    "SmallDependenceHighGrayLevelEmphasis": "ngl_ldhge", "LargeDependenceLowGrayLevelEmphasis": "ngl_hdlge",
    "LargeDependenceHighGrayLevelEmphasis": "ngl_hdhge", "GrayLevelNonUniformity": "ngl_glnu",
    "DependenceNonUniformity": "ngl_dcnu", "DependenceNonUniformityNormalized": "ngl_dcnu_norm",
    "GrayLevelVariance": "ngl_gl_var", "DependenceVariance": "ngl_dc_var", "DependenceEntropy": "ngl_dc_entr",
}
_NGTDM = {"Coarseness": "ngt_coarseness", "Contrast": "ngt_contrast", "Busyness": "ngt_busyness",
          "Complexity": "ngt_complexity", "Strength": "ngt_strength"}

# IBSI tag suffix per feature class and aggregation. pyradiomics computes one GLCM/GLRLM per direction over
# the whole ROI and averages the features over directions (IBSI "avg"); GLSZM, GLDM and NGTDM are one matrix
# for the whole ROI. With ``force2D`` the directions/neighbourhoods are in-plane and every slice adds to the
# same matrices: IBSI's 2.5D variants (IBSI's per-slice 2D variants have no pyradiomics equivalent).
_SUFFIXES = {
    "3D": {"glcm": "_3D_avg", "glrlm": "_3D_avg", "glszm": "_3D", "gldm": "_3D", "ngtdm": "_3D"},
    "2.5D": {"glcm": "_2_5D_avg", "glrlm": "_2_5D_avg", "glszm": "_2_5D", "gldm": "_2_5D", "ngtdm": "_2_5D"},
}
_CLASS_TAGS = {"shape": _SHAPE, "firstorder": _FIRSTORDER, "glcm": _GLCM, "glrlm": _GLRLM, "glszm": _GLSZM,
               "gldm": _GLDM, "ngtdm": _NGTDM}


def ibsi_tags(aggregation: str) -> dict[str, str]:
    """pyradiomics feature name (``original_<class>_<Feature>``) -> IBSI tag for one texture aggregation.

    Parameters
    ----------
    aggregation : {"3D", "2.5D"}
        ``"3D"`` for pyradiomics' default 3D extraction, ``"2.5D"`` for ``force2D: True`` (in-plane
        directions, all slices merged).

    Returns
    -------
    dict
        Shape and first-order tags do not depend on the aggregation.

    Examples
    --------
    >>> ibsi_tags("2.5D")["original_glcm_Contrast"]
    'cm_contrast_2_5D_avg'
    """
    if aggregation not in _SUFFIXES:
        raise ValueError(f"aggregation must be one of {sorted(_SUFFIXES)}, got {aggregation!r}")
    suffix = _SUFFIXES[aggregation]
    return {f"original_{cls}_{name}": tag + suffix.get(cls, "")
            for cls, table in _CLASS_TAGS.items() for name, tag in table.items()}


#: pyradiomics feature name -> IBSI tag, 3D aggregation (the digital phantom and CT configurations C-E).
IBSI_TAGS: dict[str, str] = ibsi_tags("3D")

#: pyradiomics features (enabled by default) without an IBSI 1 counterpart, and why.
NOT_IN_IBSI: dict[str, str] = {
    "original_firstorder_TotalEnergy": "Energy multiplied by the voxel volume; IBSI defines only the unscaled "
                                       "sum of squares (stat_energy = pyradiomics Energy)",
    "original_glcm_MCC": "maximal correlation coefficient: IBSI 1 defines no such feature (no tag, no reference)",
    "original_shape_Maximum2DDiameterSlice": "IBSI defines only the 3D maximum diameter (morph_diam)",
    "original_shape_Maximum2DDiameterColumn": "IBSI defines only the 3D maximum diameter (morph_diam)",
    "original_shape_Maximum2DDiameterRow": "IBSI defines only the 3D maximum diameter (morph_diam)",
}

_AXES = ("pyradiomics takes the eigenvalues of the population covariance of the voxel centres (divided by N), "
         "IBSI those of the sample covariance (N - 1): pyradiomics' axis length is smaller by a factor "
         "sqrt((N - 1) / N) (0.7 % for the digital phantom's 74 voxels, negligible for large ROIs)")
#: Documented pyradiomics definitions that differ from the IBSI feature of the same tag.
DEVIATIONS: dict[str, str] = {
    "original_firstorder_Kurtosis": "pyradiomics Kurtosis is the standardised fourth moment; IBSI stat_kurt is "
                                    "the excess kurtosis: stat_kurt = Kurtosis - 3",
    "original_shape_MajorAxisLength": _AXES,
    "original_shape_MinorAxisLength": _AXES,
    "original_shape_LeastAxisLength": _AXES,
}


@dataclass(frozen=True)
class IBSIConfig:
    """One IBSI 1 test: a phantom, an IBSI configuration and the pyradiomics settings that express it.

    Attributes
    ----------
    phantom : {"digital", "ct"}
    name : str
        ``"none"`` (the digital phantom: no image processing) or ``"A"`` ... ``"E"`` (CT phantom).
    description : str
        The IBSI configuration (reference manual, Table 5.1), in words.
    settings : dict
        pyradiomics' ``setting`` block.
    aggregation : {"3D", "2.5D"}
        The IBSI texture variant pyradiomics computes under these settings (see :func:`ibsi_tags`).
    reference_file : str
        The IBSI reference-value table of this test (``;``-separated: ``reference value;tolerance;tag``).
    not_expressed : tuple of str
        IBSI processing steps these settings cannot express; empty when pyradiomics expresses the
        configuration exactly.
    """

    phantom: str
    name: str
    description: str
    settings: dict
    aggregation: str
    reference_file: str
    not_expressed: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """True when pyradiomics expresses every processing step of the configuration."""
        return not self.not_expressed

    def params(self) -> dict:
        """The full pyradiomics parameter dict (original image, every class of :data:`FEATURE_CLASSES`)."""
        return {"setting": copy.deepcopy(self.settings), "imageType": {"Original": {}},
                "featureClass": {cls: [] for cls in FEATURE_CLASSES}}


# Written out in full (pyradiomics' defaults for these are IBSI's too, but nothing is left implicit).
_COMMON = {"label": 1, "voxelArrayShift": 0, "distances": [1], "symmetricalGLCM": True, "weightingNorm": None,
           "gldm_a": 0, "resegmentShape": False}
_2D = {"force2D": True, "force2Ddimension": 0}
_3D = {"force2D": False}
_GRID = ("resampling grid: pyradiomics lays the new voxels from the original image's corner (edges at corner + k x "
         "new spacing), IBSI centres the new grid on the original one")
_MASK = ("mask interpolation: pyradiomics resamples the mask nearest-neighbour, IBSI interpolates it "
         "(bi/trilinear) and keeps voxels with partial volume >= 0.5")
_ROUND = "intensity rounding: pyradiomics does not round interpolated intensities to integer HU"
_FBS_START = ("fixed bin size: pyradiomics starts the bins at the largest multiple of 25 HU at or below the ROI "
              "minimum, IBSI at the re-segmentation lower bound (-1000 HU): the grey-level indices differ")
_E_RESEG = ("re-segmentation: pyradiomics applies one re-segmentation mode; the 3 sigma outlier filter is "
            "applied to the whole ROI instead of to the voxels within [-1000, 400] HU")
_CT_REF = "ibsi_1_chest_config_{}.csv"

#: ``"phantom/configuration"`` (``"digital/none"``, ``"ct/A"`` ... ``"ct/E"``) -> :class:`IBSIConfig`.
CONFIGURATIONS: dict[str, IBSIConfig] = {c.phantom + "/" + c.name: c for c in [
    IBSIConfig("digital", "none", "digital phantom, no image processing: 3D, integer grey levels 1-6 used as "
               "they are (bin width 1 from grey level 1 reproduces them)",
               {**_COMMON, **_3D, "binWidth": 1}, "3D", "ibsi_1_dig_phantom.csv"),
    IBSIConfig("ct", "A", "2D, no interpolation, re-segmentation [-500, 400] HU, fixed bin size 25 HU (pyradiomics "
               "starts the bins at the ROI minimum's multiple of 25, which is IBSI's -500 HU whenever the "
               "re-segmented ROI reaches below -475 HU)",
               {**_COMMON, **_2D, "resegmentRange": [-500, 400], "resegmentMode": "absolute", "binWidth": 25},
               "2.5D", _CT_REF.format("a")),
    IBSIConfig("ct", "B", "2D, bilinear interpolation to 2 x 2 mm in-plane, rounding to integer HU, "
               "re-segmentation [-500, 400] HU, fixed bin number 32",
               {**_COMMON, **_2D, "resampledPixelSpacing": [2, 2, 0], "interpolator": "sitkLinear",
                "resegmentRange": [-500, 400], "resegmentMode": "absolute", "binCount": 32},
               "2.5D", _CT_REF.format("b"), (_GRID, _MASK, _ROUND)),
    IBSIConfig("ct", "C", "3D, trilinear interpolation to 2 x 2 x 2 mm, rounding to integer HU, "
               "re-segmentation [-1000, 400] HU, fixed bin size 25 HU",
               {**_COMMON, **_3D, "resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkLinear",
                "resegmentRange": [-1000, 400], "resegmentMode": "absolute", "binWidth": 25},
               "3D", _CT_REF.format("c"), (_GRID, _MASK, _ROUND, _FBS_START)),
    IBSIConfig("ct", "D", "3D, trilinear interpolation to 2 x 2 x 2 mm, rounding to integer HU, no range "
               "re-segmentation, outlier filtering (mean +/- 3 sigma), fixed bin number 32",
               {**_COMMON, **_3D, "resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkLinear",
                "resegmentRange": [-3, 3], "resegmentMode": "sigma", "binCount": 32},
               "3D", _CT_REF.format("d"), (_GRID, _MASK, _ROUND)),
    IBSIConfig("ct", "E", "3D, tricubic spline interpolation to 2 x 2 x 2 mm (pyradiomics: sitkBSpline), rounding "
               "to integer HU, re-segmentation [-1000, 400] HU then outlier filtering (mean +/- 3 sigma), "
               "fixed bin number 32",
               {**_COMMON, **_3D, "resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkBSpline",
                "resegmentRange": [-3, 3], "resegmentMode": "sigma", "binCount": 32},
               "3D", _CT_REF.format("e"), (_GRID, _MASK, _ROUND, _E_RESEG)),
]}

#: phantom -> (image, mask), relative to the data folder given to :func:`run_conformance`.
PHANTOM_FILES = {
    "digital": ("ibsi_1_digital_phantom/image/phantom.nii.gz", "ibsi_1_digital_phantom/mask/mask.nii.gz"),
    "ct": ("ibsi_1_ct_radiomics_phantom/image/phantom.nii.gz", "ibsi_1_ct_radiomics_phantom/mask/mask.nii.gz"),
}
_REFERENCE_DIR = "reference_values"


def configuration(phantom: str, config: str) -> IBSIConfig:
    """The :class:`IBSIConfig` of a phantom (``"digital"``, ``"ct"``) and configuration (``"none"`` for the
    digital phantom, ``"A"`` ... ``"E"`` for the CT phantom)."""
    key = f"{phantom}/{config}"
    if key not in CONFIGURATIONS:
        raise ValueError(f"no IBSI configuration {config!r} for phantom {phantom!r}; known: "
                         f"{sorted(CONFIGURATIONS)} (phantom/configuration)")
    return CONFIGURATIONS[key]


def pyradiomics_settings(phantom: str, config: str) -> dict:
    """The pyradiomics parameters (``setting``, ``imageType``, ``featureClass``) for one IBSI test.

    Whether they express the configuration exactly, and what they cannot express, is in
    ``configuration(phantom, config).not_expressed``.

    Examples
    --------
    >>> pyradiomics_settings("ct", "A")["setting"]["binWidth"]
    25
    """
    return configuration(phantom, config).params()


# ------------------------------------------------------------------------------------------- comparison
def read_reference(path: str | os.PathLike) -> pd.DataFrame:
    """An IBSI reference-value table (``reference value;tolerance;tag``, ``;``-separated) indexed by tag,
    with float columns ``reference`` and ``tolerance`` (NaN where IBSI gives no value)."""
    raw = pd.read_csv(path, sep=";", dtype={"tag": str})
    expected = {"reference value", "tolerance", "tag"}
    if not expected <= set(raw.columns):
        raise ValueError(f"{path}: expected the columns {sorted(expected)} (';'-separated), found {list(raw.columns)}")
    ref = raw.rename(columns={"reference value": "reference"}).set_index("tag")[["reference", "tolerance"]]
    return ref.astype(float)


def reference_digits(reference: float) -> int:
    """Significant digits written in a reference value (``0.0121`` -> 3, ``1490`` -> 3, ``125256`` -> 6,
    ``5`` -> 1); 0 for zero."""
    if reference == 0:
        return 0
    mantissa = f"{abs(float(reference)):.15g}".split("e")[0]
    return len(mantissa.replace(".", "").strip("0"))


def matches_reference(value: float, reference: float, tolerance: float) -> bool:
    """Whether a value matches an IBSI reference.

    With a tolerance above 0: ``|value - reference| <= tolerance``. With tolerance 0 the reference is a
    consensus value rounded to :data:`REFERENCE_SIGNIFICANT_DIGITS` significant figures (or to as many as it
    is written with, when more): the value matches when it rounds to the reference at that precision. A
    reference of exactly 0 is matched within :data:`ZERO_ATOL`.

    Examples
    --------
    >>> matches_reference(0.01236, 0.0124, 0.0), matches_reference(0.01226, 0.0124, 0.0)
    (True, False)
    """
    if not (np.isfinite(value) and np.isfinite(reference) and np.isfinite(tolerance)):
        return False
    if tolerance > 0:
        return bool(abs(value - reference) <= tolerance)
    if reference == 0:
        return bool(abs(value) <= ZERO_ATOL)
    n = max(REFERENCE_SIGNIFICANT_DIGITS, reference_digits(reference))
    return float(f"{value:.{n - 1}e}") == float(f"{reference:.{n - 1}e}")


def _reason(feature: str, value: float, match: bool, config: IBSIConfig) -> str:
    """Why a feature deviates: its documented definition, then the processing pyradiomics cannot express."""
    if match:
        return ""
    if not np.isfinite(value):
        return "pyradiomics returned no finite value"
    parts = [DEVIATIONS[feature]] if feature in DEVIATIONS else []
    if config.not_expressed:
        parts.append(f"configuration {config.name} not expressed exactly: " + "; ".join(config.not_expressed))
    return " | ".join(parts) or "unexplained: pyradiomics' documented definition is IBSI's"


def conformance(values: Mapping | pd.Series, reference: pd.DataFrame, config: IBSIConfig) -> pd.DataFrame:
    """Compare pyradiomics features with the IBSI reference values of one test.

    Parameters
    ----------
    values : dict or Series
        pyradiomics feature name (``original_glcm_Contrast``) -> value, e.g. from
        :func:`radiomix.extraction.extract_case` with ``config.params()``.
    reference : DataFrame
        The test's reference table as :func:`read_reference` returns it (index ``tag``; ``reference``,
        ``tolerance``).
    config : IBSIConfig
        The test (:func:`configuration`): it fixes the IBSI tag variant and the reasons for deviations.

    Returns
    -------
    DataFrame
        One row per mapped feature found in ``values`` (:func:`ibsi_tags` order): ``phantom, config,
        feature, tag, value, reference, tolerance, compared`` (``"3 significant figures"`` or
        ``"+/- tolerance"``), ``match`` and ``reason`` (empty for a match). Features of ``values`` that are
        neither mapped nor in :data:`NOT_IN_IBSI` are left out with a warning naming them.
    """
    values = dict(values)
    if not {"reference", "tolerance"} <= set(reference.columns):
        raise ValueError("reference must have the columns 'reference' and 'tolerance' indexed by IBSI tag "
                         f"(see read_reference), got {list(reference.columns)}")
    tags = {f: t for f, t in ibsi_tags(config.aggregation).items() if f in values}
    if not tags:
        raise ValueError(f"no mapped pyradiomics feature in values (expected names such as "
                         f"'original_firstorder_Mean'; got {list(values)[:5]}...)")
    unmapped = [f for f in values if f not in tags and f not in NOT_IN_IBSI]
    if unmapped:
        warnings.warn(f"{len(unmapped)} features have no IBSI mapping and are left out of the conformance table: "
                      f"{unmapped[:5]}{' ...' if len(unmapped) > 5 else ''}", UserWarning, stacklevel=2)
    missing = [t for t in tags.values() if t not in reference.index or not np.isfinite(reference.at[t, "reference"])]
    if missing:
        raise ValueError(f"the reference table has no value for {missing[:5]} ({len(missing)} tags); is it the "
                         f"table of configuration {config.name} ({config.reference_file})?")
    rows = []
    for feature, tag in tags.items():
        value, ref, tol = float(values[feature]), *reference.loc[tag, ["reference", "tolerance"]].astype(float)
        digits = max(REFERENCE_SIGNIFICANT_DIGITS, reference_digits(ref))
        match = matches_reference(value, ref, tol)
        rows.append({"phantom": config.phantom, "config": config.name, "feature": feature, "tag": tag,
                     "value": value, "reference": ref, "tolerance": tol,
                     "compared": f"+/- {tol:g}" if tol > 0 else f"{digits} significant figures",
                     "match": match, "reason": _reason(feature, value, match, config)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------- phantoms
def _input(data_dir: Path, relative: str) -> str:
    path = data_dir / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: data_dir must hold the IBSI 1 phantoms as NIfTI "
                                f"({', '.join(v for f in PHANTOM_FILES.values() for v in f)}) and the reference "
                                f"tables under {_REFERENCE_DIR}/")
    return str(path)


def run_conformance(data_dir: str | os.PathLike, configs: list[str] | None = None) -> pd.DataFrame:
    """Extract the IBSI 1 phantoms with pyradiomics (through radiomix) and compare with the reference values.

    Parameters
    ----------
    data_dir : path
        Folder holding ``ibsi_1_digital_phantom/{image,mask}/*.nii.gz``,
        ``ibsi_1_ct_radiomics_phantom/{image,mask}/*.nii.gz`` (see :data:`PHANTOM_FILES`) and
        ``reference_values/`` with the IBSI tables (:attr:`IBSIConfig.reference_file`).
    configs : list of str, optional
        Keys of :data:`CONFIGURATIONS` (``"digital/none"``, ``"ct/A"`` ...); all of them when None.

    Returns
    -------
    DataFrame
        The :func:`conformance` rows of every test, one after the other.
    """
    from .extraction import extract_case

    data_dir = Path(data_dir)
    keys = list(CONFIGURATIONS) if configs is None else list(configs)
    tables = []
    for key in keys:
        phantom, _, name = key.partition("/")
        cfg = configuration(phantom, name)
        image, mask = (_input(data_dir, f) for f in PHANTOM_FILES[cfg.phantom])
        features, _ = extract_case(image, mask, cfg.params())
        reference = read_reference(_input(data_dir, f"{_REFERENCE_DIR}/{cfg.reference_file}"))
        tables.append(conformance(features, reference, cfg))
    return pd.concat(tables, ignore_index=True)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per phantom and configuration: features mapped, matching, deviating, and whether pyradiomics
    expresses the configuration exactly (from a :func:`conformance` / :func:`run_conformance` table)."""
    grouped = table.groupby(["phantom", "config"], sort=False)["match"]
    out = pd.DataFrame({"mapped": grouped.size(), "matching": grouped.sum().astype(int)})
    out["deviating"] = out["mapped"] - out["matching"]
    out["exact settings"] = [configuration(p, c).exact for p, c in out.index]
    return out.reset_index()

