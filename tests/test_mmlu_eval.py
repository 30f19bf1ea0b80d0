"""MMLU before and after unlearning (issue 7): the checkpoint and its reference are scored on
one seeded subset, and the reference's score is cached on disk by its weights and the
question ids, so k methods unlearned from one original score it once."""

import os

import pytest

from squeeze.diagnose.mmlu_eval import MMLUSelection, mmlu_before_after, parse_subjects, reference_cache_path
from squeeze.lm.models import save_model
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.metrics import load_mmlu, mcq_accuracy_from_model, mcq_prompt

SELECTION = MMLUSelection(count=6, subjects=("astronomy",), seed=3)


@pytest.fixture()
def two_models(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "cache"))
    records = load_mmlu(subjects=["astronomy"])
    tok = build_word_tokenizer([t for r in records for t in (mcq_prompt(r.question, r.choices), *r.choices)])
    model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, seed=0, tokenizer=tok).eval()
    reference = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, seed=1, tokenizer=tok).eval()
    reference_dir = save_model(reference, tok, tmp_path / "reference")
    return model, reference, tok, reference_dir


def test_parse_subjects():
    assert parse_subjects(" astronomy, high_school_physics ,,") == ("astronomy", "high_school_physics")
    assert parse_subjects("") == ()


def test_before_is_the_reference_and_after_is_the_checkpoint(two_models):
    model, reference, tok, reference_dir = two_models
    records = load_mmlu(subjects=["astronomy"], count=6, seed=3)
    got = mmlu_before_after(model, reference, tok, reference_dir, SELECTION, batch_size=5)
    assert got == {
        "mmlu_accuracy": pytest.approx(mcq_accuracy_from_model(model, tok, records)),
        "mmlu_accuracy_reference": pytest.approx(mcq_accuracy_from_model(reference, tok, records)),
        "mmlu_questions": 6,
    }


def test_the_reference_is_scored_once_until_its_weights_change(two_models):
    model, reference, tok, reference_dir = two_models
    first = mmlu_before_after(model, reference, tok, reference_dir, SELECTION)
    entry = reference_cache_path(reference_dir, [r.id for r in load_mmlu(subjects=["astronomy"], count=6, seed=3)])
    assert entry.is_file()
    # No reference model at all: the score can only come from the cache.
    again = mmlu_before_after(model, None, tok, reference_dir, SELECTION)
    assert again["mmlu_accuracy_reference"] == first["mmlu_accuracy_reference"]
    with pytest.raises(AttributeError):  # another sample of questions is another entry
        mmlu_before_after(model, None, tok, reference_dir, MMLUSelection(count=6, subjects=("astronomy",), seed=4))
    weights = reference_dir / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    with pytest.raises(AttributeError):  # re-saved weights are scored again
        mmlu_before_after(model, None, tok, reference_dir, SELECTION)
