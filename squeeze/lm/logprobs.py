"""Per-sequence answer log-probs for a batch: the one scorer every module uses.

All log-probabilities in squeeze are over answer tokens only (DESIGN section 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from methods.common import sequence_logprob, shift_for_next_token
from squeeze.lm.batching import Pair, QACollator, position_ids_for


@dataclass
class AnswerLogprobs:
    logp_sum: torch.Tensor  # (B,)
    logp_mean: torch.Tensor  # (B,)
    n_tokens: torch.Tensor  # (B,)


def forward_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Causal LM logits with positions that ignore padding on either side."""
    return model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=position_ids_for(batch["attention_mask"]),
    ).logits


def answer_logprobs(model, batch: dict[str, torch.Tensor]) -> AnswerLogprobs:
    """Sum, mean and count of answer-token log-probs per sequence (grad flows if enabled)."""
    logits, labels = shift_for_next_token(forward_logits(model, batch), batch["labels"])
    logp_sum, n_tokens = sequence_logprob(logits.float(), labels)
    return AnswerLogprobs(logp_sum=logp_sum, logp_mean=logp_sum / n_tokens.clamp(min=1), n_tokens=n_tokens)


@torch.inference_mode()
def score_pairs(model, pairs: Sequence[Pair], collator: QACollator, batch_size: int = 32) -> AnswerLogprobs:
    """Teacher-forced answer log-probs for many pairs, in batches, without gradients.

    Restores the model's train/eval mode afterwards.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums, counts = [], []
    try:
        for start in range(0, len(pairs), batch_size):
            batch = {k: v.to(device) for k, v in collator(pairs[start : start + batch_size]).items()}
            out = answer_logprobs(model, batch)
            sums.append(out.logp_sum.double().cpu())
            counts.append(out.n_tokens.cpu())
    finally:
        model.train(was_training)
    logp_sum = torch.cat(sums) if sums else torch.zeros(0, dtype=torch.float64)
    n_tokens = torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long)
    return AnswerLogprobs(logp_sum=logp_sum, logp_mean=logp_sum / n_tokens.clamp(min=1), n_tokens=n_tokens)
