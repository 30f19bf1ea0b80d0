"""Extraction strength and exact memorisation (DESIGN section 9): hand-built token lists,
and the one-pass model wrapper against real greedy decoding of a tiny Llama."""

import pytest
import torch

from squeeze.core.types import QARecord
from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import encode_prompt, encode_qa
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.metrics import (
    answer_token_stats,
    exact_memorization,
    extraction_prefix_length,
    extraction_strength,
    item_exact_memorizations,
    item_extraction_strengths,
    memorization_scores,
)


def test_extraction_strength_by_hand():
    target = [5, 6, 7, 8]
    # Every prediction right: nothing needs to be given, k* = 0, ES = 1.
    assert extraction_strength([5, 6, 7, 8], target) == 1.0
    # First two wrong, the rest right: give 2 tokens, ES = 1 - 2/4.
    assert extraction_prefix_length([9, 9, 7, 8], target) == 2
    assert extraction_strength([9, 9, 7, 8], target) == pytest.approx(0.5)
    # A wrong token late breaks the suffix: only the last token is reproduced, k* = 3.
    assert extraction_strength([5, 6, 9, 8], target) == pytest.approx(0.25)
    # The last token wrong: k* = n, ES = 0, however many earlier tokens match.
    assert extraction_strength([5, 6, 7, 9], target) == 0.0


def test_exact_memorization_by_hand():
    assert exact_memorization([5, 6, 7, 8], [5, 6, 7, 8]) == 1.0
    assert exact_memorization([5, 9, 7, 9], [5, 6, 7, 8]) == pytest.approx(0.5)
    assert exact_memorization([1, 2, 3], [4, 5, 6]) == 0.0
    with pytest.raises(ValueError):
        exact_memorization([1], [1, 2])
    with pytest.raises(ValueError):
        extraction_strength([], [])


CORPUS = ["Where was Ada born ?", "Ada was born in Rome .", "What does Bo write ?", "Bo writes poems about the sea ."]


@pytest.fixture(scope="module")
def tiny():
    model, tok = tiny_model_and_tokenizer(CORPUS, hidden_size=32, num_layers=2, num_heads=2, seed=1)
    return model.eval(), tok


@torch.no_grad()
def greedy(model, ids, steps):
    ids = list(ids)
    out = []
    for _ in range(steps):
        nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
        out.append(nxt)
        ids.append(nxt)
    return out


def test_es_from_one_pass_equals_greedy_extraction(tiny):
    model, tok = tiny
    prompt = encode_prompt(tok, "Where was Ada born ?")
    # Two arbitrary answer tokens, then what greedy decoding continues with: k* <= 2 by construction.
    given = tok.convert_tokens_to_ids(["Bo", "sea"])
    target = given + greedy(model, prompt + given, 4)
    n = len(target)
    # k* by brute force: the smallest k whose greedy continuation reproduces target[k:].
    brute = next(k for k in range(n + 1) if greedy(model, prompt + target[:k], n - k) == target[k:])
    assert brute <= 2
    # The same pair inside a padded batch with a longer and a shorter sequence.
    other = encode_qa(tok, "What does Bo write ?", "Bo writes poems about the sea .")
    stats = answer_token_stats(model, [other, (prompt, target), (prompt, target[:1])], collator_for(tok), batch_size=3)
    assert stats[1].target_ids == target
    assert extraction_prefix_length(stats[1].argmax_ids, target) == brute
    assert extraction_strength(stats[1].argmax_ids, target) == pytest.approx(1 - brute / n)
    # EM by hand: the teacher-forced argmax at each position, one explicit forward pass.
    logits = model(torch.tensor([prompt + target])).logits[0]
    argmax = [int(logits[len(prompt) - 1 + t].argmax()) for t in range(n)]
    assert stats[1].argmax_ids == argmax
    assert exact_memorization(stats[1].argmax_ids, target) == pytest.approx(
        sum(a == y for a, y in zip(argmax, target, strict=False)) / n
    )
    assert sum(a == y for a, y in zip(argmax, target, strict=False)) >= 4  # the greedy continuation matches


def test_record_wrappers_score_answer_tokens_with_eos(tiny):
    model, tok = tiny
    records = [QARecord("a", CORPUS[0], CORPUS[1]), QARecord("b", CORPUS[2], CORPUS[3])]
    want_es, want_em = [], []
    for r in records:
        prompt, answer = encode_qa(tok, r.question, r.answer)
        assert answer[-1] == tok.eos_token_id
        with torch.no_grad():
            logits = model(torch.tensor([prompt + answer])).logits[0]
        pred = [int(logits[len(prompt) - 1 + t].argmax()) for t in range(len(answer))]
        want_es.append(extraction_strength(pred, answer))
        want_em.append(exact_memorization(pred, answer))
    assert item_extraction_strengths(model, tok, records) == pytest.approx(want_es)
    assert item_exact_memorizations(model, tok, records) == pytest.approx(want_em)
    both = memorization_scores(model, tok, records, batch_size=1)
    assert both == pytest.approx({"es": sum(want_es) / 2, "em": sum(want_em) / 2})
