"""Compiled kernels: numba's ``njit`` with the GIL released and an on-disk cache when possible."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])


def kernel(*, inline: bool = False) -> Callable[[F], F]:
    """Compile a function with numba, releasing the GIL, cached beside the package if possible.

    Where no cache can be written (a read-only installation and no writable home or
    ``NUMBA_CACHE_DIR``), numba refuses ``cache=True`` outright; the kernel is then compiled
    afresh in each process, which costs start-up time but never fails.
    """
    options: dict[str, Any] = {"inline": "always"} if inline else {"nogil": True}

    def compile_(fn: F) -> F:
        try:
            return njit(cache=True, **options)(fn)  # type: ignore[no-any-return]
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(cache=False, **options)(fn)  # type: ignore[no-any-return]

    return compile_
