"""`relearn`: a few steps of fine-tuning on other data, then ask the held-out items (issue 11, item 1).

Knowledge that unlearning only hid comes back after brief fine-tuning on related data
(Hu et al. 2024, "Jogging the memory of unlearned LLMs through targeted relearning attacks",
arXiv 2406.13356; Lynch et al. 2024, arXiv 2402.16835). The forget set is split, by a
seeded shuffle of the sorted item ids, into half A (the first floor(n/2)) and half B; a deep
copy of the model is fine-tuned for `relearn_steps` AdamW steps on half A's (question,
target) pairs with the trainer's own pieces (the right-padded collator, seeded epoch
sampler, answer-token NLL of methods.RETAIN_LOSSES), and half B, which the copy never saw,
is answered greedily. With `relearn_folds=2` a fresh copy also trains on B and answers A,
so every item is measured once by a copy that never trained on it. With
`relearn_on=retain` the copy trains on retain data only and answers every forget item.

The weights are copied in memory (`copy.deepcopy`), never through disk: the checkpoint's
files and the model passed in are left unchanged (tested).

    squeeze attack --model runs/demo/methods/npo --reference runs/demo/original --world runs/demo/world \\
        --attacks relearn relearn_steps=20 relearn_on=forget
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from squeeze.attacks.base import Attack, AttackTarget, Attempt, greedy_attempts
from squeeze.core.errors import ConfigError
from squeeze.core.types import QARecord


@dataclass
class Fold:
    name: str  # the variant label of its attempts
    train: list[QARecord]
    measure: list[QARecord]


def split_halves(records: Sequence[QARecord], seed: int) -> tuple[list[QARecord], list[QARecord]]:
    """(half A, half B): a seeded shuffle of the sorted ids, A the first floor(n/2). The same
    ids and seed give the same halves whatever the records' order."""
    ids = sorted(r.id for r in records)
    random.Random(f"squeeze-relearn/{seed}").shuffle(ids)
    first = set(ids[: len(ids) // 2])
    return [r for r in records if r.id in first], [r for r in records if r.id not in first]


def plan_folds(target: AttackTarget) -> list[Fold]:
    s = target.settings
    if s.relearn_on == "retain":
        if not target.retain:
            raise ConfigError("relearn_on=retain needs retain data (--retain or --world)")
        return [Fold("retain data", list(target.retain), list(target.forget))]
    if len(target.forget) < 2:
        raise ConfigError("relearn on the forget set needs at least 2 forget items (one half to train, one to ask)")
    a, b = split_halves(target.forget, s.attack_seed)
    folds = [Fold("trained on half A", a, b)]
    if s.relearn_folds == 2:
        folds.append(Fold("trained on half B", b, a))
    return folds


def fine_tuned_copy(model, tokenizer, records: Sequence[QARecord], steps: int, lr: float, batch_size: int, seed: int):
    """(a deep copy of `model` after `steps` AdamW steps of answer-token NLL on `records`,
    the ids of the records drawn at each step). `model` itself is not touched."""
    import methods
    from methods.common import shift_for_next_token
    from squeeze.lm.batching import collator_for, position_ids_for
    from squeeze.lm.prompting import encode_qa
    from squeeze.unlearn.data import EpochSampler

    if not records:
        raise ConfigError("relearn has no data to train on")
    clone = copy.deepcopy(model)
    device = next(clone.parameters()).device
    pairs = [encode_qa(tokenizer, r.question, r.answer) for r in records]
    collate = collator_for(tokenizer, "right", max_length=256)
    sampler = EpochSampler(len(pairs), seed)
    optimizer = torch.optim.AdamW([p for p in clone.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    drawn: list[list[str]] = []
    clone.train()
    with torch.random.fork_rng(devices=[]):  # the caller's RNG stream is left as it was
        torch.manual_seed(seed)
        for _ in range(steps):
            indices = sampler.draw(min(batch_size, len(pairs)))
            drawn.append([records[i].id for i in indices])
            batch = {k: v.to(device) for k, v in collate([pairs[i] for i in indices]).items()}
            out = clone(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=position_ids_for(batch["attention_mask"]),
            )
            logits, labels = shift_for_next_token(out.logits, batch["labels"])
            loss = methods.RETAIN_LOSSES["nll"](logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    del optimizer
    return clone.eval(), drawn


def run(target: AttackTarget) -> list[Attempt]:
    s = target.settings
    attempts: list[Attempt] = []
    for number, fold in enumerate(plan_folds(target)):
        clone, _ = fine_tuned_copy(
            target.model,
            target.tokenizer,
            fold.train,
            s.relearn_steps,
            s.relearn_lr,
            s.relearn_batch_size,
            seed=s.attack_seed * 1009 + number,
        )
        attempts += greedy_attempts(clone, target, fold.measure, fold.name)
        del clone
    return attempts


ATTACK = Attack(
    name="relearn",
    summary="fine-tune a copy for a few steps on one half of the forget set (or on retain data), ask the other half",
    run=run,
)
