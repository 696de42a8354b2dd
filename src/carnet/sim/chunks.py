"""A long 1-D array kept as its pieces, so that checkpoints neither copy it nor read it twice.

The pending restorations of a national run are the largest thing it holds after the citizens
themselves, as many small pieces (a day's and a kind's each). Concatenating them to write a
checkpoint held them twice, and so did cutting them up again on resuming. A checkpoint stores a
:class:`Chunks` piece by piece instead (:func:`save_npz`), and gives the pieces back
(:func:`load_npz`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.lib.format as npformat
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


_LENGTHS = "#pieces"  # suffix of the entry that holds the lengths of a column's pieces


def save_npz(file: IO[bytes], columns: Mapping[str, Column]) -> None:
    """Write ``columns`` as an ``.npz`` file (what :func:`numpy.load` reads).

    A column kept in pieces becomes two entries: ``NAME``, its pieces written one after another
    (never concatenated in memory), and ``NAME#pieces``, their lengths.
    """
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, column in columns.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                if not isinstance(column, Chunks):
                    npformat.write_array(out, np.asanyarray(column), allow_pickle=False)
                    continue
                header = {
                    "descr": npformat.dtype_to_descr(column.dtype),
                    "fortran_order": False,
                    "shape": (len(column),),
                }
                npformat.write_array_header_1_0(out, header)
                for piece in column.parts:
                    out.write(np.ascontiguousarray(piece).data)
            lengths = np.array([len(p) for p in column.parts], np.int64)
            with archive.open(f"{name}{_LENGTHS}.npy", "w") as out:
                npformat.write_array(out, lengths, allow_pickle=False)


def load_npz(path: Path) -> dict[str, Column]:
    """The columns that :func:`save_npz` wrote; those kept in pieces come back in pieces.

    Each piece is read into an array of its own: a long column is never held whole as well.
    """
    out: dict[str, Column] = {}
    with zipfile.ZipFile(path) as archive:
        entries = [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
        in_pieces = {n.removesuffix(_LENGTHS) for n in entries if n.endswith(_LENGTHS)}
        for name in entries:
            if name.endswith(_LENGTHS):
                continue
            with archive.open(f"{name}.npy") as f:
                if name not in in_pieces:
                    out[name] = npformat.read_array(f, allow_pickle=False)
                    continue
                with archive.open(f"{name}{_LENGTHS}.npy") as g:
                    lengths = npformat.read_array(g, allow_pickle=False)
                version = npformat.read_magic(f)
                read_header = (
                    npformat.read_array_header_1_0
                    if version == (1, 0)
                    else npformat.read_array_header_2_0
                )
                _, _, dtype = read_header(f)
                parts = []
                for n in lengths.tolist():
                    data = f.read(n * dtype.itemsize)
                    if len(data) != n * dtype.itemsize:
                        raise ValueError(f"{name}: the file ends inside a piece")
                    parts.append(np.frombuffer(data, dtype).copy())  # writable, its own
                out[name] = Chunks(parts, dtype)
    return out
