"""Regular expressions a user writes (``features.include``, ``harmonize.features``, ``features.groups``...),
matched in time linear in the text whatever the pattern.

Python's ``re`` backtracks: ``(a+)+b`` against a long column name, or ``.*.*.*.*x``, can take hours, and a
config file is exactly where such a pattern can come from. User patterns are compiled with RE2 (Google's
linear-time engine, BSD-3; the ``google-re2`` package), which refuses the few features that need backtracking
(backreferences, lookarounds) with a one-line error. Patterns are searched, as ``re.search`` does.
A leaf module: it imports nothing from radiomix.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["compile_user_pattern", "PatternError", "MAX_PATTERN_LENGTH"]

#: Longest pattern accepted (characters).
MAX_PATTERN_LENGTH = 1000


class PatternError(ValueError):
    """A user's regular expression radiomix refuses: one line naming where it came from."""


def compile_user_pattern(pattern, where: str = "pattern"):
    """``pattern`` compiled with RE2 (an object with ``search``/``fullmatch`` like ``re``'s); ``where`` names
    the config key or argument in the message of a refused pattern."""
    if not isinstance(pattern, str):
        raise PatternError(f"{where} must be a regular expression (text), got {pattern!r}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"{where}: the regular expression is {len(pattern)} characters long; at most "
                           f"{MAX_PATTERN_LENGTH}")
    return _compiled(pattern, where)


@lru_cache(maxsize=256)
def _compiled(pattern: str, where: str):
    import re2

    options = re2.Options()
    options.log_errors = False  # the error is raised, once, as a one-line message: not logged to stderr too
    try:
        return re2.compile(pattern, options=options)
    except re2.error as err:
        detail = err.args[0].decode(errors="replace") if err.args and isinstance(err.args[0], bytes) else str(err)
        raise PatternError(f"{where}: {pattern!r} is not a regular expression radiomix accepts ({detail}); "
                           "backreferences and lookarounds are not supported (patterns are matched in linear "
                           "time)") from None
