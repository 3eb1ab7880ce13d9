"""The self-contained HTML document of a report: sections, paragraphs, tables and embedded PNG figures.

No scripts, fonts or styles are fetched from anywhere (the CSS is inline and images are base64 data URIs),
so a page opens offline and can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..outcomes.records import fmt_number

__all__ = ["CSS", "Document", "fmt_number", "fmt_estimate", "headline_text", "png_bytes", "table_html"]

CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f3f3f3}img{max-width:100%;margin:.3em}.figs{display:flex;flex-wrap:wrap}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.8em}.note{color:#666;font-size:.9em}"""


def fmt_estimate(m: dict) -> str:
    """``estimate (95% CI low-high)`` of a summary entry."""
    return f"{fmt_number(m['estimate'])} (95% CI {fmt_number(m['ci_low'])}-{fmt_number(m['ci_high'])})"


def headline_text(summary: dict, label: str, fallback: dict) -> str:
    """``<headline name> estimate (95% CI ...)``: the run's one headline (``summary["headline"]``: the number
    the console's last line, the baselines, the permutation test and the verdict quote); runs saved before it
    existed show ``label`` with ``fallback``."""
    h = summary.get("headline")
    return f"{h['name']} {fmt_estimate(h)}" if h else f"{label} {fmt_estimate(fallback)}"


def table_html(df: pd.DataFrame, floatfmt="{:.3f}") -> str:
    """An HTML table of ``df`` (no index, cells escaped, None/NaN empty, floats as ``floatfmt``)."""
    df = df.map(lambda v: np.nan if v is None else v)
    return df.to_html(index=False, escape=True, border=0, na_rep="",
                      float_format=lambda v: floatfmt.format(v))


def png_bytes(fig) -> bytes:
    """A matplotlib Figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class Document:
    """HTML parts of a report, in order. With ``figures_dir``, every embedded figure is also written there
    as ``NAME.png`` (and listed in :attr:`figures`)."""

    def __init__(self, figures_dir: Path | None = None):
        self.parts: list[str] = []
        self.figures_dir = figures_dir
        self.figures: dict[str, Path] = {}

    def section(self, sid: str, title: str):
        """Open ``<section id=sid>`` with an ``<h2>`` title; close it with :meth:`end`."""
        self.parts.append(f'<section id="{sid}"><h2>{html.escape(title)}</h2>')

    def end(self):
        self.parts.append("</section>")

    def text(self, s: str, cls: str | None = None):
        """A paragraph of escaped text (``cls``: its CSS class, e.g. ``"note"``)."""
        self.parts.append(f"<p{f' class={cls!r}' if cls else ''}>{html.escape(s)}</p>")

    def raw(self, s: str):
        """HTML as is."""
        self.parts.append(s)

    def figure(self, fig, name: str, alt: str):
        """Embed ``fig`` as a base64 PNG ``<img title=name>`` (and write ``figures_dir/NAME.png``)."""
        data = png_bytes(fig)
        if self.figures_dir is not None:
            self.figures_dir.mkdir(parents=True, exist_ok=True)
            path = self.figures_dir / f"{name}.png"
            path.write_bytes(data)
            self.figures[name] = path
        b64 = base64.b64encode(data).decode("ascii")
        self.parts.append(f'<img alt="{html.escape(alt)}" title="{html.escape(name)}" '
                          f'src="data:image/png;base64,{b64}">')

    def body(self) -> str:
        """The parts so far, one per line."""
        return "\n".join(self.parts)

    def page(self, title: str) -> str:
        """The whole HTML page: ``title`` in ``<title>``, inline CSS, the parts as the body."""
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
                f"</title><style>{CSS}</style></head><body>\n{self.body()}\n</body></html>\n")
