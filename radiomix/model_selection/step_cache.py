"""Each preprocessing step fitted once per training set, shared by every candidate of a search
(``Pipeline(memory=...)`` with an in-memory cache)."""

from __future__ import annotations

import contextlib

from sklearn.base import clone

__all__ = ["step_cache", "drop_step_cache", "StepCache"]


@contextlib.contextmanager
def step_cache(pipeline):
    """``pipeline`` (a clone) whose transformers and samplers are fitted once per training set and reused by
    every candidate and by :func:`finalize` on the same inner folds (``Pipeline(memory=...)`` with a
    :class:`StepCache` held in memory, dropped on exit). Keys are each step's parameters and its input rows and
    labels, so a step whose tuned parameter changes is refitted, and the fitted steps equal the uncached ones
    (deterministic given their ``random_state``). A pipeline that already has a ``memory`` is used as it is.
    Fitted estimators leave the context through :func:`drop_step_cache`."""
    if not hasattr(pipeline, "memory") or pipeline.memory is not None:
        yield pipeline
        return
    cache = StepCache()
    try:
        yield clone(pipeline).set_params(memory=cache)
    finally:
        cache.clear()


class StepCache:
    """A ``joblib.Memory``-like cache for ``Pipeline(memory=...)`` that keeps results in this process's memory:
    a hit hands back the very objects the first call made (no pickle round trip, whose pure-Python reading
    dominated disk caching, and whose output would hash differently from the original for the next step). Keys
    are ``joblib.hash`` of the call, except that an argument the cache itself returned (the table a cached step
    handed to the next one) enters the key as the token of the call that made it, not as its 1,000 columns
    hashed again; a call joblib cannot hash (a lambda in your own Pipeline) runs uncached. Shared by the deep
    copies ``clone`` makes, so every candidate's pipeline uses one store."""

    def __init__(self):
        self._store: dict = {}
        self._made: dict = {}  # id(result) -> (result, token); holding the result keeps its id unique

    def __deepcopy__(self, memo):
        return self  # clone() deep-copies non-estimator parameters; the copies must share the store

    def _token(self, value):
        made = self._made.get(id(value))
        return ("radiomix.StepCache result", made[1]) if made is not None and made[0] is value else value

    def _remember(self, key: str, result) -> None:
        for i, part in enumerate(result if isinstance(result, tuple) else (result,)):
            # A step may hand its input on unchanged: an object keeps its first token, so its key never drifts.
            if not isinstance(part, (int, float, str, bool, type(None))) and id(part) not in self._made:
                self._made[id(part)] = (part, f"{key}:{i}")

    def cache(self, func=None, ignore=None, **kwargs):
        """``func`` wrapped to cache its results; arguments named in ``ignore`` are left out of the key (as
        ``joblib.Memory.cache`` does: scikit-learn's Pipeline passes ``caller`` and ``callback_ctx``)."""
        import inspect
        import pickle

        import joblib

        signature = inspect.signature(func)
        skip = set(ignore or ())

        def call(*args, **kw):
            named = signature.bind(*args, **kw).arguments
            try:
                key = joblib.hash((func.__module__, func.__qualname__,
                                   {k: self._token(v) for k, v in named.items() if k not in skip}))
            except pickle.PicklingError:
                return func(*args, **kw)
            if key not in self._store:
                self._store[key] = func(*args, **kw)
                self._remember(key, self._store[key])
            return self._store[key]

        return call

    def clear(self) -> None:
        self._store.clear()
        self._made.clear()

    def __repr__(self) -> str:
        return f"StepCache({len(self._store)} results)"


def drop_step_cache(estimator):
    """Set every ``memory`` parameter inside ``estimator`` (a fitted pipeline, or one wrapped by a
    :class:`radiomix.calibration.RecalibratedClassifier`) to None, so it holds no step cache."""
    params = estimator.get_params(deep=True)
    gone = {k: None for k, v in params.items() if (k == "memory" or k.endswith("__memory")) and v is not None}
    if gone:
        estimator.set_params(**gone)
    return estimator
