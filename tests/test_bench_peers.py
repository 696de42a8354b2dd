"""The peers bench's own logic (bench/agreement.py, bench/limits.py, bench/compare.py).

Mesa and Starsim are not carnet's dependencies, so the tests that run them are skipped unless the
peers' environment (bench/peers/setup.sh) exists; the statistics and the machine-limit measurement
are tested everywhere.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import carnet

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # compare imports its neighbours by name
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


agreement = _load("agreement")
limits = _load("limits")
compare = _load("compare")

GRADES = ["D", "C", "B", "A", "AA", "AAA"]
SHARES = [0.0, 0.00005, 0.0192, 0.93285, 0.0446, 0.0035]  # about carnet's after a year


def _sample(rng: np.random.Generator, n: int, shares: list[float]) -> dict[str, int]:
    counts = rng.multinomial(n, np.array(shares) / sum(shares))
    return dict(zip(GRADES, (int(c) for c in counts), strict=True))


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [
        (3.841459, 1, 0.05),
        (5.991465, 2, 0.05),
        (7.814728, 3, 0.05),
        (9.487729, 4, 0.05),
        (11.070498, 5, 0.05),
        (16.918978, 9, 0.05),
        (10.827566, 1, 0.001),
        (20.515006, 5, 0.001),
        (2.0, 2, math.exp(-1.0)),
    ],
)
def test_chi2_sf_against_tables(x: float, df: int, p: float) -> None:
    assert agreement.chi2_sf(x, df) == pytest.approx(p, rel=1e-5)


def test_chi2_sf_edges() -> None:
    assert agreement.chi2_sf(0.0, 3) == 1.0
    assert agreement.chi2_sf(1e4, 3) == pytest.approx(0.0, abs=1e-300)
    with pytest.raises(ValueError):
        agreement.chi2_sf(1.0, 0)


def test_sparse_grades_merge_and_keep_totals() -> None:
    rows = [[0, 1, 380, 18650, 890, 70], [0, 0, 400, 18630, 900, 70]]
    table, names = agreement.merge_sparse(rows, GRADES)
    assert names == ["D+C+B", "A", "AA", "AAA"]
    assert [sum(r) for r in table] == [sum(r) for r in rows]
    assert table[0] == [381, 18650, 890, 70]


def test_identical_distributions_agree() -> None:
    counts = _sample(np.random.default_rng(1), 20_000, SHARES)
    verdict = agreement.agreement({"carnet": counts, "mesa": counts, "starsim": counts}, GRADES)
    assert verdict.passed
    assert verdict.chi2 == pytest.approx(0.0)
    assert verdict.p == pytest.approx(1.0)
    assert verdict.worst_z == 0.0


def test_independent_samples_of_one_distribution_agree() -> None:
    rng = np.random.default_rng(2)
    passed = [
        agreement.agreement(
            {
                "carnet": _sample(rng, 1_000_000, SHARES),
                "mesa": _sample(rng, 20_000, SHARES),
                "starsim": _sample(rng, 200_000, SHARES),
            },
            GRADES,
        ).passed
        for _ in range(50)
    ]
    assert all(passed)  # each test's false alarm rate is about 1e-3


def test_clearly_different_distributions_disagree() -> None:
    rng = np.random.default_rng(3)
    shifted = list(SHARES)
    shifted[2] += 0.02  # two points of the population from A to B
    shifted[3] -= 0.02
    verdict = agreement.agreement(
        {"carnet": _sample(rng, 20_000, SHARES), "mesa": _sample(rng, 20_000, shifted)}, GRADES
    )
    assert not verdict.passed
    assert verdict.p < 1e-6
    assert verdict.worst_z > 4.0
    assert any("mesa - carnet" in line for line in verdict.lines())


def test_a_shift_of_the_mean_points_disagrees() -> None:
    counts = _sample(np.random.default_rng(4), 20_000, SHARES)
    same = {"carnet": counts, "mesa": counts}
    ok = agreement.agreement(
        same, GRADES, points={"carnet": (1001.3, 300.0), "mesa": (1001.4, 300.0)}
    )
    assert ok.passed
    off = agreement.agreement(
        same, GRADES, points={"carnet": (1001.3, 300.0), "mesa": (1000.3, 300.0)}
    )
    assert not off.passed  # one point lower: 5.8 standard errors at 20,000 each
    assert off.worst_mean_z == pytest.approx(5.77, abs=0.01)


def test_agreement_refuses_too_little() -> None:
    with pytest.raises(ValueError):
        agreement.agreement({"carnet": {"A": 10}}, GRADES)
    with pytest.raises(ValueError):
        agreement.agreement({"carnet": {"A": 10}, "mesa": {}}, GRADES)


def test_machine_limits_on_a_tiny_array() -> None:
    for threads in (1, 2):
        measured = limits.measure(
            array_elements=1 << 16, scatters=1 << 14, threads=threads, repeats=2
        )
        assert measured.threads == threads
        assert measured.scatter_per_s > 0
        assert measured.sum_per_s > 0 and measured.max_per_s > 0
        assert measured.scan_per_s == max(measured.sum_per_s, measured.max_per_s)
        assert measured.scan_bytes_per_s == 2 * measured.scan_per_s
    with pytest.raises(ValueError):
        limits.measure(array_elements=0)


def test_peers_table_is_carnets_minimal_preset() -> None:
    assert compare.model_mismatches(carnet.load_scenario("minimal")) == []
    problems = compare.model_mismatches(carnet.load_scenario("rongcheng"))
    assert any(p.startswith("behaviours:") for p in problems)


def test_carnet_run_reports_the_final_day() -> None:
    run = compare.carnet_run(2_000, 20, 1, 1, GRADES)
    assert sum(run.grades.values()) == 2_000
    assert run.days == 20 and run.citizen_days_per_s > 0
    assert 900 < run.points_mean < 1100 and run.points_var > 0


@pytest.mark.skipif(compare.peers_missing() is not None, reason="no peers' environment")
@pytest.mark.parametrize("name", ["mesa", "starsim"])
def test_peer_runs_and_counts_everyone(name: str) -> None:
    run = compare.peer_run(name, 500, 30, 1, timeout=300)
    assert run.implementation == name
    assert sum(run.grades.values()) == 500
    assert run.days == 30 and run.seconds > 0


def test_the_peers_poisson_draw_has_the_poisson_law() -> None:
    """Mesa's acts a day (model.poisson, by inversion): the Poisson pmf within 4 SE, 2+ included."""
    import random as stdlib_random

    sys.path.insert(0, str(BENCH / "peers"))
    from model import poisson  # type: ignore[import-not-found]

    rng = stdlib_random.Random(5)
    n, mean = 200_000, 0.8  # large, so that two or more acts a day are frequent
    draws = np.bincount([poisson(rng.random, math.exp(-mean), mean) for _ in range(n)])
    for k in range(6):
        p = math.exp(-mean) * mean**k / math.factorial(k)
        assert abs(draws[k] / n - p) <= 4 * math.sqrt(p * (1 - p) / n), (k, draws[k] / n, p)


@pytest.mark.skipif(compare.peers_missing() is not None, reason="no peers' environment")
@pytest.mark.parametrize(("name", "population"), [("mesa", 20_000), ("starsim", 100_000)])
def test_peer_grades_are_the_exact_chain_s(name: str, population: int) -> None:
    """A peer's grade shares after a year: the minimal model's exact law within 4 binomial SE.

    The exact law is carnet's dynamic programming over the points (the validation check
    ``exact``), so the peer, carnet and the chain are one model. At these sizes a share's SE is
    0.08-0.18 points: the test catches a wrong deterrence, rate or clamping, not the 0.04 points
    between Bernoulli and Poisson acts (test_the_peers_poisson_draw_has_the_poisson_law does).
    """
    from carnet.analysis.validation.exact import MINIMAL, exact_path

    run = compare.peer_run(name, population, 365, 1, timeout=600)
    shares = exact_path(MINIMAL, 365).shares[-1]
    for (grade, _), p in zip(MINIMAL.grades, shares, strict=True):
        se = math.sqrt(p * (1 - p) / population)
        got = run.grades.get(grade, 0) / population
        assert abs(got - p) <= 4 * se + 1e-12, (grade, got, p, se)
