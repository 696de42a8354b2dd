"""Compiled kernels: numba's ``njit``, with the GIL released and an on-disk cache; ``prefetch``.

``prefetch`` serves kernels that read a few events ahead of the one they work on. The rules that
kernels follow (scalar-only inlined helpers, side streams, prefetch, grow and redraw, how a
phase's arrays travel), and the measurements behind them, are in docs/kernels.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

F = TypeVar("F", bound=Callable[..., Any])
AHEAD = 16  # events ahead that a kernel prefetches (see prefetch)


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


@intrinsic(prefer_literal=False)
def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:  # pragma: no cover - compiled
    """``prefetch(array, index)``: bring ``array[index]`` into the cache; no effect on results.

    For kernels that visit citizens a few events ahead of where they work: at national scale the
    citizens' arrays are far larger than the caches, and a loop with much work per event has only
    a few of its misses in flight unless told where it is going next.
    """
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        pointer = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, sig.args[0], ary, [args[1]], wraparound=False, boundscheck=False
        )
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )  # fmt: skip
        # Read, keep in every level of the cache, data (not instructions).
        builder.call(fn, [builder.bitcast(pointer, byte), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return signature, codegen


#: ``prefetch(array, index)``, for kernels (see ``_prefetch``).
prefetch = cast(Callable[[Any, Any], None], _prefetch)
