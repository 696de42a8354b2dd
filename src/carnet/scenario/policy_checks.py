"""The checks that relate policies, repayment tables and start laws to the rest of a scenario.

Apart from :mod:`carnet.scenario.policies` (whose classes the schema's fields name) because they
read the whole :class:`~carnet.scenario.schema.Scenario`; the loader runs them beside
:func:`~carnet.scenario.schema.cross_check`, and every problem names its path.
"""

from __future__ import annotations

from carnet.scenario.pathsyntax import format_path
from carnet.scenario.policies import CHOSEN, RepayCurve
from carnet.scenario.schema import Scenario


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


#: The kinds that read each field of a policy (``kind`` and ``once`` are read by all).
READERS: dict[str, tuple[str, ...]] = {
    "threshold": ("threshold", "learned"),
    "threshold_by_group": ("threshold",),
    "probability": ("lottery",),
    "probability_by_group": ("lottery",),
    "gain_if_repaid": (*CHOSEN, "learned"),
    "loss_if_default": (*CHOSEN, "learned"),
    "randomise_tie": ("demographic_parity", "equal_opportunity"),
    "refit_days": ("learned",),
    "bin_points": ("learned",),
}


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
        for name in sorted(READERS):  # a value other than the default that nothing reads
            default = type(p).model_fields[name].get_default(call_default_factory=True)
            if getattr(p, name) != default and p.kind not in READERS[name]:
                readers = ", ".join(READERS[name])
                err((*where, name), f"not read by kind {p.kind!r} (only by {readers})")
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
