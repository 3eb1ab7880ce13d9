"""Issue #24's hostile inputs, timed and measured against what the code they replace did (each in a fresh process
where memory is measured, VmHWM = that process's own peak):

* a 342-byte YAML alias bomb: radiomix's loader vs PyYAML's safe_load + a walk of the result (what validation did);
* ``features.include: "(a+)+b"``: RE2 on a 40-character column name vs Python's ``re`` on shorter names (it
  doubles per character; 40 would take days);
* a model file with a 2 GB LZMA member: ``load_model`` vs ``skops.io.load``;
* ``image: /usr`` in a manifest: refused before any hashing.

    python benchmarks/redteam.py

Prints one line per case. Never gates CI (timings on a shared machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _alias_bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


def yaml_bomb() -> None:
    import yaml

    from radiomix.safeyaml import YAMLInputError, load_yaml_text

    bomb = _alias_bomb()
    t0 = time.perf_counter()
    try:
        load_yaml_text(bomb, source="bomb.yaml")
    except YAMLInputError:
        pass
    ours = time.perf_counter() - t0

    def count(o, budget=[5_000_000]):  # noqa: B006 - a walk that stops after 5 million nodes
        budget[0] -= 1
        if budget[0] < 0:
            raise TimeoutError
        if isinstance(o, list):
            for x in o:
                count(x)
        elif isinstance(o, dict):
            for x in o.values():
                count(x)

    t0 = time.perf_counter()
    data = yaml.safe_load(bomb)
    try:
        count(data)
        walked = "the whole document"
    except TimeoutError:
        sizes = [10]  # nodes of a, b = 9 x a, ... with aliases expanded
        for _ in range(8):
            sizes.append(1 + 9 * sizes[-1])
        walked = f"5,000,000 of its {1 + 9 + sum(sizes):,} nodes"
    theirs = time.perf_counter() - t0
    whole = theirs * (1 + 9 + sum(sizes)) / 5e6 if "of its" in walked else theirs
    print(f"YAML alias bomb ({len(bomb)} bytes): radiomix refuses in {ours * 1000:.1f} ms; PyYAML + a walk of "
          f"{walked}: {theirs:.2f} s (the whole walk at that rate: {whole:.0f} s, {whole / ours:,.0f}x)")


def redos() -> None:
    import re

    from radiomix.patterns import compile_user_pattern

    rx2 = compile_user_pattern("(a+)+b", "features.include")
    t0 = time.perf_counter()
    for n in (40, 1000, 100_000):
        rx2.search("a" * n + "c")
    ours = time.perf_counter() - t0
    rows = []
    for n in (18, 20, 22):
        t0 = time.perf_counter()
        re.search("(a+)+b", "a" * n + "c")
        rows.append(f"{n}: {time.perf_counter() - t0:.2f} s")
    print(f"ReDoS '(a+)+b': RE2 on names of 40, 1,000 and 100,000 characters {ours * 1000:.2f} ms in all; Python re "
          f"on names of {', '.join(rows)} (doubling per character)")


_MEASURE = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    kind, path = sys.argv[1], sys.argv[2]
    try:
        if kind == "radiomix":
            from radiomix.model import load_model
            load_model(path)
        else:
            import skops.io as sio
            sio.load(path, trusted=sio.get_untrusted_types(file=path))
        what = "loaded"
    except Exception as err:
        what = type(err).__name__
    hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM")) / 1024
    print(json.dumps({"what": what, "seconds": time.perf_counter() - t0, "peak_mb": hwm}))
""")


def zip_bomb(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_redteam_model_files as t

    _, path, _ = t._trained_in(folder, "lda")
    bomb, _ = t._replace_array(path, folder / "bomb.skops", t._BOMB_BYTES, t.zipfile.ZIP_LZMA, t._FastLZMA)
    out = {}
    for kind in ("radiomix", "skops"):
        res = subprocess.run([sys.executable, "-c", _MEASURE, kind, str(bomb)], capture_output=True, text=True)
        out[kind] = json.loads(res.stdout.splitlines()[-1])
    r, s = out["radiomix"], out["skops"]
    print(f"model file with a {t._BOMB_BYTES / 1e9:.1f} GB LZMA member ({bomb.stat().st_size / 1e6:.1f} MB on disk): "
          f"load_model refuses ({r['what']}) in {r['seconds']:.2f} s at {r['peak_mb']:.0f} MB peak; skops.io.load "
          f"{s['what']} in {s['seconds']:.1f} s at {s['peak_mb']:.0f} MB peak ({s['peak_mb'] / r['peak_mb']:.1f}x)")


def usr_folder(folder: Path) -> None:
    import warnings

    import pandas as pd

    from radiomix.extraction import extract

    (folder / "m.csv").write_text(pd.DataFrame({"id": ["x"], "image": ["/usr"], "mask": ["/usr"]}).to_csv(index=False))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, errors = extract(folder / "m.csv", "ct-original", return_details=True, progress=False)
    print(f"manifest image /usr: refused per case in {time.perf_counter() - t0:.2f} s ({errors['message'].iloc[0][:90]}...)"
          " (before: 111 s hashing 7.5 GB)")


if __name__ == "__main__":
    yaml_bomb()
    redos()
    with tempfile.TemporaryDirectory() as d:
        zip_bomb(Path(d))
        usr_folder(Path(d))
