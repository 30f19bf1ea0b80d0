"""Each objective's value against a hand computation (DESIGN section 5, E1-E6, retain losses).

Expected numbers come from the formulas written out with plain Python `math` on small
hand-built logits, never from the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from methods import get_objective
from methods.base import ForgetInputs
from methods.bs_t import bs_t_forget_loss
from methods.ga import ga_forget_loss
from methods.npo import npo_forget_loss
from methods.retain import kl_retain_loss, nll_retain_loss, rmu_retain_loss
from methods.rmu import rmu_forget_loss, rmu_target
from methods.simnpo import simnpo_forget_loss
from methods.wga import wga_forget_loss

# Two sequences, three aligned positions, vocabulary of three.
# Sequence 0: a prompt position, then answer tokens 0 and 2 (T = 2).
# Sequence 1: answer token 0 (T = 1), then two padding positions.
LOGITS = [
    [[5.0, -1.0, 2.0], [2.0, 1.0, 0.0], [0.5, -0.5, 1.5]],
    [[0.0, 3.0, 1.0], [9.0, 9.0, 9.0], [-4.0, 7.0, 0.0]],
]
LABELS = [[-100, 0, 2], [0, -100, -100]]
ANSWERS = [[(1, 0), (2, 2)], [(0, 0)]]  # per sequence: (position, token)


def log_softmax(row: list[float]) -> list[float]:
    top = max(row)
    lse = top + math.log(sum(math.exp(x - top) for x in row))
    return [x - lse for x in row]


def token_lp(i: int, t: int, y: int) -> float:
    return log_softmax(LOGITS[i][t])[y]


def seq_logp(i: int) -> float:
    return sum(token_lp(i, t, y) for t, y in ANSWERS[i])


def seq_ce(i: int) -> float:
    return -seq_logp(i) / len(ANSWERS[i])


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def inputs(**extra) -> ForgetInputs:
    return ForgetInputs(logits=torch.tensor(LOGITS, dtype=torch.float64), labels=torch.tensor(LABELS), **extra)


def test_ga_is_minus_mean_sequence_ce():  # (E1)
    expected = -(seq_ce(0) + seq_ce(1)) / 2
    assert ga_forget_loss(inputs()).item() == pytest.approx(expected, abs=1e-12)


def test_graddiff_uses_ga_with_equal_weights_and_retain_nll():  # (E2)
    obj = get_objective("graddiff")
    assert (obj.gamma, obj.alpha, obj.retain_loss) == (1.0, 1.0, "nll")
    assert obj.forget_loss(inputs()).item() == pytest.approx(-(seq_ce(0) + seq_ce(1)) / 2, abs=1e-12)


def test_npo_value():  # (E3)
    beta, ref = 0.1, [-1.0, -2.5]
    expected = -(2 / beta) * sum(log_sigmoid(-beta * (seq_logp(i) - ref[i])) for i in range(2)) / 2
    got = npo_forget_loss(inputs(ref_logp=torch.tensor(ref, dtype=torch.float64)), beta=beta)
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_npo_at_reference_point_is_two_over_beta_log_two():  # (E3)
    for beta in (0.1, 1.0, 3.0):
        for i in range(2):  # per sequence, then for the batch
            one = ForgetInputs(
                logits=torch.tensor(LOGITS[i : i + 1], dtype=torch.float64), labels=torch.tensor(LABELS[i : i + 1])
            )
            one.ref_logp = torch.tensor([seq_logp(i)], dtype=torch.float64)
            assert npo_forget_loss(one, beta=beta).item() == pytest.approx(2 / beta * math.log(2), abs=1e-12)
        at_ref = inputs(ref_logp=torch.tensor([seq_logp(0), seq_logp(1)], dtype=torch.float64))
        assert npo_forget_loss(at_ref, beta=beta).item() == pytest.approx(2 / beta * math.log(2), abs=1e-12)


def test_npo_without_reference_logprobs_is_a_clear_error():
    with pytest.raises(ValueError, match="ref_logp"):
        npo_forget_loss(inputs())
    with pytest.raises(ValueError, match="shape"):
        npo_forget_loss(inputs(ref_logp=torch.zeros(3, dtype=torch.float64)))


def test_simnpo_value():  # (E4)
    beta, delta = 4.5, 0.3
    expected = -(2 / beta) * sum(log_sigmoid(beta * (seq_ce(i) - delta)) for i in range(2)) / 2
    assert simnpo_forget_loss(inputs(), beta=beta, delta=delta).item() == pytest.approx(expected, abs=1e-12)


def test_simnpo_constant_token_logprob_closed_form():  # (E4)
    # Every answer token has target logit a and four zeros: log p = a - log(e^a + 4) at
    # every token, so CE = -log p whatever the length, and
    # L = (2/beta) log(1 + exp(-beta (CE - delta))).
    a, vocab, beta, delta = 1.3, 5, 4.5, 0.2
    lengths = [1, 3, 4]
    logits = torch.zeros(3, 4, vocab, dtype=torch.float64)
    labels = torch.full((3, 4), -100)
    for i, n in enumerate(lengths):
        for t in range(n):
            labels[i, 4 - n + t] = 2
            logits[i, 4 - n + t, 2] = a
    ce = -(a - math.log(math.exp(a) + vocab - 1))
    expected = (2 / beta) * math.log1p(math.exp(-beta * (ce - delta)))
    got = simnpo_forget_loss(ForgetInputs(logits=logits, labels=labels), beta=beta, delta=delta)
    assert got.item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_wga_value_is_a_mean_over_answer_tokens(beta):  # (E5)
    tokens = [(i, t, y) for i in range(2) for t, y in ANSWERS[i]]
    expected = -sum(math.exp(token_lp(*tok)) ** beta * -token_lp(*tok) for tok in tokens) / len(tokens)
    assert wga_forget_loss(inputs(), beta=beta).item() == pytest.approx(expected, abs=1e-12)


def test_bs_t_value():  # (E7)
    lam, k, tau = 0.3, 2, 0.5
    per_seq = []
    for i in range(2):
        total = 0.0
        for t, y in ANSWERS[i]:
            row, lp = LOGITS[i][t], log_softmax(LOGITS[i][t])
            top = sorted(range(3), key=lambda v: -row[v])[:k]
            norm = sum(math.exp(row[v] / tau) for v in top)
            belief_ce = sum(math.exp(row[v] / tau) / norm * -lp[v] for v in top)
            total += (1 - lam) * -lp[y] + lam * belief_ce
        per_seq.append(total / len(ANSWERS[i]))
    expected = -sum(per_seq) / 2
    # Sequence 1's target (token 0) is outside its top-2 {1, 2}; sequence 0's are inside.
    assert bs_t_forget_loss(inputs(), lam=lam, k=k, tau=tau).item() == pytest.approx(expected, abs=1e-12)


def test_rmu_forget_loss_against_hand_values():  # (E6)
    c, hidden_size = 2.0, 6
    target = rmu_target(hidden_size, c, seed=3).double()
    assert target.norm().item() == pytest.approx(c, abs=1e-6)
    assert torch.equal(target, rmu_target(hidden_size, c, seed=3).double())
    assert not torch.equal(target, rmu_target(hidden_size, c, seed=4).double())
    mask = torch.tensor([[False, True, True], [True, False, False]])
    # All-zero activations: every answer position is at squared distance c^2, whatever u is.
    zeros = torch.zeros(2, 3, hidden_size, dtype=torch.float64)
    got = rmu_forget_loss(ForgetInputs(hidden=zeros, hidden_mask=mask), c=c, seed=3)
    assert got.item() == pytest.approx(c * c / hidden_size, abs=1e-6)
    # At the target on answer positions, junk elsewhere: 0. One offset d: ||d||^2 / (3 H).
    hidden = torch.full((2, 3, hidden_size), 50.0, dtype=torch.float64)
    hidden[mask] = target
    assert rmu_forget_loss(ForgetInputs(hidden=hidden, hidden_mask=mask), c=c, seed=3).item() == pytest.approx(
        0.0, abs=1e-12
    )
    hidden[0, 2] += torch.tensor([1.0, -2.0, 0.0, 0.0, 0.5, 0.0], dtype=torch.float64)
    expected = (1 + 4 + 0.25) / (3 * hidden_size)
    assert rmu_forget_loss(ForgetInputs(hidden=hidden, hidden_mask=mask), c=c, seed=3).item() == pytest.approx(
        expected, abs=1e-12
    )


def test_rmu_retain_loss_is_mse_over_answer_positions():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], requires_grad=True)
    frozen = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    assert rmu_retain_loss(hidden, frozen, torch.tensor([[True, False]])).item() == pytest.approx((1 + 4) / 2)
    loss = rmu_retain_loss(hidden, frozen, torch.tensor([[True, True]]))
    assert loss.item() == pytest.approx((1 + 4 + 4 + 9) / 4)
    loss.backward()
    assert torch.allclose(hidden.grad, 2 * (hidden - frozen).detach() / 4)


def test_nll_retain_loss_is_mean_sequence_ce():
    expected = (seq_ce(0) + seq_ce(1)) / 2
    got = nll_retain_loss(torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS))
    assert got.item() == pytest.approx(expected, abs=1e-12)


REF_LOGITS = [
    [[0.0, 0.0, 0.0], [1.0, 0.0, -1.0], [0.0, 2.0, 0.0]],
    [[2.0, 2.0, -3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]],
]


def test_kl_retain_loss_value_over_answer_tokens_only():
    kls = []
    for i in range(2):
        for t, _ in ANSWERS[i]:
            lp, ref = log_softmax(LOGITS[i][t]), log_softmax(REF_LOGITS[i][t])
            kls.append(sum(math.exp(r) * (r - q) for r, q in zip(ref, lp, strict=False)))
    expected = sum(kls) / len(kls)  # 3 answer tokens; prompt and padding masked
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    got = kl_retain_loss(logits, torch.tensor(REF_LOGITS, dtype=torch.float64), torch.tensor(LABELS))
    assert got.item() == pytest.approx(expected, abs=1e-12)
    got.backward()
    masked = torch.tensor(LABELS) == -100
    assert torch.count_nonzero(logits.grad[masked]) == 0


def test_kl_retain_loss_is_zero_at_the_reference_and_ignores_masked_positions():
    logits = torch.tensor(LOGITS, dtype=torch.float64)
    labels = torch.tensor(LABELS)
    assert kl_retain_loss(logits, logits.clone(), labels).item() == pytest.approx(0.0, abs=1e-15)
    ref = logits.clone()
    ref[labels == -100] = torch.tensor([100.0, -100.0, 0.0], dtype=torch.float64)  # only masked positions differ
    assert kl_retain_loss(logits, ref, labels).item() == pytest.approx(0.0, abs=1e-15)
    no_answers = torch.full_like(labels, -100)
    assert kl_retain_loss(logits, ref, no_answers).item() == 0.0


def test_missing_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="ga: .*logits"):
        ga_forget_loss(ForgetInputs())
    with pytest.raises(ValueError, match="rmu: .*hidden"):
        rmu_forget_loss(ForgetInputs())
    with pytest.raises(ValueError, match="bs_t: k"):
        bs_t_forget_loss(inputs(), k=4)  # more than the vocabulary of 3
