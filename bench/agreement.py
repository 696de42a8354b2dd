"""Do implementations of the minimal model give the same grade distribution, within sampling error?

Two tests on the final grade counts of each implementation (independent runs, so the counts are
independent multinomial samples of one distribution if the implementations agree):

* a chi-square test of homogeneity on the implementations × grades table, grades too rare for the
  test (an expected count under 5 in some row) merged with their neighbours; it fails when its
  p-value is under ``alpha``;
* for each grade and each implementation against the reference (carnet), the difference of the
  two shares against its standard error under the pooled share,
  ``sqrt(p (1 - p) (1/n1 + 1/n2))``; it fails when a difference exceeds ``z_max`` standard errors;
* where the mean and variance of the final points are given, the difference of each
  implementation's mean from the reference's against ``sqrt(v1/n1 + v2/n2)``, with the same
  ``z_max``. The grades are coarse (nearly everyone is A after a year), so this catches a wrong
  rate, detection or delta that shifts the points by far less than a grade's width.

Pure Python (no SciPy), so that the bench and the tests need nothing beyond carnet's environment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ALPHA = 1e-3
Z_MAX = 4.0


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square with ``df`` (a positive integer) degrees of freedom, exactly."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if x <= 0.0:
        return 1.0
    h = x / 2.0
    if df % 2 == 0:  # Q = e^-h * sum_{i < df/2} h^i / i!
        term = total = math.exp(-h)
        for i in range(1, df // 2):
            term *= h / i
            total += term
        return min(total, 1.0)
    # odd: Q = erfc(sqrt(h)) + e^-h * sum_{i < (df-1)/2} h^(i+1/2) / Gamma(i + 3/2)
    total = math.erfc(math.sqrt(h))
    term = math.exp(-h) * math.sqrt(h) / math.gamma(1.5)
    for i in range((df - 1) // 2):
        total += term
        term *= h / (i + 1.5)
    return min(total, 1.0)


def merge_sparse(
    rows: Sequence[Sequence[int]], labels: Sequence[str], minimum: float = 5.0
) -> tuple[list[list[int]], list[str]]:
    """Merge adjacent columns until every expected count under homogeneity is at least ``minimum``.

    Columns are taken in order (grades from the lowest up); a bin is closed once its smallest
    expected count reaches ``minimum``; a last bin that never does is merged into the one before.
    """
    n_rows = [sum(r) for r in rows]
    total = sum(n_rows)
    if total == 0:
        return [[] for _ in rows], []

    def smallest_expected(column: list[int]) -> float:
        return min(n * sum(column) / total for n in n_rows)

    bins: list[list[int]] = []
    names: list[str] = []
    current: list[int] | None = None
    current_names: list[str] = []
    for j, label in enumerate(labels):
        column = [r[j] for r in rows]
        current = (
            column if current is None else [a + b for a, b in zip(current, column, strict=True)]
        )
        current_names.append(label)
        if smallest_expected(current) >= minimum:
            bins.append(current)
            names.append("+".join(current_names))
            current, current_names = None, []
    if current is not None and sum(current) > 0:
        if bins:
            bins[-1] = [a + b for a, b in zip(bins[-1], current, strict=True)]
            names[-1] = names[-1] + "+" + "+".join(current_names)
        else:
            bins.append(current)
            names.append("+".join(current_names))
    table = [[b[i] for b in bins] for i in range(len(rows))]
    return table, names


def homogeneity(rows: Sequence[Sequence[int]]) -> tuple[float, int, float]:
    """Pearson's chi-square test that every row samples the same distribution: (X², df, p)."""
    n_rows = [sum(r) for r in rows]
    n_cols = [sum(col) for col in zip(*rows, strict=True)]
    total = sum(n_rows)
    stat = 0.0
    for i, row in enumerate(rows):
        for j, observed in enumerate(row):
            expected = n_rows[i] * n_cols[j] / total
            if expected > 0:
                stat += (observed - expected) ** 2 / expected
    df = (len(rows) - 1) * (len(n_cols) - 1)
    p = chi2_sf(stat, df) if df > 0 else 1.0
    return stat, df, p


@dataclass
class GradeDifference:
    """One grade's share in one implementation against the reference's."""

    implementation: str
    grade: str
    share: float
    reference_share: float
    se: float

    @property
    def z(self) -> float:
        """The difference in standard errors (0 when both shares are 0 or 1)."""
        diff = self.share - self.reference_share
        return diff / self.se if self.se > 0 else 0.0


@dataclass
class MeanDifference:
    """One implementation's mean final points against the reference's."""

    implementation: str
    mean: float
    reference_mean: float
    se: float

    @property
    def z(self) -> float:
        """The difference in standard errors (0 when neither varies)."""
        diff = self.mean - self.reference_mean
        return diff / self.se if self.se > 0 else 0.0


@dataclass
class Agreement:
    """The verdict and everything behind it."""

    implementations: list[str]
    grades: list[str]
    counts: list[list[int]]
    bins: list[str]
    chi2: float
    df: int
    p: float
    differences: list[GradeDifference] = field(default_factory=list)
    means: list[MeanDifference] = field(default_factory=list)
    alpha: float = ALPHA
    z_max: float = Z_MAX

    @property
    def worst_z(self) -> float:
        """The largest |z| of any grade of any implementation against the reference."""
        return max((abs(d.z) for d in self.differences), default=0.0)

    @property
    def worst_mean_z(self) -> float:
        """The largest |z| of any implementation's mean points against the reference's."""
        return max((abs(d.z) for d in self.means), default=0.0)

    @property
    def passed(self) -> bool:
        """The implementations agree by every test."""
        return self.p >= self.alpha and max(self.worst_z, self.worst_mean_z) <= self.z_max

    def lines(self) -> list[str]:
        """A table of shares by grade, then the two tests."""
        width = max(len(name) for name in self.implementations)
        out = [f"  {'':{width}}  {'n':>10}  " + "  ".join(f"{g:>7}" for g in self.grades)]
        for name, row in zip(self.implementations, self.counts, strict=True):
            n = sum(row)
            shares = "  ".join(f"{c / n:7.4f}" for c in row)
            out.append(f"  {name:{width}}  {n:>10,}  {shares}")
        reference = self.implementations[0]
        for name in self.implementations[1:]:
            zs = [d for d in self.differences if d.implementation == name]
            out.append(
                f"  {name} - {reference}, in standard errors: "
                + ", ".join(f"{d.grade} {d.z:+.2f}" for d in zs if d.se > 0)
            )
        out.append(
            f"  chi-square of homogeneity over {', '.join(self.bins)}: X2 = {self.chi2:.2f}, "
            f"df = {self.df}, p = {self.p:.3g} (fails under {self.alpha:g})"
        )
        out.append(
            f"  largest grade share difference: {self.worst_z:.2f} standard errors "
            f"(fails over {self.z_max:g})"
        )
        if self.means:
            out.append(
                "  mean final points: "
                + ", ".join(
                    f"{d.implementation} {d.mean:.2f} ({d.z:+.2f} standard errors)"
                    for d in self.means
                )
                + f", {reference} {self.means[0].reference_mean:.2f} (fails over {self.z_max:g})"
            )
        return out


def agreement(
    counts: Mapping[str, Mapping[str, int]],
    grades: Sequence[str],
    alpha: float = ALPHA,
    z_max: float = Z_MAX,
    points: Mapping[str, tuple[float, float]] | None = None,
) -> Agreement:
    """Test that the implementations' final grade counts agree; the first one is the reference.

    ``counts`` maps each implementation to its number of citizens in each grade (grades in
    ``grades`` order, from the lowest up; a grade missing from a mapping counts 0). ``points``,
    if given, maps every implementation to the (mean, variance) of its final points.
    """
    names = list(counts)
    if len(names) < 2:
        raise ValueError("agreement needs at least two implementations")
    rows = [[int(counts[name].get(g, 0)) for g in grades] for name in names]
    if any(sum(r) == 0 for r in rows):
        raise ValueError("every implementation needs at least one citizen")
    table, bins = merge_sparse(rows, grades)
    if len(bins) >= 2:
        stat, df, p = homogeneity(table)
    else:
        stat, df, p = 0.0, 0, 1.0
    ref = rows[0]
    n_ref = sum(ref)
    differences = []
    for name, row in zip(names[1:], rows[1:], strict=True):
        n = sum(row)
        for j, g in enumerate(grades):
            pooled = (row[j] + ref[j]) / (n + n_ref)
            se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / n_ref))
            differences.append(GradeDifference(name, g, row[j] / n, ref[j] / n_ref, se))
    means = []
    if points is not None:
        m_ref, v_ref = points[names[0]]
        for name, row in zip(names[1:], rows[1:], strict=True):
            m, v = points[name]
            se = math.sqrt(v / sum(row) + v_ref / n_ref)
            means.append(MeanDifference(name, m, m_ref, se))
    return Agreement(
        names,
        list(grades),
        rows,
        bins,
        stat,
        df,
        p,
        differences,
        means,
        alpha=alpha,
        z_max=z_max,
    )
