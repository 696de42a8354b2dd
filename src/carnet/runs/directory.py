"""The run directory: resolved scenario, ledger parts, checkpoint, metrics, population, manifest.

Every file is written atomically (temporary file, fsync, rename, fsync of the folder), so a crash
leaves either the old file or the new one, never half of one. Ledger parts are written as the run
cuts them; a checkpoint records how many were written and their hashes, so a resumed run discards
what came after and writes it again. The manifest, written last, marks the run complete; it holds
the sha256 of every file and a hash chain over the ledger parts, sealed by a head hash.

Its file names are :mod:`carnet.runs.layout`'s.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from carnet._version import __version__
from carnet.errors import CarnetError, InputError, OutError, RunError, ScenarioError
from carnet.result import Result
from carnet.runs import faults
from carnet.runs.integrity import (
    LedgerPart,
    build_manifest,
    manifest_problems,
    sha256_bytes,
    sha256_file,
)
from carnet.runs.layout import (
    CHECKPOINT,
    COMPANIES,
    COMPANY_LEDGER,
    COMPANY_METRICS,
    DECISIONS,
    FIGURES,
    GATES,
    LEDGER,
    MANIFEST,
    METRICS,
    PART_KINDS,
    PLAN,
    POPULATION,
    REPORT,
    SCENARIO,
    SHARD_OUTPUT,
    SHARDS,
    TEMP_PREFIX,
    part_kind,
    part_name,
)
from carnet.scenario.loading import load_scenario, to_yaml
from carnet.scenario.schema import Scenario
from carnet.sim.chunks import Column, load_npz, save_npz


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet file bytes (deterministic for a given pyarrow version)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return bytes(sink.getvalue().to_pybytes())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | Callable[[io.BufferedWriter], None]) -> None:
    """Write ``path`` so that a crash leaves the old file or the new one, never a mix."""
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}")
    name = faults.label(path)
    faults.point(f"{name}: before")
    try:
        with open(tmp, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        faults.point(f"{name}: written, not renamed")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    faults.point(f"{name}: renamed")


def describe_os_error(exc: OSError, path: Path) -> str:
    """A person's description of a failed write."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return f"cannot write {path}: {reason}"


def checkpoint_days(s: Scenario, checkpoint_every: int | None) -> int:
    """Days between checkpoints: ``checkpoint_every`` if given, else ``run.checkpoint_days``."""
    return s.run.checkpoint_days if checkpoint_every is None else checkpoint_every


def writes_checkpoints(s: Scenario, checkpoint_every: int | None) -> bool:
    """Whether a run checkpoints before its last day (checkpoints cost memory while written)."""
    return 0 < checkpoint_days(s, checkpoint_every) < s.run.days


class RunDirectory:
    """A run's folder on disk, written file by file as the run goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: What :meth:`create` removed to make room (``--overwrite``), said in words.
        self.replaced: str | None = None

    @classmethod
    def create(
        cls,
        path: Path,
        scenario: Scenario,
        *,
        overwrite: bool = False,
        files: dict[str, bytes] | None = None,
    ) -> RunDirectory:
        """A new run directory holding the resolved scenario; refuses to clobber other files.

        ``files`` (relative paths and their bytes) are written with the scenario, before the
        directory appears: a run killed at any moment has all of them or no directory at all.
        """
        check_out(path, overwrite=overwrite)
        if path.is_symlink():  # a link to an (empty) folder: the run goes where it points
            path = path.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(path)
        # Built aside and renamed into place: a run directory always holds its scenario.
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent))
        building = os.open(tmp, os.O_RDONLY)  # locked while built: not stale, whoever looks
        fcntl.flock(building, fcntl.LOCK_EX)
        try:
            kinds = PART_KINDS if scenario.companies is not None else (LEDGER, DECISIONS)
            for kind in kinds:
                (tmp / kind).mkdir()
            atomic_write(tmp / SCENARIO, to_yaml(scenario).encode("utf-8"))
            for name, data in (files or {}).items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                atomic_write(tmp / name, data)
            replaced = _clear(path)
            whose = "shard" if path.parent.name == SHARDS else "run"
            faults.point(f"{whose} folder: built, not renamed")
            tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            os.close(building)
        _fsync_dir(path.parent)
        run = cls(path)
        run.replaced = replaced
        return run

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the directory while a process writes it.

        The lock is taken on the folder itself (flock), so it adds no file to the run, and the
        kernel drops it when the process dies, however it dies.
        """
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunError(f"{self.path} is being written by another carnet process") from None
            yield
        finally:
            os.close(fd)

    def is_complete(self) -> bool:
        """Whether the run finished (its manifest is written last)."""
        return (self.path / MANIFEST).is_file()

    def remove_leftovers(self) -> list[str]:
        """Remove what a kill can leave in a finished run: checkpoints and temporary files.

        Only files that carnet names so and the manifest does not seal: the run's checkpoint
        and those of its shards (each shard finished, its output sealed), and temporary files
        of atomic writes (``.tmp-*``). Returns their relative paths.
        """
        sealed = set(read_manifest(self.path).get("files", {}))
        found = [self.path / CHECKPOINT, *self.path.glob(f"{TEMP_PREFIX}*")]
        for shard in sorted((self.path / SHARDS).glob("[0-9]" * 4)):
            found += [shard / CHECKPOINT, *shard.glob(f"{TEMP_PREFIX}*")]
            found += [*shard.glob(f"*/{TEMP_PREFIX}*")]
        found += [*self.path.glob(f"*/{TEMP_PREFIX}*")]
        removed = []
        for path in found:
            name = path.relative_to(self.path).as_posix()
            if path.is_file() and not path.is_symlink() and name not in sealed:
                path.unlink()
                removed.append(name)
        return removed

    def scenario(self) -> Scenario:
        """The resolved scenario the run was started with."""
        return load_scenario(self.path / SCENARIO)

    def scenario_hash(self) -> str:
        """sha256 of scenario.yaml: a checkpoint belongs to exactly one scenario."""
        return sha256_bytes((self.path / SCENARIO).read_bytes())

    def write_part(self, kind: str, table: pa.Table, parts: list[LedgerPart]) -> LedgerPart:
        """Write the next part of ``kind`` (ledger or decisions); return its name, hash, rows."""
        index = sum(1 for p in parts if p.file.startswith(f"{kind}/"))
        data = parquet_bytes(table)
        name = part_name(kind, index)
        atomic_write(self.path / name, data)
        return LedgerPart(file=name, sha256=sha256_bytes(data), rows=table.num_rows)

    def save_checkpoint(self, arrays: dict[str, Column], parts: list[LedgerPart]) -> None:
        """Save the run's state and the ledger parts written so far, atomically.

        A column kept in pieces (:class:`~carnet.sim.chunks.Chunks`) is written and read back piece
        by piece, never whole (:func:`carnet.sim.chunks.save_npz`).
        """
        meta = {
            "carnet_version": __version__,
            "scenario_sha256": self.scenario_hash(),
            "parts": [p.as_dict() for p in parts],
        }
        blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        contents = {"meta": blob, **arrays}
        atomic_write(self.path / CHECKPOINT, lambda f: save_npz(f, contents))

    def load_checkpoint(self) -> tuple[dict[str, Column], list[LedgerPart]] | None:
        """The last checkpoint's arrays and ledger parts, or None if the run never made one."""
        path = self.path / CHECKPOINT
        if not path.is_file():
            return None
        try:
            arrays = load_npz(path)
            meta = json.loads(np.asarray(arrays.pop("meta")).tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise RunError(f"{path}: unreadable checkpoint ({exc})") from None
        if meta.get("scenario_sha256") != self.scenario_hash():
            raise RunError(f"{path} belongs to another scenario than {self.path / SCENARIO}")
        if meta.get("carnet_version") != __version__:
            raise RunError(
                f"{path} was written by carnet {meta.get('carnet_version')}; "
                f"this is {__version__}, which may draw differently: start the run again"
            )
        return arrays, [LedgerPart(**p) for p in meta["parts"]]

    def discard_after(self, parts: list[LedgerPart]) -> None:
        """Remove ledger parts written after the checkpoint, and temporary files."""
        keep = {p.file for p in parts}
        for p in parts:
            data = (self.path / p.file).read_bytes() if (self.path / p.file).is_file() else b""
            if sha256_bytes(data) != p.sha256:
                raise RunError(
                    f"{self.path / p.file} is missing or changed since the checkpoint that "
                    "lists it; this run cannot be resumed safely, start it again"
                )
        for kind in PART_KINDS:
            if kind != COMPANY_LEDGER:  # made at creation, only for runs with companies
                (self.path / kind).mkdir(exist_ok=True)
            if not (self.path / kind).is_dir():
                continue
            for f in sorted((self.path / kind).iterdir()):
                if f"{kind}/{f.name}" not in keep:
                    f.unlink()
        for f in self.path.glob(f"{TEMP_PREFIX}*"):
            f.unlink()

    def read_parts(self, parts: list[LedgerPart], kind: str) -> list[pa.Table]:
        """The parts of ``kind`` already written, read back in order."""
        return [pq.read_table(self.path / p.file) for p in parts if part_kind(p.file) == kind]

    def finish(self, result: Result, parts: list[LedgerPart], kept: Sequence[str] = ()) -> str:
        """Write metrics, population and manifest; remove the checkpoint; return the head hash.

        ``kept`` names other files of the run (relative paths) that the manifest seals too.
        """
        files = {SCENARIO: self.scenario_hash()}
        files.update({name: sha256_bytes((self.path / name).read_bytes()) for name in kept})
        tables = {
            METRICS: result.metrics,
            POPULATION: result.population,
            GATES: result.gates,
            COMPANIES: result.companies,
            COMPANY_METRICS: result.company_metrics,
        }
        for name, table in ((k, v) for k, v in tables.items() if v is not None):
            data = parquet_bytes(table)
            atomic_write(self.path / name, data)
            files[name] = sha256_bytes(data)
        s = result.scenario
        manifest = build_manifest(
            {
                "format": 1,
                "carnet_version": __version__,
                "pyarrow_version": pa.__version__,
                "scenario": s.name,
                "seed": s.run.seed,
                "days": s.run.days,
                "population": s.population.size,
                "panel": result.population.num_rows,
            },
            files,
            sorted(parts, key=lambda p: p.file),  # one order, however writes interleaved
        )
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        atomic_write(self.path / MANIFEST, text.encode("utf-8"))
        faults.point("manifest written, checkpoint not removed")
        (self.path / CHECKPOINT).unlink(missing_ok=True)
        return str(manifest["head"])


def write_tables(tables: dict[str, pa.Table], folder: Path) -> Path:
    """Write each table as ``<folder>/<name>.parquet`` (atomically); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        atomic_write(folder / f"{name}.parquet", parquet_bytes(table))
    return folder


def check_out(out: Path, *, overwrite: bool) -> None:
    """Refuse an output folder that holds anything but a carnet run we may replace.

    With ``overwrite``, ``out`` must be empty or a run that :func:`prove_run` accepts, and no
    process may be writing it.
    """
    if out.is_symlink() and not out.exists():
        raise OutError(f"{out} is a symbolic link to nothing; choose another --out")
    if out.exists() and not out.is_dir():
        raise OutError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutError(
                f"{out} exists and is not empty; choose another --out, "
                "or pass --overwrite to replace a previous run"
            )
        prove_run(out)
        with _unlocked(out):
            pass


#: A part's name in its folder, as :func:`part_name` writes it.
_PART = re.compile(r"part-\d{5}\.parquet")


def prove_run(path: Path) -> str:
    """Prove that carnet wrote everything in ``path``; describe it, or say what is not ours.

    Before ``--overwrite`` removes a folder: every file in it must be one carnet writes, by name
    and by content. A finished run's files must match the hashes its manifest lists (reports
    and temporary files aside); an unfinished run's ``scenario.yaml`` must be exactly what carnet
    writes for that scenario, its checkpoint must belong to it, and its other files must be
    ledger parts, a checkpoint, temporary files, or (sharded) its plan and shards, each shard
    proven the same way. Anything else, a user's file among them, raises :class:`RunError`
    naming it, and nothing is removed.
    """
    files = _proven_files(path, root=path, scenario_bytes=None)
    kind = "a finished run" if (path / MANIFEST).is_file() else "an unfinished run"
    if (path / SHARDS).is_dir():
        kind += " in shards"
    return f"{kind} ({files} files)"


def _not_ours(root: Path, entry: Path, why: str) -> OutError:
    return OutError(
        f"{root} is not a carnet run directory that --overwrite may replace: "
        f"{entry.relative_to(root).as_posix() or '.'} {why}; nothing was removed"
    )


def _proven_files(path: Path, *, root: Path, scenario_bytes: bytes | None) -> int:
    """Files under ``path`` proven carnet's (see :func:`prove_run`); their count."""
    scenario_path = path / SCENARIO
    if not scenario_path.is_file() or scenario_path.is_symlink():
        raise _not_ours(root, scenario_path, "is missing (every carnet run holds its scenario)")
    text = scenario_path.read_bytes()
    if scenario_bytes is not None and text != scenario_bytes:
        raise _not_ours(root, scenario_path, "is not the scenario of the run that holds it")
    try:
        written = to_yaml(load_scenario(scenario_path)).encode("utf-8")
    except (CarnetError, OSError, ValueError):
        written = b""
    if written != text:
        raise _not_ours(root, scenario_path, "is not a scenario as carnet writes it")
    sealed = _sealed(path, root)
    count = 0
    for entry in sorted(path.iterdir()):
        name = entry.name
        if entry.is_symlink():
            raise _not_ours(root, entry, "is a symbolic link")
        if entry.is_dir():
            if name in PART_KINDS:
                count += _proven_parts(entry, root, sealed)
            elif name == SHARDS and path == root:
                count += _proven_shards(entry, root, text)
            elif (name == FIGURES and sealed is not None) or name.startswith(TEMP_PREFIX):
                count += sum(1 for f in entry.rglob("*") if f.is_file())
            else:
                raise _not_ours(root, entry, "is a folder carnet does not write")
            continue
        count += 1
        rel = name
        if name in (SCENARIO, MANIFEST) or name.startswith(TEMP_PREFIX):
            continue
        if sealed is not None and rel in sealed:
            if sha256_file(entry) != sealed[rel]:
                raise _not_ours(root, entry, "was changed since carnet wrote it")
        elif name == CHECKPOINT:
            _prove_checkpoint(entry, root, text)
        elif name == REPORT or (name == SHARD_OUTPUT and path != root):
            continue
        else:
            raise _not_ours(root, entry, "is not a file carnet writes")
    return count


def _sealed(path: Path, root: Path) -> dict[str, str] | None:
    """The hashes a finished run's manifest lists, relative to ``path``; None if unfinished."""
    if not (path / MANIFEST).is_file():
        return None
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        files = {str(k): str(v) for k, v in dict(manifest["files"]).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise _not_ours(root, path / MANIFEST, "is not a manifest carnet wrote") from None
    return files


def _proven_parts(folder: Path, root: Path, sealed: dict[str, str] | None) -> int:
    count = 0
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file():
            raise _not_ours(root, entry, "is not a ledger part")
        rel = f"{folder.name}/{entry.name}"
        if sealed is not None and rel in sealed:
            if sha256_file(entry) != sealed[rel]:
                raise _not_ours(root, entry, "was changed since carnet wrote it")
        elif not entry.name.startswith(TEMP_PREFIX) and not (
            _PART.fullmatch(entry.name) and _is_parquet(entry)
        ):
            raise _not_ours(root, entry, "is not a ledger part")
        count += 1
    return count


def _proven_shards(folder: Path, root: Path, scenario_bytes: bytes) -> int:
    count = 0
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            raise _not_ours(root, entry, "is a symbolic link")
        if entry.is_file() and (entry.name == PLAN or entry.name.startswith(TEMP_PREFIX)):
            count += 1
        elif entry.is_dir() and re.fullmatch(r"\d{4}", entry.name):
            count += _proven_files(entry, root=root, scenario_bytes=scenario_bytes)
        elif entry.is_dir() and entry.name.startswith(TEMP_PREFIX):
            count += sum(1 for f in entry.rglob("*") if f.is_file())
        else:
            raise _not_ours(root, entry, "is not a shard carnet writes")
    return count


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0, os.SEEK_END)
        if f.tell() < 8:
            return False
        f.seek(-4, os.SEEK_END)
        return head == b"PAR1" and f.read(4) == b"PAR1"


def _prove_checkpoint(path: Path, root: Path, scenario_bytes: bytes) -> None:
    try:
        with zipfile.ZipFile(path) as z, z.open("meta.npy") as f:
            meta = json.loads(np.lib.format.read_array(f).tobytes().decode("utf-8"))
        ours = meta["scenario_sha256"] == sha256_bytes(scenario_bytes)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        ours = False
    if not ours:
        raise _not_ours(root, path, "is not a checkpoint of this run")


@contextmanager
def _unlocked(path: Path) -> Iterator[None]:
    """Hold the locks of ``path`` and of its shards' folders; refuse if a process holds one."""
    fds: list[int] = []
    try:
        for folder in [path, *sorted((path / SHARDS).glob("[0-9]" * 4))]:
            fd = os.open(folder, os.O_RDONLY)
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutError(
                    f"{folder} is being written by a carnet process that is still running; "
                    "--overwrite does not replace it: stop that run first"
                ) from None
        yield
    finally:
        for fd in fds:
            os.close(fd)


def _remove_stale_builds(path: Path) -> None:
    """Remove the folders that runs killed while :meth:`RunDirectory.create` built them left.

    A build is ``.tmp-<name>.<random>`` beside ``path``, locked while it is built; one that no
    process holds and that holds only what a build writes (the scenario, empty part folders, a
    shard plan, temporary files) is a dead build's.
    """
    built = {SCENARIO, f"{TEMP_PREFIX}{SCENARIO}", *PART_KINDS, SHARDS, f"{SHARDS}/{PLAN}"}
    built.add(f"{SHARDS}/{TEMP_PREFIX}{PLAN}")
    for stale in path.parent.glob(f"{TEMP_PREFIX}{glob.escape(path.name)}.*"):
        if stale.is_symlink() or not stale.is_dir():
            continue
        names = {p.relative_to(stale).as_posix() for p in stale.rglob("*")}
        if not names <= built:
            continue
        fd = os.open(stale, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # being built now
        else:
            shutil.rmtree(stale)
        finally:
            os.close(fd)


def _clear(path: Path) -> str | None:
    """Make way for a run at ``path``: remove an empty folder, or a proven run; say which."""
    if not path.exists() or path.is_symlink():
        return None
    if not any(path.iterdir()):
        path.rmdir()
        return None
    return remove_run(path)


def remove_run(path: Path) -> str:
    """Remove the carnet run in ``path`` after :func:`prove_run`; say what was removed."""
    what = prove_run(path)
    with _unlocked(path):
        shutil.rmtree(path)
    return f"removed {what} from {path}"


def save_run(result: Result, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write a finished in-memory ``result`` to ``out``: built aside, then renamed into place."""
    out = Path(out)
    check_out(out, overwrite=overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{out.name}.", dir=out.parent))
        try:
            run = RunDirectory.create(tmp / "run", result.scenario)
            parts: list[LedgerPart] = []
            for kind, tables in (
                (LEDGER, result.ledger_parts),
                (DECISIONS, result.decision_parts),
                (COMPANY_LEDGER, result.company_ledger_parts),
            ):
                for table in tables:
                    parts.append(run.write_part(kind, table, parts))
            run.finish(result, parts)
            _clear(out)
            (tmp / "run").rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise RunError(describe_os_error(exc, out)) from None
    return out


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest of a finished run; a clear error for an unfinished run or another folder."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        if (run_dir / SCENARIO).is_file():
            raise CarnetError(
                f"{run_dir} is an unfinished run (no {MANIFEST}); "
                f"finish it with: carnet run --resume {run_dir}"
            )
        raise CarnetError(f"{run_dir} is not a carnet run directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CarnetError(f"{run_dir}: unreadable run directory: {exc}") from None
    malformed = manifest_problems(manifest)
    if malformed:
        raise InputError(
            f"{run_dir}: the manifest is not as carnet writes it (tampered with?): "
            f"{malformed[0]}; check the run with: carnet verify {run_dir}"
        )
    result: dict[str, Any] = manifest
    return result


def run_holding(path: Path) -> Path | None:
    """The carnet run folder that ``path`` is, or lies in (links followed), if any."""
    here = path.resolve()
    for folder in [here, *here.parents]:
        if (folder / MANIFEST).is_file() or (
            (folder / SCENARIO).is_file() and (folder / LEDGER).is_dir()
        ):
            return folder
    return None


def check_outside_runs(path: Path, *, report_of: Path | None = None) -> None:
    """Refuse to write ``path`` (a file or a folder) inside a carnet run.

    A run's files are sealed by its manifest: a file added among them, or one replaced, would
    make ``carnet verify`` fail. Only the views derived from a run (:data:`DERIVED`) may be
    written into it, and only for that run: ``report_of`` is the run whose report ``path`` is.

    Raises:
        InputError: naming ``path`` and the run it lies in.
    """
    run = run_holding(path)
    if run is None:
        return
    if report_of is not None and run == report_of.resolve():
        inside = path.resolve().relative_to(run).as_posix()
        if inside in (REPORT, FIGURES) or inside.startswith(f"{FIGURES}/"):
            return
    raise InputError(
        f"{path} is inside the run directory {run}, whose files its manifest seals; "
        "write it elsewhere"
    )


def write_outside(run_dir: Path, path: Path, data: bytes) -> None:
    """Write ``path`` atomically with something drawn from a run, outside any run directory.

    A run's files are sealed by its manifest: a file added among them would make
    ``carnet verify`` fail, so ``path`` may not be inside ``run_dir`` or any other run.
    """
    if path.resolve().is_relative_to(run_dir.resolve()):
        raise InputError(f"{path} is inside the run directory {run_dir}; write it elsewhere")
    check_outside_runs(path)
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise RunError(describe_os_error(exc, path)) from None


def load_run(run_dir: str | Path) -> Result:
    """Read a complete run directory back into a Result."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    try:
        scenario = load_scenario(run_dir / SCENARIO)
        metrics = pq.read_table(run_dir / METRICS)
        population = pq.read_table(run_dir / POPULATION)
        chain = [str(p["file"]) for p in manifest["ledger_chain"]]
        parts = [pq.read_table(run_dir / f) for f in chain if part_kind(f) == LEDGER]
        decided = [pq.read_table(run_dir / f) for f in chain if part_kind(f) == DECISIONS]
        companies, company_metrics, gates = (
            pq.read_table(run_dir / name) if name in manifest["files"] else None
            for name in (COMPANIES, COMPANY_METRICS, GATES)
        )
        company_parts = [
            pq.read_table(run_dir / f) for f in chain if part_kind(f) == COMPANY_LEDGER
        ]
    except ScenarioError:
        raise
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise CarnetError(f"{run_dir}: unreadable run directory: {exc}") from None
    return Result(
        scenario=scenario,
        metrics=metrics,
        ledger_parts=parts,
        population=population,
        gates=gates,
        decision_parts=decided,
        companies=companies,
        company_metrics=company_metrics,
        company_ledger_parts=company_parts,
    )
