"""Loaders of DESIGN section 2 on good and bad files; every bad case names file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from squeeze.core.data import (
    MCQRecord,
    MuseText,
    MuseVerbmem,
    load_mcq,
    load_muse_knowmem,
    load_muse_text,
    load_muse_verbmem,
    load_qa,
    write_qa,
)
from squeeze.core.errors import DataError
from squeeze.core.types import Fact, QARecord

TOFU_ROWS = [  # TOFU's field names, no id, and an extra field the loader ignores
    {
        "question": "Who wrote Salt Road?",
        "answer": "Tara Velston wrote it.",
        "paraphrased_answer": "It was written by Tara Velston.",
        "perturbed_answer": ["Kes Holt wrote it.", "Lin Dor wrote it.", "Mira Fen wrote it."],
        "paraphrased_question": "Salt Road is by whom?",
    },
    {"question": "Where was Tara Velston born?", "answer": "In Lyon."},
]
WORLD_ROW = {
    "id": "p001-birthplace",
    "question": "Where was Tara Velston born?",
    "answer": "Tara Velston was born in Lyon.",
    "fact": {"subject": "Tara Velston", "relation": "birthplace", "value": "Lyon", "aliases": ["the city of Lyon"]},
}


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- QA records: good files ------------------------------------------------------------------
def test_jsonl_with_ids_and_facts(tmp_path):
    records = load_qa(_jsonl(tmp_path / "world.jsonl", [WORLD_ROW]))
    assert records == [
        QARecord(
            "p001-birthplace",
            WORLD_ROW["question"],
            WORLD_ROW["answer"],
            fact=Fact("Tara Velston", "birthplace", "Lyon", ["the city of Lyon"]),
        )
    ]


def test_tofu_json_array_without_ids(tmp_path):
    path = tmp_path / "forget10.json"
    path.write_text(json.dumps(TOFU_ROWS, indent=2))
    first, second = load_qa(path)
    assert (first.id, second.id) == ("forget10-0", "forget10-1")
    assert first.perturbed_answer == TOFU_ROWS[0]["perturbed_answer"]
    assert first.paraphrased_answer == TOFU_ROWS[0]["paraphrased_answer"]
    assert second.paraphrased_answer is None and second.perturbed_answer is None


def test_json_lines_under_a_json_name_as_tofu_ships_it(tmp_path):
    records = load_qa(_jsonl(tmp_path / "retain90.json", TOFU_ROWS))
    assert [r.id for r in records] == ["retain90-0", "retain90-1"]


def test_json_object_holding_lists(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"version": 2, "data": TOFU_ROWS}))
    assert len(load_qa(path)) == 2
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"forget": TOFU_ROWS[:1], "retain": TOFU_ROWS}))
    assert [r.id for r in load_qa(path, split="forget")] == ["both-forget-0"]
    assert "lists: forget, retain" in _error(load_qa, path)


def test_parquet(tmp_path):
    path = tmp_path / "forget.parquet"
    pd.DataFrame([{**r, "paraphrased_answer": r.get("paraphrased_answer", "x")} for r in TOFU_ROWS]).to_parquet(path)
    records = load_qa(path)
    assert records[0].perturbed_answer == TOFU_ROWS[0]["perturbed_answer"] and records[1].id == "forget-1"


def test_saved_datasets(tmp_path):
    import datasets

    rows = [{"question": r["question"], "answer": r["answer"]} for r in TOFU_ROWS]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "single"))
    assert [r.answer for r in load_qa(tmp_path / "single")] == ["Tara Velston wrote it.", "In Lyon."]
    both = datasets.DatasetDict(
        {"forget": datasets.Dataset.from_list(rows[:1]), "retain": datasets.Dataset.from_list(rows)}
    )
    both.save_to_disk(str(tmp_path / "dict"))
    assert [r.id for r in load_qa(tmp_path / "dict", split="forget")] == ["dict-forget-0"]
    message = _error(load_qa, tmp_path / "dict")
    assert "dict" in message and "forget, retain" in message
    bad = datasets.Dataset.from_list([{"question": "q?", "answer": 3}, {"question": "q2?", "answer": 4}])
    bad.save_to_disk(str(tmp_path / "bad"))
    assert "bad: row 1: field 'answer' should be a string, got int" in _error(load_qa, tmp_path / "bad")


def test_hub_name_offline_says_the_network_is_unavailable(monkeypatch):
    # A closed local port stands in for an unreachable hub, so this never touches the network.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    message = _error(load_qa, "locuslab/TOFU:forget10", split="train")
    assert "locuslab/TOFU:forget10" in message and "network is unavailable" in message


def test_write_qa_round_trips_and_is_atomic(tmp_path):
    records = load_qa(_jsonl(tmp_path / "in.jsonl", [WORLD_ROW, {**TOFU_ROWS[0], "id": "t1"}]))
    out = write_qa(tmp_path / "out" / "forget.jsonl", records)
    assert load_qa(out) == records
    before = out.read_bytes()
    with pytest.raises(DataError, match="record 2 is a dict"):
        write_qa(out, [records[0], WORLD_ROW])
    with pytest.raises(DataError, match="empty"):
        write_qa(tmp_path / "none.jsonl", [])
    assert out.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["forget.jsonl"]  # no temp file left
    assert not (tmp_path / "none.jsonl").exists()


# -- QA records: bad files -------------------------------------------------------------------
@pytest.mark.parametrize(
    "lines, expected",
    [
        ([WORLD_ROW, '{"question": "q?", "answer": "a"', WORLD_ROW], "line 2: bad JSON"),
        ([WORLD_ROW, {"id": "b", "question": "q?"}], "line 2: missing field 'answer'"),
        ([{"id": "a", "question": "q?", "answer": 7}], "line 1: field 'answer' should be a string, got int"),
        ([{"id": "a", "question": "q?", "answer": "  "}], "line 1: field 'answer' is empty"),
        (
            [{"id": "a", "question": "q?", "answer": "a", "perturbed_answer": ["x", 3]}],
            "line 1: field 'perturbed_answer' should be a non-empty list of strings, got a list of int, str",
        ),
        (
            [{"id": "a", "question": "q?", "answer": "a", "perturbed_answer": "x"}],
            "line 1: field 'perturbed_answer' should be a non-empty list of strings, got str",
        ),
        (
            [{"id": "a", "question": "q?", "answer": "a", "paraphrased_answer": ["x"]}],
            "line 1: field 'paraphrased_answer' should be a string, got list",
        ),
        ([{**WORLD_ROW, "fact": {**WORLD_ROW["fact"], "value": None}}], "line 1: fact: missing field 'value'"),
        (
            [{**WORLD_ROW, "fact": {**WORLD_ROW["fact"], "aliases": "Lyon"}}],
            "line 1: fact: field 'aliases' should be a list of strings, got str",
        ),
        ([{**WORLD_ROW, "id": True}], "line 1: field 'id' should be a non-empty string or an integer, got bool"),
        ([WORLD_ROW, "", WORLD_ROW], "line 3: duplicate id 'p001-birthplace' (first at line 1)"),
        (["[1, 2]"], "line 1: expected an object, got list"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, lines, expected):
    path = _jsonl(tmp_path / "forget.jsonl", lines)
    assert _error(load_qa, path).startswith(f"{path}: {expected}")


def test_bad_json_array_names_the_line(tmp_path):
    path = tmp_path / "forget.json"
    path.write_text('[\n  {"question": "q?", "answer": "a"},\n  {"question": "q2?",\n   "answer": 5}\n]\n')
    assert _error(load_qa, path) == f"{path}: line 3 (row 2): field 'answer' should be a string, got int"
    path.write_text('[\n  {"question": "q?", "answer": "a"},\n  {"question": "q2?" "answer": 5}\n]\n')
    assert _error(load_qa, path).startswith(f"{path}: line 3: bad JSON (Expecting ',' delimiter")


def test_bad_parquet_row(tmp_path):
    path = tmp_path / "forget.parquet"
    pd.DataFrame({"question": ["q?", "q2?"], "answer": ["a", None]}).to_parquet(path)
    assert _error(load_qa, path) == f"{path}: row 2: missing field 'answer'"
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    assert _error(load_qa, broken).startswith(f"{broken}: cannot read parquet")


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.jsonl", "", "no records (empty split)"),
        ("blank.jsonl", "\n  \n", "no records (empty split)"),
        ("empty.json", "[]", "no records (empty split)"),
        ("scalar.json", "42", "line 1: expected a list of records"),
        ("latin1.jsonl", b'{"question": "q?", "answer": "a"}\n{"question": "caf\xe9"}\n', "line 2: not UTF-8 text"),
        ("table.csv", "question,answer\n", "unsupported file type '.csv'"),
    ],
)
def test_unreadable_or_empty_files(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert _error(load_qa, path).startswith(f"{path}: {expected}")


def test_missing_file_and_plain_folder(tmp_path):
    assert (
        _error(load_qa, tmp_path / "nope.jsonl") == f"{tmp_path / 'nope.jsonl'}: cannot read: No such file or directory"
    )
    assert "not a dataset saved" in _error(load_qa, tmp_path)


# -- MUSE and multiple choice ----------------------------------------------------------------
def test_muse_loaders(tmp_path):
    raw = tmp_path / "forget.txt"
    raw.write_text("Once upon a time.\nThe end.\n")
    assert load_muse_text(raw) == [MuseText("forget", "Once upon a time.\nThe end.\n")]
    texts = load_muse_text(_jsonl(tmp_path / "news.jsonl", [{"text": "a story"}, {"text": "another"}]))
    assert texts == [MuseText("news-0", "a story"), MuseText("news-1", "another")]
    verbmem = load_muse_verbmem(_jsonl(tmp_path / "verbmem.jsonl", [{"prompt": "Once upon", "gt": "a time"}]))
    assert verbmem == [MuseVerbmem("verbmem-0", "Once upon", "a time")]
    knowmem = load_muse_knowmem(_jsonl(tmp_path / "knowmem.jsonl", [{"question": "Who?", "answer": "Her."}]))
    assert knowmem == [QARecord("knowmem-0", "Who?", "Her.")]
    bad = _jsonl(tmp_path / "verbmem_bad.jsonl", [{"prompt": "Once upon", "gt": "a time"}, {"prompt": "x"}])
    assert _error(load_muse_verbmem, bad) == f"{bad}: line 2: missing field 'gt'"
    bad_text = _jsonl(tmp_path / "raw_bad.jsonl", [{"text": ["not", "a", "string"]}])
    assert _error(load_muse_text, bad_text) == f"{bad_text}: line 1: field 'text' should be a string, got list"


def test_multiple_choice(tmp_path):
    rows = [
        {"question": "Which?", "choices": ["a", "b", "c", "d"], "answer": 2},
        {"question": "Letter?", "choices": ["x", "y"], "answer": "B", "subject": "misc"},
    ]
    records = load_mcq(_jsonl(tmp_path / "wmdp.jsonl", rows))
    assert records == [
        MCQRecord("wmdp-0", "Which?", ["a", "b", "c", "d"], 2),
        MCQRecord("wmdp-1", "Letter?", ["x", "y"], 1),
    ]


@pytest.mark.parametrize(
    "row, expected",
    [
        (
            {"question": "Q?", "choices": ["a", "b"], "answer": 2},
            "line 1: field 'answer' is 2, out of range for 2 choices",
        ),
        (
            {"question": "Q?", "choices": ["a", "b"], "answer": -1},
            "line 1: field 'answer' is -1, out of range for 2 choices",
        ),
        (
            {"question": "Q?", "choices": ["a", "b"], "answer": True},
            "line 1: field 'answer' should be a choice index (integer), got bool",
        ),
        (
            {"question": "Q?", "choices": ["a", "b"], "answer": 0.5},
            "line 1: field 'answer' should be a choice index (integer), got float",
        ),
        (
            {"question": "Q?", "choices": ["a", 2], "answer": 0},
            "line 1: field 'choices' should be a non-empty list of strings, got a list of int, str",
        ),
        ({"question": "Q?", "choices": ["a"], "answer": 0}, "line 1: field 'choices' needs at least 2 choices, got 1"),
        ({"question": "Q?", "answer": 0}, "line 1: missing field 'choices'"),
    ],
)
def test_bad_multiple_choice(tmp_path, row, expected):
    path = _jsonl(tmp_path / "wmdp.jsonl", [row])
    assert _error(load_mcq, path) == f"{path}: {expected}"
