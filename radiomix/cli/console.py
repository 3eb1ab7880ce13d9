"""The one console helper of the ``radiomix`` command: a stderr console, text made safe to print, warnings
printed once with counts, the table options and reading."""

from __future__ import annotations

import re

import click

__all__ = ["console", "safe_text", "escape_markup", "one_line", "print_warnings", "table_options", "read"]


def table_options(fn):
    """--decimal and --encoding for commands that read tables (Excel exports: ';' and a decimal comma)."""
    fn = click.option("--encoding", default=None, help="Text encoding of the table(s), e.g. latin-1 (default UTF-8).")(fn)
    return click.option("--decimal", default=None, help="Decimal mark of the table(s), e.g. ',' for Excel exports.")(fn)


def read(path, decimal=None, encoding=None):
    from ..io import read_table

    return read_table(path, decimal=decimal, encoding=encoding)


def console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # long lines (hashes, paths) are never broken by inserted newlines


def one_line(err: BaseException) -> str:
    """An exception as one line of text (line breaks and repeated spaces collapsed)."""
    text = " ".join(str(err).split("\n")).strip() or type(err).__name__
    return " ".join(text.split())

#: provenance, a column name) could move the cursor, recolour or rewrite what the terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(text) -> str:
    """``text`` as it may be printed to a terminal through rich: control characters (ANSI escapes, carriage
    returns, bidirectional overrides) shown as ``\\xNN`` and rich markup escaped."""
    from rich.markup import escape

    return escape(_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text)))


def print_warnings(caught) -> None:
    """Each distinct warning once, with a count; the Study's notes first, as notes."""
    from collections import Counter

    con = console()
    counts = Counter((type(w.message).__name__, str(w.message)) for w in caught)
    for (kind, msg), n in sorted(counts.items(), key=lambda kv: kv[0][0] != "StudyNote"):
        label = "note" if kind == "StudyNote" else f"warning ({kind})"
        con.print(f"[yellow]{label}:[/] {safe_text(msg)}" + (f" [dim](x{n})[/]" if n > 1 else ""), highlight=False,
                  soft_wrap=True)


def escape_markup(text: str) -> str:
    """``text`` with rich markup escaped and control characters shown (feature names may contain brackets)."""
    return safe_text(text)
