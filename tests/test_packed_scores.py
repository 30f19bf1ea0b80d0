"""Packed, deduplicated teacher-forced scoring of the conventional metrics (issue 13):
the same numbers as one padded row per pair, to 1e-4 nats."""

from __future__ import annotations

import pytest
from helpers.metric_records import FACTS, FORGET, HOLDOUT, RETAIN

from squeeze.lm.batching import collator_for
from squeeze.lm.packing import packing_works
from squeeze.lm.prompting import QAEncoder, encode_qa
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.metrics import tofu_metrics
from squeeze.metrics.packed_scores import AnswerScores
from squeeze.metrics.suite import scored_pairs
from squeeze.metrics.tokens import answer_token_stats

RECORDS = FORGET + RETAIN + FACTS + HOLDOUT


@pytest.fixture(scope="module")
def models():
    corpus = [
        t for r in RECORDS for t in (r.question, r.answer, r.paraphrased_answer or "", *(r.perturbed_answer or []))
    ]
    model, tok = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=5)
    retain_model, _ = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=6)
    return model.eval(), retain_model.eval(), tok


def test_every_pair_once_each_prompt_one_row_same_tokens_and_argmax(models):
    model, _, tok = models
    pairs = scored_pairs(tok, RECORDS, True)
    pairs = pairs + pairs[:5]  # duplicates are scored once
    scores = AnswerScores(model, tok, batch_size=2)  # several chunks, rows taken in order of width
    assert scores.packed and packing_works(model, tok.pad_token_id)
    got = scores.stats(pairs)
    assert scores.n_distinct == len(set((tuple(p), tuple(a)) for p, a in pairs)) < len(pairs)
    want = answer_token_stats(model, pairs, collator_for(tok), batch_size=4)
    for g, w in zip(got, want, strict=True):
        assert g.target_ids == w.target_ids
        assert g.logprobs == pytest.approx(w.logprobs, abs=1e-4)
        assert g.argmax_ids == w.argmax_ids


def test_tofu_metrics_packed_equal_unpacked(models):
    model, retain_model, tok = models
    common = dict(
        retain=RETAIN,
        world_facts=FACTS,
        generations={"forget": ["Ada was born in Rome .", "nothing"]},
        retain_model=retain_model,
        holdout=HOLDOUT,
        batch_size=3,
    )
    packed = tofu_metrics(model, tok, FORGET, **common)
    plain = tofu_metrics(model, tok, FORGET, packed=False, **common)
    assert set(packed) == set(plain) and {"forget_truth_ratio", "privleak", "world_facts_prob"} <= set(packed)
    for key, value in plain.items():
        assert packed[key] == pytest.approx(value, abs=1e-4), key


def test_a_model_that_cannot_be_packed_is_scored_plainly(models):
    model, _, tok = models
    pairs = [encode_qa(tok, r.question, r.answer) for r in FORGET]
    scores = AnswerScores(model, tok, packed=False)
    want = answer_token_stats(model, pairs, collator_for(tok))
    assert [s.logprobs for s in scores.stats(pairs)] == [w.logprobs for w in want]


def test_memoised_encoding_is_encode_qa_and_hands_out_fresh_lists(models):
    _, _, tok = models
    encode = QAEncoder(tok)
    for r in RECORDS:
        for answer in [r.answer, *(r.perturbed_answer or [])]:
            assert encode(r.question, answer) == encode_qa(tok, r.question, answer)
    prompt, answer = encode(FORGET[0].question, FORGET[0].answer)
    prompt.append(-1), answer.clear()
    assert encode(FORGET[0].question, FORGET[0].answer) == encode_qa(tok, FORGET[0].question, FORGET[0].answer)
