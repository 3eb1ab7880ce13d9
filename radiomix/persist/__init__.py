"""The radiomix model file: what it may hold, checked before and after skops builds it.

A model file is a skops zip: ``schema.json`` describes the object graph, one member per array holds the numbers.
skops never runs code from a file, but it does build the objects of the types it trusts from the file's numbers,
and several of those hand their arrays to compiled code that does no bounds checking: scikit-learn's ``Tree``
(child and feature indices), ``KDTree``/``BallTree`` and distance metrics, SciPy's sparse matrices (column
indices), an XGBoost ``Booster`` (its own model parser), radiomix's surrogate-split tree (numba kernels). A
crafted file of trusted types then loads, and the process dies later with a segmentation fault (or silently
corrupts memory). Some estimators skops trusts by default are the same: a ``OneHotEncoder`` whose stored output
widths disagree with its categories writes past a buffer at ``transform``.

So radiomix writes those objects as plain-data stand-ins (:class:`TreeState`, :class:`BoosterState`,
:class:`NeighborsTreeState`, :class:`SparseState`: numeric arrays, numbers, strings) and, on load, builds the real
objects only after checking every index, then checks that each estimator agrees with what it holds (a forest's
trees see as many features as the forest, an encoder's output widths match its categories). Before skops reads
anything, :func:`check_model_file` checks the zip (declared and actual sizes, before anything is decompressed),
every array header, and ``schema.json`` against the fixed structure of the node kinds a radiomix file holds.
Every refusal is one line that starts with the file's name.
"""

from ._common import DEFAULT_MAX_BYTES, MAX_BYTES_ENV, max_model_bytes, never_raw, one_line
from .archive import check_model_file
from .graph import from_plain, to_plain
from .schema import PLAIN_TYPES
from .states import STATE_TYPES, BoosterState, NeighborsTreeState, SparseState, TreeState

__all__ = ["DEFAULT_MAX_BYTES", "MAX_BYTES_ENV", "max_model_bytes", "check_model_file", "never_raw", "to_plain",
           "from_plain", "one_line", "TreeState", "BoosterState", "NeighborsTreeState", "SparseState",
           "STATE_TYPES", "PLAIN_TYPES"]
