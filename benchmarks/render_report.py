"""Render a run folder's report.html to a PNG with headless Chromium, to look at it as a reader would.

    python benchmarks/render_report.py RUN_DIR [--table TABLE] [--out report.png]

Writes the report first (radiomix.report.write_report), then screenshots it with ``/usr/bin/chromium``
(or ``$CHROMIUM``) in headless mode, offline (the report references nothing outside itself). Prints
"skipped" and exits 0 when no Chromium is installed. Never gates CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--table", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--height", type=int, default=9000, help="Window height in pixels (the page is long).")
    a = ap.parse_args(argv)
    chromium = os.environ.get("CHROMIUM") or next(
        (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
         if p and Path(p).is_file()), None)
    if chromium is None:
        print("skipped: no headless Chromium (/usr/bin/chromium, or set $CHROMIUM)")
        return 0
    from radiomix.report import write_report

    html = write_report(a.run_dir, table=a.table)
    png = Path(a.out or Path(a.run_dir) / "report.png").resolve()
    cmd = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
           f"--window-size=1200,{a.height}", f"--screenshot={png}", html.resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0 or not png.is_file():
        print(res.stdout + res.stderr, file=sys.stderr)
        return 1
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
