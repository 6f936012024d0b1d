"""Arrays that never change once made, named so that a snapshot writes each of them once.

A band index's levels are rewritten only when a merge reaches them, and the largest levels
(most of an index's bytes) rarely are. A snapshot keeps every `FrozenArray` of at least
`dedup.snapshot.FROZEN_MIN_BYTES` in a file named after it, and a later snapshot that meets
the same array refers to that file instead of writing its bytes again.
"""
from __future__ import annotations

import uuid

import numpy as np


class FrozenArray:
    """An array and a name unique to it. Whoever names an array promises never to change it;
    a changed array takes a new name (`new_name`)."""

    __slots__ = ("name", "array")

    def __init__(self, name: str, array: np.ndarray) -> None:
        self.name, self.array = name, array

    def __reduce__(self):
        return FrozenArray, (self.name, self.array)


def new_name() -> str:
    """A name no other array has had (random: names outlive processes, in snapshots)."""
    return uuid.uuid4().hex
