"""Collation of (prompt_ids, answer_ids) pairs into model batches (DESIGN section 2).

`labels` copy `input_ids` at answer positions and are -100 at prompt and padding positions,
so every loss and log-prob in the project covers answer tokens only. Right padding for
training and scoring, left padding for generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from methods.common import IGNORE_INDEX

Pair = tuple[Sequence[int], Sequence[int]]


def pad_token_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    raise ValueError("tokenizer has neither a pad nor an eos token; cannot pad batches")


@dataclass
class QACollator:
    pad_id: int
    padding_side: Literal["right", "left"] = "right"
    max_length: int | None = None

    def __call__(self, pairs: Sequence[Pair]) -> dict[str, torch.Tensor]:
        if not pairs:
            raise ValueError("cannot collate an empty batch")
        rows = []
        for prompt_ids, answer_ids in pairs:
            ids = list(prompt_ids) + list(answer_ids)
            labels = [IGNORE_INDEX] * len(prompt_ids) + list(answer_ids)
            if self.max_length is not None and len(ids) > self.max_length:
                # Keep the answer: cut the prompt from the left.
                cut = len(ids) - self.max_length
                ids, labels = ids[cut:], labels[cut:]
            rows.append((ids, labels))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, lab) in enumerate(rows):
            n = len(ids)
            span = slice(0, n) if self.padding_side == "right" else slice(width - n, width)
            input_ids[i, span] = torch.tensor(ids, dtype=torch.long)
            labels[i, span] = torch.tensor(lab, dtype=torch.long)
            attention[i, span] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def collator_for(
    tokenizer, padding_side: Literal["right", "left"] = "right", max_length: int | None = None
) -> QACollator:
    return QACollator(pad_id=pad_token_id(tokenizer), padding_side=padding_side, max_length=max_length)


def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on the first real token, so left padding changes nothing."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)
