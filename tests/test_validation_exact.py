"""The exact references of the check ``exact``: the chain's dynamic programming, Little's law."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from carnet.analysis.validation import exact
from carnet.analysis.validation.exact import MINIMAL, Behaviour, Chain, chain_of, exact_path
from carnet.scenario.loading import load_scenario
from carnet.scenario.paths import set as set_value

# A tiny chain that hits both bounds and every deterrence class within a few days.
TINY = Chain(
    start=5,
    floor=0,
    ceiling=10,
    grades=(("A", 7), ("B", 3), ("C", 0)),
    deterrence=(("B", 0.6), ("C", 0.3)),
    behaviours=(
        Behaviour("harm", 365 * 0.8, 0.75, -3, True),
        Behaviour("help", 365 * 0.5, 0.9, 2, False),
    ),
)


def _poisson(mean: float, k: int) -> float:
    return math.exp(-mean) * mean**k / math.factorial(k)


def _brute_force(chain: Chain, days: int, most: int = 30) -> list[dict[int, float]]:
    """Every sequence of daily counts up to ``most`` of each behaviour, state by state."""
    factors = dict(chain.deterrence)

    def grade(points: int) -> str:
        return next(name for name, low in chain.grades if points >= low)

    law = {chain.start: 1.0}
    path = []
    for _ in range(days):
        new: dict[int, float] = {}
        for points, p in law.items():
            f = factors.get(grade(points), 1.0)
            means = [
                b.rate_per_year / 365 * b.detect * (f if b.negative else 1.0)
                for b in chain.behaviours
            ]
            for counts in itertools.product(range(most + 1), repeat=len(chain.behaviours)):
                q = p * math.prod(_poisson(m, k) for m, k in zip(means, counts, strict=True))
                change = sum(b.delta * k for b, k in zip(chain.behaviours, counts, strict=True))
                after = min(max(points + change, chain.floor), chain.ceiling)
                new[after] = new.get(after, 0.0) + q
        law = new
        path.append(law)
    return path


def test_the_chain_equals_brute_force_enumeration_on_a_tiny_chain() -> None:
    """Every grade's share each day, by enumerating every day's counts, within 1e-12."""
    days = 4
    path = exact_path(TINY, days)
    for d, law in enumerate(_brute_force(TINY, days)):
        tops = [math.inf] + [lo for _, lo in TINY.grades[:-1]]
        shares = [sum(p for x, p in law.items() if lo <= x < top)
                  for (_, lo), top in zip(TINY.grades, tops, strict=True)]  # fmt: skip
        assert np.allclose(path.shares[d], shares, rtol=0, atol=1e-12), (d, path.shares[d], shares)
        mean = sum(x * p for x, p in law.items())
        assert path.mean[d] == pytest.approx(mean, abs=1e-10)
    # The tiny chain reaches both bounds, so clamping after the day is tested; its bound says so.
    assert path.shares[-1, 2] > 0.05 and path.clamp_bound > 0.01


def test_the_chain_agrees_with_a_plain_numpy_simulation() -> None:
    """200,000 chains of the tiny model in numpy: each grade's share on day 20 within 4 SE."""
    n, days = 200_000, 20
    rng = np.random.default_rng(20240517)
    points = np.full(n, TINY.start)
    factor = np.array([1.0, 0.6, 0.3])  # A, B, C
    for _ in range(days):
        grade = np.where(points >= 7, 0, np.where(points >= 3, 1, 2))
        change = np.zeros(n, np.int64)
        for b in TINY.behaviours:
            mean = b.rate_per_year / 365 * b.detect * (factor[grade] if b.negative else 1.0)
            change += b.delta * rng.poisson(np.broadcast_to(mean, n))
        points = np.clip(points + change, TINY.floor, TINY.ceiling)
    grade = np.where(points >= 7, 0, np.where(points >= 3, 1, 2))
    exact_shares = exact_path(TINY, days).shares[-1]
    for g, p in enumerate(exact_shares):
        se = math.sqrt(p * (1 - p) / n)
        assert abs(np.mean(grade == g) - p) <= 4 * se, (g, np.mean(grade == g), p, se)


def test_a_chain_without_deterrence_is_detected_as_different() -> None:
    """The simulation's shares are far from a chain that forgets deterrence: the test has power."""
    forgetful = Chain(**{**TINY.__dict__, "deterrence": ()})
    assert (
        np.abs(exact_path(forgetful, 20).shares[-1] - exact_path(TINY, 20).shares[-1]).max() > 0.05
    )


def test_the_poisson_cut_leaves_out_less_than_asked() -> None:
    """The cut K is the least with P(N > K) below the tail, checked against direct sums."""
    for mean in (1e-4, 0.0077, 0.3, 2.0):
        for tail in (1e-6, 1e-15, 1e-19):
            k = exact.poisson_cut(mean, tail)
            rest = sum(_poisson(mean, j) for j in range(k + 1, k + 60))
            assert rest < tail
            if k > 0:
                assert rest + _poisson(mean, k) >= tail


def test_the_minimal_model_s_exact_law_keeps_its_mass_and_needs_no_clamping_order() -> None:
    """bench-minimal.md's chain over a year: mass 1 within rounding, the clamping bound tiny."""
    path = exact_path(MINIMAL, 365)
    assert np.abs(path.shares.sum(axis=1) - 1).max() < 1e-12
    assert path.clamp_bound < 1e-13
    assert 0.93 < path.shares[-1, 2] < 0.935  # grade A, about carnet's figure


def test_the_minimal_preset_is_bench_minimal_md_s_chain() -> None:
    """The preset, read as a chain, equals the model transcribed from bench-minimal.md."""
    assert chain_of(load_scenario("minimal")) == MINIMAL
    changed = set_value(load_scenario("minimal"), {"responses.deterrence.C": 0.8})
    assert chain_of(changed) != MINIMAL


def test_a_scenario_beyond_the_chain_is_refused_by_name() -> None:
    """rongcheng has lists, gates and groups: chain_of says what the chain lacks."""
    with pytest.raises(ValueError, match=r"not a chain of the minimal model's form.*no lists"):
        chain_of(load_scenario("rongcheng"))


def test_seeds_to_detect_a_bias_of_a_twentieth_of_a_point() -> None:
    """4 binomial SE <= 0.0005 at p = 0.9326 needs 4.06 million citizens: 5 seeds of 1 million."""
    assert exact.seeds_to_detect(0.9326) == 5
    n = 5 * exact.CITIZENS
    assert 4 * math.sqrt(0.9326 * 0.0674 / n) <= 0.0005 < 4 * math.sqrt(0.9326 * 0.0674 / (n - 1e6))


def test_listing_days_is_the_mean_of_carnet_s_discrete_length() -> None:
    """E[min(T, 1 + floor(E / r))], E exponential, summed over its law, is the closed form."""
    for term, rate in ((365, 0.5 / 365), (30, 0.2), (10, 0.0)):
        if rate == 0:
            assert exact.listing_days(term, rate) == term
            continue
        # P(1 + floor(E / r) = k) = e^{-(k-1) r} - e^{-k r}
        mean = sum(min(term, k) * (math.exp(-(k - 1) * rate) - math.exp(-k * rate))
                   for k in range(1, 200_000))  # fmt: skip
        assert exact.listing_days(term, rate) == pytest.approx(mean, rel=1e-9)


def test_a_cold_list_fails_the_stationarity_row() -> None:
    """Without its warm-up, validation-little's stock still grows: the drift is far from 0."""
    s = load_scenario("validation-little", population=100_000)
    cold = set_value(s, {"lists.blacklist.warm_up_days": 0})
    warm = exact.queue_figures(s, 1)
    grown = exact.queue_figures(cold, 1)
    assert abs(warm.drift) < 0.05 * warm.stock
    assert grown.drift > 0.2 * grown.stock
