"""Token-level bootstrapping (BS-T): DESIGN section 5, equation (E7).

The squeezing-effect paper (arXiv 2510.19422). GA pushes probability off the target and
the softmax squeezes it onto the model's other beliefs (paraphrases that still carry the
fact). BS-T also pushes down those beliefs: the belief `b_t = sg(softmax(topk_k(z_t)/tau))`
keeps the k largest logits at answer position t and renormalises over them; the soft target
is `q_t = lambda * b_t + (1 - lambda) * onehot(y_t)`, per sequence
`H = (1/T) sum_t -sum_v q_t[v] log p_t[v]`, and `L_forget = -mean_batch H`.

Whether the target may be inside the top-k: the project brief speaks of the k largest
logits "beside the target token", but DESIGN's formula takes topk of z_t itself, and this
module follows DESIGN: when y_t is among the k largest logits it receives belief mass too,
so q_t[y_t] = (1 - lambda) + lambda * b_t[y_t]. (Early in unlearning the target is usually
the top logit, so part of the lambda share keeps pushing on the target as GA does.)

No (B, T, V) one-hot, mask or soft-target tensor is built. Because q_t puts weight only on
y_t and the k belief tokens, the cross-entropy is
`(1 - lambda) (-log p_t[y_t]) + lambda sum_{v in topk} b_t[v] (-log p_t[v])`: one gather of
k + 1 logits per position and one logsumexp over the vocabulary. With lambda = 0 the belief
is never computed and the arithmetic is GA's (E1) operation for operation, so the two
losses and gradients are bitwise equal. Gradient identity (tested):
dL_forget/dz_t = (1/(B T_i)) (q_t - p_t) at each answer position of sequence i.

    squeeze unlearn --method bs_t --original runs/original --world runs/world --out runs/bs_t
"""

from __future__ import annotations

import torch

from methods.base import ForgetInputs, Objective
from methods.common import answer_mask, require_logits


def topk_belief(logits: torch.Tensor, k: int, tau: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (B, T, k) of the k largest logits and the belief over them, both detached.

    topk(z/tau) has the same indices as topk(z) for tau > 0, so only the k kept values are
    divided by tau (no vocabulary-sized temporary).
    """
    with torch.no_grad():
        values, indices = logits.detach().topk(k, dim=-1)
        belief = torch.softmax(values / tau, dim=-1)
    return indices, belief


def _belief_on_answer_span(
    logits: torch.Tensor, mask: torch.Tensor, k: int, tau: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """`topk_belief` over the positions from the batch's first to last answer token only.

    The top-k costs about as much as a logsumexp over the vocabulary, and the prompt part of
    the batch needs none; the slice is a view, so nothing vocabulary-sized is copied.
    Outside that span the belief is 0 (index 0), and the answer mask zeroes it anyway.
    """
    batch, length = mask.shape
    indices = torch.zeros(batch, length, k, dtype=torch.long, device=logits.device)
    belief = torch.zeros(batch, length, k, dtype=logits.dtype, device=logits.device)
    positions = mask.any(0).nonzero()
    if positions.numel():
        start, end = int(positions[0]), int(positions[-1]) + 1
        indices[:, start:end], belief[:, start:end] = topk_belief(logits[:, start:end], k, tau)
    return indices, belief


def _check_params(lam: float, k: int, tau: float, vocab_size: int) -> None:
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"bs_t: lam must be in [0, 1], got {lam}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= vocab_size:
        raise ValueError(f"bs_t: k must be an integer in [1, vocabulary size {vocab_size}], got {k!r}")
    if tau <= 0:
        raise ValueError(f"bs_t: tau must be > 0, got {tau}")


def bs_t_forget_loss(inputs: ForgetInputs, lam: float = 0.2, k: int = 20, tau: float = 1.0) -> torch.Tensor:
    """(E7) `-mean_batch H` computed from k + 1 gathered logits per position."""
    logits, labels = require_logits(inputs, "bs_t")
    _check_params(lam, k, tau, logits.shape[-1])
    mask = answer_mask(labels)
    n_tokens = mask.sum(-1)
    target = labels.masked_fill(~mask, 0).unsqueeze(-1)  # (B, T, 1)
    if lam != 0:
        belief_idx, belief = _belief_on_answer_span(logits, mask, k, tau)
        index = torch.cat([target, belief_idx], dim=-1)  # (B, T, 1 + k)
    else:
        index = target
    # Same operation order as methods.common.token_logprobs (gather, then logsumexp), so
    # lam = 0 is GA to the bit, and autograd runs the backward in GA's order too: the
    # logsumexp's vocabulary-sized temporaries are freed before the gather's gradient is
    # made, which keeps the backward peak at GA's.
    picked = logits.gather(-1, index)
    logp = picked - torch.logsumexp(logits, dim=-1).unsqueeze(-1)  # (B, T, 1 + k): log p_t at those ids
    target_logp = logp[..., 0] * mask
    ce = -target_logp.sum(-1) / n_tokens.clamp(min=1)  # per-sequence CE(y|x)
    if lam != 0:
        belief_logp = (belief * logp[..., 1:]).sum(-1) * mask  # sum_v b_t[v] log p_t[v]
        belief_ce = -belief_logp.sum(-1) / n_tokens.clamp(min=1)
        ce = (1 - lam) * ce + lam * belief_ce  # H per sequence
    return -ce.mean()


BS_T = Objective(
    name="bs_t",
    forget_loss=bs_t_forget_loss,
    defaults={"lam": 0.2, "k": 20, "tau": 1.0},
    gamma=1.0,
    alpha=0.0,
    retain_loss="nll",
)
