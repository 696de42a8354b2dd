"""The Poisson sampler behind behave, tested against the Poisson law itself.

behave draws how many candidate acts each block has each day with ``rng.poisson``; every rate in
the model rests on it, so its whole distribution is checked, not only its mean: a chi-square test
of goodness of fit at each mean, on either side of the switch from inversion to transformed
rejection (10) and far beyond it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from numba import njit

from carnet.sim.rng import poisson, stream_key

DRAWS = 200_000
Z = 3.719  # one-sided normal quantile of 1e-4: a correct sampler fails a test once in 10,000


@njit(cache=False)
def _draws(n: int, mean: float, seed: int) -> npt.NDArray[np.int64]:  # pragma: no cover
    out = np.empty(n, np.int64)
    state = stream_key(np.uint64(seed), np.uint64(7), 0, 0)
    for i in range(n):
        state, out[i] = poisson(state, mean)
    return out


def chi2_critical(df: int) -> float:
    """Upper 1e-4 quantile of chi-square with ``df`` degrees of freedom (Wilson-Hilferty)."""
    h = 2.0 / (9.0 * df)
    return df * (1.0 - h + Z * math.sqrt(h)) ** 3


def pmf(k: npt.NDArray[np.int64], mean: float) -> npt.NDArray[np.float64]:
    """The Poisson probabilities of ``k``, computed in logs (means up to millions)."""
    lg = np.array([math.lgamma(x + 1.0) for x in k])
    return np.asarray(np.exp(k * math.log(mean) - mean - lg))


@pytest.mark.parametrize("mean", [0.02, 0.7, 3.0, 9.99, 10.0, 37.5, 359.0, 4096.0, 250_000.0])
def test_poisson_matches_its_law(mean: float) -> None:
    x = _draws(DRAWS, mean, 11)
    # Bins: every value between the 1e-7 quantiles, the tails folded into the end bins, then
    # neighbours merged until each bin expects at least 20 draws.
    spread = 6.0 * math.sqrt(mean) + 6.0
    lo, hi = max(0, int(mean - spread)), int(mean + spread)
    values = np.arange(lo, hi + 1)
    probs = pmf(values, mean)
    if lo:
        probs[0] += float(pmf(np.arange(0, lo), mean).sum())
    probs[-1] = 1.0 - probs[:-1].sum()  # the upper tail
    expected = probs * DRAWS
    observed = np.bincount(np.clip(x, lo, hi) - lo, minlength=len(values)).astype(float)
    edges, acc = [], 0.0
    for i, e in enumerate(expected):
        acc += e
        if acc >= 20.0:
            edges.append(i + 1)
            acc = 0.0
    edges[-1] = len(values)
    starts = [0, *edges[:-1]]
    obs = np.array([observed[a:b].sum() for a, b in zip(starts, edges, strict=True)])
    exp = np.array([expected[a:b].sum() for a, b in zip(starts, edges, strict=True)])
    stat = float(((obs - exp) ** 2 / exp).sum())
    df = len(obs) - 1
    if df == 0:  # a mean so small that nearly every draw is 0: test the share of zeros
        share = float((x == 0).mean())
        p0 = math.exp(-mean)
        assert abs(share - p0) < Z * math.sqrt(p0 * (1 - p0) / DRAWS)
        return
    assert stat < chi2_critical(df), f"chi-square {stat:.1f} on {df} df at mean {mean}"


@pytest.mark.parametrize("mean", [3.0, 359.0])
def test_poisson_mean_and_variance(mean: float) -> None:
    """Mean and variance both equal the mean, within 4 standard errors."""
    x = _draws(DRAWS, mean, 5)
    assert abs(x.mean() - mean) < 4.0 * math.sqrt(mean / DRAWS)
    se_var = math.sqrt((2.0 * mean**2 + mean) / DRAWS)
    assert abs(x.var() - mean) < 4.0 * se_var


def test_poisson_is_a_pure_function_of_the_stream() -> None:
    """Same stream, same draws: what reproducibility rests on."""
    assert np.array_equal(_draws(1000, 359.0, 3), _draws(1000, 359.0, 3))
    assert not np.array_equal(_draws(1000, 359.0, 3), _draws(1000, 359.0, 4))


def test_poisson_of_zero_mean_is_zero() -> None:
    assert not _draws(100, 0.0, 1).any()


def test_household_sizes_follow_their_law() -> None:
    """Households hold 1 + Poisson(adults_mean - 1) adults and Poisson(children_mean) children.

    Households stop at block ends (they never straddle one), which truncates about one household
    per block: negligible at this block size, so the laws are tested as they are.
    """
    import carnet
    from carnet.sim.parameters import compile_parameters
    from carnet.sim.population import synthesise

    s = carnet.load_scenario("minimal", population=400_000)
    h = s.population.households
    state = synthesise(s, compile_parameters(s), 0, s.population.size)
    heads = np.flatnonzero(state.household == 0)
    sizes = np.diff(np.append(heads, s.population.size))
    extra = sizes - 1
    lam = h.adults_mean - 1.0
    n = len(heads)
    assert abs(extra.mean() - lam) < 4.0 * math.sqrt(lam / n)
    assert abs(extra.var() - lam) < 4.0 * math.sqrt((2.0 * lam**2 + lam) / n)
    kids = state.children[heads].astype(float)
    mu = h.children_mean
    assert abs(kids.mean() - mu) < 4.0 * math.sqrt(mu / n)
    assert abs(kids.var() - mu) < 4.0 * math.sqrt((2.0 * mu**2 + mu) / n)
    assert not state.children[state.household != 0].any()  # kept by the head only
