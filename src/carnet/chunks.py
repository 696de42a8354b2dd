"""A long 1-D array kept as its pieces, so that checkpoints neither copy it nor read it twice.

The pending restorations of a national run are the largest thing it holds after the citizens
themselves, as many small pieces (a day's and a kind's each). Concatenating them to write a
checkpoint held them twice, and so did cutting them up again on resuming. A checkpoint stores a
:class:`Chunks` piece by piece instead (:mod:`carnet.output`), and gives the pieces back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


class Chunks:
    """The concatenation of ``parts`` (1-D arrays of ``dtype``), not made unless asked for."""

    def __init__(self, parts: Sequence[npt.NDArray[Any]], dtype: npt.DTypeLike) -> None:
        self.dtype = np.dtype(dtype)
        for p in parts:
            if p.ndim != 1 or p.dtype != self.dtype:
                raise ValueError(f"a piece must be 1-D {self.dtype}, got {p.ndim}-D {p.dtype}")
        self.parts = list(parts)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        """The whole, concatenated (a copy), for readers that want one array."""
        whole = np.concatenate([np.empty(0, self.dtype), *self.parts])
        return whole if dtype is None else whole.astype(dtype)


#: A column of a snapshot: one array, or one kept in pieces.
Column = npt.NDArray[Any] | Chunks


def pieces(column: Column, sizes: npt.NDArray[np.int64]) -> list[npt.NDArray[Any]]:
    """``column`` cut into pieces of ``sizes``: the pieces themselves if it is kept so.

    A flat array (a snapshot written as one) is cut into copies, so that each piece's memory is
    freed on its own.
    """
    if isinstance(column, Chunks):
        if [len(p) for p in column.parts] != [int(n) for n in sizes]:
            raise ValueError("the pieces do not have the sizes recorded beside them")
        return column.parts
    ends = np.cumsum(sizes)
    return [column[end - n : end].copy() for end, n in zip(ends, sizes, strict=True)]
