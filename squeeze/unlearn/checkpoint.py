"""Training checkpoints that a crash cannot corrupt (DESIGN section 6).

A checkpoint is a folder `checkpoint/step-000040/` holding
  model.safetensors   the trainable parameters (all weights, or only the LoRA adapters)
  optimizer.pt        the optimizer state (tensors and numbers; read with weights_only=True)
  rng.pt              torch CPU (and CUDA) RNG states (read with weights_only=True)
  state.json          everything else: step, samplers, scheduler, python/numpy RNG, hook
                      states, BS-S samples
  COMPLETE            written last
It is written into a temporary folder, every file flushed to disk, COMPLETE added, and the
folder renamed into place; only folders with COMPLETE count, so a checkpoint half-written
when the process died is never taken for a good one. Older checkpoints are removed only
after a newer one is complete.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from squeeze.core.errors import SqueezeError
from squeeze.core.rundir import honour_umask, write_jsonl

MARKER = "COMPLETE"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(SqueezeError):
    pass


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The complete checkpoint with the highest step under `root`, or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    good = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir() and (child / MARKER).is_file():
            good.append((int(match.group(1)), child))
    return max(good)[1] if good else None


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().to("cpu", copy=True).contiguous() for name, p in model.named_parameters() if p.requires_grad
    }


def load_trainable_state(model, tensors: dict[str, torch.Tensor]) -> None:
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(tensors):
        missing, extra = sorted(set(params) - set(tensors)), sorted(set(tensors) - set(params))
        raise CheckpointError(
            f"checkpoint parameters do not match the model (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[name].to(p.device, p.dtype))


def rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON part: python and numpy RNG, tensor part: torch CPU/CUDA RNG)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    json_part = {"python": [version, list(internal), gauss], "numpy": [name, keys.tolist(), pos, has_gauss, cached]}
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return json_part, tensors


def set_rng_state(json_part: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    version, internal, gauss = json_part["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = json_part["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(root: str | os.PathLike, step: int, model, optimizer, state: dict[str, Any]) -> Path:
    """Write checkpoint `step` atomically under `root`; then drop the older ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{checkpoint_name(step)}.", dir=root))
    try:
        honour_umask(tmp, directory=True)
        rng_json, rng_tensors = rng_state()
        save_file(trainable_state(model), tmp / "model.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(rng_tensors, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step, "rng": rng_json}), encoding="utf-8")
        for f in tmp.iterdir():  # on disk before the marker says so
            _fsync(f)
        (tmp / MARKER).write_text(f"{step}\n", encoding="utf-8")
        _fsync(tmp / MARKER)
        final = root / checkpoint_name(step)
        if final.exists():  # a stale folder of the same step (e.g. from a run that diverged later)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for child in root.iterdir():  # older checkpoints and temporary leftovers of killed writes
        if child != final and child.is_dir() and (_STEP_DIR.match(child.name) or child.name.startswith(".step-")):
            shutil.rmtree(child, ignore_errors=True)
    return final


def load_checkpoint(path: str | os.PathLike, model, optimizer) -> dict[str, Any]:
    """Restore model, optimizer and RNG from `path`; return the JSON state (with "step")."""
    path = Path(path)
    if not (path / MARKER).is_file():
        raise CheckpointError(f"{path} is not a complete checkpoint (no {MARKER} marker)")
    load_trainable_state(model, load_file(path / "model.safetensors"))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    set_rng_state(state["rng"], torch.load(path / "rng.pt", map_location="cpu", weights_only=True))
    return state


def truncate_log(path: Path, step: int) -> None:
    """Keep the rows of a JSONL log up to `step`: a killed run may have logged past its
    last checkpoint, and its last line may be cut off."""
    if not path.exists():
        return
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row["step"] <= step:
            rows.append(row)
    write_jsonl(path, rows)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
