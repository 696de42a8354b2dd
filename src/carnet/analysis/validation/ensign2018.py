"""Ensign et al. (FAT* 2018): attention that follows its own findings runs away; audits do not.

Ensign, Friedler, Neville, Scheidegger and Venkatasubramanian, "Runaway feedback loops in
predictive policing", model predictive policing as a Pólya urn: police go where past
discoveries were, and discover only where they go. In two identical areas the share of
attention does not converge to the truth (one half) but freezes at a random share (the urn's
Beta limit); where one area's true rate is higher, attention runs away towards it, beyond its
true share of incidents. Their remedy is to learn only from what is found regardless of where
attention went.

carnet's adaptive source is that urn, batched by period with Poisson findings, in every block of
citizens (docs/attention.md derives its law). The preset ``validation-ensign2018`` has two
groups of equal size and one camera with 20 findings a block and period in expectation, a prior
weight of 4 and 12 periods. Rows:

- **the urn's law, identical groups.** ``z = (a - u) / ((1 - e) sqrt(u (1 - u)))`` of each
  block's allocation ``a`` to the first group (``u`` its share of the block's citizens) has mean
  0, and its mean square is ``v_T``, which :func:`urn_variance` computes exactly by dynamic
  programming over the urn's weight (checked against Pólya's closed form in
  tests/test_attention.py). Without exploration, with exploration 0.3, and with an audit arm of
  0.3 (which acts on the findings as exploration does). Tolerance: 4 standard errors of the mean
  over blocks (each block is an independent urn), the mean square's from the sample's fourth
  moment.
- **not the truth.** Without exploration the mean square is beyond 4 SE above what an
  allocation estimating the truth from the same number of unbiased findings would have (the
  same programme with everything explored).
- **runaway, unequal rates.** With the first group's rate 1.5 times the second's (its true share
  of acts 0.6), after 36 periods the urn gives it a mean allocation beyond 4 SE above 0.6;
  exploration 0.3 holds it back (the urn's mean minus the explored one's beyond 4 SE above
  0); and the audit arm's findings per
  check (``audit_found / audit_exposure``) estimate the ratio of the two rates, 1.5, within
  4 SE (delta method on the ratio of two Poisson counts), however the allocation ran.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from carnet.analysis.validation.checks import Check, Row
from carnet.scenario.loading import load_scenario
from carnet.scenario.paths import set as set_values
from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]
NAME = "ensign2018"
PRESET = "validation-ensign2018"
SOURCE = (
    "Ensign et al. (FAT* 2018): the Pólya urn; exact by dynamic programming (docs/attention.md)"
)
FINDINGS, PRIOR, PERIODS = 20.0, 4.0, 12


def poisson_law(lam: float) -> F64:
    """The Poisson(lam) law on 0..top, top far in the tail (the mass left out is below 1e-12)."""
    top = int(lam + 15 * math.sqrt(lam) + 30)
    n = np.arange(top + 1)
    law: F64 = np.exp(n * math.log(lam) - lam - np.array([math.lgamma(k + 1) for k in n]))
    return law


def urn_variance(findings: F64, prior: float, periods: int, explore: float) -> float:
    """``E[(X_T - u)^2] / (u (1 - u))`` of the batched urn with the law ``findings`` a period.

    Exact dynamic programme over S, the findings so far (the urn weighs W = prior + S): f is the
    law of S, g[s] = E[v ; S = s]. Given n findings of which each lands in the first group with
    probability q = u + (1 - e)(X - u), v' = v c + n / W'^2 with W' = W + n and
    c = ((W + n (1 - e))^2 - n (1 - e)^2) / W'^2 (docs/attention.md). ``explore`` is the
    exploration the findings see: 1 - (1 - audit share)(1 - exploration).
    """
    top = len(findings) - 1
    f, g = np.ones(1), np.zeros(1)
    k = 1.0 - explore
    for _ in range(periods):
        f2, g2 = np.zeros(len(f) + top), np.zeros(len(f) + top)
        w = prior + np.arange(len(f))
        for m in np.flatnonzero(findings):
            w2 = w + m
            c = ((w + m * k) ** 2 - m * k * k) / w2**2
            f2[m : m + len(f)] += findings[m] * f
            g2[m : m + len(f)] += findings[m] * (c * g + m / w2**2 * f)
        f, g = f2, g2
    return float(g.sum())


def _allocations(s: Scenario) -> tuple[F64, F64]:
    """Each block's allocation to the first group at the end, and its share of citizens."""
    from carnet.sim.simulation import started

    with started(s, threads=1, shards=1) as sim:
        while not sim.done:
            sim.advance(s.run.days - sim.day)
        watching = sim.shards[0].attention
        assert watching is not None
        a = np.array(watching.allocation[0, :, 0], np.float64)
        u = np.array(watching.spread[:, 0], np.float64)
    return a, u


def _audit_rates(s: Scenario) -> tuple[float, float, float, float]:
    """Audit findings and checks of each group over the run: (found_1, checks_1, found_2, ...)."""
    import pyarrow.compute as pc

    from carnet.result import simulate
    from carnet.sim.phases.attention import PPM

    m = simulate(s, threads=1).metrics
    out: list[float] = []
    for group in ("north", "south"):
        rows = m.filter(pc.equal(m["group"], group))
        out.append(float(pc.sum(rows["audit_found_camera"]).as_py()))
        out.append(float(pc.sum(rows["audit_exposure_camera"]).as_py()) / PPM)
    return out[0], out[1], out[2], out[3]


def _mean_se(x: F64) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _scenario(blocks: int, days: int, **changes: Any) -> Scenario:
    base = load_scenario(PRESET)
    return set_values(base, {"population.size": blocks * base.run.block_size, "run.days": days,
                             **changes})  # fmt: skip


def run(quick: bool) -> list[Row]:
    """The check's rows: 400 blocks in the quick suite, 4,000 in full."""
    blocks = 400 if quick else 4000
    basis = f"4 SE over {blocks:,} blocks (independent urns)"
    law = poisson_law(FINDINGS)
    rows: list[Row] = []
    urn_mean_square = (0.0, 0.0)
    for label, changes, explore in (
        ("no exploration (the urn)", {}, 0.0),
        ("exploration 0.3", {"sources.camera.attention.exploration": 0.3}, 0.3),
        ("an audit arm of 0.3", {"sources.camera.attention.audit_share": 0.3}, 0.3),
    ):
        a, u = _allocations(_scenario(blocks, 10 * PERIODS, **changes))
        e = changes.get("sources.camera.attention.exploration", 0.0)
        z = (a - u) / ((1.0 - e) * np.sqrt(u * (1.0 - u)))
        mean, se = _mean_se(z)
        square, square_se = _mean_se(z**2)
        exact = urn_variance(law, PRIOR, PERIODS, explore)
        rows.append(Row(NAME, f"identical groups, {label}: mean of z, the standardised share",
                        0.0, "the urn is a martingale: E[X_T] = u", mean, se, "=", 4 * se,
                        basis))  # fmt: skip
        rows.append(Row(NAME, f"identical groups, {label}: mean of z² after {PERIODS} periods",
                        exact, SOURCE, square, square_se, "=", 4 * square_se,
                        basis))  # fmt: skip
        if explore == 0.0:
            urn_mean_square = (square, square_se)
    truth = urn_variance(law, PRIOR, PERIODS, 1.0)
    rows.append(Row(NAME, "identical groups, the urn: mean of z² above an unbiased estimate's "
                    "from as many findings (it freezes at a random share, not at the truth)",
                    truth, "the same programme with every finding unbiased (exploration 1)",
                    urn_mean_square[0], urn_mean_square[1], ">", 4 * urn_mean_square[1],
                    basis))  # fmt: skip
    # Unequal rates: north does 1.5 times south's acts (its true share of acts 0.6).
    unequal = {"behaviours.red_light.by_group": {"north": 1.5, "south": 1.0}}
    days = 10 * 3 * PERIODS
    a, _ = _allocations(_scenario(blocks, days, **unequal))
    urn, urn_se = _mean_se(a)
    rows.append(Row(NAME, f"north's rate 1.5 x south's: the urn's mean allocation to north after "
                    f"{3 * PERIODS} periods, beyond its true share of acts", 0.6,
                    "Ensign et al.: runaway towards the higher rate", urn, urn_se, ">",
                    4 * urn_se, basis))  # fmt: skip
    explored, explored_se = _mean_se(
        _allocations(_scenario(blocks, days, **unequal,
                               **{"sources.camera.attention.exploration": 0.3}))[0]
    )  # fmt: skip
    both = math.hypot(urn_se, explored_se)
    rows.append(Row(NAME, "north's rate 1.5 x south's: how far exploration 0.3 holds the "
                    "allocation back (the urn's mean allocation minus the explored one's)", 0.0,
                    "Ensign et al.: exploration damps the runaway", urn - explored, both, ">",
                    4 * both, f"4 SE of the difference, {blocks:,} blocks each"))  # fmt: skip
    f1, c1, f2, c2 = _audit_rates(
        _scenario(blocks, days, **unequal, **{"sources.camera.attention.audit_share": 0.3})
    )
    ratio = (f1 / c1) / (f2 / c2)
    ratio_se = ratio * math.sqrt(1 / f1 + 1 / f2)
    rows.append(Row(NAME, "north's rate 1.5 x south's: the audit arm's findings per check, "
                    "north over south", 1.5, "the true ratio of the rates (docs/attention.md: "
                    "the audit arm's estimate is unbiased)", ratio, ratio_se, "=", 4 * ratio_se,
                    "4 SE, delta method on two Poisson counts"))  # fmt: skip
    return rows


CHECK = Check(
    name=NAME,
    title="Ensign et al. (FAT* 2018), runaway feedback loops: attention that follows its own "
    "findings, against the Pólya urn's exact law; exploration and a random-audit arm",
    run=run,
)
