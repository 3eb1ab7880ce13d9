"""Images and their voxel grids: reading (SimpleITK, DICOM series folders), geometry, putting a mask on
the image's grid, and the checks that refuse a hostile input before it costs time or memory.

Before any voxel is decompressed an input is checked from what is cheap to read: a folder must hold a DICOM
series (:func:`check_series_folder`, a bounded scan, before anything hashes the folder), and a file's header
(:func:`read_header`) says how many bytes its voxels take once decompressed, refused above
:func:`max_image_bytes` (a 1 MB gzip NRRD can declare 2.4 GB of voxels). After reading, an image's voxels inside
the region of interest must be finite (:func:`count_nonfinite`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .labels import mask_label_counts

__all__ = ["GeometryError", "ImageError", "ImageHeader", "is_dicom_file", "read_image", "read_header",
           "image_geometry", "format_geometry", "grid_deviation", "same_grid", "check_grid", "align_mask",
           "max_image_bytes", "check_image_size", "check_voxel_type", "check_series_folder", "check_regular",
           "count_nonfinite", "MAX_IMAGE_BYTES_ENV", "DEFAULT_MAX_IMAGE_BYTES", "FOLDER_MAX_FILES", "FOLDER_MAX_DEPTH",
           "FOLDER_PROBE_FILES"]

#: Environment variable that sets the limit on one image's (or mask's) decompressed voxel data, in bytes.
MAX_IMAGE_BYTES_ENV = "RADIOMIX_MAX_IMAGE_BYTES"
#: Default of that limit: 2 GiB holds a 512 x 512 x 4000 int16 CT or a 1024 x 1024 x 500 float32 volume.
DEFAULT_MAX_IMAGE_BYTES = 2 * 1024 ** 3
#: A folder given as an image or mask is scanned (lazily, before it is hashed) through at most this many files
#: and this many levels of subfolders; a folder beyond either is refused: a series folder is never that big.
FOLDER_MAX_FILES = 100_000
FOLDER_MAX_DEPTH = 3
#: How many of a folder's top-level files are opened looking for a DICOM file before the folder is refused.
FOLDER_PROBE_FILES = 1_000


class GeometryError(ValueError):
    """An image and its mask do not describe the same voxel grid (beyond the tolerance)."""


class ImageError(ValueError):
    """An image or mask that cannot be used (not a DICOM folder, too large, wrong kind of voxels, non-finite
    values); ``stage`` names the step of the case that refused it (the errors table's ``stage``)."""

    def __init__(self, message: str, stage: str = "read_image"):
        super().__init__(message)
        self.stage = stage


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _looks_like_dicom(path: str) -> bool:
    """A DICOM file with its preamble, or one without (ACR-NEMA style, still read by GDCM): its first element
    is then a (0002,xxxx) or (0008,xxxx) tag, little endian."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    with_preamble = len(head) == 132 and head[128:132] == b"DICM"
    return with_preamble or (len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00"))


# --------------------------------------------------------------------------------------------- limits
def max_image_bytes(value: float | None = None) -> float:
    """The limit on one image's decompressed voxel data in bytes: ``value`` when given, else the environment
    variable ``RADIOMIX_MAX_IMAGE_BYTES``, else :data:`DEFAULT_MAX_IMAGE_BYTES` (2 GiB). ``inf`` lifts it."""
    source = "max_image_bytes"
    if value is None:
        raw = os.environ.get(MAX_IMAGE_BYTES_ENV, "").strip()
        if not raw:
            return float(DEFAULT_MAX_IMAGE_BYTES)
        source = f"environment variable {MAX_IMAGE_BYTES_ENV}"
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{source}={raw!r} is not a number of bytes (e.g. 4e9, or inf for no limit)") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"{source}={value!r} must be a positive number of bytes (inf for no limit)")
    return float(value)


def _fmt_bytes(n: float) -> str:
    for unit, k in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{int(n)} bytes"


def check_series_folder(path: str | os.PathLike, *, max_files: int = FOLDER_MAX_FILES,
                        max_depth: int = FOLDER_MAX_DEPTH, probe: int = FOLDER_PROBE_FILES) -> int:
    """Refuse a folder that is not one DICOM series folder, cheaply and before anything reads or hashes it.

    The folder is scanned lazily, top level first: among its first ``probe`` top-level files (the files a
    DICOM series is read from; subfolders are not read) one must be a DICOM file (the ``DICM`` preamble, or a
    preamble-less file starting with a group 0002/0008 element, which GDCM reads too), and the whole tree
    (which the input hash reads) may hold at most ``max_files`` files in at most ``max_depth`` levels of
    subfolders. Returns the number of files; raises :class:`ImageError` naming the folder.
    """
    path = Path(path)
    n_files, probed, found, depth, level = 0, 0, False, 0, [path]
    hint = "an image or mask folder must hold the files of one DICOM series"
    while level:
        below = []
        for folder in level:
            try:
                entries = os.scandir(folder)
            except OSError as err:
                raise ImageError(f"{folder}: folder not readable ({err.strerror or err})") from err
            with entries:
                for e in entries:
                    try:  # like the input hash: subfolders but not symlinked ones, files but not hidden ones
                        if e.is_dir(follow_symlinks=False):
                            below.append(e.path)
                            continue
                        if e.name.startswith(".") or not e.is_file():
                            continue
                    except OSError:
                        continue
                    n_files += 1
                    if n_files > max_files:
                        raise ImageError(f"{path}: folder holds more than {max_files:,} files; {hint} "
                                         "(radiomix reads and hashes every file in it)")
                    if depth == 0 and not found and probed < probe:
                        probed += 1
                        found = _looks_like_dicom(e.path)
        if depth == 0 and not found:
            what = (f"no DICOM file among the first {probed} file(s) at its top level" if probed
                    else f"no file at its top level, only {len(below)} subfolder(s)")
            raise ImageError(f"{path}: not a DICOM series folder: {what}; {hint}")
        depth += 1
        if below and depth > max_depth:
            raise ImageError(f"{path}: folder nests subfolders more than {max_depth} levels deep; {hint}")
        level = below
    return n_files


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says about its image, read without decompressing any voxel. Has the geometry
    getters of a SimpleITK image, so the grid checks (:func:`check_grid`) take it in place of one."""

    path: str
    size: tuple
    spacing: tuple
    origin: tuple
    direction: tuple
    pixel_id: int
    pixel_type: str
    components: int
    voxel_bytes: int
    n_files: int = 1  # a DICOM series: the header is its first file's, repeated this many times

    @property
    def n_bytes(self) -> int:
        """Bytes of the decompressed voxel data."""
        return int(np.prod(self.size, dtype=float)) * self.voxel_bytes * self.n_files

    def GetSize(self):  # noqa: N802 - SimpleITK's names
        return self.size

    def GetSpacing(self):  # noqa: N802
        return self.spacing

    def GetOrigin(self):  # noqa: N802
        return self.origin

    def GetDirection(self):  # noqa: N802
        return self.direction

    def GetDimension(self):  # noqa: N802
        return len(self.size)

    def GetPixelID(self):  # noqa: N802
        return self.pixel_id

    def GetNumberOfComponentsPerPixel(self):  # noqa: N802
        return self.components


def check_regular(path: str | os.PathLike) -> None:
    """Refuse (:class:`ImageError`) a path that exists but is neither a folder nor a regular file: reading
    ``/dev/zero`` never ends, and opening a pipe waits for a writer forever."""
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise ImageError(f"{path}: not a regular file (a device, pipe or socket); give an image file or a DICOM "
                         "series folder")


def _gist(err: BaseException) -> str:
    """SimpleITK's message is a C++ trace; keep its gist."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return next((ln for ln in lines if "Description" in ln or "Unable" in ln), lines[-1] if lines else "")


def _voxel_bytes(pixel_id: int, components: int) -> int:
    import SimpleITK as sitk

    vector = "vector" in sitk.GetPixelIDValueAsString(pixel_id)
    try:
        one = sitk.Image([1, 1], pixel_id, components) if vector else sitk.Image([1, 1], pixel_id)
    except (RuntimeError, TypeError):
        return 8 * max(components, 1)
    return one.GetSizeOfPixelComponent() * one.GetNumberOfComponentsPerPixel()


def _file_reader(path: Path):
    """``(reader, header)``: a SimpleITK reader that has read the header of ``path`` and nothing else."""
    import SimpleITK as sitk

    check_regular(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageError(f"{path}: not a readable image ({_gist(err)})") from err
    pid, comps = int(reader.GetPixelID()), int(reader.GetNumberOfComponents())
    head = ImageHeader(path=str(path), size=tuple(int(s) for s in reader.GetSize()),
                       spacing=tuple(reader.GetSpacing()), origin=tuple(reader.GetOrigin()),
                       direction=tuple(reader.GetDirection()), pixel_id=pid,
                       pixel_type=sitk.GetPixelIDValueAsString(pid), components=comps,
                       voxel_bytes=_voxel_bytes(pid, comps))
    return reader, head


def read_header(path: str | os.PathLike) -> ImageHeader:
    """The header of an image file (NIfTI, NRRD, MHA, one DICOM file), read without its voxel data; raises
    :class:`ImageError` when it is not a readable image. Not for folders (see :func:`read_image`)."""
    return _file_reader(Path(path))[1]


def check_image_size(header: ImageHeader, limit: float | None = None) -> None:
    """Refuse (:class:`ImageError`) an image whose decompressed voxels would take more than ``limit`` bytes
    (default: :func:`max_image_bytes`)."""
    limit = max_image_bytes(limit)
    if header.n_bytes <= limit:
        return
    dims = "x".join(map(str, header.size))
    declared = (f"its {header.n_files} DICOM files declare {header.n_files} x {dims} voxels" if header.n_files > 1
                else f"its header declares {dims} voxels")
    raise ImageError(
        f"{header.path}: {declared} of {header.pixel_type} ({_fmt_bytes(header.n_bytes)} once decompressed), "
        f"over the limit of {_fmt_bytes(limit)}; if the image is genuine, raise the limit: max_image_bytes= in "
        f"radiomix.extract or the environment variable {MAX_IMAGE_BYTES_ENV} (bytes, e.g. 8e9)")


def check_voxel_type(image, path: str | os.PathLike | None = None) -> None:
    """Refuse (:class:`ImageError`) an image that radiomics cannot take: not 2D or 3D, no voxels, several
    components per voxel (colour), or complex values. ``image`` is a SimpleITK image or an :class:`ImageHeader`."""
    import SimpleITK as sitk

    where = f"{path}: image" if path is not None else "image"
    size = tuple(int(s) for s in image.GetSize())
    if image.GetDimension() not in (2, 3):
        raise ImageError(f"{where} has {image.GetDimension()} dimensions (size {'x'.join(map(str, size))}); "
                         "radiomics needs a 2D or 3D image: take one volume (time point, echo...) out of it")
    if 0 in size:
        raise ImageError(f"{where} has no voxels (size {'x'.join(map(str, size))})")
    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise ImageError(f"{where} has complex voxel values; radiomics needs real ones (e.g. the magnitude)")
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise ImageError(f"{where} has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour?); "
                         "radiomics needs a scalar image")


def read_image(path: str | os.PathLike, *, max_bytes: float | None = None):
    """Read an image or mask with SimpleITK: NIfTI, NRRD, MHA/MHD, or a DICOM series folder.

    Nothing is decompressed before the header (a folder: the scan of :func:`check_series_folder`, then its
    series' first file times the number of files) says the voxels fit in ``max_bytes`` (default:
    :func:`max_image_bytes`); raises :class:`ImageError` otherwise.
    """
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        check_series_folder(path)
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise ValueError(f"{path}: folder holds no DICOM image series")
        if len(series) > 1:
            raise ValueError(f"{path}: folder holds {len(series)} DICOM series; give one series per folder")
        files = reader.GetGDCMSeriesFileNames(str(path), series[0])
        head = read_header(files[0])
        check_image_size(replace(head, path=str(path), n_files=len(files)), max_bytes)
        reader.SetFileNames(files)
        return reader.Execute()
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    reader, head = _file_reader(path)
    check_image_size(head, max_bytes)
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise ValueError(f"{path}: not a readable image ({_gist(err)})") from err


# --------------------------------------------------------------------------------------------- voxel values
_FLOAT_PIXELS = ("32-bit float", "64-bit float")


def count_nonfinite(image, mask=None, value: int | None = None, bbox=None) -> int:
    """Voxels of ``image`` that are NaN or +-Inf: all of them, or (with ``mask``, ``value`` and the ROI's
    bounding box ``bbox`` from :func:`~radiomix.extraction.masks.label_stats`) those where ``mask == value``.

    Integer images cannot hold either: 0 without looking. The whole image is counted a few slices at a time,
    so that a large volume needs no full-size temporary.
    """
    import SimpleITK as sitk

    if image.GetPixelIDTypeAsString() not in _FLOAT_PIXELS:
        return 0
    if mask is not None:
        nd = len(bbox) // 2
        lo, sz = [int(b) for b in bbox[:nd]], [int(b) for b in bbox[nd:]]
        roi = sitk.GetArrayFromImage(sitk.RegionOfInterest(mask, sz, lo)) == value  # copies: the crops are temporaries
        vals = sitk.GetArrayFromImage(sitk.RegionOfInterest(image, sz, lo))
        return int(np.count_nonzero(~np.isfinite(vals[roi])))
    arr = sitk.GetArrayViewFromImage(image)
    arr = arr[None] if arr.ndim == 2 else arr
    return sum(int(np.count_nonzero(~np.isfinite(arr[z:z + 16]))) for z in range(0, arr.shape[0], 16))


# --------------------------------------------------------------------------------------------- geometry
def image_geometry(img) -> dict:
    """Size, spacing, origin and direction of a SimpleITK image (plain tuples)."""
    return {"size": tuple(int(s) for s in img.GetSize()), "spacing": tuple(img.GetSpacing()),
            "origin": tuple(img.GetOrigin()), "direction": tuple(img.GetDirection())}


def format_geometry(g: Mapping) -> str:
    """One line describing a grid, e.g. ``size 512x512x120, spacing 0.7x0.7x2.5 mm, origin (...)``."""
    def fmt(v, nd=4):
        return "x".join(f"{x:.{nd}g}" for x in v)

    d = np.asarray(g["direction"], float)
    ident = d.size and np.allclose(d, np.eye(int(math.isqrt(d.size))).ravel())
    direction = "identity" if ident else "(" + ", ".join(f"{x:.3g}" for x in d) + ")"
    return (f"size {fmt(g['size'])}, spacing {fmt(g['spacing'])} mm, origin ("
            + ", ".join(f"{x:.5g}" for x in g["origin"]) + f"), direction {direction}")


def _index_map(img_ref, img):
    """Affine map (A, b) from ``img`` voxel index to ``img_ref`` continuous voxel index."""
    nd = img.GetDimension()
    def mat(im):
        return np.asarray(im.GetDirection(), float).reshape(nd, nd) @ np.diag(im.GetSpacing())

    m_ref_inv = np.linalg.inv(mat(img_ref))
    a = m_ref_inv @ mat(img)
    b = m_ref_inv @ (np.asarray(img.GetOrigin(), float) - np.asarray(img_ref.GetOrigin(), float))
    return a, b


def grid_deviation(image, mask) -> float:
    """How far (in image voxels) the mask's voxel centres fall from the image's voxel lattice.

    0 for a mask on the image grid or on a shifted/cropped/flipped copy of it; large when spacing or
    direction differ. Measured at the corners of the mask grid, where an affine mismatch is largest.
    """
    if image.GetDimension() != mask.GetDimension():
        return math.inf
    a, b = _index_map(image, mask)
    p = np.round(a)
    if not (np.all(np.abs(p).sum(axis=0) == 1) and np.all(np.abs(p).sum(axis=1) == 1)):
        return math.inf  # not a (signed) permutation of the image axes: a different grid
    size = np.asarray(mask.GetSize()) - 1
    corners = np.array(np.meshgrid(*[[0, s] for s in size], indexing="ij")).reshape(len(size), -1)
    mapped = a @ corners + b[:, None]
    return float(np.max(np.abs(mapped - np.round(mapped))))


def same_grid(a, b, tol: float = 1e-9) -> bool:
    """True when two images share size and (to ``tol`` relative) spacing, origin and direction."""
    if a.GetSize() != b.GetSize():
        return False
    sp = np.asarray(a.GetSpacing())
    return (np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tol, atol=0)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tol * float(sp.min()))
            and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tol))


def check_grid(image, mask, tolerance: float = 0.01) -> float:
    """Raise :class:`GeometryError` (naming both grids) when ``mask`` cannot be put on ``image``'s grid within
    ``tolerance`` (see :func:`align_mask`); else return how far off the lattice it is. Takes SimpleITK images
    or :class:`ImageHeader` s, so a case can be refused from its headers before any voxel is decompressed."""
    if same_grid(image, mask):
        return 0.0
    gi, gm = image_geometry(image), image_geometry(mask)
    if image.GetDimension() != mask.GetDimension():
        raise GeometryError(f"the mask has {mask.GetDimension()} dimensions, the image {image.GetDimension()}. "
                            f"image: {format_geometry(gi)}; mask: {format_geometry(gm)}")
    dev = grid_deviation(image, mask)
    if not dev <= tolerance:
        raise GeometryError(
            f"mask grid does not match the image grid (mask voxels are {dev:.3g} image voxels off the image "
            f"lattice; tolerance {tolerance:g}). image: {format_geometry(gi)}; mask: {format_geometry(gm)}. "
            "Resample the mask onto the image, or raise geometry_tolerance (inf = always resample)")
    return dev


def align_mask(image, mask, tolerance: float = 0.01, *, quiet_lattice: bool = False):
    """Put ``mask`` on ``image``'s voxel grid; returns ``(mask, note)``, ``note`` is ``None`` or a warning text.

    - Same grid: returned unchanged.
    - Mask voxel centres within ``tolerance`` (in image voxels) of the image lattice (float jitter in
      the header, a cropped or padded mask, flipped axes): resampled nearest-neighbour onto the image,
      which moves no voxel by more than ``tolerance``; the note says so.
    - Beyond the tolerance (different spacing or orientation): :class:`GeometryError` naming both grids.
      ``tolerance=inf`` resamples any mask nearest-neighbour instead.

    Mask voxels of a label that would fall outside the image raise :class:`GeometryError` as well.
    ``quiet_lattice=True`` gives no note when the mask sits exactly on the image lattice (a DICOM-SEG stores
    only the frames that hold the segment: putting it back on the full grid is expected and exact).
    """
    import SimpleITK as sitk

    if same_grid(image, mask):
        return mask, None
    dev = check_grid(image, mask, tolerance)
    gi, gm = image_geometry(image), image_geometry(mask)
    before = mask_label_counts(mask)
    out = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    after = mask_label_counts(out)
    lost = {k: v - after.get(k, 0) for k, v in before.items() if v - after.get(k, 0) > 0}
    if lost:
        desc = ", ".join(f"label {k}: {n} of {before[k]} voxels" for k, n in lost.items())
        raise GeometryError(f"mask lies (partly) outside the image ({desc} outside). image: {format_geometry(gi)}; "
                            f"mask: {format_geometry(gm)}")
    if quiet_lattice and dev < 1e-3:
        return out, None
    return out, (f"mask grid differs from the image grid ({dev:.2g} voxel off the lattice); resampled "
                 f"nearest-neighbour onto the image. mask: {format_geometry(gm)}")
