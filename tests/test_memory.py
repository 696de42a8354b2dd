"""The memory a run is predicted to need, against the peak it really reaches.

Besides presets at sizes where different terms lead, each term of the prediction is stressed by a
scenario of its own, built from a preset: the panel's ledger (a small population acting very
often for years; records that expire, in one part), the blacklist (most citizens distressed for
years and listed), companies (500 per 1,000 citizens with 40 behaviours), and the gates (32 gates
deciding often; a sampled panel of 3 million; 16 groups and 16 grades, whose daily counts by
gate, outcome, group and grade dominate). ``pytest -s`` prints each prediction term by term.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from carnet.runs.memory import need, predict_bytes
from carnet.scenario.loading import load_scenario, preset_text

# Peaks of gigabytes: one case at a time, on one xdist worker (beside other tests: VmHWM is the
# process's own, so they do not change it).
pytestmark = pytest.mark.xdist_group("memory")

# The peak resident memory of the process itself: VmHWM starts afresh with the new program,
# while ru_maxrss would keep the larger peak of the test process that started it (Linux keeps
# it across exec).
PEAK = (
    "import json, sys, carnet; carnet.simulate(json.load(open(sys.argv[1]))); "
    "print(next(line.split()[1] for line in open('/proc/self/status') "
    "if line.startswith('VmHWM:')))"
)
Doc = dict[str, Any]


def preset(name: str, population: int | None = None) -> Doc:
    doc: Doc = yaml.safe_load(preset_text(name))
    if population is not None:
        doc["population"]["size"] = population
    return doc


def ledger_heavy(n: int, faster: float, days: int, part_days: int, lifetime: int | None) -> Doc:
    """``minimal`` with every behaviour ``faster`` times as frequent, for ``days``."""
    doc = preset("minimal", n)
    for b in doc["behaviours"]:
        b["rate_per_year"] *= faster
    doc["rules"]["lifetime_days"] = lifetime
    doc["run"].update(days=days, ledger_part_days=part_days)
    return doc


def list_heavy(n: int, days: int, warm_up_days: int = 0) -> Doc:
    """``minimal`` with a blacklist that distresses most citizens for years, and lists them."""
    doc = preset("minimal", n)
    doc["lists"] = {
        "blacklist": {
            "distress_per_year": 5.0, "distress_days": 3650.0, "lawsuits_per_year": 50.0,
            "listing_probability": 1.0, "term_days": 3650, "exit_per_year": 0.5, "points": -100,
            "warm_up_days": warm_up_days,
        }
    }  # fmt: skip
    doc["run"]["days"] = days
    return doc


def company_heavy(n: int, per_1000: float, copies: int, faster: float) -> Doc:
    """``china`` with ``per_1000`` companies per 1,000 citizens and ``copies`` x its company
    behaviours, each ``faster`` times as frequent (the copies of triggers list companies)."""
    doc = preset("china", n)
    c = doc["companies"]
    c["per_1000_citizens"] = per_1000
    c["employed_share"] = max(c["employed_share"], per_1000 / 1000)
    behaviours, points, triggers = [], {}, []
    for i in range(copies):
        for b in preset("china")["companies"]["behaviours"]:
            name = f"{b['name']}_{i}"
            behaviours.append({**b, "name": name, "rate_per_year": b["rate_per_year"] * faster})
            points[name] = c["rules"]["points"][b["name"]]
            if b["name"] in c["blacklist"]["triggers"]:
                triggers.append(name)
    c["behaviours"], c["rules"]["points"], c["blacklist"]["triggers"] = behaviours, points, triggers
    return doc


def gate_heavy(n: int, gates: int, per_year: float, days: int = 365) -> Doc:
    """``rongcheng-gated`` with ``gates`` copies of its daily gates, each ``per_year``."""
    doc = preset("rongcheng-gated", n)
    daily = [g for g in doc["gates"] if g.get("seats_per_region") is None]
    doc["gates"] = [
        {**copy.deepcopy(daily[i % len(daily)]), "name": f"gate_{i}",
         "applications_per_year": per_year}
        for i in range(gates)
    ]  # fmt: skip
    doc["lending"]["gate"] = f"gate_{[g['name'] for g in daily].index('loan')}"
    doc["run"]["days"] = days
    return doc


def gate_counts_heavy(n: int, gates: int, per_year: float) -> Doc:
    """:func:`gate_heavy` with 16 groups and 16 grades: 4 x 16 x 16 daily counts per gate."""
    doc = gate_heavy(n, gates, per_year)
    doc["run"]["block_size"] = 4096  # several shards, each with its counts
    group = doc["population"]["groups"][0]
    doc["population"]["groups"] = [{**group, "name": f"g{i}", "share": 1 / 16} for i in range(16)]
    names = [f"G{chr(ord('A') + i)}" for i in range(16)]
    doc["grades"] = [{"name": g, "min_points": 1100 - 20 * i} for i, g in enumerate(names[:-1])]
    doc["grades"].append({"name": names[-1]})
    doc["responses"]["deterrence"] = {}
    doc["lists"]["redlist"] = {"grades": [names[0]]}
    doc["lending"].pop("repay_by_grade", None)
    for gate in doc["gates"]:
        gate.pop("price_by_grade", None)
        gate.pop("by_group", None)
        if "min_grade" in gate:
            gate["min_grade"] = names[8]
    for item in (*doc["behaviours"], *doc["sources"], doc["appeals"]):
        item.pop("by_group", None)
    return doc


def learner_heavy(n: int) -> Doc:
    """``rongcheng-gated`` whose loan gate learns per block of 256, in bins of one point of 20,001,
    with 4 groups and thresholds on two more gates: the lenders' counts dominate."""
    doc = preset("rongcheng-gated", n)
    doc["run"].update(block_size=256, days=60)
    doc["rules"].update(floor=0, ceiling=20000)
    group = doc["population"]["groups"][0]
    doc["population"]["groups"] = [{**group, "name": f"g{i}", "share": 0.25} for i in range(4)]
    for item in (*doc["behaviours"], *doc["sources"], doc["appeals"], *doc["gates"]):
        item.pop("by_group", None)
    doc["lending"]["term_days"] = 20
    for gate in doc["gates"]:
        if gate["name"] == doc["lending"]["gate"]:
            gate["policy"] = {"kind": "learned", "threshold": 900, "bin_points": 1, "refit_days": 7}
        elif gate.get("seats_per_region") is None:
            gate["policy"] = {"kind": "threshold", "threshold": 950, "once": True}
    return doc


CASES: dict[str, Callable[[], Doc]] = {
    "minimal 300k, every citizen in the panel": lambda: preset("minimal", 300_000),
    "minimal 1M": lambda: preset("minimal", 1_000_000),
    "minimal 3M, a sampled panel": lambda: preset("minimal", 3_000_000),
    "rongcheng-gated 200k": lambda: preset("rongcheng-gated", 200_000),
    # 27 M ledger rows of 10,000 citizens over ten years, cut every 30 days.
    "ledger: 10k citizens, 50x the acts, 10 y": lambda: ledger_heavy(10_000, 50, 3650, 30, None),
    # A long run, beyond the ten years that were once the limit: twenty-five years of china's
    # mechanisms on a small population (days' arrays, queues of lists and loans over decades).
    "china 5k over 25 years": lambda: {**preset("china", 5_000), "run": {"days": 9125, "seed": 3}},
    # 14 M rows, half of them expiries, in one part: the cut holds 100 bytes a row at once.
    "ledger: expiring after 30 days, one part": lambda: ledger_heavy(5_000, 25, 3650, 3650, 30),
    # 2 M list events waiting, most of them due on days of their own (a queue slice each).
    "lists: 1.5M distressed for years": lambda: list_heavy(1_500_000, 365),
    # The same, its list warm on day 0: 1.2 M events already waiting.
    "lists: the same, warm for 3 years": lambda: list_heavy(1_500_000, 60, warm_up_days=1095),
    # 200,000 companies and 10 M company ledger rows.
    "companies: 500 per 1,000, 40 behaviours": lambda: company_heavy(400_000, 500, 8, 50),
    # 18 M decisions in the panel.
    "gates: 32 gates x 5 a year": lambda: gate_heavy(100_000, 32, 5),
    # 1.3 M candidates a day held in the gates' outputs, a sampled panel.
    "gates: 3M citizens, 32 gates x 4": lambda: gate_heavy(3_000_000, 32, 4, days=60),
    # 96 MB of gate counts per shard and array, copied and summed at assembly.
    "gates: 16 groups x 16 grades": lambda: gate_counts_heavy(25_000, 32, 10),
    # 782 lenders with 4 x 20,001 bins of counts each: 500 MB.
    "policies: learned per block of 256, bins of 1 point": lambda: learner_heavy(200_000),
}


@pytest.fixture(scope="module", autouse=True)
def compiled_kernels() -> None:
    """Fill numba's cache first: compiling the kernels takes memory that a run does not."""
    for name in ("minimal", "rongcheng-gated", "china"):
        code = f"import carnet; carnet.simulate({name!r}, population=2000, days=3)"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=600)


@pytest.mark.parametrize("case", list(CASES))
def test_prediction_is_within_15_percent_of_the_peak(case: str, tmp_path: Path) -> None:
    doc = CASES[case]()
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(path)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    peak = int(done.stdout.split()[-1]) * 1024  # VmHWM is in kB
    s = load_scenario(doc)
    predicted = predict_bytes(s, checkpoints=False)  # carnet.simulate writes none
    print(f"{case}: predicted {predicted >> 20} MiB, peak {peak >> 20} MiB")
    print(f"  {need(s, checkpoints=False).describe()}")
    assert abs(predicted - peak) <= 0.15 * peak


def test_checkpoints_and_the_presets_predict_more_than_without() -> None:
    """A checkpoint copies what waits in the queues: never less than a run without."""
    for name in ("china", "rongcheng-gated", "minimal"):
        s = load_scenario(name)
        assert predict_bytes(s, checkpoints=True) >= predict_bytes(s, checkpoints=False)
