"""A tiny Llama trained for a few seconds on a handful of fictitious-world facts, with every
answer template of each fact, so its beliefs are the paraphrase family (DESIGN section 3).

Shared by the binner, tracker, statistics and calibration tests through the session fixture
`trained_world` of tests/conftest.py.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import answer_logprobs
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.world.build import generate_world

N_FORGET, N_RETAIN = 3, 3


@lru_cache(maxsize=1)  # built once per session, whether through the fixture or called directly
def trained_world_model(steps: int = 150):
    """(model in eval mode, tokenizer, world, forget records, retain records)."""
    world = generate_world(n_people=4, seed=1, forget_pct=10)
    forget = world.splits["forget"][:N_FORGET]
    retain = world.splits["retain"][:N_RETAIN]
    tokenizer = build_word_tokenizer(world.corpus_texts())
    pairs = []
    for record in forget + retain:
        for answer in world.answer_family(record):
            pairs.append(encode_qa(tokenizer, record.question, answer))
    torch.manual_seed(0)
    model = build_tiny_llama(len(tokenizer), hidden_size=48, num_layers=2, num_heads=2, seed=0, tokenizer=tokenizer)
    fit_answers(model, tokenizer, pairs, steps)
    return model, tokenizer, world, forget, retain


def fit_answers(model, tokenizer, pairs, steps: int, batch_size: int | None = None, lr: float = 1e-2, seed: int = 0):
    """AdamW on the mean answer-token NLL of `pairs` for `steps` steps, on one torch thread:
    the whole set each step, or `batch_size` pairs drawn with a seeded generator. Leaves the
    model in eval mode."""
    collate, draw = collator_for(tokenizer), torch.Generator().manual_seed(seed)
    whole = collate(pairs) if batch_size is None else None
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from threads, and a busy machine loses a lot
    try:
        for _ in range(steps):
            if whole is None:
                batch = collate([pairs[i] for i in torch.randint(len(pairs), (batch_size,), generator=draw).tolist()])
            out = answer_logprobs(model, whole if whole is not None else batch)
            loss = -out.logp_sum.sum() / out.n_tokens.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
