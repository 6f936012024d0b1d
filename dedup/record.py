"""A `Document` as one flat record of bytes, and back.

The documents file stores each document as such a record (see `dedup.documents`), and a
document is pickled as one: a worker process hands its analysis to the indexing process in
this form, which is encoded and decoded in about a third of the time numpy's pickling of a
document's seventeen arrays takes (62 against 126 us to load a Reuters article).
"""
from __future__ import annotations

import functools
import math
import pickle
import struct
from dataclasses import fields

import numpy as np

from dedup.analysis import Document

# A record starts with what screening reads (`Screening`), in a fixed layout that is read
# without unpickling anything: counts of story terms and distinct shingles, the story norm,
# then the story terms (uint64), their weights (float32) and the distinct shingles (uint64).
# The other fields follow: the length of their pickled scalars and array layouts, those,
# then the arrays, each aligned to 8 bytes from the record's start.
_SCREENING_PREFIX = struct.Struct("<IId")
_SCREENING_ARRAYS = (("story_terms", np.dtype(np.uint64)), ("story_weights", np.dtype(np.float32)),
                     ("shingle_set", np.dtype(np.uint64)))
_SCREENING = ("story_terms", "story_weights", "story_norm", "shingle_set")
_ARRAYS = tuple(f.name for f in fields(Document) if f.type == "np.ndarray" and f.name not in _SCREENING)
_SCALARS = tuple(f.name for f in fields(Document) if f.type != "np.ndarray" and f.name not in _SCREENING)
_HEADER = struct.Struct("<I")
_ALIGN = 8


def encode(doc: Document) -> bytes:
    """One record: the screening prefix, then the rest (see `_SCREENING_PREFIX`)."""
    arrays = [np.ascontiguousarray(getattr(doc, name)) for name in _ARRAYS]
    layout = [(a.dtype.str, a.shape) for a in arrays]
    scalars = pickle.dumps(([getattr(doc, name) for name in _SCALARS], layout), protocol=pickle.HIGHEST_PROTOCOL)
    return _joined([*_screening_parts(doc), _HEADER.pack(len(scalars)) + scalars, *arrays])


def screening_prefix(fields) -> bytes:
    """The screening prefix of a record of a document with these screening fields (an object
    with story_terms, story_weights, story_norm and shingle_set)."""
    return _joined(_screening_parts(fields))


def _screening_parts(fields) -> list:
    screening = [np.ascontiguousarray(getattr(fields, name), dtype) for name, dtype in _SCREENING_ARRAYS]
    return [_SCREENING_PREFIX.pack(len(screening[0]), len(screening[2]), fields.story_norm), *screening]


def _joined(parts: list) -> bytes:
    """The parts (bytes or arrays) back to back, each after the first starting 8-byte
    aligned from the start."""
    out, size = [], 0
    for part in parts:
        data = part if isinstance(part, bytes) else part.tobytes()
        pad = -size % _ALIGN
        out += [b"\0" * pad, data]
        size += pad + len(data)
    return b"".join(out)


def _screening_layout(data: bytes) -> tuple[float, list[tuple[str, np.dtype, int, int]], int]:
    """From the start of a record: the story norm, each screening array's (name, dtype, count,
    offset), and where the prefix ends."""
    terms, shingles, norm = _SCREENING_PREFIX.unpack_from(data)
    at, arrays = _SCREENING_PREFIX.size, []
    for count, (name, dtype) in zip((terms, terms, shingles), _SCREENING_ARRAYS):
        at += -at % _ALIGN
        arrays.append((name, dtype, count, at))
        at += count * dtype.itemsize
    return norm, arrays, at


def screening_size(data: bytes) -> int:
    """Bytes of the screening prefix of the record that `data` starts."""
    return _screening_layout(data)[2]


def screening_fields(data: bytes) -> tuple[dict, int]:
    """The screening fields of the record `data` starts (views into it), and where they end."""
    norm, arrays, end = _screening_layout(data)
    out = {"story_norm": norm}
    for name, dtype, count, at in arrays:
        # Views into the record (read-only): nothing mutates a document's arrays in place.
        out[name] = np.frombuffer(data, dtype=dtype, count=count, offset=at)
    return out, end


def decode(data: bytes, owned: bool = False) -> Document:
    """The document of a record. Its arrays are read-only views into `data`, or, when
    `owned`, into copies of the two parts of `data` that hold arrays: then the rest of `data`
    (the text and the other fields, which the document holds as objects) can be freed, for a
    document kept in RAM. Two copies, not one per array: a Reuters article loads in about
    two thirds of the time."""
    out, at = screening_fields(bytes(data[:screening_size(data)]) if owned else data)
    at += -at % _ALIGN
    (length,) = _HEADER.unpack_from(data, at)
    at += _HEADER.size
    values, layout = pickle.loads(data[at:at + length])
    at += length
    out.update(zip(_SCALARS, values))
    at += -at % _ALIGN
    if owned:  # the arrays run from here to the end; each stays 8-byte aligned from here
        data, at = bytes(data[at:]), 0
    frombuffer = np.frombuffer
    for name, (dtype, shape) in zip(_ARRAYS, layout):
        at += -at % _ALIGN
        dt = _dtype(dtype)
        count = math.prod(shape)
        array = frombuffer(data, dtype=dt, count=count, offset=at)
        out[name] = array if len(shape) == 1 else array.reshape(shape)
        at += count * dt.itemsize
    return Document(**out)


def screening_record(doc):
    """The bytes that start with `doc`'s screening prefix, if it was decoded from a record,
    else `doc` itself: what `_setops.screen` reads of a candidate, either way. A decoded
    document's screening arrays are views into those bytes, whose counts match them (read
    from the arrays: an attribute on each document cost ~900 bytes an article, the instance
    dict outgrowing its shared keys)."""
    base = doc.story_terms.base
    if (type(base) is bytes and doc.shingle_set.base is base and len(base) >= _SCREENING_PREFIX.size
            and _SCREENING_PREFIX.unpack_from(base)[:2] == (len(doc.story_terms), len(doc.shingle_set))):
        return base
    return doc


@functools.lru_cache(maxsize=None)
def _dtype(code: str) -> np.dtype:
    return np.dtype(code)
