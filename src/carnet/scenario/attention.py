"""Adaptive attention: a source that re-allocates its watching by what it found before.

The unit that allocates is a block of citizens (``run.block_size``: a precinct, which never
leaves its shard). In each block the source has a fixed detection budget that it splits across
the groups living there: an allocation ``a_g`` (shares adding up to 1). A citizen of group ``g``
in block ``b`` is watched with the multiplier ``m_bg = a_bg * n_b / n_bg``, so the mean multiplier
over the block's citizens stays 1. Every ``period_days`` the allocation is set again from what the
source *recorded* (by the group of the citizen a record landed on: what the source believes), as
a Pólya urn (Ensign et al. 2018, "Runaway feedback loops in predictive policing"). The derivation
and the tests' theory are in docs/attention.md.

:func:`check_attention` holds the checks that need the rest of the scenario, as (path, message)
pairs; :func:`carnet.scenario.schema.cross_check` calls it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Share = Annotated[float, Field(ge=0.0, le=1.0)]

#: Whom a misattributed act lands on (``Source.misattributed_to``).
MisattributedTo = Literal["block", "group", "region"]


class Attention(BaseModel):
    """A source's attention, re-allocated across groups by its own findings in each block.

    In each block of `run.block_size` citizens the source splits a fixed budget across the
    groups living there: a share a_g each, so a citizen of group g is watched a_g x (block's
    citizens / group's citizens in the block) times the base detection (mean 1 over the block;
    probabilities are clipped at 1, which breaks the budget there). The initial shares are by
    group size times `by_group`. Every `period_days` the shares are set to (1 - exploration) x
    (prior x initial + found) / (prior + all found) + exploration x group's share of the block,
    from what the source recorded in the window, by the group of the citizen each record landed
    on (a misattribution counts for the one accused). Without a window or exploration this is a
    Pólya urn that does not learn the truth (Ensign et al. 2018; docs/attention.md). Companies'
    behaviours seen by the source are watched at a fixed rate.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    period_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="days between re-allocations; the allocation in force is fixed in between",
    )
    window_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="findings of the last this many days count (a multiple of period_days); "
        "none: every finding so far (a Pólya urn)",
    )
    prior: float = Field(
        10.0,
        ge=0.0,
        le=1e9,
        description="pseudo-count of findings behind the initial allocation (the urn's first "
        "balls); higher means slower to follow findings",
    )
    exploration: Share = Field(
        0.0,
        description="share of the allocation spread by group size whatever was found "
        "(0: none, the urn runs away)",
    )
    audit_share: Share = Field(
        0.0,
        description="share of the source's checks made at random (uniform over the block, "
        "multiplier 1); what they find is counted in audit_found_<source> and also feeds the "
        "allocation",
    )


class Watcher(Protocol):
    """What the checks read of a source (schema.Source, which this module cannot import)."""

    @property
    def by_group(self) -> Mapping[str, float]: ...  # noqa: D102
    @property
    def misattribution_by_group(self) -> Mapping[str, float]: ...  # noqa: D102
    @property
    def attention(self) -> Attention | None: ...  # noqa: D102


def check_attention(sources: Sequence[Watcher], groups: set[str]) -> list[tuple[str, str]]:
    """Checks of the sources' attention and misattribution fields, as (path, message) pairs.

    ``groups``: the population's group names.
    """
    errors: list[tuple[str, str]] = []
    for j, src in enumerate(sources):
        where = f"sources.{j}"
        for key in src.misattribution_by_group:
            if key not in groups:
                errors.append(
                    (
                        f"{where}.misattribution_by_group.{key}",
                        f"unknown group {key!r}; known: {sorted(groups)}",
                    )
                )
        a = src.attention
        if a is None:
            continue
        if a.window_days is not None:
            if a.window_days < a.period_days:
                errors.append(
                    (
                        f"{where}.attention.window_days",
                        f"must be at least period_days ({a.period_days}), got {a.window_days}",
                    )
                )
            elif a.window_days % a.period_days:
                errors.append(
                    (
                        f"{where}.attention.window_days",
                        f"must be a multiple of period_days ({a.period_days}), got {a.window_days}",
                    )
                )
            elif a.window_days // a.period_days > 366:
                errors.append(
                    (
                        f"{where}.attention.window_days",
                        f"at most 366 periods of period_days ({a.period_days}), "
                        f"got {a.window_days // a.period_days}",
                    )
                )
        if src.by_group and all(src.by_group.get(g, 1.0) == 0.0 for g in groups):
            errors.append(
                (
                    f"{where}.by_group",
                    "with attention, by_group sets the initial allocation: not every group may "
                    "be 0",
                )
            )
    return errors
