"""A scenario compiled once into what every shard shares: its parameters as arrays, and rules.

:class:`Compiled` gathers the citizens' :class:`~carnet.sim.parameters.Parameters`, the list,
gate and lending rules, and the same for companies (a population of their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from carnet.scenario.schema import Scenario
from carnet.sim.employers import sized_company_view
from carnet.sim.output_names import check as check_names
from carnet.sim.parameters import Parameters, compile_parameters
from carnet.sim.phases.attention import AttentionRules
from carnet.sim.phases.company_lists import CompanyListRules
from carnet.sim.phases.gates import GateRules
from carnet.sim.phases.lending import LendingRules
from carnet.sim.phases.lists import ListRules


@dataclass(frozen=True)
class Compiled:
    """Everything compiled from a scenario that every shard shares."""

    parameters: Parameters
    lists: ListRules | None
    gates: GateRules | None
    lending: LendingRules | None
    companies: Scenario | None  # the companies as a population (see sized_company_view)
    company_parameters: Parameters | None
    company_lists: CompanyListRules | None
    attention: AttentionRules | None = None  # the citizens' adaptive sources (companies: none)

    @classmethod
    def build(cls, s: Scenario) -> Compiled:
        """Compile ``s``; refuse names that would collide in its outputs (see output_names)."""
        check_names(s)
        p = compile_parameters(s)
        cs = sized_company_view(s) if s.companies is not None else None
        return cls(
            parameters=p,
            lists=ListRules.build(s, p),
            gates=GateRules.build(s, p),
            lending=LendingRules.build(s, p),
            companies=cs,
            company_parameters=None if cs is None else compile_parameters(cs, companies=True),
            company_lists=CompanyListRules.build(s),
            attention=AttentionRules.build(s, p),
        )
