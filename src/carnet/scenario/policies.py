"""How a gate decides, how borrowers repay, and where citizens start: the sections of issue 15.

- :class:`Policy` (``gates.<i>.policy``): a gate's decision rule besides today's rule by grade: a
  threshold on points (one, or per group), a lottery, thresholds chosen at compile time by maximum
  utility, demographic parity or equal opportunity (Liu et al., "Delayed Impact of Fair Machine
  Learning", ICML 2018), or thresholds learned from the outcomes of the loans the lender granted
  (D'Amour et al., "Fairness is not static", FAT* 2020). docs/policies.md gives the formulas.
- :class:`RepayCurve` and :class:`RepayModel` (``lending.repay_table``, ``lending.repay_by_group``):
  repayment as a table of (points, probability) interpolated linearly, for all or per group.
- :class:`StartPoints` (``population.groups.<i>.start``): a group's initial points, a normal law or
  a table of shares, instead of everyone at ``population.start_points``.

:func:`carnet.scenario.policy_checks.check_policies` relates them to the rest of the scenario.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from carnet.scenario.base import Name, Points, Probability, Section

PolicyKind = Literal[
    "grade",
    "threshold",
    "lottery",
    "max_utility",
    "demographic_parity",
    "equal_opportunity",
    "learned",
]
#: Kinds whose thresholds are chosen at compile time from the repayment model.
CHOSEN = ("max_utility", "demographic_parity", "equal_opportunity")
#: Kinds that decide by a threshold on points (the metrics then carry ``threshold_<gate>``).
BY_THRESHOLD = ("threshold", *CHOSEN, "learned")
Utility = float


class Policy(Section):
    """How a gate decides, once the blacklisted are refused (``refuse_blacklisted`` comes first).

    A refusal by the policy is counted as ``refused_grade`` (refused by the gate's rule).
    """

    kind: PolicyKind = Field(
        description="grade: today's rule (min_grade, require_redlist); threshold: approve if "
        "points >= threshold; lottery: approve with a probability; max_utility, "
        "demographic_parity, equal_opportunity: per-group thresholds chosen when the scenario "
        "is compiled, from each group's start points and the repayment model (lending gate "
        "only); learned: per-group thresholds re-fitted by each block's lender from the loans "
        "it granted and saw settled (lending gate only)"
    )
    threshold: Points | None = Field(
        None,
        description="threshold and learned: the lowest points approved (learned: the threshold "
        "before the first refit); within rules floor and ceiling + 1 (refuse all)",
    )
    threshold_by_group: dict[Name, Points] = Field(
        default_factory=dict, description="threshold: per group, replacing `threshold`"
    )
    probability: Probability | None = Field(None, description="lottery: chance of approval")
    probability_by_group: dict[Name, Probability] = Field(
        default_factory=dict, description="lottery: per group, replacing `probability`"
    )
    gain_if_repaid: Utility | None = Field(
        None,
        ge=0.0,
        le=1000.0,
        description="the decision-maker's gain on a repaid loan, in principals (default: "
        "lending.interest)",
    )
    loss_if_default: Utility | None = Field(
        None,
        ge=0.0,
        le=1000.0,
        description="its loss on a default, in principals (default: 1, the principal)",
    )
    randomise_tie: bool = Field(
        True,
        description="demographic_parity, equal_opportunity: approve applicants at exactly the "
        "threshold with the chance that makes the rates equal (Liu et al.'s exact form); off: "
        "approve them all",
    )
    refit_days: int = Field(
        30, ge=1, le=3650, description="learned: days between refits of the thresholds"
    )
    bin_points: int = Field(
        10,
        ge=1,
        le=65536,
        description="learned: width of the points bins its statistics count loans in; thresholds "
        "fall on bin edges",
    )
    once: bool = Field(
        False,
        description="one application per person to this gate: later ones are not made, nor counted",
    )


class RepayCurve(Section):
    """Repayment probability by points, linear between the points given, constant beyond them."""

    points: list[Points] = Field(
        min_length=2, max_length=4096, description="points, strictly increasing"
    )
    repay: list[Probability] = Field(
        min_length=2, max_length=4096, description="chance of repayment at each of `points`"
    )


class RepayModel(Section):
    """One group's repayment: a table, or a logistic with its own coefficients."""

    table: RepayCurve | None = Field(None, description="replaces the logistic for the group")
    intercept: float | None = Field(
        None, ge=-50.0, le=50.0, description="log-odds at 1000 points (default: lending's)"
    )
    per_point: float | None = Field(
        None, ge=-1.0, le=1.0, description="log-odds per point above 1000 (default: lending's)"
    )


class StartPoints(Section):
    """A group's points at the start: a normal law rounded to points, or a table of shares.

    Draws below rules.floor land on the floor, above rules.ceiling on the ceiling.
    """

    kind: Literal["normal", "table"] = Field(
        description="normal (mean, sd) or table (points, shares)"
    )
    mean: float | None = Field(None, ge=-1e5, le=1e5, description="normal: mean points")
    sd: float | None = Field(None, gt=0.0, le=1e5, description="normal: standard deviation")
    points: list[Points] = Field(
        default_factory=list, max_length=4096, description="table: points, strictly increasing"
    )
    shares: list[float] = Field(
        default_factory=list,
        max_length=4096,
        description="table: relative share of the group at each of `points` (normalised)",
    )
