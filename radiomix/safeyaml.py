"""YAML files a user hands radiomix (training configs, perturbation specs, pyradiomics parameter files), read
with limits, so that no file can hang radiomix, exhaust its memory or run code.

* Size: at most :data:`MAX_BYTES` bytes.
* Aliases: YAML's ``&anchor`` / ``*alias`` share one node, so 700 bytes can describe a structure of 10^9
  entries (the "billion laughs"); anything that walks it (validation, merging, ``safe_dump`` into the run
  folder) would then hang. The document's size with every alias expanded is computed on the node graph
  (linear in the file) and refused above :data:`MAX_NODES`; a recursive alias is refused.
* Nesting deeper than :data:`MAX_DEPTH`, and a key given twice in one mapping (YAML keeps the last one without
  a word), are refused.
* Only YAML's safe tags: ``!!python/object`` and other constructors fail as a parse error.

Every failure is a :class:`YAMLInputError` (a ValueError) on one line naming the file and the line.
A leaf module: it imports nothing from radiomix.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

__all__ = ["load_yaml", "load_yaml_text", "load_yaml_with_lines", "YAMLInputError", "MAX_BYTES", "MAX_NODES",
           "MAX_DEPTH"]

#: Largest YAML file read (bytes).
MAX_BYTES = 1_000_000
#: Most nodes (scalars, sequences, mappings) a document may hold with its aliases expanded.
MAX_NODES = 100_000
#: Deepest nesting of sequences and mappings.
MAX_DEPTH = 50


class YAMLInputError(ValueError):
    """A YAML file radiomix refuses to read: one line naming the file (and line) and what is wrong."""


def load_yaml(path: str | os.PathLike, *, what: str = "YAML file"):
    """Parse the YAML file at ``path`` within the limits above; ``what`` names it in messages."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise YAMLInputError(f"{what} {path} cannot be read: {err.strerror or err}") from None
    if size > MAX_BYTES:
        raise YAMLInputError(f"{what} {path} is {size:,} bytes; radiomix reads YAML files up to {MAX_BYTES:,} bytes")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise YAMLInputError(f"{what} {path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at position "
                             f"{err.start}); re-save it as UTF-8") from None
    return load_yaml_text(text, source=f"{what} {path}")


def load_yaml_with_lines(path: str | os.PathLike, *, what: str = "YAML file") -> tuple[object, dict]:
    """:func:`load_yaml` and, for a mapping document, the line of every key: ``{dotted.key: line number}``."""
    data = load_yaml(path, what=what)
    lines: dict = {}
    if isinstance(data, dict):
        node = yaml.compose(Path(path).read_bytes().decode("utf-8-sig"), Loader=yaml.SafeLoader)
        _key_lines(node, "", lines)
    return data, lines


def _key_lines(node, prefix: str, out: dict) -> None:
    stack = [(node, prefix)]
    while stack:
        node, prefix = stack.pop()
        if not isinstance(node, yaml.MappingNode):
            continue
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                path = f"{prefix}{k.value}"
                out.setdefault(path, k.start_mark.line + 1)
                stack.append((v, path + "."))


def load_yaml_text(text: str, *, source: str = "YAML text"):
    """Parse YAML ``text`` within the limits above; ``source`` names it in messages."""
    if len(text.encode()) > MAX_BYTES:
        raise YAMLInputError(f"{source} is longer than {MAX_BYTES:,} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_graph(node, source)
        return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader: YAML's safe tags only
    except YAMLInputError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        if "could not determine a constructor" in problem:
            problem += " (radiomix reads plain YAML only: no !!python or other object tags)"
        raise YAMLInputError(f"{source},{where}: {problem}") from None
    except yaml.YAMLError as err:
        raise YAMLInputError(f"{source}: invalid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise YAMLInputError(f"{source}: nested deeper than radiomix reads (at most {MAX_DEPTH} levels)") from None


def _line(node) -> str:
    return f"line {node.start_mark.line + 1}" if node.start_mark is not None else "somewhere"


def _check_graph(root, source: str) -> None:
    """Refuse recursive aliases, nesting deeper than MAX_DEPTH, duplicate keys and documents whose expanded
    size exceeds MAX_NODES. Iterative (a deep document cannot exhaust Python's stack); each shared node's size
    is computed once."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if not done:
            if key in size:
                continue
            if key in on_path:
                raise YAMLInputError(f"{source}, {_line(node)}: an alias refers to a node that contains it "
                                     "(a recursive structure); radiomix does not read those")
            on_path.add(key)
            if isinstance(node, yaml.MappingNode):
                _check_duplicate_keys(node, source)
            stack.append((node, True))
            stack.extend((c, False) for c in children)
            continue
        on_path.discard(key)
        size[key] = 1 + sum(size[id(c)] for c in children)
        depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
        if size[key] > MAX_NODES:
            raise YAMLInputError(f"{source}, {_line(node)}: expands to more than {MAX_NODES:,} entries once its "
                                 "aliases (*name) are expanded; radiomix does not read such files")
        if depth[key] > MAX_DEPTH:
            raise YAMLInputError(f"{source}, {_line(node)}: nested deeper than radiomix reads (at most {MAX_DEPTH} "
                                 "levels)")


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_duplicate_keys(node, source: str) -> None:
    seen: dict = {}
    for k, _ in node.value:
        if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
            if k.value in seen:
                raise YAMLInputError(f"{source}, {_line(k)}: key {k.value!r} is given twice in one mapping (first "
                                     f"at {seen[k.value]}); YAML would silently keep the last one")
            seen[k.value] = _line(k)
