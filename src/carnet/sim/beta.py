"""The Beta law's distribution function, for drawing quantised exposure levels exactly.

Citizens keep their digital exposure as a level 0..255, the rounding of ``255 x`` for ``x`` drawn
from Beta(a, b). Drawing the level directly, from a table of the levels' cumulative probabilities,
is exact for that quantised law and costs one uniform instead of two gamma variates. The table is
built once per scenario, here, in plain Python and numpy (no scipy).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

_EPS = 4e-16  # a step that changes the fraction by under 2 ulp: it has converged
_TINY = 1e-300  # stands in for a zero denominator in Lentz's method


def _continued_fraction(
    x: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The continued fraction of I_x(a, b), elementwise, by the modified Lentz method.

    I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1 / (1 + d1 / (1 + d2 / (1 + ...))), with
    d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)) and d_{2m} = m(b-m) x / ((a+2m-1)(a+2m)).
    It converges fast for x < (a+1)/(a+b+2), in O(sqrt(max(a, b))) terms near that point.
    """
    # Lentz's state after the first level, 1 / 1: the value f, the ratio of successive
    # denominators d, and c, the ratio of successive values, infinite after a leading zero.
    f = np.ones_like(x)
    d = np.ones_like(x)
    c = np.full_like(x, 1.0 / _TINY)
    done = np.zeros(x.shape, dtype=bool)
    # Enough terms for the largest concentration a scenario allows (1e6): ~sqrt(1e6) terms.
    limit = 200 + 20 * int(math.sqrt(float(max(a.max(initial=1.0), b.max(initial=1.0)))))
    for m in range(1, limit):
        # The integers are summed first: (a + 2m) - 2 would lose the digits of a tiny a.
        for numerator in (
            -(a + (m - 1)) * (a + b + (m - 1)) * x / ((a + (2 * m - 2)) * (a + (2 * m - 1))),
            m * (b - m) * x / ((a + (2 * m - 1)) * (a + 2 * m)),
        ):
            d = 1.0 + numerator * d
            d = np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + numerator / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            d = 1.0 / d
            delta = c * d
            # Converged entries are frozen, so that later rounding cannot move them.
            f = np.where(done, f, f * delta)
        # Judged after the even step: its numerator vanishes when b is an integer m, where the
        # fraction ends exactly, and that step then changes nothing.
        done |= np.abs(delta - 1.0) < _EPS
        if done.all():
            return f
    raise ArithmeticError(f"incomplete beta: no convergence in {limit} terms")


def incomplete_beta(x: npt.ArrayLike, a: float, b: float) -> npt.NDArray[np.float64]:
    """The regularised incomplete beta function I_x(a, b) = P(X <= x) for X ~ Beta(a, b).

    Args:
        x: points in [0, 1] (any shape).
        a: first shape parameter, > 0.
        b: second shape parameter, > 0.

    Returns:
        I_x(a, b), of the shape of ``x``, to about 1e-13 for shapes up to a few hundred; the
        log-gamma prefactor cancels large terms, so the error grows with the shapes, to about
        1e-9 at a + b = 1e6 (harmless for drawing levels).

    Raises:
        ValueError: for shapes that are not positive and finite, or points outside [0, 1].
    """
    if not (0.0 < a < math.inf and 0.0 < b < math.inf):
        raise ValueError(f"incomplete beta: shapes must be positive and finite, got {a}, {b}")
    xs = np.asarray(x, dtype=np.float64)
    if not np.all((xs >= 0.0) & (xs <= 1.0)):
        raise ValueError("incomplete beta: x must lie in [0, 1]")
    flat = xs.ravel()
    out = np.where(flat >= 1.0, 1.0, 0.0)
    inner = (flat > 0.0) & (flat < 1.0)
    if inner.any():
        xi = flat[inner]
        # Beyond (a+1)/(a+b+2) the fraction converges slowly: use I_x(a,b) = 1 - I_{1-x}(b,a).
        swap = xi > (a + 1.0) / (a + b + 2.0)
        xx = np.where(swap, 1.0 - xi, xi)
        aa = np.where(swap, b, a)
        bb = np.where(swap, a, b)
        log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        # log1p keeps (1 - x)^b accurate for small x; computed from xx (not 1 - xx) so that
        # swapped entries do not lose the digits of x near 1.
        log_front = aa * np.log(xx) + bb * np.log1p(-xx) - log_beta
        part = np.exp(log_front) / aa * _continued_fraction(xx, aa, bb)
        out[inner] = np.where(swap, 1.0 - part, part)
    return out.reshape(xs.shape)


def quantised_beta_cdf(a: float, b: float, levels: int = 256) -> npt.NDArray[np.float64]:
    """Cumulative probabilities of the levels ``rint(x * (levels - 1))``, x ~ Beta(a, b).

    Level ``l`` holds the x in [(l - 1/2) / (levels - 1), (l + 1/2) / (levels - 1)), so
    P(level <= l) = I_{(l+1/2)/(levels-1)}(a, b); the last level's is exactly 1, so that a
    search for the first cumulative above a uniform in [0, 1) always ends. A degenerate law
    stays on one level: ``a <= 0`` puts everything on level 0 and otherwise ``b <= 0`` on the
    last level.

    Args:
        a: first shape parameter.
        b: second shape parameter.
        levels: number of levels, at least 2.

    Returns:
        A non-decreasing float64 array of ``levels`` cumulative probabilities, ending at 1.
    """
    if levels < 2:
        raise ValueError(f"quantised beta: at least 2 levels, got {levels}")
    if a <= 0.0:
        return np.ones(levels)
    cdf = np.zeros(levels)
    if b > 0.0:
        cdf[:-1] = incomplete_beta((np.arange(levels - 1) + 0.5) / (levels - 1), a, b)
        # Rounding cannot break monotonicity by more than ~1e-16; make the table exactly sorted.
        np.maximum.accumulate(np.clip(cdf, 0.0, 1.0), out=cdf)
    cdf[-1] = 1.0
    return cdf
