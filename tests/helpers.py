"""What the tests share: scenario builders, the console script, run directories, ports, a browser.

A plain module (``import helpers``): pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in
pyproject.toml), in every xdist worker too. Fixtures and hooks stay in ``conftest.py``; nothing
here is a fixture, and no test module imports another.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

# --- optional extras ------------------------------------------------------------------------------

#: The extra that brings each optional module, as the hint a skipped test gives.
EXTRAS = {
    "distributed": "pip install 'carnet[distributed]'",
    "dask": "pip install 'carnet[distributed]'",
    "streamlit": "pip install 'carnet[lab]'",
    "kaleido": "pip install 'carnet[png]'",
    "SALib": "pip install 'carnet[evidence]'",
    "optuna": "pip install 'carnet[evidence]'",
    "playwright": "pip install 'carnet[test]'",
    "playwright.sync_api": "pip install 'carnet[test]'",
    "duckdb": "pip install carnet (duckdb is a dependency)",
}


def missing_extra(error: ImportError) -> bool:
    """Whether an import failed only for an optional extra that is not installed here."""
    return (error.name or "").split(".")[0] in EXTRAS


def need(module: str) -> Any:
    """Import an optional module, or skip the test with the install hint of its extra."""
    __tracebackhide__ = True  # the skip is reported at the caller's line
    return pytest.importorskip(module, reason=f"no {module}: {EXTRAS[module]}")


# --- scenarios ------------------------------------------------------------------------------------


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


def mixed_society(**changes: Any) -> dict[str, Any]:
    """Two groups, a misattributing source, clamping, a yearly cap, expiry and deterrence."""
    doc = base_scenario()
    doc["population"]["size"] = 9000  # 9 blocks of 1024: uneven shards
    doc["population"]["groups"] = [
        {"name": "locals", "share": 0.7, "exposure": {"mean": 0.4}},
        {"name": "migrants", "share": 0.3, "exposure": {"mean": 0.7}, "awareness": 0.5},
    ]
    doc["sources"][0].update(misattribution=0.05, exposure_weight=0.5)
    doc["rules"].update(floor=0, ceiling=1100, lifetime_days=90)
    doc["rules"]["points"]["volunteering"] = {"points": 7, "yearly_cap": 21}
    doc["responses"] = {"deterrence": {"B": 0.7, "C": 0.5}}
    doc["run"]["days"] = 200
    doc["run"]["ledger_part_days"] = 45
    doc.update(changes)
    return doc


def crashy(population: int = 300_000, days: int = 240) -> dict[str, Any]:
    """A scenario that exercises every piece of state a checkpoint must carry."""
    doc = base_scenario(days=days, checkpoint_days=3, ledger_part_days=7, block_size=4096)
    doc["population"]["size"] = population
    doc["population"]["groups"] = [
        {"name": "locals", "share": 0.6},
        {"name": "migrants", "share": 0.4, "awareness": 0.3},
    ]
    doc["sources"][0]["misattribution"] = 0.05
    doc["rules"].update(floor=0, ceiling=1100, lifetime_days=20)
    doc["rules"]["points"]["volunteering"] = {"points": 7, "yearly_cap": 28}
    doc["responses"] = {"deterrence": {"B": 0.7, "C": 0.5}}
    return doc


def with_companies(**blacklist: Any) -> dict[str, Any]:
    """Employers, company points and a company blacklist with joint punishment; a flight gate."""
    doc = base_scenario(days=120)
    doc["population"]["size"] = 6000  # 5 blocks of 1024 and one of 880
    doc["sources"].append({"name": "tax_office", "sensitivity": "financial"})
    doc["companies"] = {
        "per_1000_citizens": 25.0,
        "employed_share": 0.6,
        "sectors": [{"name": "industry", "share": 0.6}, {"name": "services", "share": 0.4}],
        "behaviours": [
            {"name": "tax_arrears", "kind": "negative", "rate_per_year": 2.0,
             "observed_by": [{"source": "tax_office", "detect": 0.8}]},
            {"name": "charity", "kind": "positive", "rate_per_year": 1.0,
             "observed_by": [{"source": "tax_office", "detect": 1.0}]},
        ],
        "rules": {"lifetime_days": None, "points": {"tax_arrears": -20, "charity": 5}},
        "blacklist": {
            "triggers": ["tax_arrears"], "listing_probability": 0.5, "term_days": 30,
            "agencies": 10, "act_probability": 1.0, "points_per_agency": -3,
            "joint_punishment": True, "representative_points": -40, **blacklist,
        },
    }  # fmt: skip
    doc["gates"] = [{"name": "flight", "applications_per_year": 24.0, "refuse_blacklisted": True}]
    return doc


def with_lists(**blacklist: Any) -> dict[str, Any]:
    """A blacklist fed by distress and lawsuits, a redlist, and three gates (one with seats)."""
    doc = base_scenario(days=120)
    doc["population"]["size"] = 4000
    doc["lists"] = {
        "blacklist": {
            "distress_per_year": 2.0, "distress_days": 60, "lawsuits_per_year": 6.0,
            "listing_probability": 0.5, "term_days": 40, "points": -100, **blacklist,
        },
        "redlist": {"grades": ["A"]},
    }  # fmt: skip
    doc["gates"] = [
        {"name": "flight", "applications_per_year": 12.0, "refuse_blacklisted": True},
        {"name": "loan", "applications_per_year": 4.0, "min_grade": "B",
         "price_by_grade": {"A": 0.9, "B": 1.0, "C": 1.5}},
        {"name": "private_school", "applicant": "child", "applications_per_year": 1.0,
         "refuse_blacklisted": True, "seats_per_region": 150, "allocation_day": 100},
    ]  # fmt: skip
    doc["population"]["regions"] = [
        {"name": "north", "share": 0.5},
        {"name": "south", "share": 0.5},
    ]
    return doc


def lending(**lend: Any) -> dict[str, Any]:
    """A loan gate whose loans are repaid or defaulted on as the borrower's grade decides."""
    doc = base_scenario(days=150)
    doc["population"]["size"] = 8000
    doc["gates"] = [
        {"name": "loan", "applications_per_year": 6.0, "min_grade": "B",
         "price_by_grade": {"A": 0.5, "B": 1.0}},
    ]  # fmt: skip
    doc["lending"] = {
        "gate": "loan", "term_days": 30, "repay_by_grade": {"A": 1.0, "B": 0.0},
        "interest": 0.1, "points_on_repayment": 2, "points_on_default": -50, **lend,
    }  # fmt: skip
    return doc


def deterred(**responses: Any) -> dict[str, Any]:
    """One frequent, always-seen offence; the punished's households hold back for 10 days."""
    doc = base_scenario(days=120)
    doc["population"]["size"] = 3000
    doc["behaviours"] = [
        {"name": "spitting", "kind": "negative", "rate_per_year": 36.5,
         "observed_by": [{"source": "camera", "detect": 1.0}]},
    ]  # fmt: skip
    doc["rules"]["points"] = {"spitting": -1}
    doc["responses"] = {"punished": 0.0, "household": 1.0, "memory_days": 10, **responses}
    return doc


def denouncing(**den: Any) -> dict[str, Any]:
    """Reports of misconduct by grid staff, some false, some verified."""
    doc = base_scenario(days=120)
    doc["population"]["size"] = 5000
    doc["sources"].append({"name": "grid_staff", "sensitivity": "social"})
    doc["behaviours"] += [
        {"name": "report_misconduct", "kind": "positive", "rate_per_year": 6.0,
         "observed_by": [{"source": "grid_staff", "detect": 1.0}]},
        {"name": "misconduct", "kind": "negative", "rate_per_year": 0.0},
    ]  # fmt: skip
    doc["rules"]["points"].update(report_misconduct=3, misconduct=-15)
    doc["denunciations"] = {
        "behaviour": "report_misconduct", "sanction": "misconduct", "true_probability": 0.5,
        "verify_probability": 0.3, **den,
    }  # fmt: skip
    return doc


def sharded_society(size: int = 12_000, days: int = 150) -> dict[str, Any]:
    """Lists, gates with school seats (the one decision across shards), companies, responses."""
    doc = with_companies(exit_per_year=3.0)
    doc["population"]["size"] = size  # blocks of 1024: a dozen, split in shards
    doc["population"]["regions"] = [{"name": "north", "share": 0.5},
                                    {"name": "south", "share": 0.5}]  # fmt: skip
    doc["lists"] = {"blacklist": {"distress_per_year": 1.0, "lawsuits_per_year": 4.0,
                                  "listing_probability": 0.5, "term_days": 30}}  # fmt: skip
    doc["gates"].append({"name": "school", "applicant": "child", "applications_per_year": 1.0,
                         "refuse_blacklisted": True, "seats_per_region": 40,
                         "allocation_day": 60})  # fmt: skip
    doc["responses"] = {"punished": 0.5, "household": 0.7, "coworkers": 0.8, "memory_days": 20}
    doc["run"].update(days=days, checkpoint_days=5, ledger_part_days=25)
    return doc


def contagious() -> dict[str, Any]:
    """Contagion through blocks, housemates, co-workers and listings; terms and lifetimes by group.

    Two groups (one half unaware), appeals, a blacklist whose terms and records' lifetimes differ
    by group, employers with joint punishment, rewards that move behaviour and gates whose stakes
    deter.
    """
    doc = with_lists(term_days=15, term_days_by_group={"b": 25}, exit_per_year=2.0)
    doc["population"]["size"] = 3000  # 12 blocks of 256, the last partial
    doc["population"]["groups"] = [{"name": "a", "share": 0.6},
                                   {"name": "b", "share": 0.4, "awareness": 0.5}]  # fmt: skip
    doc["rules"].update(lifetime_days=12, lifetime_by_group={"b": 2.0})
    doc["appeals"] = {"probability": 0.2, "decision_days": 5, "success_if_deserved": 0.3}
    doc["companies"] = with_companies()["companies"]
    doc["companies"]["behaviours"][0]["rate_per_year"] = 6.0
    doc["sources"].append({"name": "tax_office", "sensitivity": "financial"})
    doc["responses"] = {
        "deterrence": {"B": 0.8}, "household": 0.9, "coworkers": 0.95, "memory_days": 8,
        "contagion": {"neighbours": 3.0, "household": 1.5, "coworkers": 1.3, "listings": True},
        "incentives": {"reward_elasticity": 0.8, "gate_stakes": 0.05},
    }  # fmt: skip
    doc["run"].update(days=90, block_size=256, checkpoint_days=6, ledger_part_days=20)
    return doc


def everything() -> dict[str, Any]:
    """Every mechanism at once: contagion, rewards and stakes, terms by group, a warm list, start
    points, a learned lender, a lottery taken once, adaptive attention, misattribution by group
    and region, a platform banned on a date, and a timeline; with companies and appeals."""
    doc = contagious()
    doc["population"]["groups"][0]["start"] = {"kind": "normal", "mean": 1000.0, "sd": 30.0}
    doc["population"]["groups"][1]["start"] = {"kind": "table", "points": [950, 1000],
                                               "shares": [0.3, 0.7]}  # fmt: skip
    doc["rules"].update(floor=0, ceiling=2000)
    doc["lists"]["blacklist"]["warm_up_days"] = 60
    loan = next(g for g in doc["gates"] if g["name"] == "loan")
    loan.pop("min_grade")
    loan["policy"] = {"kind": "learned", "threshold": 990, "refit_days": 7, "bin_points": 5}
    doc["lending"] = {"gate": "loan", "term_days": 10, "repay_by_grade": {},
                      "repay_intercept": 1.0, "repay_per_point": 0.01}  # fmt: skip
    flight = next(g for g in doc["gates"] if g["name"] == "flight")
    flight["policy"] = {"kind": "lottery", "probability": 0.7, "once": True}
    doc["sources"][0].update(
        misattribution=0.05, misattribution_by_group={"b": 3.0}, misattributed_to="group",
        attention={"period_days": 5, "window_days": 15, "prior": 4.0, "audit_share": 0.1},
    )  # fmt: skip
    doc["sources"][1].update(platform="app", misattribution=0.02, misattributed_to="region")
    doc["platforms"] = [{"name": "app", "compliance": 0.6, "successor": "other"},
                        {"name": "other", "compliance": 0.9}]  # fmt: skip
    doc["timeline"] = [
        {"day": 20, "set": {"rules.points.red_light.points": -25,
                            "responses.contagion.neighbours": 5.0}},
        {"day": 41, "set": {"platforms.app.banned": True,
                            "sources.camera.attention.exploration": 0.3}},
        {"day": 63, "set": {"gates.flight.policy.probability": 0.2}},
    ]  # fmt: skip
    return doc


def write_yaml(doc: dict[str, Any], path: Any) -> Any:
    """Write a scenario mapping as a YAML file and return its path."""
    import yaml

    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# --- the expiry queue's inputs (tests/test_expiry.py, test_crash.py) ------------------------

N_CITIZENS, N_BEHAVIOURS = 3000, 64
LIFETIME = np.array([-1, 5, 12, 40] * (N_BEHAVIOURS // 4), dtype=np.int32)  # -1: never expires
APPEAL_DAYS = 9


def day_changes(rng: np.random.Generator, n: int, wide: bool = True) -> Any:
    """A day's changes as score returns them: acts (some appealed), and expiries to ignore."""
    from carnet.sim.records import ACT, APPEALED_LOST, APPEALED_WON, EXPIRY, NO_APPEAL, Records

    out = Records(n)
    out.citizen[:] = rng.integers(0, N_CITIZENS, n)  # repeats: citizens with several records
    out.before[:] = rng.integers(900, 1100, n)
    delta = rng.choice([-100, -50, -30, -5, 0, 5, 10, 30], n)
    if wide:  # amounts int8 cannot hold, and its edges
        edge = rng.random(n) < 0.1
        delta[edge] = rng.choice([-300, -129, -128, -127, 127, 128, 1000, -25000], edge.sum())
    out.after[:] = (out.before.astype(np.int64) + delta).astype(np.int16)
    out.behaviour[:] = rng.integers(0, N_BEHAVIOURS, n)
    out.source[:] = rng.integers(0, 40, n)
    out.kind[:] = np.where(rng.random(n) < 0.8, ACT, EXPIRY)
    out.truly_done[:] = rng.random(n) < 0.7
    out.actor[:] = rng.integers(-1, 10**10, n)
    out.appeal[:] = rng.choice([NO_APPEAL, APPEALED_LOST, APPEALED_WON], n, p=[0.7, 0.2, 0.1])
    return out


def flags_for(rng: np.random.Generator, panel_share: float) -> npt.NDArray[np.uint8]:
    """Random citizen flags, with the panel bit set for about ``panel_share`` of them."""
    from carnet.sim.population import PANEL

    flags = rng.integers(0, 256, N_CITIZENS).astype(np.uint8) & ~PANEL
    return flags | np.where(rng.random(N_CITIZENS) < panel_share, PANEL, 0).astype(np.uint8)


# --- the console script ---------------------------------------------------------------------------


def script_path() -> str | None:
    """The installed ``carnet`` console script: beside this interpreter, else on the PATH."""
    beside = Path(sys.executable).with_name("carnet")
    return str(beside) if beside.is_file() else shutil.which("carnet")


def carnet_exe() -> list[str]:
    """The command that runs the installed ``carnet`` console script."""
    return [script_path() or "carnet"]


class Outcome(NamedTuple):
    """What a command printed and how it ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run_script(*args: str, timeout: float = 120) -> Outcome:
    """Run the console script as a person would (wide terminal, no debug tracebacks)."""
    found = script_path()
    if found is None:
        pytest.skip("the carnet console script is not installed")
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("CARNET_DEBUG", None)
    done = subprocess.run(
        [found, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


# --- run directories ------------------------------------------------------------------------------


def same_files(a: Any, b: Any) -> list[str]:
    """Relative paths whose bytes differ between two folders, or that only one has.

    The report (a view that ``carnet run`` derives, unless --no-report) is left out.
    """
    from carnet.runs.integrity import DERIVED

    def files(root: Any) -> dict[str, Any]:
        found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
        return {name: p for name, p in found.items() if not name.startswith(DERIVED)}

    fa, fb = files(a), files(b)
    differ = sorted(set(fa) ^ set(fb))
    differ += [n for n in sorted(set(fa) & set(fb)) if fa[n].read_bytes() != fb[n].read_bytes()]
    return differ


#: What a sharded run writes byte for byte as a run in one process does; its ledger and decision
#: rows are the same too, but cut into parts per shard.
SAME_BYTES = ("metrics.parquet", "population.parquet", "gates.parquet", "companies.parquet",
              "company_metrics.parquet")  # fmt: skip


def _rows(table: Any) -> list[str]:
    return sorted(map(str, table.to_pylist()))


def assert_same_run(one: Path, sharded: Path, *, companies: bool = True) -> None:
    """A run in shards (on Dask) is the run in one process: same tables, same rows, verified.

    ``companies``: the run has companies, whose files and ledger must be there too.
    """
    import carnet
    from carnet.runs.integrity import verify

    a, b = carnet.load_run(one), carnet.load_run(sharded)
    companies = companies and a.scenario.companies is not None  # else no company files
    for name in SAME_BYTES:
        if companies or not name.startswith("compan"):
            assert (one / name).read_bytes() == (sharded / name).read_bytes(), name
    assert a.ledger.num_rows > 1000 and _rows(a.ledger) == _rows(b.ledger)
    assert _rows(a.decisions) == _rows(b.decisions)
    if companies:
        assert a.company_ledger is not None and b.company_ledger is not None
        assert _rows(a.company_ledger) == _rows(b.company_ledger)
    assert verify(sharded) == []


# --- ports ----------------------------------------------------------------------------------------


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test starts and names the port of.

    Not ``bind(0)``: the kernel hands its ephemeral ports to every outgoing connection and every
    ``bind(0)`` (Dask's local clusters, other xdist workers), which could take the port between
    this check and the server's start. These ports come from below (or above) that range, at
    random, never twice in one process; a port that is busy is passed over.
    """
    low, high = _ephemeral_range()
    span = range(max(1024, low - 12_000), low) if low > 11_000 else range(high + 1, 65536)
    rng = random.Random(f"{os.getpid()} {os.environ.get('PYTEST_XDIST_WORKER', '')}")
    for _ in range(1000):
        port = rng.choice(span)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {span}")


# As in the README: Dask's nanny would start workers with MALLOC_TRIM_THRESHOLD_=65536, which
# makes shards a fifth slower (carnet.runs.dask.local_settings); null unsets it.
WORKER_CONFIG = """\
distributed:
  nanny:
    pre-spawn-environ:
      MALLOC_TRIM_THRESHOLD_: null
"""

# --- a browser ------------------------------------------------------------------------------------

# Debian's chromium, which Playwright drives when given its path (Playwright's own browser cannot
# be downloaded here); these flags let it run as root in a container, offline.
CHROMIUM = os.environ.get("CARNET_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium() -> str:
    """The browser's path; skip the test without one, except in CI, which installs it."""
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs it")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@contextmanager
def offline_page(
    allowed: tuple[str, ...], width: int, height: int
) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page of headless Chromium that may load only URLs starting with one of ``allowed``.

    Yields the page, the errors it logs (console and uncaught), and the URLs it asked for
    elsewhere, which are refused. The browser closes on leaving.
    """
    executable = chromium()  # first: in CI a missing browser fails, whatever else is missing
    sync_api = need("playwright.sync_api")
    errors: list[str] = []
    remote: list[str] = []

    def local_only(route: Any) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", local_only)
            yield page, errors, remote
        finally:
            browser.close()


def policed(policy: dict[str, Any] | None = None, **lend: Any) -> dict[str, Any]:
    """Two groups whose points start apart and move only by loans, and a loan gate's policy.

    Nobody acts (every behaviour's rate is 0), so a citizen's points are the drawn start points
    plus what loans did; repayment follows a logistic of the points.
    """
    model = {"repay_by_grade": {}, "repay_intercept": 0.0, "repay_per_point": 0.02,
             "points_on_repayment": 0, "points_on_default": 0}  # fmt: skip
    doc = lending(**{**model, **lend})
    doc["population"]["size"] = 16384
    doc["population"]["groups"] = [
        {"name": "blue", "share": 0.6, "start": {"kind": "normal", "mean": 1020.0, "sd": 40.0}},
        {"name": "green", "share": 0.4, "start": {"kind": "normal", "mean": 980.0, "sd": 50.0}},
    ]
    for b in doc["behaviours"]:
        b["rate_per_year"] = 0.0
    doc["rules"].update(floor=800, ceiling=1200)
    doc["gates"][0].pop("min_grade")
    if policy is not None:
        doc["gates"][0]["policy"] = policy
    return doc
