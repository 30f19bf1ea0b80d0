"""MMLU accuracy before and after unlearning (issue 7: model utility on real data).

`diagnose --mmlu N` scores the checkpoint ("after") and its reference, the original model
it was unlearned from ("before"), on the same seeded subset of MMLU. The reference's
score is the same for every method unlearned from one original, so it is cached on disk
under `$SQUEEZE_CACHE/mmlu/` (default `~/.cache/squeeze/mmlu/`), keyed by the reference's
weight files (path, size, modification time), the question ids and the prompt format; a
leaderboard of k methods scores the original once instead of k times.

    selection = MMLUSelection(count=100, subjects=("astronomy",), seed=0)
    mmlu_before_after(model, reference, tokenizer, reference_dir, selection)
    # {"mmlu_accuracy": 0.27, "mmlu_accuracy_reference": 0.29, "mmlu_questions": 100}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from squeeze.core.errors import ConfigError

# Bumped whenever squeeze.metrics.mcq changes how a choice is prompted or scored, so a
# cached reference score never mixes with scores of another format.
PROMPT_FORMAT = "mcq-v1"


@dataclass(frozen=True)
class MMLUSelection:
    count: int
    subjects: tuple[str, ...] = ()
    seed: int = 0


def parse_subjects(text: str) -> tuple[str, ...]:
    """ "astronomy, high_school_physics" -> ("astronomy", "high_school_physics")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _weights_fingerprint(model_dir: Path) -> list:
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        raise ConfigError(f"{model_dir}: no weight files to fingerprint for the MMLU cache")
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def reference_cache_path(reference_dir: Path, question_ids: list[str]) -> Path:
    from squeeze.lm.gguf import cache_root

    key = json.dumps([str(reference_dir.resolve()), _weights_fingerprint(reference_dir), question_ids, PROMPT_FORMAT])
    return cache_root() / "mmlu" / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:24]}.json"


def cached_accuracy(path: Path, compute: Callable[[], float]) -> float:
    """The accuracy stored at `path`, or `compute()` stored there (atomically) for next time."""
    from squeeze.core.rundir import read_json, write_json

    if path.is_file():
        try:
            return float(read_json(path)["accuracy"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged entry is recomputed and overwritten
    accuracy = float(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"accuracy": accuracy})
    return accuracy


def mmlu_before_after(
    model,
    reference,
    tokenizer,
    reference_dir: Path,
    selection: MMLUSelection,
    batch_size: int = 16,
    reference_tokenizer=None,
) -> dict:
    """MMLU accuracy of `model` and of `reference` on one seeded subset, and its size."""
    from squeeze.metrics import load_mmlu, mcq_accuracy_from_model

    records = load_mmlu(subjects=list(selection.subjects) or None, count=selection.count, seed=selection.seed)
    after = mcq_accuracy_from_model(model, tokenizer, records, batch_size)
    before = cached_accuracy(
        reference_cache_path(Path(reference_dir), [r.id for r in records]),
        lambda: mcq_accuracy_from_model(reference, reference_tokenizer or tokenizer, records, batch_size),
    )
    return {"mmlu_accuracy": float(after), "mmlu_accuracy_reference": before, "mmlu_questions": len(records)}
