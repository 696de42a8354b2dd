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

:func:`check_policies` relates them to the rest of the scenario, as ``(path, message)`` pairs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from carnet.scenario.base import Name, Points, Probability, Section
from carnet.scenario.pathsyntax import format_path

if TYPE_CHECKING:
    from carnet.scenario.schema import Scenario

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


def _curve(curve: RepayCurve, where: tuple[str | int, ...]) -> list[tuple[str, str]]:
    errors = []
    if len(curve.points) != len(curve.repay):
        errors.append(
            (format_path((*where, "repay")), f"needs one value per point ({len(curve.points)})")
        )
    for i in range(1, len(curve.points)):
        if curve.points[i] <= curve.points[i - 1]:
            errors.append(
                (
                    format_path((*where, "points", i)),
                    f"points must increase: {curve.points[i]} after {curve.points[i - 1]}",
                )
            )
    return errors


def check_policies(s: Scenario) -> list[tuple[str, str]]:
    """The policies', repayment tables' and start laws' checks against the rest of ``s``."""
    errors: list[tuple[str, str]] = []
    groups = {g.name for g in s.population.groups}
    floor, ceiling = s.rules.floor, s.rules.ceiling

    def err(path: tuple[str | int, ...], message: str) -> None:
        errors.append((format_path(path), message))

    for i, g in enumerate(s.population.groups):
        st = g.start
        if st is None:
            continue
        where: tuple[str | int, ...] = ("population", "groups", i, "start")
        if st.kind == "normal":
            for name in ("mean", "sd"):
                if getattr(st, name) is None:
                    err((*where, name), "required for a normal start")
            if st.points or st.shares:
                err((*where, "points"), "a normal start takes mean and sd, not points or shares")
            continue
        if st.mean is not None or st.sd is not None:
            err((*where, "mean"), "a table start takes points and shares, not mean or sd")
        if not st.points:
            err((*where, "points"), "required for a table start")
        if len(st.shares) != len(st.points):
            err((*where, "shares"), f"needs one share per point ({len(st.points)})")
        for j, at in enumerate(st.points):
            if not floor <= at <= ceiling:
                err(
                    (*where, "points", j),
                    f"must lie within rules floor {floor} and ceiling {ceiling}, got {at}",
                )
            if j and at <= st.points[j - 1]:
                err((*where, "points", j), f"points must increase: {at} after {st.points[j - 1]}")
        for j, share in enumerate(st.shares):
            if not 0.0 <= share <= 1e9:
                err((*where, "shares", j), f"must lie within 0 and 1e9, got {share}")
        if st.shares and sum(st.shares) <= 0.0:
            err((*where, "shares"), "shares must not all be 0")

    lend = s.lending
    if lend is not None:
        if lend.repay_table is not None:
            errors += _curve(lend.repay_table, ("lending", "repay_table"))
            if lend.repay_by_grade:
                err(("lending", "repay_table"), "give repay_table or repay_by_grade, not both")
        for name, model in lend.repay_by_group.items():
            where = ("lending", "repay_by_group", name)
            if name not in groups:
                err(where, f"unknown group {name!r}; known: {sorted(groups)}")
            if model.table is not None:
                errors += _curve(model.table, (*where, "table"))
                if model.intercept is not None or model.per_point is not None:
                    err((*where, "table"), "give a table or logistic coefficients, not both")

    loan_gate = lend.gate if lend is not None else None
    once = 0
    for i, gate in enumerate(s.gates):
        p = gate.policy
        if p is None:
            continue
        where = ("gates", i, "policy")
        once += p.once
        if gate.seats_per_region is not None:
            err(where, "a gate with seats_per_region allocates by grade: it takes no policy")
            continue
        for name in (*p.threshold_by_group, *p.probability_by_group):
            if name not in groups:
                field_name = (
                    "threshold_by_group" if name in p.threshold_by_group else "probability_by_group"
                )
                err((*where, field_name, name), f"unknown group {name!r}; known: {sorted(groups)}")
        for name, value in [("threshold", p.threshold), *p.threshold_by_group.items()]:
            if value is not None and not floor <= value <= ceiling + 1:
                path = (
                    (*where, "threshold")
                    if name == "threshold"
                    else (*where, "threshold_by_group", name)
                )
                err(
                    path,
                    f"must lie within rules floor {floor} and ceiling + 1 ({ceiling + 1}), "
                    f"got {value}",
                )
        if p.kind == "threshold" and p.threshold is None and set(p.threshold_by_group) != groups:
            err((*where, "threshold"), "required unless threshold_by_group names every group")
        if p.kind == "learned" and p.threshold is None:
            err((*where, "threshold"), "required: the threshold before the first refit")
        if p.kind == "lottery" and p.probability is None and set(p.probability_by_group) != groups:
            err((*where, "probability"), "required unless probability_by_group names every group")
        if p.kind in (*CHOSEN, "learned") and gate.name != loan_gate:
            err(
                (*where, "kind"),
                f"{p.kind} needs the repayment model of the lending gate; this gate is not "
                f"lending.gate ({loan_gate!r})",
            )
        if p.kind in ("learned",) and gate.applicant == "child":
            err((*where, "kind"), "learned decides loans to adults only")
    if once > 8:
        err(("gates",), f"at most 8 gates may take policy.once, got {once}")
    return errors
