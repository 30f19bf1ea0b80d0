"""Data loading (DESIGN section 2): QA records with TOFU's field names, MUSE raw text,
verbmem and knowmem, and WMDP/MMLU-style multiple choice.

Sources: a local `.json` (a list of objects, an object holding one list, or JSON Lines
under a .json name, as TOFU ships it), `.jsonl`, `.parquet`, `.txt` (MUSE raw text), a
`datasets` dataset saved with `save_to_disk` (a Dataset, or a DatasetDict plus `split`),
or a hub name such as `locuslab/TOFU:forget10` (`repo:config`), which needs the network.

Every problem raises one `DataError` naming the file and the 1-based line (JSON Lines,
JSON arrays) or row (parquet, datasets): unreadable file, bad JSON, missing or mistyped
field, duplicate id, empty split. Extra fields are ignored (TOFU carries several).

    from squeeze.core.data import load_qa
    records = load_qa("data/forget10.json")
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from squeeze.core.errors import DataError
from squeeze.core.rundir import write_jsonl
from squeeze.core.types import Fact, QARecord

FILE_SUFFIXES = (".json", ".jsonl", ".parquet", ".txt")
T = TypeVar("T")


@dataclass
class MuseText:
    """A MUSE raw-text document (the forget or retain corpus)."""

    id: str
    text: str


@dataclass
class MuseVerbmem:
    """A MUSE verbatim-memorisation item: the model continues `prompt`; `gt` is the true text."""

    id: str
    prompt: str
    gt: str


@dataclass
class MCQRecord:
    """A WMDP/MMLU multiple-choice item; `answer` is the index of the right choice."""

    id: str
    question: str
    choices: list[str]
    answer: int


# -- reading rows ----------------------------------------------------------------------------
@dataclass
class Rows:
    """Raw rows of one source: `label` names it in errors, `stem` prefixes default ids,
    `rows` holds (where, row) with `where` like "line 3" or "row 3"."""

    label: str
    stem: str
    rows: list[tuple[str, object]]


def read_rows(source: str | os.PathLike, split: str | None = None) -> Rows:
    """Read the raw rows of a file, saved dataset or hub dataset (no field checks)."""
    path = Path(source)
    if path.is_dir():
        return _saved_dataset_rows(path, split)
    if not path.exists() and _looks_like_hub_name(str(source)):
        return _hub_rows(str(source), split)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_rows(path)
    if suffix not in FILE_SUFFIXES:
        if not path.exists():
            raise DataError(f"{path}: cannot read: no such file or directory")
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .json, .jsonl, "
            ".parquet, .txt, a folder saved with `datasets` save_to_disk, or a hub name"
        )
    text = _read_text(path)
    if suffix == ".txt":
        return Rows(str(path), path.stem, [("line 1", {"id": path.stem, "text": text})])
    if suffix == ".jsonl":
        return Rows(str(path), path.stem, _jsonl_rows(path, text))
    return _json_rows(path, text, split)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text") from None


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, object]]:
    rows = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: bad JSON ({exc.msg}, column {exc.colno})") from None
    return rows


def _json_rows(path: Path, text: str, split: str | None) -> Rows:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several values one after another: JSON Lines (TOFU's .json files)
            return Rows(str(path), path.stem, _jsonl_rows(path, text))
        raise DataError(f"{path}: line {exc.lineno}: bad JSON ({exc.msg}, column {exc.colno})") from None
    if isinstance(data, list):
        return Rows(str(path), path.stem, _array_rows(text))
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: line 1: expected a list of records or an object holding one, got {type(data).__name__}"
        )
    lists = {k: v for k, v in data.items() if isinstance(v, list) and (not v or isinstance(v[0], dict))}
    if split is not None and split in lists:
        key, stem = split, f"{path.stem}-{split}"
    elif split is None and len(lists) == 1:
        key, stem = next(iter(lists)), path.stem
    else:
        wanted = f"a list named {split!r}" if split is not None else "exactly one list of records"
        raise DataError(
            f"{path}: line 1: the top-level object should hold {wanted}; its lists: {', '.join(lists) or 'none'}"
        )
    return Rows(f"{path} [{key}]", stem, _numbered(lists[key]))


def _array_rows(text: str) -> list[tuple[str, object]]:
    """Elements of a top-level JSON array with the line each starts on (already valid JSON)."""
    decoder, gap = json.JSONDecoder(), re.compile(r"[\s,]*")
    rows, line, seen = [], 1, 0
    index = gap.match(text, text.index("[") + 1).end()
    while text[index] != "]":
        line += text.count("\n", seen, index)
        seen = index
        value, end = decoder.raw_decode(text, index)
        rows.append((f"line {line} (row {len(rows) + 1})", value))
        index = gap.match(text, end).end()
    return rows


def _parquet_rows(path: Path) -> Rows:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise DataError(f"{path}: cannot read parquet: {str(exc).splitlines()[0]}") from None
    return Rows(str(path), path.stem, _numbered(table.to_pylist()))


def _saved_dataset_rows(path: Path, split: str | None) -> Rows:
    if not ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        raise DataError(f"{path}: a folder, but not a dataset saved with `datasets` save_to_disk")
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many kinds; the user needs the message, not the type
        raise DataError(f"{path}: cannot load the saved dataset: {str(exc).splitlines()[0]}") from None
    return _dataset_rows(str(path), path.name, loaded, split)


def _dataset_rows(label: str, stem: str, loaded, split: str | None) -> Rows:
    if isinstance(loaded, dict):  # a DatasetDict (a dict of split name to Dataset)
        names = list(loaded.keys())
        if split is None and len(names) == 1:
            split = names[0]
        if split not in names:
            raise DataError(
                f"{label}: pick a split with split=...; it has {', '.join(names) or 'none'}"
                + ("" if split is None else f", not {split!r}")
            )
        loaded, label, stem = loaded[split], f"{label} [{split}]", f"{stem}-{split}"
    return Rows(label, stem, _numbered(loaded.to_list()))


def _looks_like_hub_name(text: str) -> bool:
    return (
        re.fullmatch(r"[\w.-]+/[\w.-]+(:[\w.-]+)?", text) is not None
        and not text.startswith(".")
        and Path(text).suffix.lower() not in FILE_SUFFIXES
    )


def _require_network(name: str) -> None:
    """Fail in a second, not after minutes of retries, when the hub cannot be reached."""
    if any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return  # offline mode: `datasets` reads its local cache
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise DataError(
            f"{name}: no such local path, and the Hugging Face hub cannot be reached: the network is "
            f"unavailable ({host}:{port}: {exc.strerror or exc}); download the dataset elsewhere and pass "
            "a local .json/.jsonl/.parquet file or a folder saved with save_to_disk"
        ) from None


def _hub_rows(name: str, split: str | None) -> Rows:
    repo, _, config = name.partition(":")
    _require_network(name)
    import datasets

    try:
        loaded = datasets.load_dataset(repo, config or None, split=split)
    except Exception as exc:  # network, missing repo, missing config: all reported the same way
        raise DataError(f"{name}: cannot load from the Hugging Face hub: {str(exc).splitlines()[0]}") from None
    stem = "-".join(part for part in (repo.split("/")[-1], config) if part)
    if split is None:  # load_dataset gave a DatasetDict
        return _dataset_rows(name, stem, loaded, None)
    return Rows(f"{name} [{split}]", f"{stem}-{split}", _numbered(loaded.to_list()))


def _numbered(rows: list) -> list[tuple[str, object]]:
    return [(f"row {i}", row) for i, row in enumerate(rows, 1)]


# -- checking fields -------------------------------------------------------------------------
class _Row:
    """One raw row and where it came from, with typed field access that names file and line."""

    def __init__(self, rows: Rows, where: str, row: object, index: int):
        self.label, self.where, self.index, self.stem = rows.label, where, index, rows.stem
        if not isinstance(row, dict):
            self.fail(f"expected an object, got {type(row).__name__}")
        self.row = row

    def fail(self, problem: str):
        raise DataError(f"{self.label}: {self.where}: {problem}")

    def text(self, key: str, required: bool = True, empty_ok: bool = False) -> str | None:
        value = self.row.get(key)
        if value is None:
            return self.fail(f"missing field {key!r}") if required else None
        if not isinstance(value, str):
            self.fail(f"field {key!r} should be a string, got {type(value).__name__}")
        if not value.strip() and not empty_ok:
            self.fail(f"field {key!r} is empty")
        return value

    def texts(self, key: str, required: bool = True, empty_ok: bool = False) -> list[str] | None:
        value = self.row.get(key)
        if value is None:
            return self.fail(f"missing field {key!r}") if required else None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not (value or empty_ok):
            kind = "a list of strings" if empty_ok else "a non-empty list of strings"
            self.fail(f"field {key!r} should be {kind}, got {_describe(value)}")
        return list(value)

    def id(self) -> str:
        value = self.row.get("id")
        if value is None:
            return f"{self.stem}-{self.index}"  # TOFU rows carry no id
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            self.fail(f"field 'id' should be a non-empty string or an integer, got {_describe(value)}")
        return str(value)

    def fact(self) -> Fact | None:
        value = self.row.get("fact")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(f"field 'fact' should be an object, got {type(value).__name__}")
        inner = _Row(Rows(self.label, self.stem, []), f"{self.where}: fact", value, self.index)
        aliases = inner.texts("aliases", required=False, empty_ok=True) or []
        return Fact(inner.text("subject"), inner.text("relation"), inner.text("value"), aliases)

    def choice_index(self, key: str, n_choices: int) -> int:
        value = self.row.get(key)
        if value is None:
            self.fail(f"missing field {key!r}")
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z]", value.strip()):
            value = ord(value.strip().upper()) - ord("A")  # MMLU variants give a letter
        elif isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"field {key!r} should be a choice index (integer), got {_describe(value)}")
        if not 0 <= value < n_choices:
            self.fail(f"field {key!r} is {value}, out of range for {n_choices} choices")
        return value


def _describe(value: object) -> str:
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a list of {', '.join(kinds)}" if value else "an empty list"
    return type(value).__name__


def _load(source, split: str | None, build: Callable[[_Row], T], allow_empty: bool = False) -> list[T]:
    rows = read_rows(source, split)
    records, first_seen = [], {}
    for index, (where, raw) in enumerate(rows.rows):
        row = _Row(rows, where, raw, index)
        record = build(row)
        if record.id in first_seen:
            row.fail(f"duplicate id {record.id!r} (first at {first_seen[record.id]})")
        first_seen[record.id] = where
        records.append(record)
    if not records and not allow_empty:
        raise DataError(f"{rows.label}: no records (empty split)")
    return records


# -- public loaders --------------------------------------------------------------------------
def _qa(row: _Row) -> QARecord:
    return QARecord(
        id=row.id(),
        question=row.text("question"),
        answer=row.text("answer"),
        paraphrased_answer=row.text("paraphrased_answer", required=False),
        perturbed_answer=row.texts("perturbed_answer", required=False),
        fact=row.fact(),
        paraphrased_question=row.text("paraphrased_question", required=False),
    )


def load_qa(path_or_name, split: str | None = None, allow_empty: bool = False) -> list[QARecord]:
    """QA records (TOFU field names: question, answer, paraphrased_answer, perturbed_answer,
    paraphrased_question; optional id and fact). A missing id becomes "<file stem>-<row index>"."""
    return _load(path_or_name, split, _qa, allow_empty)


def load_muse_knowmem(path_or_name, split: str | None = None) -> list[QARecord]:
    """MUSE knowmem: question/answer pairs, the same shape as QA records."""
    return _load(path_or_name, split, _qa)


def load_muse_text(path_or_name, split: str | None = None) -> list[MuseText]:
    """MUSE raw text: rows with a `text` field, or a .txt file as one document."""
    return _load(path_or_name, split, lambda row: MuseText(row.id(), row.text("text")))


def load_muse_verbmem(path_or_name, split: str | None = None) -> list[MuseVerbmem]:
    """MUSE verbmem: a `prompt` to continue and `gt`, the true continuation."""
    return _load(path_or_name, split, lambda row: MuseVerbmem(row.id(), row.text("prompt"), row.text("gt")))


def _mcq(row: _Row) -> MCQRecord:
    choices = row.texts("choices")
    if len(choices) < 2:
        row.fail(f"field 'choices' needs at least 2 choices, got {len(choices)}")
    return MCQRecord(row.id(), row.text("question"), choices, row.choice_index("answer", len(choices)))


def load_mcq(path_or_name, split: str | None = None) -> list[MCQRecord]:
    """WMDP/MMLU multiple choice: question, choices (strings), answer (index, or a letter)."""
    return _load(path_or_name, split, _mcq)


def write_qa(path: str | os.PathLike, records: Iterable[QARecord]) -> Path:
    """Write QA records as JSON Lines, atomically: on any error nothing is written."""
    records = list(records)
    for number, record in enumerate(records, 1):
        if not isinstance(record, QARecord):
            raise DataError(f"{path}: record {number} is a {type(record).__name__}, not a QARecord")
    if not records:
        raise DataError(f"{path}: refusing to write an empty split")
    return write_jsonl(path, [record.to_dict() for record in records])
