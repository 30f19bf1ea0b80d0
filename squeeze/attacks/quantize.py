"""`quantize`: round the weights to b bits and ask again (issue 11, item 1).

Unlearning often moves weights by less than a quantization step, so rounding can undo it
(Zhang et al. 2024, "Does your LLM truly unlearn? An embarrassingly simple approach to
recover unlearned knowledge", arXiv 2410.16454). Round-to-nearest, per output channel and
group, in plain torch (no GPU library): each row of a linear layer's weight is cut into
groups of `group` consecutive input weights; a group spanning [lo, hi] gets the grid of
2^b levels lo + k * step, step = (hi - lo) / (2^b - 1), and each weight moves to its
nearest level, so no weight moves by more than step / 2 (tested). Every nn.Linear is
rounded except the output embedding (lm_head), as GPTQ and AWQ leave it in full precision.

    squeeze attack --model runs/demo/methods/npo --reference runs/demo/original --world runs/demo/world \\
        --attacks quantize quantize_bits=8,4 quantize_group=128
"""

from __future__ import annotations

import copy

import torch

from squeeze.attacks.base import Attack, AttackTarget, Attempt, greedy_attempts


def quantize_weight(weight: torch.Tensor, bits: int, group: int) -> torch.Tensor:
    """Round-to-nearest of a 2-D weight (out, in) on a per-(row, group) grid of 2^bits levels."""
    if weight.dim() != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(weight.shape)}")
    rows, cols = weight.shape
    w = weight.detach().float()
    pad = (-cols) % group
    if pad:  # the last group of a row is shorter: pad with copies of its first weight (no effect on lo/hi)
        w = torch.cat([w, w[:, cols - (cols % group) :][:, :1].expand(rows, pad)], dim=1)
    groups = w.reshape(rows, -1, group)
    lo = groups.amin(dim=-1, keepdim=True)
    hi = groups.amax(dim=-1, keepdim=True)
    step = (hi - lo) / (2**bits - 1)
    safe = torch.where(step > 0, step, torch.ones_like(step))  # a constant group keeps its value
    levels = torch.round((groups - lo) / safe).clamp_(0, 2**bits - 1)
    rounded = torch.where(step > 0, lo + levels * step, groups)
    return rounded.reshape(rows, -1)[:, :cols].to(weight.dtype)


def quantized_linear_names(model) -> list[str]:
    """Names of the nn.Linear modules that are rounded: all but the output embedding."""
    output = model.get_output_embeddings()
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not output and module.weight.dim() == 2
    ]


@torch.no_grad()
def quantized_copy(model, bits: int, group: int):
    """A deep copy of `model` with every rounded weight replaced by its round-to-nearest value."""
    clone = copy.deepcopy(model)
    modules = dict(clone.named_modules())
    for name in quantized_linear_names(clone):
        weight = modules[name].weight
        weight.copy_(quantize_weight(weight, bits, group))
    return clone.eval()


def run(target: AttackTarget) -> list[Attempt]:
    attempts: list[Attempt] = []
    for bits in target.settings.bits():
        clone = quantized_copy(target.model, bits, target.settings.quantize_group)
        attempts += greedy_attempts(clone, target, target.forget, f"{bits}bit")
        del clone
    return attempts


ATTACK = Attack(
    name="quantize",
    summary="round every linear weight but lm_head to b bits (round-to-nearest per output channel and group), ask again",
    run=run,
)
