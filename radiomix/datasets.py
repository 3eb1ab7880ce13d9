"""A synthetic multi-site radiomics cohort that radiomix makes itself (images, masks, clinical, genetic).

The cohort imitates a multi-centre lung-lesion CT study: every patient has a CT-like crop of the chest
(lung parenchyma, vessels, chest wall with fat, muscle and a rib) holding one lesion, a lesion mask,
a clinical row and (for most patients) a genetic row. Sites differ the way scanners do, and the binary
outcome depends on image, clinical and genetic signal through one documented model (see
:func:`make_cohort`), so tests can check that a pipeline finds what was put there. The same latent linear
predictor also drives optional survival, ordinal multiclass and continuous (regression) outcomes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SiteProfile", "Cohort", "make_cohort", "DEFAULT_SITES", "SIGNAL_COLUMNS", "NOISE_COLUMNS", "SIGNALS",
           "TARGETS", "TARGET_COLUMNS"]


@dataclass(frozen=True)
class SiteProfile:
    """How one scanner/site renders the same anatomy.

    spacing : (x, y, z) voxel size in mm; z is also the slice thickness (partial-volume averaging).
    noise_hu : standard deviation of the (spatially correlated) image noise, in HU.
    blur_mm : in-plane Gaussian point-spread sigma in mm (reconstruction kernel sharpness).
    scale, offset_hu : intensity calibration, ``HU_site = scale * HU + offset_hu``.
    severity_shift : mean of the latent severity at this site (case mix: referral centres see worse cases).
    """

    name: str
    spacing: tuple[float, float, float]
    noise_hu: float
    blur_mm: float
    scale: float
    offset_hu: float
    severity_shift: float


DEFAULT_SITES = (
    SiteProfile("site_A", (0.70, 0.70, 1.25), noise_hu=10.0, blur_mm=0.6, scale=1.00, offset_hu=0.0, severity_shift=-0.30),
    SiteProfile("site_B", (0.90, 0.90, 2.50), noise_hu=18.0, blur_mm=1.0, scale=1.06, offset_hu=15.0, severity_shift=0.00),
    SiteProfile("site_C", (0.80, 0.80, 5.00), noise_hu=28.0, blur_mm=1.4, scale=0.94, offset_hu=-20.0, severity_shift=0.35),
)

#: Columns that carry outcome signal (directly or through the latent severity).
SIGNAL_COLUMNS = {
    "clinical": ["age", "ldh", "albumin", "stage"],
    "genetic": ["mut_TP53", "expr_HIF1A", "expr_VEGFA"],
    # Size, shape and texture-heterogeneity features measured by pyradiomics (ct-original preset). First-order
    # spread (Variance, InterquartileRange) tracks heterogeneity only at the thin-slice, sharp site (site_A):
    # elsewhere partial volume and blur dominate it, which is the kind of site effect ComBat is for.
    "radiomic_examples": [
        "original_shape_MeshVolume",
        "original_shape_Sphericity",
        "original_glszm_ZoneEntropy",
        "original_gldm_DependenceEntropy",
    ],
}
#: Columns drawn independently of the outcome.
NOISE_COLUMNS = {"clinical": ["sex", "hemoglobin", "crp"], "genetic": ["mut_EGFR", "mut_KRAS", "expr_GAPDH"]}

# Outcome model coefficients (documented in make_cohort's docstring).
_B_SEVERITY, _B_TP53, _B_HIF1A, _B_AGE = 1.8, 0.9, 0.6, 0.25
_B_SIZE, _B_HET, _B_SIZE_ONLY = 0.8, 2.0, 1.8  # signal="beyond_volume" / "volume"
#: Where the image signal of :func:`make_cohort` comes from.
SIGNALS = ("mixed", "beyond_volume", "volume")
#: Outcome types :func:`make_cohort` can put in the clinical table (``targets=``), and their columns.
TARGETS = ("binary", "survival", "multiclass", "regression")
TARGET_COLUMNS = {"binary": ["outcome"], "survival": ["os_days", "os_event"], "multiclass": ["grade"],
                  "regression": ["marker"]}
_OUTCOME_COLUMNS = {c for cols in TARGET_COLUMNS.values() for c in cols}
# Further outcomes from the same eta (documented in make_cohort's docstring): Weibull proportional hazards
# (log-hazard ratio _OS_BETA * centred eta, shape _OS_SHAPE, median _OS_MEDIAN_DAYS at eta = mean), censoring by
# the end of follow-up (uniform accrual) and drop-out; cumulative-logit grade; linear marker.
_OS_BETA, _OS_SHAPE, _OS_MEDIAN_DAYS = 0.6, 1.5, 800.0
_FOLLOWUP_DAYS, _DROPOUT_PER_YEAR = (365.0, 1826.0), 0.01
_GRADES, _GRADE_SHARES = ("G1", "G2", "G3"), (0.45, 0.35, 0.20)
_MARKER_A, _MARKER_B, _MARKER_SD = 250.0, 20.0, 45.0
_FOV_MM = np.array([72.0, 72.0, 56.0])


@dataclass
class Cohort:
    """What :func:`make_cohort` returns; the tables are also written to ``out_dir`` when one is given."""

    manifest: pd.DataFrame
    clinical: pd.DataFrame
    genetic: pd.DataFrame
    truth: pd.DataFrame
    sites: list[SiteProfile]
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)


def _site_profiles(n_sites: int, rng: np.random.Generator) -> list[SiteProfile]:
    sites = list(DEFAULT_SITES[:n_sites])
    for k in range(len(sites), n_sites):
        sites.append(
            SiteProfile(
                f"site_{chr(ord('A') + k) if k < 26 else k}",
                (float(rng.uniform(0.6, 1.0)),) * 2 + (float(rng.choice([1.0, 1.25, 2.0, 2.5, 3.0, 5.0])),),
                noise_hu=float(rng.uniform(8, 30)),
                blur_mm=float(rng.uniform(0.5, 1.5)),
                scale=float(rng.uniform(0.92, 1.08)),
                offset_hu=float(rng.uniform(-25, 25)),
                severity_shift=float(rng.uniform(-0.4, 0.4)),
            )
        )
    return sites


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _lesion_geometry(size: float, heterogeneity: float, rng: np.random.Generator, coarse: bool = False) -> dict:
    """Random lesion parameters: the radius grows with ``size``; irregularity, texture heterogeneity and
    necrosis with ``heterogeneity`` (both are the latent severity in the default cohort). ``coarse`` (the
    two-latent cohorts) doubles the texture wavelengths, so heterogeneity survives every site's blur and slice
    thickness, and lowers the solid density of heterogeneous lesions (up to 80 HU)."""
    z = _sigmoid(1.2 * heterogeneity)
    n_lobes = 6
    dirs = rng.normal(size=(n_lobes, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    freq = 3.0 + 2.0 * z
    n_tex = 24
    # Texture: random Fourier features; the heterogeneity amplitude grows with severity.
    k = rng.normal(size=(n_tex, 3))
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    # Wavelengths above the coarsest site's resolution, so heterogeneity survives blur and resampling.
    wavelength = rng.uniform(4.0, 10.0, size=n_tex) * (2.0 if coarse else 1.0)
    return {
        "center": rng.uniform(-6, 6, size=3) * np.array([1.0, 1.0, 0.6]),
        "radius": float(np.clip(7.0 * np.exp(0.28 * size + rng.normal(0, 0.08)), 4.5, 17.0)),
        "elong": rng.uniform(0.85, 1.15, size=3),
        "irregularity": 0.04 + 0.22 * z,
        "lobe_dirs": dirs,
        "lobe_w": rng.uniform(0.5, 1.0, size=n_lobes),
        "lobe_phase": rng.uniform(0, 2 * np.pi, size=n_lobes),
        "lobe_freq": freq,
        "tex_k": k * (2 * np.pi / wavelength)[:, None],
        "tex_phase": rng.uniform(0, 2 * np.pi, size=n_tex),
        "tex_amp": 5.0 + 45.0 * z,
        "base_hu": float(rng.normal(38, 6)) - (80.0 * z if coarse else 0.0),
        "necrosis": bool(heterogeneity > 0.6),
    }


def _anatomy(rng: np.random.Generator) -> dict:
    n_vessels = int(rng.integers(3, 7))
    p0 = rng.uniform(-30, 30, size=(n_vessels, 3))
    d = rng.normal(size=(n_vessels, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return {
        "wall_x": float(rng.uniform(22, 28)),
        "wall_curv": float(rng.uniform(0.004, 0.012)),
        "rib_z": float(rng.uniform(-18, 18)),
        "vessel_p0": p0,
        "vessel_d": d,
        "vessel_r": rng.uniform(0.8, 2.2, size=n_vessels),
        "lung_k": rng.normal(size=(4, 3)) * 0.08,
        "lung_phase": rng.uniform(0, 2 * np.pi, size=4),
    }


def _phantom(x, y, z, anat: dict, les: dict):
    """Continuous HU phantom and lesion indicator at physical points (mm); grid-independent by design."""
    pts = np.stack([x, y, z], axis=-1)
    lung_var = sum(np.cos(pts @ k + ph) for k, ph in zip(anat["lung_k"], anat["lung_phase"]))
    hu = -850.0 + 12.0 * lung_var
    for p0, d, r in zip(anat["vessel_p0"], anat["vessel_d"], anat["vessel_r"]):
        rel = pts - p0
        dist2 = np.sum(rel**2, axis=-1) - (rel @ d) ** 2
        hu = np.where(dist2 < r * r, 40.0, hu)
    wall = anat["wall_x"] + anat["wall_curv"] * (y**2 + 0.5 * z**2)
    hu = np.where(x > wall, -100.0, hu)  # subpleural fat
    hu = np.where(x > wall + 4.0, 45.0, hu)  # intercostal muscle
    rib = (x - (wall + 11.0)) ** 2 + (z - anat["rib_z"]) ** 2 < 4.5**2
    hu = np.where(rib, 650.0, hu)

    # Lesion terms only near the lesion: the texture sum is the costly part and is zero elsewhere.
    rel = (pts - les["center"]) / les["elong"]
    r = np.linalg.norm(rel, axis=-1)
    near = r < les["radius"] * (1.0 + les["irregularity"]) + 1.0
    inside = np.zeros(r.shape, dtype=bool)
    rel, r, p_near = rel[near], r[near], pts[near]
    u = rel / np.maximum(r, 1e-9)[..., None]
    lobes = sum(
        w * np.cos(les["lobe_freq"] * (u @ dvec) + ph)
        for dvec, w, ph in zip(les["lobe_dirs"], les["lobe_w"], les["lobe_phase"])
    ) / np.sum(les["lobe_w"])
    boundary = les["radius"] * (1.0 + les["irregularity"] * lobes)
    ins = r < boundary
    # The delineation follows the visible edge about 1 mm inside the true boundary, as contouring at
    # half maximum on a blurred edge does; it keeps the mask from being mostly partial-volume lung.
    drawn = r < boundary - 1.0
    # Sum of n random cosines scaled to unit variance: a smooth Gaussian-like random field.
    tex = np.cos(p_near @ les["tex_k"].T + les["tex_phase"]).sum(axis=-1) * np.sqrt(2.0 / len(les["tex_phase"]))
    lesion_hu = les["base_hu"] + les["tex_amp"] * tex
    if les["necrosis"]:
        lesion_hu = np.where(r < 0.45 * boundary, lesion_hu - 30.0, lesion_hu)
    sub = hu[near]
    hu[near] = np.where(ins, lesion_hu, sub)
    inside[near] = drawn
    return hu, inside


def _render_case(size: float, heterogeneity: float, site: SiteProfile, case_seed: int, coarse: bool = False):
    """Render one patient at one site's resolution: (image int16 zyx, mask uint8 zyx, origin, spacing)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(case_seed)
    anat, les = _anatomy(rng), _lesion_geometry(size, heterogeneity, rng, coarse)
    sp = np.asarray(site.spacing, dtype=float)
    shape = np.floor(_FOV_MM / sp).astype(int)  # x, y, z
    origin = -0.5 * (shape - 1) * sp
    xs, ys, zs = (origin[i] + sp[i] * np.arange(shape[i]) for i in range(3))
    Z, Y, X = np.meshgrid(zs, ys, xs, indexing="ij")
    # Partial volume: average the continuous phantom over the slice thickness. The contour is drawn where
    # the lesion fills most of the slice, as a reader contours what the slice image shows.
    n_sub = max(1, int(np.ceil(sp[2] / 0.6)))
    offsets = (np.arange(n_sub) + 0.5) / n_sub * sp[2] - 0.5 * sp[2]
    img = np.zeros(X.shape)
    fill = np.zeros(X.shape)
    for dz in offsets:
        hu, drawn = _phantom(X, Y, Z + dz, anat, les)
        img += hu
        fill += drawn
    img /= n_sub
    mask = fill / n_sub >= 0.6
    sigma_vox = site.blur_mm / sp
    img = gaussian_filter(img, sigma=(0.0, sigma_vox[1], sigma_vox[0]), mode="nearest")
    noise = gaussian_filter(rng.normal(size=img.shape), sigma=(0.0, 0.7, 0.7))
    noise *= site.noise_hu / max(noise.std(), 1e-9)
    img = site.scale * img + site.offset_hu + noise
    img = np.clip(np.rint(img), -1024, 3071).astype(np.int16)
    return img, mask.astype(np.uint8), origin, sp


def _write_nifti(arr, origin, spacing, path: Path):
    import SimpleITK as sitk

    im = sitk.GetImageFromArray(arr)
    im.SetOrigin(tuple(float(v) for v in origin))
    im.SetSpacing(tuple(float(v) for v in spacing))
    tmp = path.with_name(f".{path.name}.tmp.nii.gz")
    sitk.WriteImage(im, str(tmp), useCompression=True)
    os.replace(tmp, path)


def _render_and_write(pid, size, heterogeneity, site, case_seed, img_dir: Path, coarse: bool = False):
    img, mask, origin, sp = _render_case(size, heterogeneity, site, case_seed, coarse)
    ip, mp = img_dir / f"{pid}_ct.nii.gz", img_dir / f"{pid}_mask.nii.gz"
    _write_nifti(img, origin, sp, ip)
    _write_nifti(mask, origin, sp, mp)
    return pid, int(mask.sum())


def make_cohort(
    n_patients: int = 150,
    n_sites: int = 3,
    *,
    out_dir: str | os.PathLike | None = None,
    prevalence: float = 0.30,
    images: bool = True,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
    signal: str = "mixed",
    targets: tuple = ("binary",),
) -> Cohort:
    """Make a synthetic multi-site cohort: CT-like images + lesion masks, clinical and genetic tables.

    Generative model (per patient *i* at site *s*; all draws from ``random_state``):

    * latent severity ``sev_i ~ Normal(severity_shift_s, 1)`` (sites see different case mixes);
    * **image** (written only when ``images=True``): a 72 x 72 x 56 mm chest crop rendered at the site's
      voxel spacing (the mask is the lesion contoured 1 mm inside its true edge), with a lesion whose radius grows as ``7 mm * exp(0.28 sev)`` (volume features),
      whose surface irregularity (lobulation) grows with ``sigmoid(1.2 sev)`` (lower sphericity), whose
      internal texture amplitude (5 + 45 sigmoid(1.2 sev) HU) grows with severity (first-order spread, GLCM/GLSZM
      heterogeneity), with a necrotic core when ``sev > 0.6``. Site effects: voxel spacing and slice
      thickness (partial volume), in-plane blur, correlated noise, intensity scale and offset;
    * **clinical**: ``age ~ N(64, 9)``; ``sex`` (noise); ``ldh = exp(5.3 + 0.18 sev + N(0, .25))``;
      ``albumin = 40 - 1.5 sev + N(0, 3.5)``; ``crp`` and ``hemoglobin`` (noise); ``stage`` I-IV
      cut from ``sev + N(0, .7)``;
    * **genetic**: ``mut_TP53 ~ Bernoulli(.35)``, ``expr_HIF1A ~ N(0, 1)``,
      ``expr_VEGFA = .6 expr_HIF1A + N(0, .8)`` (signal via HIF1A); ``mut_EGFR``, ``mut_KRAS``,
      ``expr_GAPDH`` are noise;
    * **outcome** ``y ~ Bernoulli(sigmoid(b0 + eta))`` with the linear predictor
      ``eta = 1.8 sev + 0.9 mut_TP53 + 0.6 expr_HIF1A + 0.25 (age-64)/9`` and ``b0`` solved so the mean risk
      equals ``prevalence``.

    ``signal`` chooses where the image signal comes from (Welch et al. 2019: many signatures reduce to volume):

    * ``"mixed"`` (default, the model above): one latent severity drives lesion size, irregularity and
      texture together, so most image signal is also carried by volume;
    * ``"beyond_volume"``: two independent latents per patient, ``size ~ N(severity_shift_s, 1)`` (the radius,
      and the clinical proxies ldh, albumin and stage) and ``heterogeneity ~ N(0, 1)`` (lobulation, texture
      amplitude, necrosis, a lower solid density; not volume); ``eta = 0.8 size + 2.0 heterogeneity``;
      genetic columns and age carry no signal. The texture is coarser (wavelengths 8-20 mm)
      so that it survives every site's blur and slice thickness. Texture, density and shape features add
      information that volume cannot;
    * ``"volume"``: the same two latents, ``eta = 1.8 size`` from size alone: nothing beyond
      volume predicts it (the clinical proxies are noisier measures of size; images as for ``beyond_volume``).

    Further outcomes from the same ``eta`` (any ``signal``), drawn after everything above from their own
    generator ``default_rng([random_state, 7])``, so ``targets`` changes no other value of the cohort:

    * **survival** (``os_days``, ``os_event``): Weibull proportional hazards, event time *T* with hazard
      ``h(t) = lam * 1.5 t^0.5 * exp(0.6 (eta - mean(eta)))`` (log-hazard ratio 0.6 per unit of ``eta``),
      ``lam`` giving a median of 800 days (2.2 years) at the mean ``eta`` (the median of all *T* is about 2.1
      years); censoring *C* = the earlier of the end of follow-up (uniform accrual: ``U(365, 1826)`` days) and a
      drop-out (exponential, 1 % a year); ``os_days = max(1, round(min(T, C)))``, ``os_event = T <= C``.
      About 58 % events, a reverse Kaplan-Meier median follow-up of about 2.9 years; ``eta``'s Harrell C is
      about 0.77 (0.75 for ``"volume"``, 0.78 for ``"beyond_volume"``);
    * **multiclass** (``grade``): cumulative logit, ``eta + Logistic(0, 1)`` cut at the two thresholds that
      make the mean probabilities of "G1" < "G2" < "G3" 45 / 35 / 20 %;
    * **regression** (``marker``, lab-like units): ``250 + 20 eta + N(0, 45^2)``, rounded to 0.1; the truth
      ``250 + 20 eta`` has R^2 about 0.45 (0.41 for ``"volume"``, 0.49 for ``"beyond_volume"``).

    Missingness: ``ldh`` 10 % MCAR, ``hemoglobin`` 5 % MCAR, ``stage`` 5 % MCAR, ``albumin`` MAR (40 %
    missing when age > 70, else 5 %), ``crp`` never measured at the third site (MAR by site), 15 % of
    patients have no genetic row at all (missing modality), expression values 5 % MCAR. Outcomes are complete.

    Signal columns are listed in :data:`SIGNAL_COLUMNS`, noise columns in :data:`NOISE_COLUMNS`.

    Parameters
    ----------
    n_patients, n_sites : int
        Cohort size and number of sites (the first three use :data:`DEFAULT_SITES`; more are drawn).
    out_dir : path, optional
        Where to write ``images/*.nii.gz``, ``manifest.csv``, ``clinical.csv``, ``genetic.csv`` and
        ``truth.csv``. Required when ``images=True``.
    prevalence : float
        Expected fraction of positive outcomes.
    images : bool
        Render and write images (about 0.3 s per patient); ``False`` makes only the tables.
    random_state : int
        Seed; the same seed gives byte-identical tables and images.
    n_jobs : int
        Processes used to render images (-1 = all cores).
    signal : {"mixed", "beyond_volume", "volume"}
        Where the image signal comes from (see above); ``truth`` then also holds ``size`` and
        ``heterogeneity``.
    targets : tuple of {"binary", "survival", "multiclass", "regression"}
        Outcomes the clinical table carries (columns in :data:`TARGET_COLUMNS`, in that order): ``outcome``
        (int 0/1), ``os_days`` (float, whole days > 0) and ``os_event`` (int 0/1), ``grade`` (str "G1"-"G3"),
        ``marker`` (float).

    Returns
    -------
    Cohort
        ``manifest`` (``id, image, mask, site``), ``clinical`` (with the ``targets`` columns), ``genetic``,
        ``truth`` (latent severity, risk, lesion voxels, then every outcome with its latent pieces: ``eta``,
        ``os_lp``, ``os_event_days``, ``os_admin_days``, ``os_dropout_days``, ``os_censor_days``, ``os_days``,
        ``os_event``, ``grade_latent``, ``grade_cut_G2``, ``grade_cut_G3``, ``grade``, ``marker_mean``,
        ``marker``), ``sites``.

    Examples
    --------
    >>> from radiomix.datasets import make_cohort
    >>> c = make_cohort(40, 2, images=False, random_state=1)
    >>> sorted(c.clinical.columns)[:3]
    ['age', 'albumin', 'crp']
    >>> make_cohort(40, 2, images=False, targets=("survival", "multiclass")).clinical.columns[-3:].tolist()
    ['os_days', 'os_event', 'grade']
    """
    targets = _check_args(n_patients, n_sites, prevalence, images, out_dir, signal, targets)
    rng = np.random.default_rng(random_state)
    sites = _site_profiles(n_sites, rng)
    n = n_patients
    site_idx = np.sort(rng.permutation(np.arange(n) % n_sites))
    ids = np.array([f"P{i + 1:04d}" for i in range(n)])
    shift = np.array([s.severity_shift for s in sites])[site_idx]
    sev = rng.normal(shift, 1.0)

    clin = _draw_clinical(sev, rng)
    gen = _draw_genetic(n, rng)
    size, het, eta = _latent_predictor(signal, sev, clin["age"], gen, rng)
    b0, risk = _intercept_for(eta, prevalence)
    outcome = rng.binomial(1, risk)
    # Missingness (drawn after the outcome so the outcome does not depend on it).
    has_genetic, expr = _draw_missingness(clin, gen, site_idx, n_sites, rng)

    site_names = np.array([s.name for s in sites])[site_idx]
    clinical, genetic = _clinical_genetic_tables(ids, clin, outcome, gen, expr, has_genetic)
    case_seeds = rng.integers(0, 2**31 - 1, size=n)
    truth = _truth_table(ids, site_names, sev, risk, outcome, b0, case_seeds, signal, size, het)
    more = _draw_targets(eta, _targets_rng(random_state))  # last, own generator: no draw above depends on it
    clinical = _with_targets(clinical, more, targets)

    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if out is not None and images:
        voxels = _render_images(out, ids, size, het, site_idx, case_seeds, sites, n_jobs, progress,
                                coarse=signal != "mixed")
        truth["lesion_voxels"] = [voxels[i] for i in ids]
    cohort = Cohort(manifest=_manifest(ids, site_names), clinical=clinical, genetic=genetic,
                    truth=pd.concat([truth, more], axis=1), sites=sites)
    if out is not None:
        _write_tables(cohort, out)
    return cohort


def _truth_table(ids, site_names, sev, risk, outcome, b0: float, case_seeds, signal: str, size, het) -> pd.DataFrame:
    """The latent pieces behind the binary outcome (the lesion latents too when ``signal`` is not "mixed")."""
    truth = pd.DataFrame(
        {"id": ids, "site": site_names, "severity": sev, "risk": risk, "outcome": outcome, "intercept": b0,
         "case_seed": case_seeds}
    )
    if signal != "mixed":
        truth = truth.assign(size=size, heterogeneity=het, signal=signal)
    return truth


def _targets_rng(random_state: int | None) -> np.random.Generator:
    """The further outcomes' own generator, ``default_rng([random_state, 7])``: the main stream is untouched."""
    return np.random.default_rng(None if random_state is None else [random_state, 7])


def _check_args(n_patients: int, n_sites: int, prevalence: float, images: bool, out_dir, signal: str,
                targets) -> tuple[str, ...]:
    """Validate :func:`make_cohort`'s arguments; return ``targets`` as a tuple in :data:`TARGETS` order."""
    if n_patients < 2 * n_sites:
        raise ValueError(f"n_patients={n_patients} is too small for n_sites={n_sites} (need >= 2 per site)")
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence must be in (0, 1), got {prevalence}")
    if images and out_dir is None:
        raise ValueError("out_dir is required when images=True")
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    requested = (targets,) if isinstance(targets, str) else tuple(targets)
    unknown = [t for t in requested if t not in TARGETS]
    if unknown or not requested:
        raise ValueError(f"targets must be a non-empty tuple of {TARGETS}, got {targets!r}")
    return tuple(t for t in TARGETS if t in requested)


def _draw_clinical(sev: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Clinical variables (before missingness): age, sex, ldh, albumin, crp, hemoglobin, stage."""
    n = len(sev)
    age = np.clip(rng.normal(64, 9, n), 30, 90).round(0)
    sex = rng.choice(np.array(["F", "M"]), size=n, p=[0.4, 0.6])
    ldh = np.exp(5.3 + 0.18 * sev + rng.normal(0, 0.25, n)).round(0)
    albumin = (40 - 1.5 * sev + rng.normal(0, 3.5, n)).round(1)
    crp = np.exp(1.5 + rng.normal(0, 0.8, n)).round(1)
    hemoglobin = (13.8 - 1.2 * (sex == "F") + rng.normal(0, 1.3, n)).round(1)
    stage_latent = sev + rng.normal(0, 0.7, n)
    stage = np.array(["I", "II", "III", "IV"])[np.digitize(stage_latent, [-0.8, 0.1, 0.9])]
    return {"age": age, "sex": sex, "ldh": ldh, "albumin": albumin, "crp": crp, "hemoglobin": hemoglobin,
            "stage": stage}


def _draw_genetic(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Genetic variables (before missingness): tp53, egfr, kras mutations and hif1a, vegfa, gapdh expression."""
    tp53 = rng.binomial(1, 0.35, n)
    egfr = rng.binomial(1, 0.15, n)
    kras = rng.binomial(1, 0.25, n)
    hif1a = rng.normal(0, 1, n)
    vegfa = 0.6 * hif1a + rng.normal(0, 0.8, n)
    gapdh = rng.normal(0, 1, n)
    return {"tp53": tp53, "egfr": egfr, "kras": kras, "hif1a": hif1a, "vegfa": vegfa, "gapdh": gapdh}


def _latent_predictor(signal: str, sev: np.ndarray, age: np.ndarray, gen: dict,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(size, heterogeneity, eta)``: the lesion latents and the outcome's linear predictor (no intercept)."""
    if signal == "mixed":
        eta = _B_SEVERITY * sev + _B_TP53 * gen["tp53"] + _B_HIF1A * gen["hif1a"] + _B_AGE * (age - 64) / 9
        return sev, sev, eta
    # drawn after the default cohort's draws, so the default stream is unchanged
    size, het = sev, rng.normal(0.0, 1.0, len(sev))
    eta = _B_SIZE * size + _B_HET * het if signal == "beyond_volume" else _B_SIZE_ONLY * size
    return size, het, eta


def _intercept_for(eta: np.ndarray, prevalence: float) -> tuple[float, np.ndarray]:
    """``(intercept, risk)`` with ``risk = sigmoid(intercept + eta)`` averaging ``prevalence``."""
    lo, hi = -20.0, 20.0
    for _ in range(100):  # bisection for the intercept that gives the requested mean risk
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _sigmoid(mid + eta).mean() < prevalence else (lo, mid)
    b0 = 0.5 * (lo + hi)
    return b0, _sigmoid(b0 + eta)


def _draw_targets(eta: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Survival, ordinal grade and marker from the linear predictor ``eta``, with their latent pieces.

    Every piece is drawn whichever targets are asked for, in a fixed order (event times, end of follow-up,
    drop-out, grade noise, marker noise), so each one depends only on ``eta`` and ``rng``.

    Parameters
    ----------
    eta : ndarray
        The outcome's linear predictor (see :func:`make_cohort`).
    rng : numpy.random.Generator
        The targets' own generator.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``eta``, the survival columns (``os_*``), the grade columns (``grade*``) and
        the marker columns (``marker*``).
    """
    eta = np.asarray(eta, dtype=float)
    return pd.concat([pd.DataFrame({"eta": eta}), _draw_survival(eta, rng), _draw_grade(eta, rng),
                      _draw_marker(eta, rng)], axis=1)


def _draw_survival(eta: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Weibull proportional-hazards event times, censored by the end of follow-up or a drop-out."""
    n = len(eta)
    lp = _OS_BETA * (eta - eta.mean())
    lam = np.log(2.0) / _OS_MEDIAN_DAYS**_OS_SHAPE  # S(t) = exp(-lam t^k exp(lp)): median _OS_MEDIAN_DAYS at lp = 0
    event_days = (rng.exponential(1.0, n) / (lam * np.exp(lp))) ** (1.0 / _OS_SHAPE)
    admin_days = rng.uniform(*_FOLLOWUP_DAYS, n)  # uniform accrual: follow-up until the study closes
    dropout_days = rng.exponential(365.25 / _DROPOUT_PER_YEAR, n)
    censor_days = np.minimum(admin_days, dropout_days)
    return pd.DataFrame({
        "os_lp": lp, "os_event_days": event_days, "os_admin_days": admin_days, "os_dropout_days": dropout_days,
        "os_censor_days": censor_days, "os_days": np.maximum(1.0, np.round(np.minimum(event_days, censor_days))),
        "os_event": (event_days <= censor_days).astype(np.int64),
    })


def _draw_grade(eta: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Ordinal grade: ``eta + Logistic(0, 1)`` cut where the mean class probabilities are :data:`_GRADE_SHARES`."""
    # P(grade >= G_k) = sigmoid(eta - cut_k); _intercept_for solves -cut_k for the wanted mean probability.
    cut2 = -_intercept_for(eta, _GRADE_SHARES[1] + _GRADE_SHARES[2])[0]
    cut3 = -_intercept_for(eta, _GRADE_SHARES[2])[0]
    latent = eta + rng.logistic(0.0, 1.0, len(eta))
    grade = np.array(_GRADES, dtype=object)[np.digitize(latent, [cut2, cut3])]
    return pd.DataFrame({"grade_latent": latent, "grade_cut_G2": cut2, "grade_cut_G3": cut3, "grade": grade})


def _draw_marker(eta: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """A continuous lab-like marker, linear in ``eta`` with Gaussian noise."""
    mean = _MARKER_A + _MARKER_B * eta
    return pd.DataFrame({"marker_mean": mean, "marker": (mean + rng.normal(0.0, _MARKER_SD, len(eta))).round(1)})


def _with_targets(clinical: pd.DataFrame, more: pd.DataFrame, targets: tuple[str, ...]) -> pd.DataFrame:
    """The clinical table carrying exactly the ``targets`` outcome columns (``outcome`` first when asked for)."""
    wanted = [c for t in targets for c in TARGET_COLUMNS[t]]
    extra = [c for c in wanted if c not in clinical.columns]  # outcome is already there: keep its place
    out = clinical.drop(columns=[c for c in clinical.columns if c in _OUTCOME_COLUMNS and c not in wanted])
    return pd.concat([out, more[extra]], axis=1) if extra else out


def _draw_missingness(clin: dict, gen: dict, site_idx: np.ndarray, n_sites: int, rng: np.random.Generator):
    """Blank clinical values in ``clin`` (in place); return ``(has_genetic, expression columns with gaps)``."""
    n = len(site_idx)
    clin["ldh"] = np.where(rng.random(n) < 0.10, np.nan, clin["ldh"])
    clin["hemoglobin"] = np.where(rng.random(n) < 0.05, np.nan, clin["hemoglobin"])
    clin["stage"] = np.where(rng.random(n) < 0.05, None, clin["stage"])
    clin["albumin"] = np.where(rng.random(n) < np.where(clin["age"] > 70, 0.40, 0.05), np.nan, clin["albumin"])
    if n_sites >= 3:
        clin["crp"] = np.where(site_idx == 2, np.nan, clin["crp"])
    has_genetic = rng.random(n) >= 0.15
    expr = {"expr_HIF1A": gen["hif1a"], "expr_VEGFA": gen["vegfa"], "expr_GAPDH": gen["gapdh"]}
    expr = {k: np.where(rng.random(n) < 0.05, np.nan, v).round(4) for k, v in expr.items()}
    return has_genetic, expr


def _clinical_genetic_tables(ids, clin: dict, outcome, gen: dict, expr: dict, has_genetic) -> tuple:
    """``(clinical, genetic)`` tables; the genetic table holds only the patients with a genetic row."""
    clinical = pd.DataFrame(
        {
            "id": ids,
            **{k: clin[k] for k in ("age", "sex", "ldh", "albumin", "crp", "hemoglobin")},
            "stage": pd.Categorical(clin["stage"], categories=["I", "II", "III", "IV"], ordered=True),
            "outcome": outcome,
        }
    )
    genetic = pd.DataFrame(
        {"id": ids, "mut_TP53": gen["tp53"], "mut_EGFR": gen["egfr"], "mut_KRAS": gen["kras"], **expr}
    )[has_genetic].reset_index(drop=True)
    return clinical, genetic


def _manifest(ids, site_names) -> pd.DataFrame:
    """The manifest: each patient's image and mask paths (relative to ``out_dir``) and site."""
    return pd.DataFrame(
        {"id": ids, "image": [f"images/{i}_ct.nii.gz" for i in ids], "mask": [f"images/{i}_mask.nii.gz" for i in ids],
         "site": site_names}
    )


def _render_images(out: Path, ids, size, het, site_idx, case_seeds, sites: list, n_jobs: int, progress: bool,
                   coarse: bool = False) -> dict:
    """Render and write every patient's image and mask under ``out/images``; return ``{id: lesion voxels}``."""
    img_dir = out / "images"
    img_dir.mkdir(exist_ok=True)
    from joblib import Parallel, delayed

    jobs = (delayed(_render_and_write)(pid, float(s), float(h), sites[k], int(cs), img_dir, coarse)
            for pid, s, h, k, cs in zip(ids, size, het, site_idx, case_seeds))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    if progress:
        from rich.progress import track

        results = track(results, total=len(ids), description="rendering images", transient=True)
    return dict(results)


def _write_tables(cohort: Cohort, out: Path) -> None:
    """Write the cohort's tables and site profiles as CSV under ``out``; record ``out_dir`` and ``files``."""
    from .io import atomic_write_text

    files = {}
    for name, df in (("manifest", cohort.manifest), ("clinical", cohort.clinical), ("genetic", cohort.genetic),
                     ("truth", cohort.truth)):
        files[name] = atomic_write_text(out / f"{name}.csv", df.to_csv(index=False))
    atomic_write_text(out / "sites.csv", pd.DataFrame([asdict(s) for s in cohort.sites]).to_csv(index=False))
    cohort.out_dir, cohort.files = out, files
