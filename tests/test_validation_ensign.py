"""The check ensign2018: its rows can fail, and its exact programme is the urn's."""

from __future__ import annotations

import itertools

import numpy as np

from carnet.analysis.validation.ensign2018 import poisson_law, urn_variance


def test_the_poisson_law_is_whole_and_its_mean_is_lambda() -> None:
    law = poisson_law(20.0)
    n = np.arange(len(law))
    assert abs(law.sum() - 1.0) < 1e-12
    assert abs((n * law).sum() - 20.0) < 1e-9


def test_exploration_shrinks_the_urn_s_variance_monotonically() -> None:
    """More exploration, less spread; the unbiased limit is the smallest (the row's reference)."""
    law = poisson_law(20.0)
    values = [urn_variance(law, 4.0, 12, e) for e in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert all(a > b for a, b in itertools.pairwise(values))
    # Pólya's sequential urn, the limit of one finding a period: T / ((prior + 1)(prior + T)).
    one = np.array([0.0, 1.0])
    assert abs(urn_variance(one, 4.0, 30, 0.0) - 30 / (5 * 34)) < 1e-12
