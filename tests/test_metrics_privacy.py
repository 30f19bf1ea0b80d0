"""Min-K% scores, membership AUC and MUSE PrivLeak (DESIGN section 9) by hand, and the
Min-K% wrapper against an explicit forward pass of a tiny Llama."""

import pytest
import torch

from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.metrics import item_min_k_scores, membership_auc, min_k_score, privleak, privleak_from_scores, text_pair


def test_min_k_by_hand():
    # k = 0.4 of 5 tokens: ceil(2.0) = 2 lowest, -5 and -3: mean -4.
    assert min_k_score([-1.0, -5.0, -2.0, -3.0, -0.5], k=0.4) == pytest.approx(-4.0)
    # k = 0.5 of 3 tokens: ceil(1.5) = 2 lowest, -3 and -2.
    assert min_k_score([-1.0, -2.0, -3.0], k=0.5) == pytest.approx(-2.5)
    # k = 0.1 of 3 tokens: at least one token, the lowest.
    assert min_k_score([-1.0, -2.0, -3.0], k=0.1) == pytest.approx(-3.0)
    assert min_k_score([-1.0, -2.0, -3.0], k=1.0) == pytest.approx(-2.0)
    with pytest.raises(ValueError):
        min_k_score([-1.0], k=0.0)
    with pytest.raises(ValueError):
        min_k_score([], k=0.4)


def test_membership_auc_by_hand():
    # Pairs (holdout, forget) with holdout scoring higher: only (-1.5, -2) of 4.
    assert membership_auc([-1.0, -2.0], [-3.0, -1.5]) == pytest.approx(0.25)
    # A tie counts one half.
    assert membership_auc([-1.0], [-1.0]) == pytest.approx(0.5)
    assert membership_auc([-1.0, -1.0], [-1.0, -0.5]) == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)


def test_privleak_by_hand():
    assert privleak(0.6, 0.5) == pytest.approx(20.0)
    # Forget set plainly remembered (every forget score above every holdout score): AUC 0;
    # the retain model cannot tell them apart (AUC 1/2): PrivLeak = (0 - 0.5)/0.5 * 100.
    remembered = privleak_from_scores([-0.1, -0.2], [-3.0, -4.0], [-2.0, -3.0], [-2.0, -3.0])
    assert remembered == pytest.approx(-100.0)
    with pytest.raises(ValueError):
        privleak(0.5, 0.0)
    # The retain model scores every forget item above every holdout item: its AUC is 0 and
    # PrivLeak undefined, which the metric suite leaves out instead of failing the diagnosis.
    assert privleak_from_scores([-0.1], [-3.0], [-0.1, -0.2], [-3.0, -4.0]) is None


def test_min_k_scores_from_model_match_explicit_log_probs():
    corpus = ["Who is Ada ?", "Ada is a poet from Rome .", "the sea is wide and grey"]
    model, tok = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=2)
    model.eval()
    pairs = [encode_qa(tok, corpus[0], corpus[1]), text_pair(tok, corpus[2])]
    assert pairs[1][0] == [tok.bos_token_id]
    want = []
    for prompt, answer in pairs:
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([list(prompt) + list(answer)])).logits[0].double(), -1)
        token_lp = [logp[len(prompt) - 1 + t, a].item() for t, a in enumerate(answer)]
        want.append(min_k_score(token_lp, k=0.4))
    assert item_min_k_scores(model, pairs, collator_for(tok), k=0.4, batch_size=2) == pytest.approx(want, abs=1e-4)
