"""The run directory: resolved scenario, manifest, metrics, ledger parts and panel population.

A run is written into a temporary sibling folder and renamed into place when complete, so a
directory with a manifest is always a whole run. Every file is deterministic: the same scenario and
seed give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from carnet import __version__
from carnet.errors import CarnetError, RunError, ScenarioError
from carnet.loading import load_scenario, to_yaml

if TYPE_CHECKING:
    from carnet.result import Result

MANIFEST = "manifest.json"
FORMAT = 1


def sha256(path: Path) -> str:
    """Hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def write_run(result: Result, out: Path, *, overwrite: bool = False) -> Path:
    """Write ``result`` to the directory ``out`` and return it."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise RunError(f"{out} exists and is not empty; choose another --out or --overwrite")
        if not (out / MANIFEST).is_file():
            raise RunError(f"{out} is not a carnet run (no {MANIFEST}); refusing to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        _write_files(result, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as exc:
        raise RunError(f"cannot write the run to {out}: {exc.strerror or exc}") from None
    return out


def _write_files(result: Result, folder: Path) -> None:
    s = result.scenario
    (folder / "scenario.yaml").write_text(to_yaml(s), encoding="utf-8")
    _write_parquet(result.metrics, folder / "metrics.parquet")
    _write_parquet(result.population, folder / "population.parquet")
    (folder / "ledger").mkdir()
    parts = []
    for i, part in enumerate(result.ledger_parts):
        name = f"ledger/part-{i:05d}.parquet"
        _write_parquet(part, folder / name)
        parts.append({"file": name, "rows": part.num_rows})
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "carnet_version": __version__,
        "pyarrow_version": pa.__version__,
        "scenario": s.name,
        "seed": s.run.seed,
        "days": s.run.days,
        "population": s.population.size,
        "panel": result.population.num_rows,
        "ledger_parts": parts,
        "files": {p.relative_to(folder).as_posix(): sha256(p) for p in files},
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def read_run(run_dir: Path) -> Result:
    """Read a run directory back into a Result."""
    from carnet.result import Result

    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise CarnetError(f"{run_dir} is not a carnet run directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        scenario = load_scenario(run_dir / "scenario.yaml")
        metrics = pq.read_table(run_dir / "metrics.parquet")
        population = pq.read_table(run_dir / "population.parquet")
        parts = [pq.read_table(run_dir / p["file"]) for p in manifest["ledger_parts"]]
    except ScenarioError:
        raise
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise CarnetError(f"{run_dir}: unreadable run directory: {exc}") from None
    return Result(scenario=scenario, metrics=metrics, ledger_parts=parts, population=population)
