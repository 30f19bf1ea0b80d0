"""TOFU metrics (DESIGN section 9) against hand computations, and the model wrappers
against an explicit forward pass of a real tiny Llama."""

import math

import pytest
import torch

from squeeze.core.errors import DataError
from squeeze.core.types import QARecord
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.metrics import (
    answer_ces,
    forget_quality,
    forget_truth_ratio,
    harmonic_mean,
    item_probabilities,
    item_truth_ratios,
    model_utility,
    normalised_probability,
    normalised_probability_from_model,
    probability,
    retain_truth_ratio,
    rouge_l,
    rouge_l_f1,
    rouge_l_recall,
    truth_ratio,
)

LN2, LN4, LN8, LN16 = (math.log(x) for x in (2, 4, 8, 16))


def test_probability_is_mean_of_exp_minus_ce():
    # exp(-0) = 1 and exp(-ln 2) = 1/2: mean 3/4.
    assert probability([0.0, LN2]) == pytest.approx(0.75)


def test_normalised_probability_by_hand():
    # Item 1: p = 1/2 against 1/4 + 1/4 -> 1/2. Item 2: p = 1 against 1/2 -> 2/3. Mean 7/12.
    assert normalised_probability([LN2, 0.0], [[LN4, LN4], [LN2]]) == pytest.approx(7 / 12)


def test_truth_ratio_uses_mean_ce_over_perturbed_answers():
    # p_c = exp(-ln 2) = 1/2; mean CE of perturbed = (ln 4 + ln 16)/2 = ln 8, p_w = 1/8.
    # TR = (1/8)/(1/2) = 1/4. (Averaging the probabilities 1/4 and 1/16 instead would give 5/16.)
    assert truth_ratio(LN2, [LN4, LN16]) == pytest.approx(0.25)
    assert truth_ratio(LN2, [LN2]) == pytest.approx(1.0)


def test_truth_ratio_aggregates_by_hand():
    trs = [0.25, 2.0, 1.0]
    # forget: mean(min(TR, 1/TR)) = (0.25 + 0.5 + 1) / 3
    assert forget_truth_ratio(trs) == pytest.approx(1.75 / 3)
    # retain: mean(max(0, 1 - TR)) = (0.75 + 0 + 0) / 3
    assert retain_truth_ratio(trs) == pytest.approx(0.25)
    assert forget_truth_ratio([0.0, float("inf")]) == 0.0
    with pytest.raises(ValueError):
        forget_truth_ratio([])


def test_forget_quality_known_ks_values():
    # Identical samples: D = 0, p = 1.
    assert forget_quality([0.3, 0.5, 0.9], [0.3, 0.5, 0.9]) == pytest.approx(1.0)
    # Fully separated samples of 2 and 2: D = 1; under H0 each of the C(4,2) = 6 orderings is
    # equally likely and 2 of them (all of one sample first) reach D = 1: p = 2/6.
    assert forget_quality([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1 / 3)
    # 3 and 3: 2 / C(6,3) = 2/20.
    assert forget_quality([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)


def test_harmonic_mean_and_model_utility():
    assert harmonic_mean([1.0, 0.5, 0.25]) == pytest.approx(3 / (1 + 2 + 4))
    assert harmonic_mean([0.9, 0.0, 0.4]) == 0.0
    with pytest.raises(ValueError):
        harmonic_mean([0.5, -0.1])
    # Absent components (None) are left out: HM(0.5, 1) = 2 / (2 + 1).
    assert model_utility({"retain_prob": 0.5, "retain_rouge": 1.0, "retain_truth_ratio": None}) == pytest.approx(2 / 3)
    assert model_utility({"retain_prob": 0.5, "world_facts_prob": 0.0}) == 0.0


def test_rouge_l_by_hand():
    # LCS of "the cat sat on the mat" and "the cat is on a mat" is "the cat on mat": 4 of 6 words each.
    p, r, f = rouge_l("the cat is on a mat", "the cat sat on the mat")
    assert (p, r, f) == pytest.approx((4 / 6, 4 / 6, 4 / 6))
    # Recall counts the reference's words: "paris" recovers 1 of 3; precision 1/1; F1 = 2*(1/3)/(4/3).
    assert rouge_l_recall(["paris"], ["Paris is lovely"]) == pytest.approx(1 / 3)
    assert rouge_l_f1(["paris"], ["Paris is lovely"]) == pytest.approx(0.5)
    # Stemming: "dogs" and "dog" match.
    assert rouge_l_recall(["dog", "nothing"], ["dogs", "cats"]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        rouge_l_recall(["a"], [])


# ------------------------------------------------------------------ from a real tiny model
RECORDS = [
    QARecord(
        "a",
        "Where was Ada born ?",
        "Ada was born in Rome .",
        "Rome is where Ada was born .",
        ["Ada was born in Oslo .", "Ada was born in Lima ."],
    ),
    QARecord(
        "b",
        "What does Bo write ?",
        "Bo writes poems .",
        "Poems are what Bo writes .",
        ["Bo writes songs .", "Bo writes plays .", "Bo writes code ."],
    ),
]


@pytest.fixture(scope="module")
def tiny():
    corpus = [t for r in RECORDS for t in (r.question, r.answer, r.paraphrased_answer, *r.perturbed_answer)]
    model, tok = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=3)
    return model.eval(), tok


def manual_ce(model, tok, question, answer):
    """CE(answer | question) from one unpadded forward pass and an explicit log-softmax."""
    prompt, ans = encode_qa(tok, question, answer)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt + ans])).logits[0].double(), -1)
    return -sum(logp[len(prompt) - 1 + t, a].item() for t, a in enumerate(ans)) / len(ans)


def test_answer_ces_match_explicit_forward(tiny):
    model, tok = tiny
    got = answer_ces(model, tok, [r.question for r in RECORDS], [r.answer for r in RECORDS], batch_size=2)
    want = [manual_ce(model, tok, r.question, r.answer) for r in RECORDS]
    assert got == pytest.approx(want, abs=1e-4)
    assert item_probabilities(model, tok, RECORDS) == pytest.approx([math.exp(-c) for c in want], rel=1e-4)


def test_truth_ratios_and_normalised_prob_from_model(tiny):
    model, tok = tiny
    want_tr, want_tr_answer, want_np = [], [], []
    for r in RECORDS:
        ce_para = manual_ce(model, tok, r.question, r.paraphrased_answer)
        ce_answer = manual_ce(model, tok, r.question, r.answer)
        ce_pert = [manual_ce(model, tok, r.question, w) for w in r.perturbed_answer]
        want_tr.append(math.exp(ce_para - sum(ce_pert) / len(ce_pert)))
        want_tr_answer.append(math.exp(ce_answer - sum(ce_pert) / len(ce_pert)))
        p = [math.exp(-ce_answer)] + [math.exp(-c) for c in ce_pert]
        want_np.append(p[0] / sum(p))
    assert item_truth_ratios(model, tok, RECORDS, batch_size=3) == pytest.approx(want_tr, rel=1e-3)
    assert item_truth_ratios(model, tok, RECORDS, base_field="answer") == pytest.approx(want_tr_answer, rel=1e-3)
    assert normalised_probability_from_model(model, tok, RECORDS) == pytest.approx(sum(want_np) / 2, rel=1e-3)


def test_truth_ratio_needs_paraphrase_and_perturbed(tiny):
    model, tok = tiny
    with pytest.raises(DataError, match="'x'.*paraphrased_answer"):
        item_truth_ratios(model, tok, [QARecord("x", "Where was Ada born ?", "Rome .")])
