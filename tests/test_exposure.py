"""Digital exposure: the incomplete beta against closed forms, the drawn levels against their law.

A citizen's exposure is the level rint(255 x), x ~ Beta(a, b), drawn directly by inversion of the
levels' cumulative table, P(level <= l) = I_{(l+1/2)/255}(a, b).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from helpers import base_scenario

import carnet
from carnet.sim.beta import incomplete_beta, quantised_beta_cdf
from carnet.sim.parameters import compile_parameters
from carnet.sim.population import synthesise

TOL = 1e-12
SHAPES = [0.05, 0.3, 0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 50.0, 300.0]
# The grid includes both ends and points close to them, where x^a and (1-x)^b are steepest.
X = np.concatenate(([0.0, 1e-9, 1e-4, 0.01], np.linspace(0.0, 1.0, 201), [0.99, 1 - 1e-4, 1.0]))
# Points whose complements 1 - x are exact, so that a reflection compares the same two points.
DYADIC = np.concatenate(
    ([2.0**-30, 2.0**-20], np.arange(1025) / 1024, [1 - 2.0**-20, 1 - 2.0**-30])
)
ALPHA = 1e-3  # significance of every chi-square test below, fixed before looking at the data
Z = 4.0  # tolerance on means, in standard errors
N = 400_000


def test_uniform_law() -> None:
    np.testing.assert_allclose(incomplete_beta(X, 1.0, 1.0), X, rtol=0, atol=TOL)


@pytest.mark.parametrize("a", SHAPES)
def test_one_shape_one(a: float) -> None:
    # I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b.
    np.testing.assert_allclose(incomplete_beta(X, a, 1.0), X**a, rtol=0, atol=TOL)
    np.testing.assert_allclose(incomplete_beta(X, 1.0, a), 1.0 - (1.0 - X) ** a, rtol=0, atol=TOL)


@pytest.mark.parametrize("a", SHAPES)
def test_reflection_and_median_of_symmetric_laws(a: float) -> None:
    for b in SHAPES:
        total = incomplete_beta(DYADIC, a, b) + incomplete_beta(1.0 - DYADIC, b, a)
        np.testing.assert_allclose(total, 1.0, rtol=0, atol=TOL)
    assert incomplete_beta(0.5, a, a) == pytest.approx(0.5, abs=TOL)


def test_closed_forms_of_two_laws() -> None:
    np.testing.assert_allclose(incomplete_beta(X, 2.0, 2.0), 3 * X**2 - 2 * X**3, rtol=0, atol=TOL)
    # Beta(1/2, 1/2) is the arcsine law.
    arcsine = 2.0 / math.pi * np.arcsin(np.sqrt(X))
    np.testing.assert_allclose(incomplete_beta(X, 0.5, 0.5), arcsine, rtol=0, atol=TOL)


@pytest.mark.parametrize("a", [1, 2, 3, 10, 50, 300])
@pytest.mark.parametrize("b", [1, 2, 7, 50, 300])
def test_integer_shapes_are_binomial_tails(a: int, b: int) -> None:
    # For integers, I_x(a, b) = P(Binomial(a + b - 1, x) >= a): a sum of positive terms.
    n = a + b - 1
    for x in X[(X > 0.0) & (X < 1.0)]:
        tail = math.fsum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))
        assert incomplete_beta(x, a, b) == pytest.approx(tail, abs=TOL)


def test_incomplete_beta_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        incomplete_beta(0.5, 0.0, 1.0)
    with pytest.raises(ValueError):
        incomplete_beta(1.5, 1.0, 1.0)


def level_probabilities(cdf: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.diff(cdf, prepend=0.0)


@pytest.mark.parametrize(
    ("a", "b"), [(0.05, 0.05), (0.5, 2.0), (2.0, 2.0), (28.0, 12.0), (4e5, 6e5), (1e-9, 4.0)]
)
def test_cdf_is_a_distribution_function_with_the_right_mean(a: float, b: float) -> None:
    cdf = quantised_beta_cdf(a, b)
    assert cdf.shape == (256,) and cdf.dtype == np.float64
    assert np.all(np.diff(cdf) >= 0.0) and cdf[0] >= 0.0 and cdf[-1] == 1.0
    # Rounding moves each draw by at most half a level, so the quantised mean is within 1/2 of
    # 255 a / (a + b).
    mean = float(np.arange(256) @ level_probabilities(cdf))
    assert abs(mean - 255.0 * a / (a + b)) <= 0.5


def test_degenerate_laws() -> None:
    # As the Beta draw it replaced: a <= 0 is the point mass at 0 (even if b <= 0), b <= 0 at 1.
    for a, b in [(0.0, 3.0), (-1.0, 3.0), (0.0, 0.0)]:
        np.testing.assert_array_equal(quantised_beta_cdf(a, b), np.ones(256))
    for a, b in [(3.0, 0.0), (3.0, -1.0)]:
        np.testing.assert_array_equal(quantised_beta_cdf(a, b), np.r_[np.zeros(255), 1.0])


def chi_square_threshold(dof: int, alpha: float) -> float:
    """The 1 - alpha quantile of chi-square(dof), by the Wilson-Hilferty cube-root normal law."""
    z = statistics.NormalDist().inv_cdf(1.0 - alpha)
    h = 2.0 / (9.0 * dof)
    return dof * (1.0 - h + z * math.sqrt(h)) ** 3


def chi_square(counts: npt.NDArray[np.int64], p: npt.NDArray[np.float64]) -> tuple[float, int]:
    """Pearson's statistic over adjacent levels pooled to expected counts >= 5, and its dof."""
    expected = counts.sum() * p
    cells: list[tuple[float, float]] = []
    obs = exp = 0.0
    for o, e in zip(counts, expected, strict=True):
        obs, exp = obs + o, exp + e
        if exp >= 5.0:
            cells.append((obs, exp))
            obs = exp = 0.0
    if exp > 0.0 or obs > 0.0:  # a short remainder joins the last cell
        last_obs, last_exp = cells.pop()
        cells.append((last_obs + obs, last_exp + exp))
    stat = sum((o - e) ** 2 / e for o, e in cells)
    return stat, len(cells) - 1


def assert_follows(levels: npt.NDArray[np.uint8], cdf: npt.NDArray[np.float64]) -> None:
    """Levels drawn from the law whose cumulative table is ``cdf``: chi-square and mean."""
    p = level_probabilities(cdf)
    counts = np.bincount(levels, minlength=256).astype(np.int64)
    stat, dof = chi_square(counts, p)
    assert dof >= 5
    assert stat < chi_square_threshold(dof, ALPHA), (stat, dof)
    values = np.arange(256.0)
    mean = float(values @ p)
    sd = math.sqrt(float((values - mean) ** 2 @ p))
    assert abs(levels.mean() - mean) < Z * sd / math.sqrt(len(levels))


GROUPS = [  # (exposure mean, concentration): a = 0.5, b = 2 (a spike at 0); a = 28, b = 12
    (0.2, 2.5),
    (0.7, 40.0),
]


def exposure_doc(**run: Any) -> dict[str, Any]:
    doc = base_scenario(**run)
    doc["population"]["size"] = N
    doc["population"]["groups"] = [
        {"name": f"g{i}", "share": 0.5, "exposure": {"mean": m, "concentration": c}}
        for i, (m, c) in enumerate(GROUPS)
    ]
    return doc


def test_the_cdf_is_the_law_of_rounded_beta_draws() -> None:
    # Independent of carnet's sampler: numpy's Beta draws, rounded as before this table existed.
    rng = np.random.default_rng(20240601)
    for m, c in GROUPS:
        a, b = m * c, (1 - m) * c
        levels = np.rint(rng.beta(a, b, size=N) * 255.0).astype(np.uint8)
        assert_follows(levels, quantised_beta_cdf(a, b))


def test_synthesised_levels_follow_the_quantised_law() -> None:
    s = carnet.load_scenario(exposure_doc())
    t = compile_parameters(s)
    assert t.exposure_cdf.shape == (len(GROUPS), 256)
    state = synthesise(s, t, 0, N)
    group = t.group_of_profile[state.profile]
    for g, (m, c) in enumerate(GROUPS):
        cdf = quantised_beta_cdf(m * c, (1 - m) * c)
        np.testing.assert_array_equal(t.exposure_cdf[g], cdf)
        assert (group == g).sum() > 0.45 * N
        assert_follows(state.exposure[group == g], cdf)


def test_degenerate_groups_sit_at_the_ends() -> None:
    doc = exposure_doc()
    doc["population"]["size"] = 5000
    doc["population"]["groups"] = [
        {"name": "offline", "share": 0.5, "exposure": {"mean": 0.0}},
        {"name": "online", "share": 0.5, "exposure": {"mean": 1.0}},
    ]
    s = carnet.load_scenario(doc)
    t = compile_parameters(s)
    state = synthesise(s, t, 0, 5000)
    group = t.group_of_profile[state.profile]
    assert 0 < (group == 0).sum() < 5000
    assert np.all(state.exposure[group == 0] == 0)
    assert np.all(state.exposure[group == 1] == 255)


def test_reproducible_and_independent_of_the_split() -> None:
    n, block = 10_000, 1024  # ten blocks, the last one short
    s = carnet.load_scenario(exposure_doc(block_size=block))
    t = compile_parameters(s)
    whole = synthesise(s, t, 0, n).snapshot()
    again = synthesise(s, t, 0, n).snapshot()
    for cut in (block, 3 * block, 9 * block):  # shards start on block boundaries
        head = synthesise(s, t, 0, cut).snapshot()
        tail = synthesise(s, t, cut, n - cut).snapshot()
        for name, values in whole.items():
            np.testing.assert_array_equal(values, again[name])
            joined = np.concatenate((head[name], tail[name]), axis=-1)
            np.testing.assert_array_equal(values, joined, err_msg=f"{name}, cut at {cut}")
    other = carnet.load_scenario(exposure_doc(block_size=block, seed=8))
    assert not np.array_equal(synthesise(other, t, 0, n).exposure, whole["exposure"])
