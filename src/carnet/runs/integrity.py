"""Tamper evidence: file hashes, a hash chain over the ledger parts, a head hash, and verify.

Each ledger part's link covers the part's sha256 and the previous link, so parts cannot be
edited, dropped, reordered or appended without breaking the chain. The head hash covers the whole
manifest (every file's hash, the chain, the run's identity); ``carnet run`` prints it, so a copy
kept elsewhere also exposes a manifest rewritten to match altered files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from carnet.runs.layout import DERIVED, MANIFEST, SCENARIO

CHAIN_SEED = hashlib.sha256(b"carnet ledger chain v1").hexdigest()


@dataclass(frozen=True)
class LedgerPart:
    """One written ledger part: where it is, what it hashes to, how many rows it holds."""

    file: str
    sha256: str
    rows: int

    def as_dict(self) -> dict[str, Any]:
        """As a JSON-ready mapping."""
        return asdict(self)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def link(previous: str, part_hash: str) -> str:
    """The chain link after ``previous`` for a part hashing to ``part_hash``."""
    return sha256_bytes(bytes.fromhex(previous) + bytes.fromhex(part_hash))


def head_hash(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON, without its own head."""
    body = {k: v for k, v in manifest.items() if k != "head"}
    return sha256_bytes(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def build_manifest(
    identity: dict[str, Any], files: dict[str, str], parts: list[LedgerPart]
) -> dict[str, Any]:
    """The manifest: identity, every file's hash, the ledger chain, and the head hash."""
    chain, previous = [], CHAIN_SEED
    for part in parts:
        previous = link(previous, part.sha256)
        chain.append({**part.as_dict(), "link": previous})
    all_files = {**files, **{p.file: p.sha256 for p in parts}}
    manifest = {**identity, "files": dict(sorted(all_files.items())), "ledger_chain": chain}
    manifest["head"] = head_hash(manifest)
    return manifest


_HEX64 = re.compile(r"[0-9a-f]{64}")


def manifest_problems(manifest: Any) -> list[str]:
    """How ``manifest`` (parsed JSON) differs from what carnet writes; empty if it does not.

    Readers follow the paths it lists, so each must be a plain relative path inside the run (no
    ``..``, no absolute path, no backslash), and every field must have the type carnet gives
    it: anything else is tampering, reported as such, never followed.
    """
    if not isinstance(manifest, dict):
        return ["manifest.json is not an object"]
    found = []
    files = manifest.get("files")
    if not isinstance(files, dict):
        found.append("manifest.json: 'files' is not a mapping of paths to hashes")
        files = {}
    for name, digest in files.items():
        if not _inside(name):
            found.append(f"manifest.json lists a path outside the run: {name!r}")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            found.append(f"manifest.json: the hash of {name!r} is not a sha256")
    chain = manifest.get("ledger_chain")
    if not isinstance(chain, list):
        found.append("manifest.json: 'ledger_chain' is not a list")
        chain = []
    for i, entry in enumerate(chain):
        ok = isinstance(entry, dict) and isinstance(entry.get("rows"), int)
        ok = ok and all(isinstance(entry.get(k), str) for k in ("file", "sha256", "link"))
        if not ok:
            found.append(f"manifest.json: part {i} of the ledger chain is malformed")
        elif not _inside(entry["file"]) or entry["file"] not in files:
            found.append(f"manifest.json: part {i} names {entry['file']!r}, not a listed file")
    if not isinstance(manifest.get("head"), str):
        found.append("manifest.json: 'head' is not a hash")
    return found


def _inside(name: object) -> bool:
    """Whether ``name`` is a plain relative path that stays inside the folder it is read in."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    parts = PurePosixPath(name).parts
    return not PurePosixPath(name).is_absolute() and ".." not in parts and "." not in parts


def verify(run_dir: Path, expected_head: str | None = None) -> list[str]:
    """Every way ``run_dir`` differs from what its manifest (and ``expected_head``) says.

    An empty list means intact. Problems are phrased for people: ``modified: metrics.parquet``,
    ``missing: ledger/part-00002.parquet``, ``reordered: ...``, ``added: ...``.
    """
    manifest_path = run_dir / MANIFEST
    if not run_dir.is_dir():
        return [f"{run_dir}: no such run directory"]
    if not manifest_path.is_file():
        if (run_dir / SCENARIO).is_file():
            return [
                f"incomplete run: no manifest.json; finish it with carnet run --resume {run_dir}"
            ]
        return [f"{run_dir} is not a carnet run directory (no manifest.json)"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"manifest.json is unreadable: {exc}"]
    malformed = manifest_problems(manifest)
    if malformed:
        return malformed
    files: dict[str, str] = dict(manifest["files"])
    chain: list[dict[str, Any]] = list(manifest["ledger_chain"])
    stated_head = str(manifest["head"])

    problems: list[str] = []
    if head_hash(manifest) != stated_head:
        problems.append("manifest.json was edited: its head hash does not match its contents")
    if expected_head is not None and expected_head != stated_head:
        problems.append(
            f"head hash {stated_head[:16]}… differs from the expected {expected_head[:16]}…: "
            "the manifest was replaced"
        )
    previous = CHAIN_SEED
    for i, entry in enumerate(chain):
        previous = link(previous, str(entry.get("sha256", "")))
        if entry.get("link") != previous or files.get(entry.get("file", "")) != entry.get("sha256"):
            problems.append(f"manifest.json: the ledger chain is broken at part {i}")
            break

    on_disk = {
        name
        for p in run_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST
        and not (name := p.relative_to(run_dir).as_posix()).startswith(DERIVED)
    }  # fmt: skip
    owner = {digest: name for name, digest in files.items()}
    for name in sorted(files):
        if name not in on_disk:
            problems.append(f"missing: {name}")
            continue
        actual = sha256_file(run_dir / name)
        if actual == files[name]:
            continue
        if actual in owner and owner[actual] != name:
            problems.append(f"reordered: {name} holds what the manifest lists as {owner[actual]}")
        else:
            problems.append(f"modified: {name}")
    problems += [f"added: {name} (not in the manifest)" for name in sorted(on_disk - set(files))]
    return problems
