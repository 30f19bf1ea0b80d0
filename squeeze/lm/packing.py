"""Whether a model can be scored with prefix-tree packing (squeeze.lm.tree_scoring), checked
once per model object (issue 13: the check used to be redone by every scorer built).

Packed rows need a model that honours a custom 4D attention mask and explicit position ids.
The check scores a small synthetic prompt with two branching answers both ways and compares
every token's log-prob; a model that fails is scored one sequence per row by the callers.
"""

from __future__ import annotations

import warnings
import weakref

import torch

_RESULTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tolerance(model) -> float:
    """Largest per-token difference (nats) between packed and plain scoring that counts as equal."""
    return 1e-3 if next(model.parameters()).dtype == torch.float32 else 5e-2


@torch.inference_mode()
def packing_works(model, pad_id: int) -> bool:
    """True when packed and plain scoring agree on this model (cached per model object)."""
    known = _RESULTS.get(model)
    if known is not None:
        return known
    from squeeze.lm.tree_scoring import flat_token_logprobs, tree_token_logprobs

    vocab = int(getattr(model.config, "vocab_size", 16) or 16)
    ids = [i % vocab for i in range(1, 12)]
    prompt, seqs = ids[:4], [ids[4:8], ids[4:6] + ids[8:11], [ids[9]]]
    was_training = model.training
    model.eval()
    try:
        packed = tree_token_logprobs(model, [(prompt, seqs)], pad_id)[0]
        flat = flat_token_logprobs(model, prompt, seqs, pad_id)
    finally:
        model.train(was_training)
    worst = max(abs(a - b) for p, f in zip(packed, flat, strict=True) for a, b in zip(p, f, strict=True))
    works = worst <= tolerance(model)
    if not works:
        warnings.warn(
            f"packed scoring differs from plain scoring by {worst:.3g} on this model; scoring the plain way",
            stacklevel=2,
        )
    _RESULTS[model] = works
    return works


def token_logprobs_per_item(
    model, items: list[tuple[list[int], list[list[int]]]], pad_id: int
) -> list[list[list[float]]]:
    """Per-token log-probs of every sequence of every (prompt, sequences) item: packed when the
    model allows it (one row per item), else one padded row per sequence."""
    from squeeze.lm.tree_scoring import flat_token_logprobs, tree_token_logprobs

    if not items:
        return []
    if packing_works(model, pad_id):
        return tree_token_logprobs(model, items, pad_id)
    return [flat_token_logprobs(model, prompt, seqs, pad_id) for prompt, seqs in items]
