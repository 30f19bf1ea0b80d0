"""squeeze.lm.generation: the log-probs a candidate carries are the ones teacher forcing gives.

DESIGN section 4: generated candidates must score the same as the same tokens teacher-forced
after the same prompt, whatever the decoding mode and however the batch was padded.
"""

from __future__ import annotations

import pytest
import torch

from squeeze.lm.batching import collator_for
from squeeze.lm.generation import generate, generate_answers
from squeeze.lm.logprobs import score_pairs
from squeeze.lm.prompting import encode_prompt
from squeeze.lm.tiny import tiny_model_and_tokenizer

CORPUS = [
    "Question: Where was Ada Vell born?\nAnswer: Ada Vell was born in Lyon .",
    "Question: What does Bo Tarn do for a living, and where did this person grow up?\nAnswer: Bo Tarn is a baker from Oslo .",
    "the city of Lyon is in France . Oslo is in Norway . a baker bakes bread",
]
QUESTIONS = [
    "Where was Ada Vell born?",
    "What does Bo Tarn do for a living, and where did this person grow up?",  # longer prompt
    "Where?",
]


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model_and_tokenizer(CORPUS, hidden_size=32, num_layers=2, num_heads=2, seed=3)
    model.eval()
    return model, tokenizer


def teacher_forced(model, tokenizer, questions, candidates):
    pairs = []
    for q, cands in zip(questions, candidates, strict=False):
        prompt = encode_prompt(tokenizer, q)
        for c in cands:
            pairs.append((prompt, c.token_ids))
    out = score_pairs(model, pairs, collator_for(tokenizer, padding_side="right"), batch_size=7)
    return out


def flat_generation_sums(candidates):
    return torch.tensor([c.logp_sum for cands in candidates for c in cands], dtype=torch.float64)


@pytest.mark.parametrize("mode,n", [("beam", 4), ("sample", 3), ("greedy", 1)])
def test_generated_logprobs_equal_teacher_forced(tiny, mode, n):
    model, tokenizer = tiny
    cands = generate_answers(model, tokenizer, QUESTIONS, n=n, mode=mode, max_new_tokens=6, seed=0, batch_size=3)
    assert [len(c) for c in cands] == [n] * len(QUESTIONS)
    for c in (c for group in cands for c in group):
        assert len(c.token_ids) == len(c.token_logprobs) > 0
        assert all(lp <= 1e-6 for lp in c.token_logprobs)
    forced = teacher_forced(model, tokenizer, QUESTIONS, cands)
    assert torch.allclose(flat_generation_sums(cands), forced.logp_sum, atol=1e-4, rtol=0)
    assert forced.n_tokens.tolist() == [c.n_tokens for group in cands for c in group]


def test_per_token_logprobs_match_position_by_position(tiny):
    # Sums could agree by accident; the token-level values must agree one by one.
    model, tokenizer = tiny
    (beams,) = generate_answers(model, tokenizer, QUESTIONS[:1], n=3, mode="beam", max_new_tokens=5)
    prompt = encode_prompt(tokenizer, QUESTIONS[0])
    for cand in beams:
        ids = torch.tensor([prompt + cand.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
        expected = [float(logp[len(prompt) - 1 + t, tok]) for t, tok in enumerate(cand.token_ids)]
        assert cand.token_logprobs == pytest.approx(expected, abs=1e-4)


def test_beam_candidates_are_distinct_and_ranked(tiny):
    model, tokenizer = tiny
    (beams,) = generate_answers(model, tokenizer, QUESTIONS[:1], n=5, mode="beam", max_new_tokens=4)
    assert len({tuple(c.token_ids) for c in beams}) == 5
    # Without length penalty effects at equal length, beam search returns the best first.
    sums = [c.logp_sum for c in beams if c.n_tokens == beams[0].n_tokens]
    assert sums == sorted(sums, reverse=True)


def test_greedy_gives_one_candidate_and_rejects_n_above_one(tiny):
    model, tokenizer = tiny
    cands = generate_answers(model, tokenizer, QUESTIONS, n=1, mode="greedy", max_new_tokens=5)
    assert [len(c) for c in cands] == [1, 1, 1]
    # Greedy picks the argmax at every step.
    prompt = encode_prompt(tokenizer, QUESTIONS[0])
    cand = cands[0][0]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + cand.token_ids])).logits[0]
    argmax = logits[len(prompt) - 1 : len(prompt) - 1 + cand.n_tokens].argmax(-1).tolist()
    assert cand.token_ids == argmax
    with pytest.raises(ValueError, match="greedy"):
        generate_answers(model, tokenizer, QUESTIONS[:1], n=2, mode="greedy")


def test_left_padding_does_not_change_candidates(tiny):
    # Prompts of different lengths in one batch are left-padded; each must come out exactly
    # as it does alone in a batch of one.
    model, tokenizer = tiny
    lengths = {len(encode_prompt(tokenizer, q)) for q in QUESTIONS}
    assert len(lengths) == len(QUESTIONS), "the test needs prompts of different lengths"
    together = generate_answers(model, tokenizer, QUESTIONS, n=3, mode="beam", max_new_tokens=6, batch_size=3)
    for q, batched in zip(QUESTIONS, together, strict=False):
        (alone,) = generate_answers(model, tokenizer, [q], n=3, mode="beam", max_new_tokens=6, batch_size=1)
        assert [c.token_ids for c in batched] == [c.token_ids for c in alone]
        for a, b in zip(batched, alone, strict=False):
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)


def test_sampling_is_seeded_and_leaves_global_rng_alone(tiny):
    model, tokenizer = tiny
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = generate_answers(model, tokenizer, QUESTIONS, n=3, mode="sample", max_new_tokens=6, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = generate_answers(model, tokenizer, QUESTIONS, n=3, mode="sample", max_new_tokens=6, seed=7)
    assert [[c.token_ids for c in g] for g in a] == [[c.token_ids for c in g] for g in b]


def test_eos_is_kept_and_ends_the_answer(tiny):
    # Teach the model to say one word then stop, so EOS is emitted within the budget.
    model, tokenizer = tiny
    model = type(model)(model.config)
    model.load_state_dict(tiny[0].state_dict())
    prompt = encode_prompt(tokenizer, QUESTIONS[0])
    answer = tokenizer(" Lyon", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    collate = collator_for(tokenizer)
    batch = collate([(prompt, answer)])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    (greedy,) = generate_answers(model, tokenizer, QUESTIONS[:1], n=1, mode="greedy", max_new_tokens=8)
    assert greedy[0].token_ids == answer
    assert greedy[0].text == "Lyon" and greedy[0].ended
    # One token allowed: cut off before the EOS, and it says so (issue 10 item 5).
    (cut,) = generate_answers(model, tokenizer, QUESTIONS[:1], n=1, mode="greedy", max_new_tokens=1)
    assert cut[0].token_ids == answer[:1] and not cut[0].ended
    forced = score_pairs(model, [(prompt, greedy[0].token_ids)], collate)
    assert forced.logp_sum.item() == pytest.approx(greedy[0].logp_sum, abs=1e-4)


def test_generate_restores_train_mode(tiny):
    model, tokenizer = tiny
    model.train()
    try:
        generate(model, tokenizer, [encode_prompt(tokenizer, QUESTIONS[0])], n=2, mode="beam", max_new_tokens=3)
        assert model.training
    finally:
        model.eval()


def plain_beam_search(model, tokenizer, questions, n, max_new_tokens):
    """Beam search as it ran before issue 13: every beam runs the whole prompt, and each token's
    log-prob is read from the stored step logits through the beam indices."""
    collate = collator_for(tokenizer, padding_side="left")
    batch = collate([(encode_prompt(tokenizer, q), []) for q in questions])
    with torch.inference_mode():
        out = model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            max_new_tokens=max_new_tokens,
            return_dict_in_generate=True,
            output_logits=True,
            pad_token_id=collate.pad_id,
            eos_token_id=[tokenizer.eos_token_id],
            num_return_sequences=n,
            num_beams=n,
            do_sample=False,
            early_stopping=True,
            length_penalty=1.0,
        )
    steps = torch.stack([torch.log_softmax(s.float(), -1) for s in out.logits], dim=1)
    rows = []
    for row, seq in enumerate(out.sequences[:, batch["input_ids"].shape[1] :].tolist()):
        ids = seq[: seq.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in seq else seq
        while ids and ids[-1] == collate.pad_id and collate.pad_id != tokenizer.eos_token_id:
            ids = ids[:-1]
        rows.append((ids, [float(steps[int(out.beam_indices[row, t]), t, tok]) for t, tok in enumerate(ids)]))
    return rows


def test_beam_search_runs_the_prompt_once_and_equals_the_plain_search(tiny):
    model, tokenizer = tiny
    n = 4
    calls, inference = [], []

    def record(module, args, kwargs):
        calls.append(tuple(kwargs["input_ids"].shape))
        inference.append(torch.is_inference_mode_enabled())

    hook = model.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        got = generate_answers(model, tokenizer, QUESTIONS, n=n, mode="beam", max_new_tokens=6, batch_size=3)
    finally:
        hook.remove()
    # The prompts (all but their last token) run once for the batch, then every beam one token a step.
    width = max(len(encode_prompt(tokenizer, q)) for q in QUESTIONS)
    assert calls[0] == (len(QUESTIONS), width - 1) and calls[1] == (len(QUESTIONS) * n, 1)
    assert all(shape[0] == len(QUESTIONS) * n and shape[1] == 1 for shape in calls[1:-1])
    # The packed scoring pass too: with autograd on it took twice as long on SmolLM2.
    assert len(calls) > 2 and all(inference)
    want = plain_beam_search(model, tokenizer, QUESTIONS, n, max_new_tokens=6)
    flat = [c for cands in got for c in cands]
    assert [c.token_ids for c in flat] == [ids for ids, _ in want]
    for c, (_, logps) in zip(flat, want, strict=True):
        assert c.token_logprobs == pytest.approx(logps, abs=1e-4)
