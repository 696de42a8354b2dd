"""The shipped presets load, say where their numbers come from, and minimal is the bench model."""

from __future__ import annotations

import re

import pytest
import yaml

from carnet.loading import load_scenario, preset_names, preset_text
from carnet.scenario import Scenario

PROVENANCE = re.compile(r"\b(SOURCED|DERIVED|ASSUMED)\b")
SOURCED_PRESETS = ["rongcheng", "china"]

# shared/bench-minimal.md, copied by hand: behaviour -> (rate per person-year, detect, delta).
BENCH_MINIMAL = {
    "red_light": (2.0, 0.6, -5),
    "late_payment": (1.0, 0.9, -10),
    "drunk_driving": (0.05, 0.5, -50),
    "bribery": (0.01, 0.2, -50),
    "volunteering": (4.0, 0.7, 5),
    "blood_donation": (0.5, 1.0, 5),
    "denounce_corruption": (0.05, 1.0, 20),
    "labour_medal": (0.01, 1.0, 30),
}
BENCH_GRADES = [("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850), ("C", 600), ("D", None)]

# Point values that calibration.md sources in primary text (1.15-1.21); a change must be deliberate.
SOURCED_POINTS = {
    "traffic_violation": -5,  # 1.21
    "loan_arrears": -10,  # 1.16
    "late_utility_fee": -20,  # 1.19
    "contract_default": -20,  # 1.15
    "private_lending_breach": -20,  # 1.17
    "sued_for_debt": -30,  # 1.18
    "commercial_fraud": -30,  # 1.18
    "contract_breach_liable": -50,  # 1.15
    "fee_arrears_judgment": -50,  # 1.19
    "heating_tampering": -50,  # 1.19
    "illegal_fundraising": -40,  # 1.17
    "utility_theft": -60,  # 1.19
    "utility_damage": -100,  # 1.19
}


def _comment(line: str) -> str:
    """The comment part of a YAML line (presets put no '#' inside values)."""
    return line.split("#", 1)[1] if "#" in line else ""


def _numeric_lines(text: str) -> set[int]:
    """0-based numbers of the lines that hold a numeric scalar, found by YAML's own parser."""
    lines: set[int] = set()
    numeric = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode):
            if node.tag in numeric:
                lines.add(node.start_mark.line)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(key)
                walk(value)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None
    walk(root)
    return lines


def _numeric_by_regex(text: str) -> set[int]:
    """Lines shaped ``key: number`` or holding a flow mapping or sequence with numbers in it."""
    scalar = re.compile(r"^\s*(-\s+)?[\w]+:\s*[-+]?\d[\d_.eE+-]*\s*$")
    flow = re.compile(r"[{\[,:]\s*[-+]?\d")
    found = set()
    for i, line in enumerate(text.splitlines()):
        code = line.split("#", 1)[0]
        if scalar.match(code) or (("{" in code or "[" in code) and flow.search(code)):
            found.add(i)
    return found


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name: str) -> None:
    scenario = load_scenario(name)
    assert isinstance(scenario, Scenario)
    assert scenario.name == name


@pytest.mark.parametrize("name", preset_names())
def test_preset_has_a_one_line_summary(name: str) -> None:
    text = preset_text(name)
    first = text.splitlines()[0]
    assert first.startswith("# ") and len(first) > 10, f"{name}: first line must be a # summary"
    description = load_scenario(name).description
    assert description, f"{name}: `carnet presets` prints the description; it is empty"
    assert "\n" not in description, f"{name}: description must be one line"
    assert len(description) <= 200, f"{name}: description is {len(description)} chars, keep <= 200"


def test_minimal_is_the_bench_model() -> None:
    s = load_scenario("minimal")
    assert s.population.size == 1_000_000
    assert s.population.start_points == 1000
    assert len(s.population.groups) == 1
    assert [b.name for b in s.behaviours] == list(BENCH_MINIMAL)
    for b in s.behaviours:
        rate, detect, delta = BENCH_MINIMAL[b.name]
        assert b.rate_per_year == rate, b.name
        assert [(o.source, o.detect) for o in b.observed_by] == [("observer", detect)], b.name
        assert b.kind == ("negative" if delta < 0 else "positive"), b.name
        assert not b.by_group and not b.by_region and b.by_income is None, b.name
        assert (b.by_area.urban, b.by_area.rural) == (1.0, 1.0), b.name
        rule = s.rules.points[b.name]
        assert (rule.points, rule.yearly_cap, rule.lifetime_days) == (delta, None, None), b.name
    assert set(s.rules.points) == set(BENCH_MINIMAL)
    assert (s.rules.floor, s.rules.ceiling, s.rules.lifetime_days) == (0, 1200, None)
    assert [(g.name, g.min_points) for g in s.grades] == BENCH_GRADES
    assert s.responses.deterrence == {"D": 0.5, "C": 0.7}
    assert all(src.misattribution == 0.0 for src in s.sources)
    assert s.run.days == 365


def test_rongcheng_is_the_city() -> None:
    s = load_scenario("rongcheng")
    assert s.population.size == 740_000
    assert s.run.days == 365
    assert s.population.start_points == 1000
    assert {g.name for g in s.population.groups} == {"local_hukou", "migrant", "minority"}
    assert [(g.name, g.min_points) for g in s.grades] == BENCH_GRADES
    assert s.rules.floor == 0
    assert s.rules.lifetime_days == 730
    for name, points in SOURCED_POINTS.items():
        assert s.rules.points[name].points == points, name
    assert s.rules.points["volunteering"].yearly_cap == 50
    assert s.run.panel.full_up_to == 1_000_000  # the default: everyone is in the panel


def test_rongcheng_watches_online_criticism_without_scoring_it() -> None:
    s = load_scenario("rongcheng")
    b = s.behaviours[s.behaviour_index("online_criticism")]
    assert b.kind == "lawful"
    assert [o.source for o in b.observed_by] == ["social_networks"]
    assert s.rules.points["online_criticism"].points == 0


def test_china_is_the_nation() -> None:
    s = load_scenario("china")
    assert s.population.size == 1_400_000_000
    assert len(s.population.regions) == 6
    small = load_scenario("china", population=10_000)
    assert small.population.size == 10_000


def test_china_copies_rongcheng_rules_behaviours_and_sources() -> None:
    city, nation = load_scenario("rongcheng"), load_scenario("china")
    for part in ("behaviours", "sources", "rules", "grades", "responses"):
        assert getattr(nation, part) == getattr(city, part), part
    assert [g.name for g in nation.population.groups] == [g.name for g in city.population.groups]
    assert nation.population.start_points == city.population.start_points


@pytest.mark.parametrize("name", SOURCED_PRESETS)
def test_awareness_averages_the_sourced_11_percent(name: str) -> None:
    groups = load_scenario(name).population.groups
    mean = sum(g.share * g.awareness for g in groups)
    assert mean == pytest.approx(0.11, abs=0.005)


@pytest.mark.parametrize("name", SOURCED_PRESETS)
def test_every_number_says_where_it_comes_from(name: str) -> None:
    text = preset_text(name)
    lines = text.splitlines()
    numeric = _numeric_lines(text) | _numeric_by_regex(text)
    assert len(numeric) > 50, "the provenance check found suspiciously few numbers"
    missing = [
        f"line {i + 1}: {lines[i].strip()}"
        for i in sorted(numeric)
        if not PROVENANCE.search(_comment(lines[i]))
    ]
    assert not missing, f"{name}.yaml: numbers without SOURCED/DERIVED/ASSUMED:\n" + "\n".join(
        missing
    )


def test_the_provenance_check_catches_a_bare_number() -> None:
    text = "rules:\n  floor: 0\n  ceiling: 10  # ASSUMED\ngrades:\n  - {name: A, min_points: 5}\n"
    lines = text.splitlines()
    numeric = _numeric_lines(text) | _numeric_by_regex(text)
    bare = [i for i in numeric if not PROVENANCE.search(_comment(lines[i]))]
    assert sorted(bare) == [1, 4]
