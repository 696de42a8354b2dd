"""The check ``lum2014``: its quick rows agree; its exact Hawkes expectation is right."""

from __future__ import annotations

import numpy as np
import pytest

from carnet.analysis.validation import lum2014


def test_every_quick_row_agrees() -> None:
    """The quick check: amplification, Little's law without contagion, the persisting gap."""
    rows = lum2014.run(True)
    assert len(rows) == 6
    assert all(r.agrees for r in rows), [r for r in rows if not r.agrees]


def test_the_expectation_reaches_the_stationary_law() -> None:
    """The day-by-day expectation converges to r L / (1 - s r L); without contagion it is r L."""
    r = 0.6 / 517
    e = lum2014.expected_prevalence(r, 1.0, np.full(16000, 517))
    assert e[-1] == pytest.approx(lum2014.stationary_prevalence(r, 1.0, 517), rel=1e-9)
    off = lum2014.expected_prevalence(r, 0.0, np.full(2000, 426))
    assert off[425:] == pytest.approx(r * 426, rel=1e-12) and off[424] < r * 426
    with pytest.raises(ValueError, match="branching"):
        lum2014.stationary_prevalence(r, 2.0, 517)


def test_equalising_the_lifetimes_closes_the_gap_slowly() -> None:
    """After equalising, the old records keep their lifetime; the gap decays but stays above 0."""
    r, days, change = 0.6 / 517, 9000, 4000
    short = lum2014.expected_prevalence(r, 1.0, np.full(days, 426))
    lives = np.where(np.arange(days) < change, 517, 426)
    equalised = lum2014.expected_prevalence(r, 1.0, lives)
    gap = equalised - short
    assert gap[change + 517] > 0.1 and 0 < gap[-1] < 1e-6
    assert np.all(np.diff(gap[change + 517 :]) <= 1e-12)
