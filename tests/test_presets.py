"""The shipped presets load, say where their numbers come from, and minimal is the bench model."""

from __future__ import annotations

import math
import re

import pyarrow.compute as pc
import pytest
import yaml

import carnet
from carnet.scenario.loading import load_scenario, preset_names, preset_text
from carnet.scenario.schema import Scenario

PROVENANCE = re.compile(r"\b(SOURCED|DERIVED|ASSUMED)\b")
SOURCED_PRESETS = ["rongcheng", "rongcheng-gated", "china"]
GATED = "rongcheng-gated"  # the counterfactual score-gated regime of calibration.md 8.4

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


def _sanctions(s: Scenario) -> list[str]:
    """What in ``s`` penalises a citizen, as opposed to rewarding one (empty if incentive-only).

    A perk may be kept for grades above the one everyone starts in (a reward to earn); a gate that
    refuses a grade at or below the starting grade refuses people for falling, which is a sanction.
    So is a blacklist, refusing the listed, and charging any grade more than the default price; so
    are denunciations (a report sanctions the accused), points taken for a loan default, and a
    refusal that may bring financial distress.
    """
    min_points = {g.name: g.min_points for g in s.grades}
    start = s.population.start_points

    def above_start(grade: str) -> bool:
        bound = min_points[grade]
        return bound is not None and bound > start

    found = ["lists.blacklist"] if s.lists.blacklist is not None else []
    if s.denunciations is not None:
        found.append(f"denunciations: reports sanction the accused with {s.denunciations.sanction}")
    if s.lending is not None and s.lending.points_on_default < 0:
        found.append(f"lending: a default costs {-s.lending.points_on_default} points")
    red = s.lists.redlist.grades if s.lists.redlist is not None else []
    for gate in s.gates:
        if gate.refuse_blacklisted:
            found.append(f"{gate.name}: refuses the blacklisted")
        grade = gate.min_grade  # the lowest grade as min_grade refuses nobody
        if grade is not None and grade != s.grades[-1].name and not above_start(grade):
            found.append(f"{gate.name}: refuses grades below {grade}")
        if gate.require_redlist and not all(above_start(g) for g in red):
            found.append(f"{gate.name}: redlist includes the starting grade or below")
        found += [f"{gate.name}: {g} pays x{p}" for g, p in gate.price_by_grade.items() if p > 1.0]
        if gate.distress_if_refused > 0:
            found.append(f"{gate.name}: a refusal may bring distress")
    return found


def test_rongcheng_is_incentive_only() -> None:
    """Calibration 1.8: a low score alone triggers no penalty; only top grades earn perks (8.4)."""
    s = load_scenario("rongcheng")
    assert s.lists.blacklist is None
    assert s.denunciations is None and s.lending is None
    assert _sanctions(s) == []
    gates = {g.name: g for g in s.gates}
    assert set(gates) == {"heating_discount", "deposit_free_services", "loan"}
    assert gates["heating_discount"].require_redlist
    assert s.lists.redlist is not None and s.lists.redlist.grades == ["AAA"]
    assert gates["deposit_free_services"].min_grade == "AA"
    assert gates["loan"].min_grade is None and gates["loan"].price_by_grade == {"AAA": 0.9}


def test_the_sanction_check_finds_the_gated_regime() -> None:
    found = _sanctions(load_scenario(GATED))
    assert "lists.blacklist" in found
    for expected in (
        "flight: refuses the blacklisted",
        "loan: refuses grades below C",
        "public_sector_job: refuses grades below B",
        "deposit_waiver: refuses grades below A",
        "rental_deposit_free: refuses grades below B",
        "loan: C pays x1.1",
        "loan: a refusal may bring distress",
        "denunciations: reports sanction the accused with misconduct",
        "lending: a default costs 20 points",
    ):
        assert expected in found
    # min_grade D admits everyone, so the control job gate is no sanction.
    assert not any(f.startswith("job:") for f in found)


def test_rongcheng_gated_is_the_same_city() -> None:
    city, gated = load_scenario("rongcheng"), load_scenario(GATED)
    same = ("population", "behaviours", "sources", "rules", "grades", "responses", "appeals")
    for part in (*same, "run"):
        assert getattr(gated, part) == getattr(city, part), part


def test_rongcheng_gated_has_the_list_and_the_gates() -> None:
    s = load_scenario(GATED)
    bl = s.lists.blacklist
    assert bl is not None
    assert bl.listing_probability == 0.5  # 8.5
    assert bl.term_days == 730  # 3.2, 8.3
    assert bl.points in (0, -100)  # 8.2 row L: a flag, or the alternative -100
    assert s.lists.redlist is not None and s.lists.redlist.grades == ["AAA"]
    gates = {g.name: g for g in s.gates}
    for name in ("flight", "high_speed_rail", "public_sector_job", "private_school"):
        assert gates[name].refuse_blacklisted, name
    assert {n: g.min_grade for n, g in gates.items() if g.min_grade} == {
        "loan": "C",
        "public_sector_job": "B",
        "job": "D",
        "deposit_waiver": "A",
        "rental_deposit_free": "B",
    }
    assert gates["loan"].price_by_grade["AAA"] < 1.0
    assert not gates["job"].refuse_blacklisted and gates["job"].min_grade == s.grades[-1].name
    school = gates["private_school"]
    assert school.applicant == "child" and school.min_grade is None
    assert school.seats_per_region is not None and school.applications_per_year <= 1.0


def test_private_school_seats_are_scarce_in_every_region() -> None:
    s = load_scenario(GATED)
    school = next(g for g in s.gates if g.name == "private_school")
    assert school.seats_per_region is not None
    h = s.population.households
    children = s.population.size / h.adults_mean * h.children_mean
    for region in s.population.regions:
        demand = children * region.share * school.applications_per_year
        assert demand > 1.5 * school.seats_per_region, region.name


def _default_at_start(s: Scenario) -> float:
    """Chance that a loan to a citizen with the starting points is not repaid (logistic curve)."""
    lend = s.lending
    assert lend is not None and not lend.repay_by_grade
    log_odds = lend.repay_intercept + lend.repay_per_point * (s.population.start_points - 1000)
    return 1.0 - 1.0 / (1.0 + math.exp(-log_odds))


def _onsets_by_income(s: Scenario) -> list[float]:
    """Onsets of distress per person-year by income quintile: the base rate, plus loan defaults."""
    bl = s.lists.blacklist
    assert bl is not None
    onsets = [bl.distress_per_year * m for m in bl.distress_by_income or [1.0] * 5]
    lend = s.lending
    if lend is not None and lend.distress_on_default:
        gate = next(g for g in s.gates if g.name == lend.gate)
        loans = [gate.applications_per_year * b for b in gate.by_income or [1.0] * 5]
        onsets = [d + n * _default_at_start(s) for d, n in zip(onsets, loans, strict=True)]
    return onsets


def _entries_per_person_year(s: Scenario) -> float:
    """Blacklist entries per person-year at the steady state (loans falling due), ignoring that the
    listed cannot be listed again."""
    bl = s.lists.blacklist
    assert bl is not None
    years = bl.distress_days / 365.0
    distressed = sum(d * years / (1 + d * years) for d in _onsets_by_income(s)) / 5
    return distressed * bl.lawsuits_per_year * bl.listing_probability


@pytest.mark.parametrize("name", [GATED, "china"])
def test_blacklist_entries_match_the_national_rate(name: str) -> None:
    """8.2 row L: 0.002-0.003 entries per person-year; 8.3: 2024 exits about 1.15 x entries."""
    bl = load_scenario(name).lists.blacklist
    assert bl is not None
    # The formula overstates the simulated rate by about 6% (the listed are not listed again).
    assert 0.002 <= _entries_per_person_year(load_scenario(name)) * 0.94 <= 0.003
    entries_2023, entries_2024 = 2.457 / (1 - 0.234), 2.457  # millions, 3.12
    early = 1 - math.exp(-bl.exit_per_year * bl.term_days / 365.0)
    assert entries_2023 * early / entries_2024 == pytest.approx(1.15, abs=0.01)


def test_china_is_the_nation() -> None:
    s = load_scenario("china")
    assert s.population.size == 1_400_000_000
    assert len(s.population.regions) == 6
    small = load_scenario("china", population=10_000)
    assert small.population.size == 10_000


def test_china_has_the_national_blacklist_and_its_restrictions() -> None:
    s = load_scenario("china")
    assert s.lists.blacklist is not None
    gates = {g.name: g for g in s.gates}
    assert set(gates) == {"flight", "high_speed_rail", "public_sector_job", "loan"}
    assert all(g.refuse_blacklisted for g in gates.values())
    # Nationally, sanctions go through the list, not a score (1.9, 1.10): no grade rule.
    assert all(g.min_grade is None and not g.price_by_grade for g in gates.values())


def test_china_lists_companies_with_joint_punishment() -> None:
    """3.6-3.10, 8.5: 40 agencies act on a company listing; 1.10: representatives are drawn in;
    3.4: a company's unpaid judgments do not list its representative."""
    s = load_scenario("china", population=400_000)
    c = s.companies
    assert c is not None and c.blacklist is not None
    assert c.blacklist.agencies == 40 and c.blacklist.joint_punishment
    assert "unpaid_judgment" not in c.blacklist.triggers
    m = carnet.simulate(s, days=200).company_metrics
    assert m is not None
    entries = pc.sum(m["blacklist_entries"]).as_py()
    assert entries > 20
    assert pc.sum(m["joint_punishments"]).as_py() == entries
    acting = pc.sum(m["agency_sanctions"]).as_py() / entries
    assert abs(acting - 40 * 0.5) < 4 * math.sqrt(40 * 0.25 / entries)


def test_china_copies_rongcheng_rules_behaviours_and_sources() -> None:
    city, nation = load_scenario("rongcheng"), load_scenario("china")
    for part in ("behaviours", "rules", "grades", "responses", "appeals"):
        assert getattr(nation, part) == getattr(city, part), part
    # The nation adds the two sources that watch its companies.
    assert nation.sources[: len(city.sources)] == city.sources
    assert [src.name for src in nation.sources[len(city.sources) :]] == [
        "tax_office",
        "market_inspectors",
    ]
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


@pytest.mark.parametrize("name", SOURCED_PRESETS)
def test_responses_follow_calibration_8_6(name: str) -> None:
    r = load_scenario(name).responses
    assert 0.63 <= r.punished <= 0.94  # 6.3's range, read as relative or as percentage points
    assert r.household == 0.9  # 8.6: the peer "sobering" effect x0.9 (6.4)
    assert r.memory_days == 365  # 8.6: for 12 months
    assert r.household > r.punished  # the household is deterred more weakly than the punished


def _seen_by_the_aware(s: Scenario, behaviour: str) -> float:
    """Chance that some source sees an act at each group's mean exposure, over the aware."""
    b = s.behaviours[s.behaviour_index(behaviour)]
    sources = {src.name: src for src in s.sources}
    total = weight = 0.0
    for g in s.population.groups:
        unseen = 1.0
        for obs in b.observed_by:
            src = sources[obs.source]
            w = src.exposure_weight
            p = obs.detect * src.by_group.get(g.name, 1.0) * (1 - w + w * g.exposure.mean)
            unseen *= 1.0 - min(p, 1.0)
        total += g.share * g.awareness * (1.0 - unseen)
        weight += g.share * g.awareness
    return total / weight


@pytest.mark.parametrize("name", SOURCED_PRESETS)
def test_chilling_gives_the_sourced_drop(name: str) -> None:
    """6.1-6.2, 8.6: lawful sensitive activity falls 20-30% where surveillance is salient.

    The engine lowers a lawful act by chilling x the chance of being seen; the only lawful act is
    seen about 18% of the time by the aware.
    """
    s = load_scenario(name)
    lawful = [b.name for b in s.behaviours if b.kind == "lawful"]
    assert lawful == ["online_criticism"]
    seen = _seen_by_the_aware(s, "online_criticism")
    assert seen == pytest.approx(0.18, abs=0.01)
    drop = s.responses.chilling * seen
    assert 0.20 <= drop <= 0.30


@pytest.mark.parametrize("name", SOURCED_PRESETS)
def test_appeals_are_declared_and_the_richer_appeal_more(name: str) -> None:
    a = load_scenario(name).appeals
    assert a is not None
    assert a.by_income is not None and a.by_income == sorted(a.by_income)
    assert sum(a.by_income) / 5 == pytest.approx(1.0)
    assert not a.by_group  # groups differ only through income
    assert a.success_if_wrongful > a.success_if_deserved
    assert max(a.by_income) * a.probability <= 1.0


def test_report_misconduct_is_a_reward_everywhere_and_a_denunciation_where_gated() -> None:
    for name in SOURCED_PRESETS:
        s = load_scenario(name)
        report = s.behaviours[s.behaviour_index("report_misconduct")]
        misconduct = s.behaviours[s.behaviour_index("misconduct")]
        assert report.kind == "positive" and s.rules.points["report_misconduct"].points > 0
        assert [o.source for o in report.observed_by] == ["grid_staff"]
        # Never drawn: only a denunciation puts misconduct on record.
        assert misconduct.kind == "negative" and misconduct.rate_per_year == 0.0
        assert not misconduct.observed_by and s.rules.points["misconduct"].points < 0
    assert load_scenario("rongcheng").denunciations is None
    for name in (GATED, "china"):
        d = load_scenario(name).denunciations
        assert d is not None
        assert (d.behaviour, d.sanction) == ("report_misconduct", "misconduct")
        assert d.target == "neighbour"


@pytest.mark.parametrize("name", [GATED, "china"])
def test_lending_repays_95_percent_at_the_start_and_breaks_even_there(name: str) -> None:
    s = load_scenario(name)
    lend = s.lending
    assert lend is not None and lend.gate == "loan"
    repaid = 1.0 - _default_at_start(s)
    assert repaid == pytest.approx(0.95, abs=0.005)
    # The base interest is the break-even price of a borrower who kept the starting points.
    assert repaid * lend.interest - (1.0 - repaid) == pytest.approx(0.0, abs=0.001)
    assert lend.repay_per_point > 0  # the premise of score-based lending: more points, more repaid
    assert lend.points_on_default == -20  # SOURCED 1.15
    assert lend.points_on_repayment == 0 and lend.distress_on_default
    gate = next(g for g in s.gates if g.name == "loan")
    assert gate.refuse_blacklisted and gate.distress_if_refused > 0


@pytest.mark.parametrize("name", [GATED, "china"])
def test_loan_defaults_keep_total_distress_at_the_assumed_rate(name: str) -> None:
    """Loan defaults are one cause of distress: the base rate is lowered so that all add to 0.02."""
    s = load_scenario(name)
    assert sum(_onsets_by_income(s)) / 5 == pytest.approx(0.02, abs=0.0005)


@pytest.mark.parametrize("name", [GATED, "china"])
def test_gates_and_lists_feed_back_into_income(name: str) -> None:
    s = load_scenario(name)
    gates = {g.name: g for g in s.gates}
    public = gates["public_sector_job"].income_up_if_approved
    assert 0 < public <= 0.5
    if "job" in gates:  # an ordinary job lifts income less often than a public post
        assert 0 < gates["job"].income_up_if_approved < public
    bl = s.lists.blacklist
    assert bl is not None
    assert 0.02 <= bl.income_down_on_listing <= 0.5  # the floor: 170,000 / 8.87M (3.12)
    assert all(g.distress_if_refused == 0 for n, g in gates.items() if n != "loan")
