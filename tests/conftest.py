"""Shared builders: small scenarios written as mappings, so each test states what it varies."""

from __future__ import annotations

import copy
from typing import Any

import pytest


def base_scenario(**run: Any) -> dict[str, Any]:
    """A one-group society with three behaviours, no clamping, caps, expiry or deterrence."""
    doc: dict[str, Any] = {
        "name": "test",
        "population": {
            "size": 20000,
            "start_points": 1000,
            "groups": [{"name": "everyone", "share": 1.0, "exposure": {"mean": 0.5}}],
        },
        "sources": [
            {"name": "camera", "sensitivity": "location", "data_points_per_day": 2.0},
            {"name": "bank", "sensitivity": "financial", "data_points_per_day": 1.0},
        ],
        "behaviours": [
            {"name": "red_light", "kind": "negative", "rate_per_year": 3.0,
             "observed_by": [{"source": "camera", "detect": 0.6}]},
            {"name": "late_payment", "kind": "negative", "rate_per_year": 1.5,
             "observed_by": [{"source": "bank", "detect": 0.9}]},
            {"name": "volunteering", "kind": "positive", "rate_per_year": 2.0,
             "observed_by": [{"source": "camera", "detect": 0.5}]},
        ],
        "rules": {
            "floor": -32768,
            "ceiling": 32767,
            "lifetime_days": None,
            "points": {"red_light": -5, "late_payment": -10, "volunteering": 7},
        },
        "grades": [
            {"name": "A", "min_points": 1000},
            {"name": "B", "min_points": 900},
            {"name": "C"},
        ],
        "run": {"days": 365, "seed": 7, "block_size": 1024, **run},
    }  # fmt: skip
    return doc


@pytest.fixture
def scenario_doc() -> dict[str, Any]:
    return copy.deepcopy(base_scenario())
