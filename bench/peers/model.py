"""The minimal model's parameters (shared/bench-minimal.md), plain Python for every implementation.

The peers (Mesa, Starsim) run in their own environment without carnet, so they read the model from
here; ``bench/run.py --peers`` checks first that this table equals carnet's ``minimal`` preset, so
that the three implementations run the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Behaviour(NamedTuple):
    """One behaviour: rate per person-year, detection probability, points per observed act."""

    name: str
    rate_per_year: float
    detect: float
    delta: int

    @property
    def negative(self) -> bool:
        """Negative acts are the ones deterred by a low grade."""
        return self.delta < 0


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("red_light", 2.0, 0.6, -5),
    Behaviour("late_payment", 1.0, 0.9, -10),
    Behaviour("drunk_driving", 0.05, 0.5, -50),
    Behaviour("bribery", 0.01, 0.2, -50),
    Behaviour("volunteering", 4.0, 0.7, 5),
    Behaviour("blood_donation", 0.5, 1.0, 5),
    Behaviour("denounce_corruption", 0.05, 1.0, 20),
    Behaviour("labour_medal", 0.01, 1.0, 30),
)

START_POINTS = 1000
FLOOR = 0
CEILING = 1200
DAYS_PER_YEAR = 365

# Grades from the lowest up, each with the smallest number of points it needs.
GRADES: tuple[str, ...] = ("D", "C", "B", "A", "AA", "AAA")
GRADE_MIN: tuple[int, ...] = (FLOOR, 600, 850, 960, 1030, 1050)

# Deterrence factor on negative acts by grade index (D 0.5, C 0.7, every other grade 1.0).
DETERRENCE: tuple[float, ...] = (0.5, 0.7, 1.0, 1.0, 1.0, 1.0)


def grade_of(points: int) -> int:
    """The grade index (0 = D ... 5 = AAA) of a number of points."""
    grade = 0
    for g, low in enumerate(GRADE_MIN):
        if points >= low:
            grade = g
    return grade


def daily_rate(behaviour: Behaviour) -> float:
    """The mean number of acts of ``behaviour`` by one citizen on one day, before deterrence.

    A citizen's acts of each behaviour form a Poisson process (bench-minimal.md since 0.3): the
    number on a day is Poisson with this mean (times the grade's deterrence if negative).
    """
    return behaviour.rate_per_year / DAYS_PER_YEAR


def poisson(random: Callable[[], float], p0: float, mean: float) -> int:
    """A Poisson number of mean ``mean`` (``p0`` = e^-mean) by inversion of one uniform."""
    u, n, p = random(), 0, p0
    cumulative = p
    while u > cumulative and p > 0.0:
        n += 1
        p *= mean / n
        cumulative += p
    return n
