"""One path syntax for a scenario value: carnet.set, the sweep grid, the lab's knobs, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import carnet
from carnet.analysis.sweep import Sweep
from carnet.errors import ScenarioError
from carnet.lab import knobs
from carnet.scenario.loading import load_scenario, preset_names, preset_text, to_yaml
from carnet.scenario.paths import (
    ITEM_NAMES,
    format_path,
    get,
    leaf_paths,
    parse_assignments,
    parse_path,
    resolve,
)
from carnet.scenario.schema import Panel, Scenario

PRESETS = preset_names()
SCENARIOS = {name: load_scenario(name) for name in PRESETS}


def problems(values: dict[Any, Any], scenario: str = "minimal") -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as refused:
        carnet.set(SCENARIOS[scenario], values)
    assert refused.value.source == f"scenario {scenario}"
    return refused.value.problems


def by_name(s: Scenario, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``path`` with every list item that has a name named by it instead of its position."""
    out: list[str | int] = []
    node: Any = s
    for part in path:
        if isinstance(part, int):
            node = node[part]
            names = (
                [getattr(node, f, None) for f in ITEM_NAMES] if isinstance(node, BaseModel) else []
            )
            out.append(next((n for n in names if isinstance(n, str)), part))
        else:
            node = getattr(node, part) if isinstance(node, BaseModel) else node[part]
            out.append(part)
    return tuple(out)


def leaves(s: Scenario) -> dict[tuple[str | int, ...], Any]:
    return {p: get(s, p) for p in leaf_paths(s)}


LEAVES = {name: leaves(s) for name, s in SCENARIOS.items()}


# --- the syntax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("run.days", ("run", "days")),
        ("rules.points.red_light.points", ("rules", "points", "red_light", "points")),
        ("population.groups.0.share", ("population", "groups", 0, "share")),
        ("population.groups.10.income.4", ("population", "groups", 10, "income", 4)),
        ('population.groups."0".share', ("population", "groups", "0", "share")),
        ('rules.points."a.b".points', ("rules", "points", "a.b", "points")),
        ('responses.deterrence."my key"', ("responses", "deterrence", "my key")),
        ('x."say \\"hi\\"".y', ("x", 'say "hi"', "y")),
        ('x."n\\u0430me"', ("x", "n\u0430me")),
        ('x.""', ("x", "")),
        ("_private.A_1", ("_private", "A_1")),
        ("", ()),
    ],
)  # fmt: skip
def test_paths_read_and_print(text: str, parts: tuple[str | int, ...]) -> None:
    assert parse_path(text) == parts
    assert format_path(parts) == text
    assert carnet.set is not None and carnet.__all__.count("set") == 1


def test_a_quoted_plain_name_is_the_name() -> None:
    assert parse_path('"run"."days"') == ("run", "days")
    assert format_path(parse_path('"run"."days"')) == "run.days"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a..b", "not a path: a key is missing (an empty path, two dots, or a dot at an end?) "
                 "(character 3)"),
        ("a.", "not a path: a key is missing (an empty path, two dots, or a dot at an end?) "
               "(character 3)"),
        ("groups[0].share", "not a path: positions are written with dots: groups.0, not "
                            "groups[0] (character 7)"),
        ("groups.007", "not a path: a position has no leading zero: 7, not 007 (character 8)"),
        ("groups.-1", "not a path: unexpected '-'; a key is a name (letters, digits, _) or "
                      'quoted: "a b" (character 8)'),
        ("groups.0x", 'not a path: a name that starts with a digit is quoted: "0x" (character 8)'),
        ("traffic-cameras", "not a path: unexpected '-' after a key; keys are joined by dots, and "
                            "a key holding other characters than letters, digits and _ is quoted: "
                            '"a-b" (character 8)'),
        ('a."b', "not a path: a quoted key that does not end well (Unterminated string starting "
                 "at) (character 3)"),
        ('a."b"c', "not a path: unexpected 'c' after a key; keys are joined by dots, and a key "
                   "holding other characters than letters, digits and _ is quoted: \"a-b\" "
                   "(character 6)"),
    ],
)  # fmt: skip
def test_malformed_paths_are_refused_at_their_character(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_path(text)
    assert refused.value.problems == [(text, message)]


PARTS = st.lists(st.one_of(st.text(max_size=12), st.integers(min_value=0, max_value=10**6)))


@given(PARTS)
def test_every_path_prints_printable_and_reads_back(parts: list[str | int]) -> None:
    text = format_path(parts)
    assert text.isascii() and text.isprintable()
    assert parse_path(text) == tuple(parts)


@given(st.text(alphabet=st.sampled_from('ab0_."\\[]=- \u0430'), max_size=12))
def test_any_text_is_a_path_or_refused_as_one(text: str) -> None:
    try:
        parts = parse_path(text)
    except ScenarioError as exc:
        ((_, message),) = exc.problems
        assert message.startswith("not a path: ")
        return
    assert parse_path(format_path(parts)) == parts


# --- get, set, resolve ----------------------------------------------------------------------------


def test_items_by_name_or_position_are_the_same_value() -> None:
    s = SCENARIOS["rongcheng"]
    assert get(s, "sources.traffic_cameras.misattribution") == s.sources[0].misattribution
    assert resolve(s, "sources.traffic_cameras.misattribution") == ("sources", 0, "misattribution")
    assert get(s, "population.groups.migrant.share") == get(s, "population.groups.1.share") == 0.14
    assert get(s, ("population", "groups", 1, "income", 0)) == 1.6
    assert get(s, "rules.points.traffic_violation") == s.rules.points["traffic_violation"]
    observed = "behaviours.traffic_violation.observed_by.traffic_cameras.detect"
    assert resolve(s, observed) == ("behaviours", 0, "observed_by", 0, "detect")
    assert get(s, "") == s
    by_position = carnet.set(
        s, {"population.groups.0.share": 0.8, "population.groups.1.share": 0.19}
    )
    named = carnet.set(s, {"population.groups.local_hukou.share": 0.8,
                           ("population", "groups", "migrant", "share"): 0.19})  # fmt: skip
    assert by_position == named and named.population.groups[1].share == 0.19
    assert s.population.groups[1].share == 0.14  # frozen: the scenario itself never changes


def test_set_changes_only_what_it_names() -> None:
    s = SCENARIOS["minimal"]
    assert carnet.set(s, {}) == s
    changed = carnet.set(s, {"rules.points.red_light.points": -7, "run.days": 30})
    assert changed.rules.points["red_light"].points == -7 and changed.run.days == 30
    before, after = leaves(s), leaves(changed)
    assert {p for p in before if before[p] != after[p]} == {
        ("rules", "points", "red_light", "points"),
        ("run", "days"),
    }
    # A mapping takes a key it lacks; a section is set whole, to a mapping, a model or None.
    deterred = carnet.set(s, {"responses.deterrence.AAA": 0.9})
    assert deterred.responses.deterrence == {"C": 0.7, "D": 0.5, "AAA": 0.9}
    listed = carnet.set(s, {"lists.blacklist": {"points": -100}})
    assert listed.lists.blacklist is not None and listed.lists.blacklist.points == -100
    assert carnet.set(listed, {"lists.blacklist": None}) == s
    panel = carnet.set(s, {"run.panel": Panel(full_up_to=10, sample=5)})
    assert (panel.run.panel.full_up_to, panel.run.panel.sample) == (10, 5)
    shorthand = carnet.set(s, {"rules.points.red_light": -3})  # as a file may write it
    assert shorthand.rules.points["red_light"].points == -3


def test_load_scenario_s_overrides_are_paths() -> None:
    s = load_scenario("minimal", days=5, seed=3, population=100)
    assert s == carnet.set(
        SCENARIOS["minimal"], {"run.days": 5, "run.seed": 3, "population.size": 100}
    )


# --- errors ---------------------------------------------------------------------------------------


MINIMAL_BEHAVIOURS = ("red_light, late_payment, drunk_driving, bribery, volunteering, "
                      "blood_donation, denounce_corruption, labour_medal")  # fmt: skip


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"rules.pionts.x": 1},
         ("rules.pionts.x",
          "rules has no 'pionts'; its keys: floor, ceiling, lifetime_days, points, "
          "lifetime_by_group")),
        ({"nope": 1},
         ("nope", "the scenario has no 'nope'; its keys: name, description, population, "
                  "behaviours, sources, rules, grades, lists, appeals, denunciations, lending, "
                  "gates, companies, responses, platforms, run, timeline")),
        ({"sources.spy.detect": 1},
         ("sources.spy.detect", "sources has no item 'spy'; its items: observer (or position 0)")),
        ({"behaviours.8.rate_per_year": 1},
         ("behaviours.8.rate_per_year",
          f"behaviours has no item 8; its items: {MINIMAL_BEHAVIOURS} (or positions 0 to 7)")),
        ({"population.groups.0.income.9": 1},
         ("population.groups.0.income.9", "population.groups.0.income has no item 9; it holds 5 "
                                          "value(s), by position only (positions 0 to 4)")),
        ({"gates.0.name": "x"}, ("gates.0.name", "gates has no item 0; it is empty")),
        ({"rules.0": 1},
         ("rules.0", "rules has no item 0: it is a section; its keys: floor, ceiling, "
                     "lifetime_days, points, lifetime_by_group")),
        ({"rules.points.0.points": 1},
         ("rules.points.0.points", f"rules.points has no item 0: it is a mapping; its keys: "
                                   f"{MINIMAL_BEHAVIOURS}")),
        ({"responses.deterrence.AAA.x": 1},
         ("responses.deterrence.AAA.x", "responses.deterrence has no 'AAA'; its keys: C, D")),
        ({"lending.gate": "x"},
         ("lending.gate", "lending is null (not set): nothing is inside it; set lending whole")),
        ({"run.days.x": 1}, ("run.days.x", "run.days is a value (365), with nothing inside it")),
        ({"run.days": 1, ("run", "days"): 2},
         ("run.days", "the same value as run.days: give one path per value")),
        ({"behaviours.0": {}, "behaviours.red_light.name": "x"},
         ("behaviours.red_light.name", "overlaps behaviours.0: give one path per value")),
        ({"": 1}, ("", "the empty path is the whole scenario; load that instead")),
        ({("run", True): 1},
         ("('run', True)", "a path is text or a tuple of str (keys) and int (positions)")),
        ({"run[days]": 1},
         ("run[days]", "not a path: positions are written with dots: groups.0, not groups[0] "
                       "(character 4)")),
        # Invalid values: the path as given, the message of carnet validate.
        ({"sources.observer.misattribution": 2.0},
         ("sources.observer.misattribution", "must be <= 1.0, got 2.0")),
        ({"rules.points.red_light.points": 1.5},
         ("rules.points.red_light.points", "must be an integer, got 1.5 (float)")),
        ({"grades.AA.min_points": 2000},
         ("grades.AA.min_points", "grades go from best to worst: must be below 1050, got 2000")),
        ({"population.groups.everyone": {"name": "all"}},
         ("population.groups.everyone.share", "required, but missing")),
        ({"rules.points.jaywalking": -3},
         ("rules.points.jaywalking", f"unknown behaviour 'jaywalking'; known: "
                                     f"{sorted(MINIMAL_BEHAVIOURS.split(', '))}")),
    ],
)  # fmt: skip
def test_errors_name_the_path_and_what_is_there(
    values: dict[Any, Any], expected: tuple[str, str]
) -> None:
    assert problems(values) == [expected]


def test_every_bad_path_is_reported_at_once() -> None:
    found = problems({"run.dayz": 1, "run.days": 2, "sources.0.x": 3, "a..b": 4})
    assert [p for p, _ in found] == ["run.dayz", "sources.0.x", "a..b"]


def test_a_set_error_renders_with_the_scenario_as_its_source() -> None:
    with pytest.raises(ScenarioError) as refused:
        carnet.set(SCENARIOS["minimal"], {"run.days": 0}, source="--set")
    assert refused.value.render() == "--set: 1 problem(s)\n  run.days: must be >= 1, got 0"


# --- PATH=VALUE -----------------------------------------------------------------------------------


def test_assignments_read_values_as_yaml() -> None:
    values = parse_assignments([
        "rules.lifetime_days=30",
        "sources.observer.misattribution=0.01",
        "run.seed=1e3",
        "grades.0.name=AAA",
        'description="30"',
        "population.groups.0.income=[1, 1, 2, 2, 3]",
        "rules.points.red_light={points: -5, yearly_cap: null}",
        'rules.points."a=b"=3',
        "name=a=b",
        "lists.blacklist=null",
        "run.days=10",
        "run.days=20",  # the last one stands
    ])  # fmt: skip
    assert values == {
        "rules.lifetime_days": 30,
        "sources.observer.misattribution": 0.01,
        "run.seed": 1000.0,
        "grades.0.name": "AAA",
        "description": "30",
        "population.groups.0.income": [1, 1, 2, 2, 3],
        "rules.points.red_light": {"points": -5, "yearly_cap": None},
        'rules.points."a=b"': 3,
        "name": "a=b",
        "lists.blacklist": None,
        "run.days": 20,
    }
    assert type(values["rules.lifetime_days"]) is int
    s = carnet.set(SCENARIOS["minimal"], parse_assignments(["rules.lifetime_days=30"]))
    assert s.rules.lifetime_days == 30


def test_bad_assignments_are_named() -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_assignments(
            ["run.days", "=3", "a..b=1", "x=", "y=[1", "z=!!python/object:os.system 1"]
        )
    assert refused.value.source == "--set"
    assert refused.value.problems == [
        ("run.days", "no '=': write PATH=VALUE, e.g. run.days=30"),
        ("=3", "not a path: a key is missing (an empty path, two dots, or a dot at an end?) "
               "(character 1)"),
        ("a..b=1", "not a path: a key is missing (an empty path, two dots, or a dot at an end?) "
                   "(character 3)"),
        ("x", "no value after '=' (write null for none)"),
        ("y", "the value: malformed YAML at line 2, column 1: did not find expected ',' or ']'"),
        ("z", "the value: malformed YAML at line 1, column 1: could not determine a constructor "
              "for the tag 'tag:yaml.org,2002:python/object:os.system'"),
    ]  # fmt: skip


# --- properties over the presets ------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_every_leaf_of_every_preset_sets_to_itself(name: str) -> None:
    s = SCENARIOS[name]
    assert load_scenario(yaml.safe_load(to_yaml(s))) == s  # the preset round-trips
    assert load_scenario(s) == s == carnet.set(s, {})
    found = LEAVES[name]
    assert len(found) > (40 if name.startswith("validation-") else 100)
    for path, value in found.items():
        named = format_path(by_name(s, path))  # as named as it can be; the same value
        assert resolve(s, named) == path == parse_path(format_path(path))
        again = carnet.set(s, {named: value})
        assert again == s, named
        assert get(again, named) == get(again, path) == value
    assert carnet.set(s, found) == s  # all at once, by position


@pytest.mark.parametrize("name", PRESETS)
def test_every_leaf_error_prints_the_leaf_s_path(name: str) -> None:
    """A wrong value anywhere is reported at the path that reaches it: the syntax of errors."""
    s = SCENARIOS[name]
    checked = 0
    for path, value in LEAVES[name].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        doc = s.model_dump(mode="python")
        node: Any = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = "many"
        with pytest.raises(ScenarioError) as loaded:
            load_scenario(doc)
        ((where, _),) = loaded.value.problems
        assert where == format_path(path) and parse_path(where) == path
        named = format_path(by_name(s, path))
        ((spelled, message),) = problems({named: "many"}, name)
        assert spelled == named and message == loaded.value.problems[0][1]
        checked += 1
    assert checked > (20 if name.startswith("validation-") else 50)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(PRESETS)),
    st.data(),
    st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6)),
)
def test_a_value_set_changes_that_value_alone_or_is_refused(
    name: str, data: st.DataObject, value: float
) -> None:
    s, before = SCENARIOS[name], LEAVES[name]
    path = data.draw(st.sampled_from([p for p, v in before.items() if isinstance(v, int | float)]))
    try:
        changed = carnet.set(s, {path: value})
    except ScenarioError as exc:
        assert exc.problems
        return
    after = leaves(changed)
    assert after.keys() == before.keys()
    assert {p for p in before if before[p] != after[p]} <= {path}
    assert get(changed, path) == value


# --- one run, set by path or written in YAML ------------------------------------------------------


def test_a_run_set_by_path_is_byte_identical_to_the_same_scenario_in_yaml(tmp_path: Path) -> None:
    base = load_scenario("rongcheng", population=3000, days=20)
    by_path = carnet.set(base, parse_assignments([
        "rules.points.traffic_violation.points=-20",
        "sources.traffic_cameras.misattribution=0.05",
        "population.groups.local_hukou.share=0.8",
        "population.groups.migrant.share=0.19",
        "run.seed=11",
    ]))  # fmt: skip
    doc = yaml.safe_load(preset_text("rongcheng"))
    doc["rules"]["points"]["traffic_violation"] = -20
    doc["sources"][0]["misattribution"] = 0.05
    doc["population"]["groups"][0]["share"] = 0.8
    doc["population"]["groups"][1]["share"] = 0.19
    doc["run"]["seed"] = 11
    file = tmp_path / "edited.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")  # the preset's order
    written = load_scenario(file, population=3000, days=20)
    assert by_path == written
    a = carnet.save_run(carnet.simulate(by_path), tmp_path / "a")
    b = carnet.save_run(carnet.simulate(written), tmp_path / "b")
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert "metrics.parquet" in files and any(f.startswith("ledger/") for f in files)
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


# --- the sweep, the knobs and the errors use the same syntax --------------------------------------


def test_sweep_grid_keys_are_paths(tmp_path: Path) -> None:
    grid = {"rules.points.red_light.points": [-5, -20], "sources.observer.misattribution": [0.1]}
    by_position = {"rules.points.red_light.points": [-5, -20], "sources.0.misattribution": [0.1]}
    sweeps = []
    for i, keys in enumerate((grid, by_position)):
        path = tmp_path / f"sweep{i}.yaml"
        path.write_text(yaml.safe_dump({"scenario": "minimal", "population": 2000, "days": 10,
                                        "seeds": [3], "grid": keys}), encoding="utf-8")  # fmt: skip
        sweeps.append(Sweep(path))
    named, positional = sweeps
    base = load_scenario("minimal", population=2000, days=10)
    for a, b in zip(named.combinations(), positional.combinations(), strict=True):
        expected = carnet.set(base, {**a, "run.seed": 3})
        assert load_scenario(named.scenario(a, 3)) == expected
        assert load_scenario(positional.scenario(b, 3)) == expected
    assert json.loads(json.dumps(named.scenario(a, 3))) == named.scenario(a, 3)
    # A sweep's error and carnet.set's are the same, path and message.
    bad = tmp_path / "bad.yaml"
    grid = {"sources.observer.misattribution": [2.0]}
    bad.write_text(yaml.safe_dump({"scenario": "minimal", "grid": grid}), encoding="utf-8")
    with pytest.raises(ScenarioError) as refused:
        Sweep(bad)
    assert refused.value.problems == problems({"sources.observer.misattribution": 2.0})
    assert "the cell sources.observer.misattribution=2.0" in refused.value.source


def test_knobs_are_paths() -> None:
    s = SCENARIOS["rongcheng-gated"]
    found = knobs.knobs(s)
    assert len(found) > 50
    for knob in found:
        assert knob.key == format_path(knob.path) and parse_path(knob.key) == knob.path
        section = format_path(knob.path[:2])
        if section in knobs.ABSENT and get(s, section) is None:
            # An optional section that is off: its knob shows the default, and turns it on.
            on = carnet.set(s, {section: {}})
            assert get(on, knob.key) == knob.value
            assert knobs.edit(s, {knob.path: knob.value}) == on
            continue
        try:
            value = get(s, knob.key)
        except ScenarioError:  # a key the mapping lacks: the engine reads the default
            default = {
                ("responses", "deterrence"): 1.0,
                ("rules", "lifetime_by_group"): 1.0,
                ("blacklist", "term_days_by_group"): get(s, "lists.blacklist.term_days"),
            }
            assert knob.value == default[knob.path[-3:-1]]
        else:
            assert value == knob.value
        assert knobs.edit(s, {knob.path: knob.value}) == carnet.set(s, {knob.key: knob.value})
    grades = next(k for k in found if k.key == "grades.1.min_points")
    with pytest.raises(ScenarioError) as edited:
        knobs.edit(s, {grades.path: 5000})
    with pytest.raises(ScenarioError) as set_:
        carnet.set(s, {"grades.1.min_points": 5000})
    assert edited.value.problems == set_.value.problems
    assert edited.value.problems[0][0] == "grades.1.min_points"


def test_cross_check_paths_are_paths() -> None:
    s = SCENARIOS["rongcheng"]
    doc = s.model_dump(mode="python")
    doc["behaviours"][2]["name"] = doc["behaviours"][1]["name"]
    doc["behaviours"][0]["observed_by"][0]["source"] = "satellite"
    with pytest.raises(ScenarioError) as refused:
        load_scenario(doc)
    paths = [p for p, _ in refused.value.problems]
    assert "behaviours.2.name" in paths and "behaviours.0.observed_by.0.source" in paths
    for where in paths:
        get(s, where)  # every one reaches a value of the scenario it was made from
