"""The registry of random streams: its names are pinned, and every stream goes through it.

Common random numbers rest on the streams' names (each is hashed into the component of its keys):
a renamed stream changes every number drawn from it, so a rename must fail here, on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import carnet
from carnet.sim import streams
from carnet.sim.compiled import Compiled
from carnet.sim.rng import component_id

PACKAGE = Path(carnet.__file__).parent
REGISTRY = PACKAGE / "sim" / "streams.py"

FIXED = [
    "population", "households", "population/points", "companies", "companies/staff",
    "list/distress", "list/lawsuit", "list/distress/default", "list/distress/refused",
    "loan/repay", "companies/blacklist", "list/warm-up",
]  # fmt: skip
TEMPLATES = [
    "behave/{}", "observe/{}", "companies/behave/{}", "companies/observe/{}", "gate/{}",
]  # fmt: skip

CHINA_BEHAVIOURS = [
    "traffic_violation", "loan_arrears", "late_utility_fee", "contract_default",
    "private_lending_breach", "sued_for_debt", "commercial_fraud", "contract_breach_liable",
    "fee_arrears_judgment", "heating_tampering", "illegal_fundraising", "utility_theft",
    "utility_damage", "drunk_driving", "volunteering", "blood_donation", "heroic_act",
    "official_award", "online_criticism", "report_misconduct", "misconduct",
]  # fmt: skip
CHINA_COMPANY_BEHAVIOURS = [
    "tax_arrears", "environmental_violation", "product_quality_violation", "labour_violation",
    "tax_honour",
]  # fmt: skip
#: Every stream that the china preset (every phase on) draws from, in used_by's order.
CHINA = [
    "population", "households",
    *(f"behave/{b}" for b in CHINA_BEHAVIOURS),
    *(f"observe/{b}" for b in CHINA_BEHAVIOURS),
    "list/distress", "list/lawsuit", "list/warm-up",
    "gate/flight", "gate/high_speed_rail", "gate/public_sector_job", "gate/loan",
    "list/distress/refused", "loan/repay", "list/distress/default",
    "companies", "companies/staff",
    *(f"companies/behave/{b}" for b in CHINA_COMPANY_BEHAVIOURS),
    *(f"companies/observe/{b}" for b in CHINA_COMPANY_BEHAVIOURS),
    "companies/blacklist",
]  # fmt: skip


def test_the_names_are_pinned() -> None:
    assert [s.name for s in streams.STREAMS] == FIXED
    assert [p.template for p in streams.PATTERNS] == TEMPLATES
    assert all(s.draws for s in streams.STREAMS) and all(p.draws for p in streams.PATTERNS)


def test_a_few_ids_as_numbers() -> None:
    """The hash itself is pinned too: a change to component_id would move every stream."""
    assert streams.POPULATION.id == np.uint64(12480230455348832476)
    assert streams.LIST_DISTRESS.id == np.uint64(9297052209860558022)
    assert streams.COMPANY_BLACKLIST.id == np.uint64(13592022940205156905)
    assert streams.BEHAVE("red_light").id == np.uint64(2120399811271472581)
    assert streams.BEHAVE("red_light").id == component_id("behave/red_light")
    assert streams.seed_key(1) == np.uint64(1)
    assert streams.START_POINTS.id == component_id("population/points")


def test_names_cannot_collide() -> None:
    """No fixed name falls under a pattern, and no pattern's names under another's."""
    prefixes = [t.removesuffix("{}") for t in TEMPLATES]
    assert len(set(FIXED)) == len(FIXED)
    for name in FIXED:
        assert not any(name.startswith(p) for p in prefixes), name
    for a in prefixes:
        assert not any(a != b and a.startswith(b) for b in prefixes), a


def test_every_stream_the_china_preset_uses() -> None:
    s = carnet.load_scenario("china")
    assert [x.name for x in streams.used_by(s)] == CHINA
    minimal = carnet.load_scenario("minimal")
    behaviours = [b.name for b in minimal.behaviours]
    assert [x.name for x in streams.used_by(minimal)] == [
        "population", "households",
        *(f"behave/{b}" for b in behaviours), *(f"observe/{b}" for b in behaviours),
    ]  # fmt: skip


def test_the_compiled_keys_are_the_registry_s() -> None:
    """Every key that a compiled scenario hands its kernels is a stream that used_by lists."""
    for preset in ("minimal", "rongcheng-gated", "china"):
        s = carnet.load_scenario(preset)
        used = {int(x.id) for x in streams.used_by(s)}
        rules = Compiled.build(s)
        keys = [*rules.parameters.behave_keys, *rules.parameters.observe_keys]
        if rules.company_parameters is not None:
            keys += [*rules.company_parameters.behave_keys, *rules.company_parameters.observe_keys]
        if rules.gates is not None:
            keys += list(rules.gates.keys)
        if rules.lending is not None:
            keys.append(rules.lending.key)
        assert {int(k) for k in keys} <= used, preset


def _calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def test_every_stream_goes_through_the_registry() -> None:
    """Only streams.py hashes names, declares streams, and turns a seed into a key."""
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == REGISTRY:
            continue
        where = path.relative_to(PACKAGE)
        for call in _calls(path):
            name = _name(call)
            if name in ("component_id", "Stream", "Pattern"):
                outside.append(f"{where}:{call.lineno}: {name}(...)")
            if name == "uint64" and "seed" in ast.unparse(call).lower():
                outside.append(f"{where}:{call.lineno}: {ast.unparse(call)} (use seed_key)")
    assert not outside, "streams outside carnet.sim.streams:\n" + "\n".join(outside)


def test_the_registry_hashes_no_literal() -> None:
    """Inside streams.py, component_id hashes a declared stream's name, never a literal."""
    calls = [c for c in _calls(REGISTRY) if _name(c) == "component_id"]
    assert len(calls) == 1
    assert not any(isinstance(a, ast.Constant | ast.JoinedStr) for a in calls[0].args)
