"""Responses that spread and answer: contagion of sanctions, rewards and what a grade costs.

Two optional sections of ``responses`` (declared here, the fields only named in
:mod:`carnet.scenario.schema`), and the checks that relate them to the rest of a scenario:

- :class:`Contagion`: a citizen's rate of negative acts rises with the sanctions (and, if asked,
  the listings) of their neighbourhood, household and co-workers, for as long as those last.
  After Lum, Swarup, Eubank & Hawdon (2014), where imprisonment spreads through social ties while
  it lasts, so that small differences in sentence length grow into large, persistent gaps between
  groups: here a record's lifetime (``rules.lifetime_by_group``) and a listing's term
  (``lists.blacklist.term_days_by_group``) are the sentence. The derivation of its stationary
  law is in docs/contagion.md.
- :class:`Incentives`: positive acts rise with their reward, and negative acts are deterred by
  what falling a grade would cost at the gates.
"""

from __future__ import annotations

from pydantic import Field

from carnet.scenario.section import Section


class Contagion(Section):
    """Sanctions spread: ties of the sanctioned (and of the listed) offend more while it lasts.

    Each block of citizens (``run.block_size`` citizens laid out region by region: the
    neighbourhood) keeps a pressure: the number of its citizens' negative records that still count
    (a sanction raises it by 1, its expiry or won appeal lowers it by 1), plus, with ``listings``,
    the number of its citizens on the blacklist. A citizen's negative acts are multiplied by
    (1 + neighbours x pressure / citizens of the block) x household (while a housemate's sanction
    is within ``responses.memory_days``) x coworkers (the same for a co-worker's), clipped at
    ``max_multiplier``. Records that never expire never stop pressing: give the rules a lifetime.
    It lands on everyone, aware of the system or not: it is a social effect, not a response to
    the system. Off by default.
    """

    neighbours: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="rise of the rate of negative acts per live negative record (or listing) "
        "per citizen of the block (0: none)",
    )
    household: float = Field(
        1.0,
        ge=1.0,
        le=100.0,
        description="multiplier on negative acts while a housemate's sanction is within "
        "responses.memory_days (1: none)",
    )
    coworkers: float = Field(
        1.0,
        ge=1.0,
        le=100.0,
        description="the same for a co-worker's sanction (needs `companies`; 1: none)",
    )
    listings: bool = Field(
        False, description="the block's blacklisted citizens press too, for as long as listed"
    )
    max_multiplier: float = Field(
        4.0,
        ge=1.0,
        le=100.0,
        description="the multiplier is clipped here; candidate acts are drawn at this many times "
        "the base rate, so a high clip costs draws",
    )


class Incentives(Section):
    """Behaviour answers the system's rewards and what a fall of grade would cost at its gates.

    Both land only on citizens aware of the system (unless ``responses.aware_only`` is false), and
    both are off by default.
    """

    reward_elasticity: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="a positive act's rate is multiplied by 1 + reward_elasticity x points / "
        "reward_reference (its rule's points), clipped to 0 .. reward_max (0: off)",
    )
    reward_reference: float = Field(
        10.0, ge=1.0, le=10000.0, description="points of reward that count as one unit"
    )
    reward_max: float = Field(
        3.0,
        ge=1.0,
        le=100.0,
        description="largest reward multiplier; positive candidates are drawn at this many times "
        "their base rate while rewards move behaviour",
    )
    gate_stakes: float = Field(
        0.0,
        ge=0.0,
        le=1000.0,
        description="a negative act that would drop the citizen's grade is multiplied by "
        "1 / (1 + gate_stakes x applications per year that the lower grade would lose at the "
        "adults' gates) (0: off)",
    )


def check_responses(
    contagion: Contagion | None,
    incentives: Incentives | None,
    *,
    companies: bool,
    gates: bool,
    company_contagion: Contagion | None = None,
) -> list[tuple[str, str]]:
    """What relates contagion and incentives to the rest of a scenario, as ``(path, message)``.

    ``companies``, ``gates``: whether the scenario has them; ``company_contagion``: the
    companies' ``responses.contagion``. Called by :func:`carnet.scenario.schema.cross_check`.
    """
    errors: list[tuple[str, str]] = []
    if contagion is not None and contagion.coworkers != 1.0 and not companies:
        errors.append(("responses.contagion.coworkers", "co-workers need a `companies` section"))
    if incentives is not None and incentives.gate_stakes > 0.0 and not gates:
        # Also what the companies' view reports for companies.responses: they apply at no gate.
        errors.append(("responses.incentives.gate_stakes", "no gates to weigh: `gates` is empty"))
    if company_contagion is not None:
        errors.append(("companies.responses.contagion", "contagion applies to citizens only"))
    return errors
