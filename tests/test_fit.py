"""A run too large for one process runs as shards, a few at a time, each within memory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import carnet_exe

import carnet
from carnet.errors import RunError
from carnet.runs.memory import FIXED_BYTES, PLAN_SHARE, predict_bytes, shards_to_fit

GIB = 2**30


def test_a_run_that_fits_runs_in_one_process() -> None:
    s = carnet.load_scenario("minimal", population=100_000)
    assert shards_to_fit(s, limit=predict_bytes(s)) is None


@pytest.mark.parametrize("room_gib", [6, 12, 18, 22.5])
def test_the_fewest_whole_rounds_of_shards_that_fit(room_gib: float) -> None:
    s = carnet.load_scenario("china")  # 1.4 billion citizens: about 37 GiB in one process
    room = int(room_gib * GIB)
    fit = shards_to_fit(s, limit=room, workers=2)
    assert fit is not None and fit.workers == 2 and fit.shards % 2 == 0
    need = predict_bytes(s, checkpoints=False)  # shards write none unless asked
    assert fit.need == need > room and fit.room == room
    # Checkpoints copy the queues while they are written: they need more, or as many, shards.
    with_checkpoints = shards_to_fit(s, limit=room, workers=2, checkpoints=True)
    assert with_checkpoints is not None and with_checkpoints.need > need
    assert with_checkpoints.shards >= fit.shards

    def peak(shards: int) -> int:  # the coordinator, and two shard processes at once
        return FIXED_BYTES + 2 * (FIXED_BYTES + (need - FIXED_BYTES) // shards)

    assert fit.per_shard == FIXED_BYTES + (need - FIXED_BYTES) // fit.shards
    assert peak(fit.shards) <= PLAN_SHARE * room  # fits, with the prediction's margin
    assert peak(fit.shards - 2) > PLAN_SHARE * room  # and one round fewer would not
    assert "running it as" in fit.describe(s) and f"{fit.shards} shards" in fit.describe(s)


def test_more_workers_need_more_shards() -> None:
    s = carnet.load_scenario("china")
    two, four = (shards_to_fit(s, limit=12 * GIB, workers=w) for w in (2, 4))
    assert two is not None and four is not None and four.shards > two.shards


def test_refused_when_not_even_one_block_per_shard_fits() -> None:
    s = carnet.load_scenario("china")
    with pytest.raises(RunError, match="too little even for shards of one block") as caught:
        shards_to_fit(s, limit=700 * 2**20, workers=2)
    assert "--scheduler tcp://HOST:PORT" in str(caught.value)


def test_the_command_runs_what_does_not_fit_as_shards(tmp_path: Path) -> None:
    """`carnet run` below the prediction: shards, a notice, and a run that verifies."""
    pytest.importorskip("distributed", reason="no distributed: pip install 'carnet[distributed]'")
    population, days = 70_000_000, 10
    s = carnet.load_scenario("minimal", population=population, days=days)
    need = predict_bytes(s)
    limit = f"{(need - 2**20) // 2**20}M"  # just under what one process needs
    out = tmp_path / "run"
    done = subprocess.run(
        [*carnet_exe(), "run", "minimal", "--population", str(population), "--days", str(days),
         "--max-memory", limit, "--out", str(out), "--no-report"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    fit = shards_to_fit(s, limit=(need - 2**20) // 2**20 * 2**20)
    assert fit is not None
    assert f"running it as {fit.shards} shards, {fit.workers} at a time" in done.stderr
    assert "Traceback" not in done.stderr and "Port 8787" not in done.stderr
    plan = json.loads((out / "shards" / "plan.json").read_text())
    assert len(plan) == fit.shards and sum(count for _, count in plan) == population
    assert not list(out.glob("shards/*/checkpoint.npz"))  # a shard is the unit of recovery
    verified = subprocess.run([*carnet_exe(), "verify", str(out)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Every citizen is counted in some grade on every day: nothing lost between shards.
    metrics = pq.read_table(out / "metrics.parquet").to_pandas()
    grades = [g.name for g in s.grades]
    per_day = metrics.groupby("day")[[f"grade_{g}" for g in grades]].sum().sum(axis=1)
    assert len(per_day) == days and (per_day == population).all()


def test_without_dask_the_command_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from carnet.cli.app import app

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "distributed" else find_spec(name, *rest),
    )
    out = tmp_path / "run"
    done = CliRunner().invoke(
        app, ["run", "china", "--max-memory", "16G", "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert done.exit_code == 1
    assert "needs about" in done.output and "pip install 'carnet[distributed]'" in done.output
    assert not out.exists()
