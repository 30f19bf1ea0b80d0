"""BS-T (E7) identities: lambda = 0 is GA to the bit, the gradient identity, the gather
form equals the dense soft-target form, the belief (and WGA's weights, E5) carry no
gradient, and no vocabulary-sized tensor is built beyond what GA builds.

The dense soft target q_t is built here, in the test, and nowhere in the project.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from methods import get_objective
from methods.base import ForgetInputs
from methods.bs_t import bs_t_forget_loss, topk_belief
from methods.ga import ga_forget_loss
from methods.wga import wga_forget_loss, wga_weights

# Answer spans (start, end) per sequence: prompt before, padding after, different lengths.
SPANS = [(2, 9), (1, 4), (4, 5), (0, 9)]


def random_batch(vocab: int = 40, seq_len: int = 10, dtype=torch.float64, seed: int = 0, force_top: bool = True):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(SPANS), seq_len, vocab, generator=generator, dtype=dtype) * 2
    labels = torch.full((len(SPANS), seq_len), -100)
    for i, (start, end) in enumerate(SPANS):
        labels[i, start:end] = torch.randint(0, vocab, (end - start,), generator=generator)
    if force_top:  # make the target the top logit at some positions, so both cases occur
        for i, (start, end) in enumerate(SPANS):
            for t in range(start, end, 2):
                logits[i, t, labels[i, t]] = logits[i, t].max() + 1.0
    return logits, labels


def dense_soft_target(logits: torch.Tensor, labels: torch.Tensor, lam: float, k: int, tau: float) -> torch.Tensor:
    """q_t = lam * b_t + (1 - lam) * onehot(y_t), (B, T, V), written densely from DESIGN (E7)."""
    z = logits.detach()
    top_values, top_idx = z.topk(k, dim=-1)
    belief = torch.zeros_like(z).scatter(-1, top_idx, torch.softmax(top_values / tau, dim=-1))
    onehot = torch.zeros_like(z).scatter(-1, labels.clamp(min=0).unsqueeze(-1), 1.0)
    return lam * belief + (1 - lam) * onehot


def dense_bs_t_loss(logits, labels, lam, k, tau):
    q = dense_soft_target(logits, labels, lam, k, tau)
    mask = labels != -100
    per_token = -(q * torch.log_softmax(logits, dim=-1)).sum(-1) * mask
    return -(per_token.sum(-1) / mask.sum(-1)).mean()


def test_lambda_zero_equals_ga_to_the_last_bit():
    for dtype in (torch.float32, torch.float64):
        logits, labels = random_batch(vocab=300, dtype=dtype, seed=1)
        a = logits.clone().requires_grad_(True)
        b = logits.clone().requires_grad_(True)
        ga = ga_forget_loss(ForgetInputs(logits=a, labels=labels))
        bst = bs_t_forget_loss(ForgetInputs(logits=b, labels=labels), lam=0.0, k=20, tau=1.0)
        assert torch.equal(ga, bst)
        ga.backward()
        bst.backward()
        assert torch.equal(a.grad, b.grad)
    # Also through the registry with the configured parameters overridden.
    objective = get_objective("bs_t")
    params = {**objective.defaults, "lam": 0}
    logits, labels = random_batch(vocab=300, dtype=torch.float32, seed=2)
    same = ForgetInputs(logits=logits, labels=labels)
    assert torch.equal(objective.forget_loss(same, **params), ga_forget_loss(same))


@pytest.mark.parametrize("lam,k,tau", [(0.2, 20, 1.0), (0.5, 3, 0.7), (1.0, 40, 2.0), (0.3, 1, 1.0)])
def test_gather_form_equals_dense_soft_target_form(lam, k, tau):
    logits, labels = random_batch(seed=3)
    inputs = ForgetInputs(logits=logits, labels=labels)
    got = bs_t_forget_loss(inputs, lam=lam, k=k, tau=tau)
    assert torch.allclose(got, dense_bs_t_loss(logits, labels, lam, k, tau), rtol=0, atol=1e-12)


@pytest.mark.parametrize("lam,k,tau", [(0.2, 20, 1.0), (0.6, 5, 0.5), (1.0, 3, 1.5)])
def test_gradient_identity_q_minus_p_over_batch_times_length(lam, k, tau):
    logits, labels = random_batch(seed=4)
    z = logits.clone().requires_grad_(True)
    bs_t_forget_loss(ForgetInputs(logits=z, labels=labels), lam=lam, k=k, tau=tau).backward()
    q = dense_soft_target(logits, labels, lam, k, tau)
    p = torch.softmax(logits, dim=-1)
    batch = len(SPANS)
    mask = labels != -100
    for i, (start, end) in enumerate(SPANS):
        length = end - start  # this sequence's own T_i
        expected = (q[i, start:end] - p[i, start:end]) / (batch * length)
        assert torch.allclose(z.grad[i, start:end], expected, rtol=0, atol=1e-9)
    assert torch.count_nonzero(z.grad[~mask]) == 0  # prompt and padding positions: exactly 0


def test_belief_is_detached_and_a_distribution_over_the_top_k():
    logits, _ = random_batch(seed=5)
    z = logits.clone().requires_grad_(True)
    idx, belief = topk_belief(z, k=7, tau=0.8)
    assert not belief.requires_grad and not idx.requires_grad
    assert torch.allclose(belief.sum(-1), torch.ones_like(belief[..., 0]))
    expected = torch.softmax(logits.topk(7, dim=-1).values / 0.8, dim=-1)
    assert torch.allclose(belief, expected, atol=1e-15)


def test_wga_weights_carry_no_gradient_and_the_gradient_is_weighted_ga():  # (E5)
    logits, labels = random_batch(seed=6)
    z = logits.clone().requires_grad_(True)
    logp = torch.log_softmax(z, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    assert not wga_weights(logp, 1.0).requires_grad
    beta = 1.5
    wga_forget_loss(ForgetInputs(logits=z, labels=labels), beta=beta).backward()
    # L = (1/N) sum_t w_t log p_t[y_t] with w_t constant: dL/dz_t = (w_t / N)(e_y - p_t).
    mask = labels != -100
    p = torch.softmax(logits, -1)
    onehot = torch.zeros_like(p).scatter(-1, labels.clamp(min=0).unsqueeze(-1), 1.0)
    w = p.gather(-1, labels.clamp(min=0).unsqueeze(-1)) ** beta
    expected = w * (onehot - p) / mask.sum() * mask.unsqueeze(-1)
    assert torch.allclose(z.grad, expected, rtol=0, atol=1e-12)


class _VocabSizedOutputs(TorchDispatchMode):
    """Counts newly allocated operator outputs with at least `threshold` elements.

    Views (detach, slices) share an input's storage and allocate nothing, so they are skipped.
    """

    def __init__(self, threshold: int):
        super().__init__()
        self.threshold, self.count = threshold, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat_inputs = [*args, *(kwargs or {}).values()]
        input_storages = {a.untyped_storage().data_ptr() for a in flat_inputs if isinstance(a, torch.Tensor)}
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if not isinstance(tensor, torch.Tensor) or tensor.numel() < self.threshold:
                continue
            if tensor.untyped_storage().data_ptr() not in input_storages:
                self.count += 1
        return out


def test_bs_t_builds_no_vocabulary_sized_tensor_beyond_ga():
    logits, labels = random_batch(vocab=1000, dtype=torch.float32, seed=7, force_top=False)
    counts = []
    for loss_fn in (ga_forget_loss, lambda x: bs_t_forget_loss(x, lam=0.2, k=20)):
        z = logits.clone().requires_grad_(True)
        with _VocabSizedOutputs(threshold=logits.numel()) as forward:
            loss = loss_fn(ForgetInputs(logits=z, labels=labels))
        with _VocabSizedOutputs(threshold=logits.numel()) as backward:
            loss.backward()
        counts.append((forward.count, backward.count))
    assert counts[1] == counts[0]
    assert counts[0][0] == 0  # the forward of either makes none at all
