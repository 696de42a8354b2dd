"""`carnet.run` and `carnet.resume`: the library does what `carnet run` does, byte for byte.

And a finished run that a kill left with a leftover (a checkpoint after the manifest, a
temporary file of the report, a shard's checkpoint after its output) is repaired by
``--resume``, never rewritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import carnet
from carnet.cli.app import app
from carnet.errors import InputError, RunError
from carnet.runs.directory import RunDirectory
from carnet.runs.integrity import verify
from carnet.runs.launch import default_out, prepare

SMALL = {"population": 3000, "days": 40}


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def scenario(**changes: Any) -> carnet.Scenario:
    return carnet.load_scenario("rongcheng-gated", **{**SMALL, **changes})


def test_the_library_and_the_command_write_the_same_run_directory(tmp_path: Path) -> None:
    by_cli = tmp_path / "cli"
    shown = invoke(
        "run", "rongcheng-gated", "--population", "3000", "--days", "40", "--out", str(by_cli),
        "--no-report", "--checkpoint-every", "15", "-q",
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    finished = carnet.run(scenario(), tmp_path / "lib", checkpoint_every=15)
    assert files(by_cli) == files(tmp_path / "lib")
    assert finished.head in (by_cli / "manifest.json").read_text(encoding="utf-8")
    assert verify(finished.path) == []


def test_the_library_and_the_command_shard_alike(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="pip install 'carnet[distributed]'")
    by_cli = tmp_path / "cli"
    shown = invoke(
        "run", "rongcheng-gated", "--population", "3000", "--days", "40", "--out", str(by_cli),
        "--no-report", "--shards", "2", "--threads", "2", "-q",
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    carnet.run(scenario(), tmp_path / "lib", shards=2, threads=2)
    assert files(by_cli) == files(tmp_path / "lib")


def test_run_takes_a_preset_name_and_names_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = carnet.load_scenario("minimal", **SMALL)
    first = carnet.run(s)
    assert first.path == Path("runs") / f"minimal-seed{s.run.seed}"
    assert default_out(s) == Path("runs") / f"minimal-seed{s.run.seed}-2"  # never reused


def test_a_run_too_large_for_the_memory_given_goes_to_shards(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="pip install 'carnet[distributed]'")
    s = carnet.load_scenario("minimal", population=300_000_000, days=20)
    launch = prepare(s, tmp_path / "run", max_memory=2 * 2**30, threads=2)
    assert launch.sharded and launch.shards is not None and launch.shards >= 2
    assert launch.why_shards is not None and f"{launch.shards} shards" in launch.why_shards
    assert launch.checkpoint_every == 0  # a shard is the unit of recovery
    assert not (tmp_path / "run").exists()  # prepared, not started


def test_notify_tells_what_overwrite_removed(tmp_path: Path) -> None:
    carnet.run(scenario(), tmp_path / "run")
    told: list[str] = []
    carnet.run(scenario(seed=2), tmp_path / "run", overwrite=True, notify=told.append)
    assert len(told) == 1 and told[0].startswith("removed a finished run (")


def test_resume_of_a_finished_run_writes_nothing(tmp_path: Path) -> None:
    finished = carnet.run(scenario(), tmp_path / "run")
    before = files(finished.path)
    again = carnet.resume(finished.path)
    assert again.head == finished.head and again.resumed_from == 40
    assert files(finished.path) == before


def test_resume_of_a_finished_sharded_run_writes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="pip install 'carnet[distributed]'")
    finished = carnet.run(scenario(), tmp_path / "run", shards=2, threads=2)
    stamps = {p: p.stat().st_mtime_ns for p in finished.path.rglob("*") if p.is_file()}
    again = carnet.resume(finished.path)
    assert again.head == finished.head
    assert {p: p.stat().st_mtime_ns for p in finished.path.rglob("*") if p.is_file()} == stamps


def test_resume_of_a_folder_that_holds_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a carnet run directory"):
        carnet.resume(tmp_path)


def test_a_checkpoint_left_after_the_manifest_is_repaired_by_resume(tmp_path: Path) -> None:
    run = carnet.run(scenario(), tmp_path / "run", checkpoint_every=15).path
    sealed = files(run)
    (run / "checkpoint.npz").write_bytes(b"a checkpoint the kill left")
    assert any("checkpoint.npz" in p for p in verify(run))
    assert RunDirectory(run).is_complete()
    again = carnet.resume(run)
    assert verify(run) == [] and files(run) == sealed and again.resumed_from == 40


def test_a_report_left_half_written_is_repaired_by_resume(tmp_path: Path) -> None:
    run = carnet.run(scenario(), tmp_path / "run").path
    sealed = files(run)
    (run / ".tmp-report.html").write_text("<html>half", encoding="utf-8")
    assert verify(run) != []
    result = invoke("run", "--resume", str(run), "-q", "--no-report")
    assert result.exit_code == 0, result.output
    assert verify(run) == [] and files(run) == sealed


def test_a_shards_checkpoint_left_after_its_output_is_repaired_by_resume(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="pip install 'carnet[distributed]'")
    run = carnet.run(scenario(), tmp_path / "run", shards=2, threads=2).path
    sealed = files(run)
    shard = sorted((run / "shards").glob("0*"))[-1]
    (shard / "checkpoint.npz").write_bytes(b"left by a lost worker")
    assert verify(run) != []
    carnet.resume(run)
    assert verify(run) == [] and files(run) == sealed


def test_a_sharded_run_holds_its_plan_from_its_first_moment(tmp_path: Path) -> None:
    out = tmp_path / "run"
    plan = b"[[0, 1000]]"
    RunDirectory.create(out, scenario(), files={"shards/plan.json": plan})
    assert (out / "shards" / "plan.json").read_bytes() == plan
    assert (out / "scenario.yaml").is_file()
    assert not list(tmp_path.glob(".tmp-*")), "nothing is left beside the run"


def test_run_refuses_out_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RunError, match="not empty"):
        carnet.run(scenario(), tmp_path)
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "mine"


def test_set_on_the_command_line_is_carnet_set(tmp_path: Path) -> None:
    by_cli = tmp_path / "cli"
    shown = invoke(
        "run", "rongcheng-gated", "--population", "3000", "--days", "40", "--out", str(by_cli),
        "--no-report", "-q", "--set", "rules.lifetime_days=20",
        "--set", "sources.traffic_cameras.misattribution=0.05",
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    changed = carnet.set(
        scenario(),
        {"rules.lifetime_days": 20, "sources.traffic_cameras.misattribution": 0.05},
    )
    carnet.run(changed, tmp_path / "lib")
    assert files(by_cli) == files(tmp_path / "lib")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("nosuch.key=1", "nosuch.key: the scenario has no 'nosuch'"),
        ("justtext", "justtext: no '=': write PATH=VALUE"),
        ("run.days=-3", "run.days: must be >= 1"),
    ],
)
def test_a_bad_set_is_named_and_exits_2(tmp_path: Path, given: str, said: str) -> None:
    shown = invoke("run", "minimal", "--set", given, "--out", str(tmp_path / "run"))
    assert shown.exit_code == 2
    assert said in shown.stderr and "Traceback" not in shown.output
    assert not (tmp_path / "run").exists()


def test_a_valid_scenario_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import carnet.scenario.loading as loading

    s = carnet.load_scenario("minimal", **SMALL)
    calls: list[str] = []
    real = loading.validate
    monkeypatch.setattr(loading, "validate", lambda *a, **k: calls.append("v") or real(*a, **k))
    assert carnet.load_scenario(s) is s
    carnet.simulate(s, threads=1)
    assert calls == []
    assert carnet.load_scenario(s, days=10).run.days == 10 and calls == ["v"]
