"""Per-token answer statistics under teacher forcing: the inputs of EM, ES and Min-K%.

`squeeze.lm.logprobs.score_pairs` gives per-sequence sums, which is all Prob, truth ratio and
multiple-choice accuracy need. Exact memorisation, extraction strength and Min-K% need
the answer positions one by one: the true token, its log-prob and the model's argmax.
One forward pass per batch yields all three. Positions are the answer tokens only
(labels != -100, DESIGN section 2), so the EOS that `encode_answer` appends counts as an
answer token here exactly as it does in every log-prob of the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from methods.common import answer_mask, shift_for_next_token, token_logprobs
from squeeze.lm.batching import Pair, QACollator
from squeeze.lm.logprobs import forward_logits


@dataclass
class AnswerTokens:
    """One sequence's answer positions: true ids, their log-probs, the teacher-forced argmax."""

    target_ids: list[int]
    logprobs: list[float]
    argmax_ids: list[int]


@torch.inference_mode()
def answer_token_stats(
    model, pairs: Sequence[Pair], collator: QACollator, batch_size: int = 32, desc: str | None = None
) -> list[AnswerTokens]:
    """Teacher-forced per-token statistics for every pair, in input order, without gradients.

    Restores the model's train/eval mode afterwards (as `score_pairs` does).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[AnswerTokens] = []
    starts = range(0, len(pairs), batch_size)
    try:
        for start in tqdm(starts, desc=desc or "token stats", leave=False, disable=None):
            batch = {k: v.to(device) for k, v in collator(pairs[start : start + batch_size]).items()}
            logits, labels = shift_for_next_token(forward_logits(model, batch), batch["labels"])
            logits = logits.float()
            logp = token_logprobs(logits, labels)
            argmax = logits.argmax(-1)
            mask = answer_mask(labels)
            for row in range(labels.shape[0]):
                keep = mask[row]
                out.append(
                    AnswerTokens(
                        target_ids=labels[row][keep].tolist(),
                        logprobs=logp[row][keep].double().tolist(),
                        argmax_ids=argmax[row][keep].tolist(),
                    )
                )
    finally:
        model.train(was_training)
    return out
