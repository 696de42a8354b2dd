"""What a validation check returns, and the list of checks.

A check is a module of this package with a ``CHECK`` (:class:`Check`): its name, the work it
cites, and a function that runs it at one of two sizes (``quick``: what CI affords, a few
seconds to a minute; full: the size recorded in ``docs/validation.md``) and returns its rows.
Each :class:`Row` is one quantity: the reference, carnet's figure and its standard error, and
the relation that must hold between them, judged within a tolerance that the check derives from
the standard errors (never tuned until green): ``=`` within the tolerance, ``<`` or ``>``
beyond it (a finding: "negative", "larger than").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Literal

Relation = Literal["=", "<", ">"]

#: The check modules of this package, in the order the table shows them.
MODULES = (
    "exact",
    "liu2018",
    "fairness_gym",
    "lum2014",
    "ensign2018",
)


@dataclass(frozen=True)
class Row:
    """One quantity of a check: carnet's figure against its reference.

    Attributes:
        check: the check's name (its module's ``CHECK.name``).
        quantity: what is compared, in words a reader of the table understands.
        reference: the reference value.
        source: where the reference comes from: a citation, or how it was computed exactly.
        value: carnet's figure (a mean over seeds where there are several).
        se: the standard error of ``value`` (0 where it has none).
        relation: ``=``: ``|value - reference| <= tolerance``; ``<``: ``value + tolerance <
            reference``; ``>``: ``value - tolerance > reference``.
        tolerance: how far ``value`` may stray, derived from the standard errors (and, for a
            published figure, the precision it was published with); say how in ``basis``.
        basis: how the tolerance was derived, e.g. ``"4 SE over 20 seeds"``.
    """

    check: str
    quantity: str
    reference: float
    source: str
    value: float
    se: float
    relation: Relation
    tolerance: float
    basis: str

    @property
    def agrees(self) -> bool:
        """Whether the relation holds within the tolerance (never, for a figure that is NaN)."""
        if not (math.isfinite(self.value) and math.isfinite(self.reference)):
            return False
        if self.relation == "=":
            return abs(self.value - self.reference) <= self.tolerance
        if self.relation == "<":
            return self.value + self.tolerance < self.reference
        return self.value - self.tolerance > self.reference


@dataclass(frozen=True)
class Check:
    """A validation check.

    Attributes:
        name: short and unique, e.g. ``"liu2018"``; rows carry it.
        title: the work reproduced or the reference, e.g. ``"Liu et al. (ICML 2018), delayed
            impact of fair machine learning"``.
        run: ``run(quick)`` computes the check's rows at CI's size (``quick=True``) or in full.
    """

    name: str
    title: str
    run: Callable[[bool], list[Row]]


def checks() -> list[Check]:
    """Every check, in the table's order (importing each module only now)."""
    return [import_module(f"{__package__}.{m}").CHECK for m in MODULES]
