"""Issue 5, goal 1: `carnet run china --days 365` at national scale, timed and weighed.

    python bench/china.py                       # the full preset (1.4 billion), or why not
    python bench/china.py --population 20000000 --population 40000000

Each size is one `carnet run china --population N --days D --no-report` in a fresh process (the
CLI's own path: it predicts memory, runs what does not fit in one process as shards a few at a
time, writes metrics and the panel's ledger into a run directory). The bench prints the wall
time, the peak resident memory of the whole process tree (sampled from /proc) and citizen-days
per second.

When the full size is refused here (the prediction exceeds the memory available), the bench says so
with the CLI's message, runs the sizes given by --population (by default 1/70 and 1/35 of the
preset, 20 and 40 million), and extrapolates to the full size: time by citizen-days per second at
the largest size run, memory by the straight line through the two peaks (fixed cost + bytes per
citizen). Extrapolated figures are labelled as such. Exits 0 only if a full-size run was measured
within both targets.

    python bench/china.py --variant mechanisms  # issue 15: the feedback loops switched on

``--variant mechanisms`` runs the preset with the mechanisms of the research literature on
(:data:`MECHANISMS`, given to `carnet run` as `--set` values): adaptive surveillance on the
traffic cameras and the social networks, contagion of sanctions through neighbours,
housemates and the listed, the social networks run by a platform that is banned on a date,
and a timeline of a rollout and a reform.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WALL_TARGET_S = 600.0  # under 10 minutes
MEMORY_TARGET = 20e9  # under 20 GB
DEFAULT_SIZES = (20_000_000, 40_000_000)

#: The `--set` values of ``--variant mechanisms``: each a PATH=VALUE of `carnet run --set`.
MECHANISMS = (
    # Surveillance that follows its findings: the cameras re-allocate each month from everything
    # they found (a Pólya urn, with a tenth spent at random and a 5% audit arm), the social
    # networks from the last half-year.
    "sources.traffic_cameras.attention={period_days: 30, prior: 100.0, exploration: 0.1, "
    "audit_share: 0.05}",
    "sources.social_networks.attention={period_days: 30, window_days: 180, prior: 50.0}",
    # Sanctions that spread: a neighbourhood's live negative records and listed citizens raise
    # its negative acts (0.5 x their share), a sanctioned housemate by 1.2, at most 2-fold.
    "responses.contagion={neighbours: 0.5, household: 1.2, listings: true, max_multiplier: 2.0}",
    # A platform runs the social networks and shares 90% of what it sees, until it is banned and
    # its users move to a compliant one.
    "platforms=[{name: weibo, compliance: 0.9, successor: wechat}, {name: wechat}]",
    "sources.social_networks.platform=weibo",
    # A timeline: the cameras roll out (detection doubled on day 90), a reform raises the traffic
    # penalty (day 180), and the platform is banned (day 270).
    "timeline=[{day: 90, set: {behaviours.traffic_violation.observed_by.traffic_cameras.detect: "
    "0.9}}, {day: 180, set: {rules.points.traffic_violation.points: -10}}, "
    "{day: 270, set: {platforms.weibo.banned: true}}]",
)
VARIANTS: dict[str, tuple[str, ...]] = {"preset": (), "mechanisms": MECHANISMS}

sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass
class Measured:
    """One `carnet run` of the preset at one size."""

    population: int
    days: int
    wall_s: float
    peak_bytes: int
    exit_code: int
    output: str

    @property
    def citizen_days_per_s(self) -> float:
        return self.population * self.days / self.wall_s

    def line(self) -> str:
        if self.exit_code:
            return f"{self.population:>13,} citizens: exit {self.exit_code}"
        return (
            f"{self.population:>13,} citizens x {self.days} days: wall {self.wall_s:8.1f} s, "
            f"peak RSS {self.peak_bytes / 2**30:6.2f} GiB, "
            f"{self.citizen_days_per_s / 1e6:,.0f} million citizen-days/s"
        )


def tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants now (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1] is the parent
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # fields[21] is rss in pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def carnet_run(
    population: int, days: int, threads: int | None, sets: tuple[str, ...] = ()
) -> Measured:
    """Run the CLI in a fresh process and weigh it while it runs.

    A run too large for one process runs as shards in worker processes: the peak is that of the
    whole process tree, sampled every 0.2 s (the largest single process, from wait4, is a floor).
    """
    with tempfile.TemporaryDirectory(prefix="carnet-china-") as tmp:
        command = [
            sys.executable, "-m", "carnet", "run", "china", "--population", str(population),
            "--days", str(days), "--out", str(Path(tmp) / "run"), "--no-report", "--quiet",
        ]  # fmt: skip
        if threads:
            command += ["--threads", str(threads)]
        for assignment in sets:
            command += ["--set", assignment]
        start = time.perf_counter()
        log = Path(tmp) / "output.txt"
        with open(log, "wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
            peak = 0
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                peak = max(peak, tree_rss(process.pid))
                time.sleep(0.2)
        wall = time.perf_counter() - start
        output = log.read_text(errors="replace")
    peak = max(peak, usage.ru_maxrss * 1024)
    return Measured(population, days, wall, peak, os.waitstatus_to_exitcode(status), output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, action="append", help="sizes to run")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--variant", choices=list(VARIANTS), default="preset")
    args = parser.parse_args()
    sets = VARIANTS[args.variant]

    from run import load, machine

    import carnet
    from carnet.errors import RunError
    from carnet.runs.memory import available_bytes, predict_bytes, shards_to_fit
    from carnet.scenario.paths import parse_assignments

    full = carnet.load_scenario("china").population.size
    print(f"machine: {machine()}; {load()}")
    print(f"carnet {carnet.__version__}: china preset, {args.days} days, every phase on"
          + (f", variant {args.variant}: " + "; ".join(sets) if sets else ""))  # fmt: skip
    print(f"targets (issue 5, goal 1): wall < {WALL_TARGET_S / 60:.0f} min, "
          f"peak memory < {MEMORY_TARGET / 1e9:.0f} GB at {full:,} citizens")  # fmt: skip
    s = carnet.load_scenario("china", days=args.days)
    if sets:
        s = carnet.set(s, parse_assignments(sets))
    free = available_bytes()
    print(f"predicted at full size in one process: {predict_bytes(s) / 2**30:.1f} GiB with "
          f"checkpoints, {predict_bytes(s, checkpoints=False) / 2**30:.1f} GiB without; "
          "available here: " + (f"{free / 2**30:.1f} GiB" if free else "unknown"))  # fmt: skip
    try:
        fit = shards_to_fit(s)
    except RunError as refusal:
        print(f"refused here: {refusal}")
        fit = None
    if fit is not None:
        print(f"so `carnet run china` runs it as {fit.shards} shards, {fit.workers} at a time, "
              f"about {fit.per_shard / 2**30:.1f} GiB each (predicted)")  # fmt: skip

    # Fill numba's cache first, so that no timed run compiles kernels (the CLI loads them).
    carnet_run(100_000, 2, args.threads, sets)
    sizes = args.population or [full]
    runs = []
    for size in sizes:
        run = carnet_run(size, args.days, args.threads, sets)
        print("  " + run.line())
        if run.exit_code:
            print("    " + run.output.strip().replace("\n", "\n    "))
        runs.append(run)

    done = [r for r in runs if r.exit_code == 0]
    at_full = [r for r in done if r.population == full]
    if at_full:
        r = at_full[-1]
        fast, small = r.wall_s < WALL_TARGET_S, r.peak_bytes < MEMORY_TARGET
        print(f"full size measured: wall {r.wall_s / 60:.1f} min against {WALL_TARGET_S / 60:.0f} "
              f"min: {'holds' if fast else 'FAILS'}; peak {r.peak_bytes / 1e9:.1f} GB against "
              f"{MEMORY_TARGET / 1e9:.0f} GB: {'holds' if small else 'FAILS'}")  # fmt: skip
        return 0 if fast and small else 1

    if not args.population:
        print("the full size did not run here; measuring smaller sizes to extrapolate")
        for size in DEFAULT_SIZES:
            run = carnet_run(size, args.days, args.threads, sets)
            print("  " + run.line())
            if run.exit_code:
                print("    " + run.output.strip().replace("\n", "\n    "))
            else:
                done.append(run)
    if not done:
        return 1
    # Straight lines through the two largest sizes: a fixed cost (start-up, libraries) plus a
    # cost per citizen, for the wall time and for the peak.
    pair = sorted({r.population: r for r in done}.values(), key=lambda r: r.population)[-2:]
    if len(pair) < 2:
        print("extrapolation needs two sizes that ran")
        return 1
    a, b = pair
    print(f"extrapolated to {full:,} citizens from {a.population:,} and {b.population:,} "
          "(not measured):")  # fmt: skip
    for what, unit, scale, per, target, got in (
        ("wall", "min", 60.0, "ns", WALL_TARGET_S, lambda r: r.wall_s),
        ("peak RSS", "GiB", 2.0**30, "bytes", MEMORY_TARGET, lambda r: float(r.peak_bytes)),
    ):
        slope = (got(b) - got(a)) / (b.population - a.population)
        fixed = got(a) - slope * a.population
        value = fixed + slope * full
        slope_shown = slope * 1e9 if per == "ns" else slope
        verdict = "would hold" if value < target else "FAILS"
        print(f"  {what} {value / scale:,.1f} {unit} = {fixed / scale:.2f} {unit} fixed + "
              f"{slope_shown:.3g} {per} per citizen (target {target / scale:,.1f} {unit}: "
              f"{verdict})")  # fmt: skip
    print(f"  throughput at {b.population:,}: {b.citizen_days_per_s / 1e6:,.0f} million "
          "citizen-days/s (whole process, start-up included)")  # fmt: skip
    return 1


if __name__ == "__main__":
    sys.exit(main())
