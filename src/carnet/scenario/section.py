"""The base of every scenario section (re-exported from :mod:`carnet.scenario.base`)."""

from __future__ import annotations

from carnet.scenario.base import Section

__all__ = ["Section"]
