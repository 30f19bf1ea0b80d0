"""Provenance (issue 15, item 6): versions, git commit, device, dtype, seeds, the full config,
data sha256 and timestamps, in report.json and in leaderboard rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers

from squeeze.core.provenance import ROW_FIELDS, provenance, row_fields


@dataclass
class Settings:
    lr: float = 1e-4
    seed: int = 3


def test_provenance_block(tmp_path):
    data = tmp_path / "forget.jsonl"
    data.write_text('{"id": "a", "question": "q", "answer": "a"}\n')
    world = tmp_path / "world"
    (world / "splits").mkdir(parents=True)
    (world / "manifest.json").write_text("{}")
    (world / "splits" / "forget.jsonl").write_text("x\n")
    block = provenance(
        config=Settings(),
        seeds={"seed": 3},
        data=[data, world, "locuslab/TOFU:forget10", None],
        device="cpu",
        dtype=torch.bfloat16,
    )
    assert block["config"] == {"lr": 1e-4, "seed": 3} and block["seeds"] == {"seed": 3}
    assert block["torch"] == torch.__version__.split("+")[0] or block["torch"] == torch.__version__
    assert block["transformers"] == transformers.__version__
    assert (block["device"], block["dtype"]) == ("cpu", "bfloat16")
    assert block["data_sha256"][str(data)] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert block["data_sha256"][str(world)] == {
        "manifest.json": hashlib.sha256(b"{}").hexdigest(),
        "splits/forget.jsonl": hashlib.sha256(b"x\n").hexdigest(),
    }
    assert block["data_sha256"]["locuslab/TOFU:forget10"] is None  # not a local file: named, not hashed
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert block["git_commit"] == head and isinstance(block["git_dirty"], bool)
    assert block["squeeze_version"]
    started, finished = (dt.datetime.fromisoformat(block[k]) for k in ("started", "finished"))
    assert started <= finished and started.tzinfo is not None
    row = row_fields(block)
    assert set(row) == set(ROW_FIELDS) and row["git_commit"].startswith(head[:12])
    assert row_fields(None) == dict.fromkeys(ROW_FIELDS)  # an old report without provenance
