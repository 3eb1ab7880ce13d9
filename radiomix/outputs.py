"""Output folders and files radiomix writes, and the rules that keep a user's own files safe.

* A run folder (``radiomix train --out``, ``radiomix robustness --out``, ``radiomix demo --out``) must be absent,
  empty, or a folder radiomix wrote before (it holds :data:`MARKER`, written last, listing every file of the
  run). Anything else is refused before any work. ``overwrite=True`` (``--overwrite``) replaces only such a
  folder, and only when it holds nothing but what the marker lists; an input of the run may never lie inside
  what is replaced.
* An output file (``extract``, ``merge``, ``predict``, ``evaluate``, ``report --out``) that exists is replaced
  only with ``overwrite=True``, and never when it is one of the command's inputs.
* A folder is written into a hidden sibling, ``.NAME.partial-PID``, and renamed into place when complete
  (:class:`staged_folder`): an error, Ctrl-C or a kill never leaves a folder that looks finished. Such
  siblings left by processes that no longer run are removed by the next run into the same place (said).

Nothing here reads the files' contents beyond the marker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import warnings
from pathlib import Path

from . import __version__

__all__ = ["MARKER", "OutputError", "check_output_folder", "check_output_file", "staged_folder",
           "clean_stale_partials", "read_marker", "record_files"]

#: The file that marks a folder as written by radiomix (written last: its presence means complete).
MARKER = "radiomix-run.json"

_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)$")


class OutputError(ValueError):
    """An output path radiomix refuses to write (it would replace or mix with the user's own files)."""


def _shown(path: Path) -> str:
    return str(path)


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of a radiomix output folder (``kind``, ``files``, version, time), or None if there is none
    or it cannot be read as one."""
    p = Path(folder) / MARKER
    try:
        if not p.is_file() or p.stat().st_size > 1_000_000:
            return None
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list) or \
            not all(isinstance(f, str) for f in data["files"]):
        return None
    return data


def _listing(folder: Path) -> list[str]:
    """Every entry under ``folder`` as a relative POSIX path (folders included), sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / d).as_posix() for d in dirs] + [(rel / f).as_posix() for f in files]
    return sorted(out)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_output_folder(out: str | os.PathLike, *, kind: str, overwrite: bool = False,
                        inputs=()) -> Path:
    """Check that ``out`` may receive a new ``kind`` output folder; return it as an absolute path.

    Refused (:class:`OutputError`, one line naming the folder): an existing file; a non-empty folder radiomix did
    not write (no :data:`MARKER`); a previous radiomix folder without ``overwrite`` (say ``--overwrite``), or of
    another kind, or holding files the marker does not list; a folder containing one of ``inputs``; a parent
    that cannot be written. Stale partial siblings of dead processes are cleaned first.
    """
    given = Path(out)
    out = Path(os.path.abspath(given))
    if not out.name:
        raise OutputError(f"output folder {_shown(given)} has no name; choose a folder to create")
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {_shown(given)} is a file; choose a folder name")
    if out.is_dir() and any(out.iterdir()):
        marker = read_marker(out)
        if marker is None:
            raise OutputError(f"output folder {_shown(given)} exists and holds files radiomix did not write; "
                              "radiomix never replaces them: choose a new or empty folder")
        if marker.get("kind") != kind:
            raise OutputError(f"output folder {_shown(given)} holds a radiomix {marker.get('kind')!r} output, not a "
                              f"{kind!r} one; choose another folder")
        if not overwrite:
            raise OutputError(f"output folder {_shown(given)} holds an earlier radiomix {kind} output; pass "
                              "--overwrite (overwrite=True) to replace it, or choose a new folder")
        foreign = sorted(set(_listing(out)) - set(marker["files"]) - {MARKER})
        if foreign:
            raise OutputError(f"output folder {_shown(given)} holds {len(foreign)} file(s) radiomix did not write "
                              f"({foreign[:5]}); radiomix replaces only its own outputs: move them, or choose a "
                              "new folder")
    for p in inputs:
        if p is not None and isinstance(p, (str, os.PathLike)) and out.exists() and _inside(Path(p), out):
            raise OutputError(f"input {_shown(Path(p))} lies inside the output folder {_shown(given)}, which would "
                              "be replaced; choose another output folder")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"output folder {_shown(given)}: {parent} is not a folder") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {_shown(given)} cannot be written (permission denied on {parent})")
    clean_stale_partials(out)
    return out


def check_output_file(path: str | os.PathLike, *, overwrite: bool = False, inputs=(), what: str = "output") -> Path:
    """Check that ``path`` may be written: not a folder, not one of ``inputs``, and absent unless ``overwrite``."""
    given = Path(path)
    path = Path(os.path.abspath(given))
    for p in inputs:
        if p is not None and isinstance(p, (str, os.PathLike)) and Path(p).exists() and path.exists() and \
                os.path.samefile(p, path):
            raise OutputError(f"{what} {_shown(given)} is also an input of this command; write to another file")
    if path.is_dir():
        raise OutputError(f"{what} {_shown(given)} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputError(f"{what} {_shown(given)} exists; pass --overwrite (overwrite=True) to replace it, or "
                          "choose a new name")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def clean_stale_partials(out: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.partial-PID`` / ``.NAME.old-PID`` siblings of ``out`` whose process no longer runs (a
    kill while the folder was being written); said once. Returns what was removed."""
    out = Path(os.path.abspath(out))
    removed = []
    if not out.parent.is_dir():
        return removed
    for p in out.parent.iterdir():
        m = _PARTIAL.match(p.name)
        if not m or m.group("name") != out.name or not p.is_dir():
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    if removed:
        warnings.warn(f"removed {len(removed)} unfinished output folder(s) left by a radiomix process that no "
                      f"longer runs: {[p.name for p in removed]}", stacklevel=2)
    return removed


def record_files(folder: str | os.PathLike, paths) -> None:
    """Add ``paths`` (written into ``folder`` after it was finished, e.g. by ``radiomix report``) to the folder's
    marker, so that a later ``--overwrite`` knows them as radiomix's own. No marker: nothing to do."""
    folder = Path(os.path.abspath(folder))
    marker = read_marker(folder)
    if marker is None:
        return
    new = set(marker["files"])
    for p in paths:
        p = Path(os.path.abspath(p))
        if _inside(p, folder) and p.exists():
            rel = p.relative_to(folder)
            new.update(Path(*rel.parts[:k]).as_posix() for k in range(1, len(rel.parts) + 1))
            if p.is_dir():
                new.update((rel / q).as_posix() for q in _listing(p))
    marker["files"] = sorted(new)
    from .io import atomic_write_text

    atomic_write_text(folder / MARKER, json.dumps(marker, indent=2, default=str))


class staged_folder:
    """``with staged_folder(out, kind=..., overwrite=...) as stage:`` write everything into ``stage`` (a hidden
    sibling of ``out``); on success :data:`MARKER` is written last and the folder moved into place (replacing a
    previous radiomix folder of the same kind only with ``overwrite``, re-checked at the end); on any error or
    Ctrl-C the stage is removed and ``out`` is untouched. Call :func:`check_output_folder` first: it refuses
    before any work rather than after."""

    def __init__(self, out: str | os.PathLike, *, kind: str, overwrite: bool = False, record: dict | None = None):
        self.out = Path(os.path.abspath(out))
        self.kind = kind
        self.overwrite = overwrite
        self.record = record or {}
        self.stage = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"

    def __enter__(self) -> Path:
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True)
        return self.stage

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return False
        try:
            self._finish()
        except BaseException:
            shutil.rmtree(self.stage, ignore_errors=True)
            raise
        return False

    def _finish(self) -> None:
        from .interrupts import raise_if_interrupted

        raise_if_interrupted()  # a Ctrl-C some library swallowed: the run is not complete
        files = _listing(self.stage)
        marker = {"kind": self.kind, "radiomix": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "files": files, **self.record}
        (self.stage / MARKER).write_text(json.dumps(marker, indent=2, default=str))
        check_output_folder(self.out, kind=self.kind, overwrite=self.overwrite)  # nothing appeared meanwhile
        if not self.out.exists():
            os.replace(self.stage, self.out)
            return
        if not any(self.out.iterdir()):  # an empty folder the user made (maybe their working folder): fill it
            for name in os.listdir(self.stage):
                if name != MARKER:
                    os.replace(self.stage / name, self.out / name)
            os.replace(self.stage / MARKER, self.out / MARKER)
            self.stage.rmdir()
            return
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        os.replace(self.out, old)
        os.replace(self.stage, self.out)
        shutil.rmtree(old, ignore_errors=True)
