"""Where a result came from (issue 15, item 6): written into report.json (and run folders) and
read into leaderboard rows, so anyone reading a number can tell how it was made.

`provenance(...)` returns one JSON-ready dict: squeeze's version and git commit (of the checkout
it runs from, with a dirty flag; None when installed from a wheel), Python / torch /
transformers versions, platform, device and dtype, seeds, the full resolved config, sha256 of
every data file named (a directory: each file under it), and start / finish timestamps (UTC,
ISO 8601).

    from squeeze.core.provenance import provenance
    report["provenance"] = provenance(config=cfg, seeds={"seed": 0}, data=[cfg.forget], device="cpu")
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

MAX_FILES_PER_DIR = 200  # a world or dataset folder: hash at most this many files (sorted by path)
# The fields a leaderboard row shows (short, flat); the whole block stays in report.json.
ROW_FIELDS = ("squeeze_version", "git_commit", "torch", "transformers", "device", "dtype")


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("squeeze-unlearning")
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_state() -> dict:
    """The commit of the checkout squeeze is imported from, and whether it has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("torch", "transformers", "accelerate", "peft"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_hashes(sources: Iterable[str | os.PathLike | None]) -> dict[str, str | dict | None]:
    """sha256 per named data file; for a directory, per file under it; None for what is no local
    file (a Hub dataset name)."""
    hashes: dict[str, str | dict | None] = {}
    for source in sources:
        if not source:
            continue
        path = Path(str(source))
        if path.is_file():
            hashes[str(source)] = sha256_file(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())[:MAX_FILES_PER_DIR]
            hashes[str(source)] = {str(p.relative_to(path)): sha256_file(p) for p in files}
        else:
            hashes[str(source)] = None
    return hashes


def _plain(config) -> dict | None:
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def provenance(
    config=None,
    seeds: dict | None = None,
    data: Iterable[str | os.PathLike | None] = (),
    device=None,
    dtype=None,
    started: str | None = None,
) -> dict:
    """The provenance block (see the module docstring); `started` defaults to now."""
    return {
        "squeeze_version": package_version(),
        **git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **library_versions(),
        "device": None if device is None else str(device),
        "dtype": None if dtype is None else str(dtype).removeprefix("torch."),
        "seeds": seeds or {},
        "config": _plain(config),
        "data_sha256": data_hashes(data),
        "started": started or now_utc(),
        "finished": now_utc(),
    }


def row_fields(block: dict | None) -> dict:
    """The short provenance fields of a leaderboard row (None where a report has no block)."""
    block = block or {}
    row = {key: block.get(key) for key in ROW_FIELDS}
    if row["git_commit"]:
        row["git_commit"] = row["git_commit"][:12] + ("+dirty" if block.get("git_dirty") else "")
    return row
