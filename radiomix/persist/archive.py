"""The zip before skops reads it: sizes, compression, array headers (then the schema)."""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from ._common import (
    MAX_BYTES_ENV,
    MAX_DEPTH,
    MAX_DIRECTORY_BYTES,
    MAX_MEMBERS,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_TOKENS,
    Refused,
    Tokens,
    check_tokens,
    no_constant,
    one_line,
    raise_limit,
)
from .schema import Schema

__all__ = ["check_model_file"]

def check_model_file(fh, name, max_bytes: int, check_types) -> set[str]:
    """Check the model file open as ``fh`` (binary, seekable) before skops reads it.

    The zip directory, every member's declared size (each and together at most ``max_bytes``; checked before
    anything is decompressed), its compression (stored, or deflated and verified in bounded chunks to inflate to
    exactly its declared size), every array member's header (plain numeric or text dtype, a shape that matches
    its bytes), and ``schema.json`` (size, token count, nesting, and the fixed structure of each node kind).
    ``check_types(names)`` gets the names of the types the schema asks skops to build (objects, types, functions)
    as soon as they are known, for the caller's trust decision (it raises to refuse); they are also returned.
    Raises a one-line ValueError that starts with ``name``.
    """
    try:
        return _Archive(fh, max_bytes).check(check_types)
    except Refused as err:
        raise ValueError(f"{name}: {err}") from None


def _unreadable(detail: str) -> Refused:
    return Refused(f"not a readable radiomix model file (corrupt, truncated or not a skops file: {detail})")


def _directory_size(fh, size: int):
    """``(entries, directory bytes)`` from the zip's end record (zip64 too), read before zipfile parses the
    directory (zipfile reads as many entries as the end record's size allows), or None without an end record."""
    tail_len = min(size, 22 + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = len(tail) - 22 if tail[-22:-18] == b"PK\x05\x06" else tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    if entries != 0xFFFF and cd_size != 0xFFFFFFFF:
        return entries, cd_size
    locator = size - tail_len + at - 20
    if locator < 0:
        return None
    fh.seek(locator)
    loc = fh.read(20)
    if loc[:4] != b"PK\x06\x07":
        return None
    (offset,) = struct.unpack("<Q", loc[8:16])
    if offset + 56 > size:
        return None
    fh.seek(offset)
    rec = fh.read(56)
    if rec[:4] != b"PK\x06\x06":
        return None
    return struct.unpack("<QQ", rec[32:48])


class _Archive:
    def __init__(self, fh, limit):
        self.fh, self.limit = fh, limit
        self.tokens = Tokens(max(MAX_SCHEMA_TOKENS, limit // 512))

    def check(self, check_types) -> set[str]:
        fh, limit = self.fh, self.limit
        size = fh.seek(0, os.SEEK_END)
        if size > limit:
            raise Refused(f"the file holds {size:,} bytes, {raise_limit(limit)}")
        directory = _directory_size(fh, size)
        if directory is None:
            raise _unreadable("no zip directory")
        if directory[0] > MAX_MEMBERS or directory[1] > MAX_DIRECTORY_BYTES:
            raise Refused(f"the zip directory lists {directory[0]:,} members in {directory[1]:,} bytes, more than a "
                           f"model file holds (at most {MAX_MEMBERS:,} members, {MAX_DIRECTORY_BYTES:,} bytes)")
        fh.seek(0)
        try:
            self.zf = zipfile.ZipFile(fh)
        except Exception as err:  # zipfile raises several types for a broken directory
            raise _unreadable(type(err).__name__) from None
        self.members = self._check_members()
        schema = self._read_schema()
        check = Schema(set(self.members), self.tokens)
        check.root(schema)
        check_types(check.types)
        for member in sorted(check.arrays):
            self._check_npy(self.members[member])
        return check.types

    def _check_members(self) -> dict:
        members, total = {}, 0
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Refused(f"the zip holds {len(infos):,} members, more than a model file holds ({MAX_MEMBERS:,})")
        for info in infos:
            label = f"member {info.filename[:80]!r}"
            if info.filename in members:
                raise Refused(f"{label} appears twice in the zip (a reader could pick either)")
            members[info.filename] = info
            if info.file_size > self.limit:
                raise Refused(f"{label} declares {info.file_size:,} bytes uncompressed, {raise_limit(self.limit)}")
            total += info.file_size
            if total > self.limit:
                raise Refused(f"the members declare {total:,} bytes uncompressed together (so far, at {label}), "
                               f"{raise_limit(self.limit)}")
            if info.flag_bits & 0x1:
                raise Refused(f"{label} is encrypted; radiomix model files never are")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.compress_size != info.file_size:
                    raise Refused(f"{label} is stored uncompressed but declares {info.compress_size:,} stored and "
                                   f"{info.file_size:,} uncompressed bytes")
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                self._check_inflates(info, label)
            else:
                method = zipfile.compressor_names.get(info.compress_type, str(info.compress_type))
                raise Refused(f"{label} is compressed with {method}; radiomix reads stored or deflated members only "
                               "(other decompressors cannot be bounded before they run; radiomix writes stored members)")
        return members

    def _check_inflates(self, info, label) -> None:
        """A deflated member must inflate to exactly its declared size. zipfile inflates a member in one call
        when skops reads it, whatever its header declares, so the raw stream is inflated here in bounded chunks
        (memory stays at a few MB whatever the stream expands to)."""
        fh = self.fh
        fh.seek(info.header_offset)
        head = fh.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise _unreadable(f"{label} has no local header")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        inflate, left, out = zlib.decompressobj(-15), info.compress_size, 0
        try:
            while left > 0 and not inflate.eof:
                chunk = fh.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
                while chunk and not inflate.eof:
                    out += len(inflate.decompress(chunk, 1 << 20))
                    chunk = inflate.unconsumed_tail
                    if out > info.file_size:
                        raise Refused(f"{label} inflates to more than the {info.file_size:,} bytes it declares")
        except zlib.error as err:
            raise _unreadable(f"{label}: {err}") from None
        if not inflate.eof or out != info.file_size:
            raise _unreadable(f"{label} inflates to {out:,} bytes, not the {info.file_size:,} it declares")

    def _read_schema(self):
        info = self.members.get("schema.json")
        if info is None:
            raise _unreadable("no schema.json")
        cap = min(self.limit, max(MAX_SCHEMA_BYTES, self.limit // 16))
        if info.file_size > cap:
            raise Refused(f"schema.json declares {info.file_size:,} bytes, over the {cap:,}-byte limit for a "
                           f"model's schema; if you trust the file, raise the file limit with load_model(path, "
                           f"max_bytes=...) or the environment variable {MAX_BYTES_ENV}")
        try:
            raw = self.zf.read(info)
        except Exception as err:  # a bad CRC or a short member
            raise _unreadable(f"schema.json: {type(err).__name__}") from None
        check_tokens(raw, "schema.json", self.tokens)
        try:
            return json.loads(raw, parse_constant=no_constant)
        except RecursionError:
            raise Refused("schema.json nests deeper than Python's JSON reader can follow; a model's schema "
                           f"nests at most {MAX_DEPTH} node levels") from None
        except (ValueError, UnicodeDecodeError) as err:
            raise Refused(f"schema.json is not valid JSON ({one_line(err)})") from None

    def _check_npy(self, info) -> None:
        label = f"array member {info.filename[:80]!r}"
        fmt = np.lib.format
        try:
            with self.zf.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(f)
                else:
                    raise Refused(f"{label} has .npy format version {version}; numpy writes 1.0 or 2.0")
                start = f.tell()
        except Refused:
            raise
        except Exception as err:  # numpy raises ValueError/TypeError/SyntaxError on a bad header
            raise Refused(f"{label} is not a readable numpy array ({one_line(err)})") from None
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcSU":
            raise Refused(f"{label} holds dtype {str(dtype)[:60]}; model arrays hold numbers or text")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise Refused(f"{label} declares shape {shape}")
        need = math.prod(shape) * dtype.itemsize
        if start + need != info.file_size:
            raise Refused(f"{label} declares a {shape} {dtype} array ({need:,} bytes) but holds "
                           f"{info.file_size - start:,} bytes")






