"""The offline embedding judge and the measurements behind it, against hand computations."""

import json
import math
import os

import pytest
import torch

from judges import make_judge
from judges.base import JudgeItem
from judges.features import (
    check_knots,
    distinct_ratio,
    mean_token_logprobs,
    ngram_entropy,
    piecewise_linear,
    skipped_tokens,
    words,
)
from squeeze.lm.tiny import tiny_model_and_tokenizer

ENV_BEFORE = dict(os.environ)
Q = "Where was Ada Lovelace born?"
REF = "Ada Lovelace was born in London."


@pytest.fixture(scope="module")
def judge():
    from squeeze.diagnose.judging import load_embedding_settings

    return make_judge("embedding", **load_embedding_settings())  # the calibrated mapping, as squeeze passes it


def test_piecewise_linear_by_hand():
    knots = check_knots([[0.0, 0.0], [0.5, 2.0], [1.0, 5.0]], "k")
    assert piecewise_linear(-1.0, knots) == 0.0 and piecewise_linear(2.0, knots) == 5.0
    assert piecewise_linear(0.25, knots) == pytest.approx(1.0)
    assert piecewise_linear(0.75, knots) == pytest.approx(3.5)
    with pytest.raises(ValueError, match="strictly increase"):
        check_knots([[0.5, 1.0], [0.5, 2.0]], "k")
    with pytest.raises(ValueError, match="at least two"):
        check_knots([[0.5, 1.0]], "k")


def test_repetition_measures_by_hand():
    tokens = "a b a b a b".split()
    assert distinct_ratio(tokens, 1) == pytest.approx(2 / 6)
    assert distinct_ratio(tokens, 2) == pytest.approx(2 / 5)  # ab ba ab ba ab
    expected = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4)) / math.log(5)
    assert ngram_entropy(tokens, 2) == pytest.approx(expected)
    assert ngram_entropy("x y z w".split(), 2) == pytest.approx(1.0)  # nothing repeats
    assert ngram_entropy("x x x x".split(), 2) == 0.0
    assert ngram_entropy(["x"], 2) == 1.0 and distinct_ratio([], 2) == 1.0
    assert words("Ada, ADA!") == ["ada", ",", "ada", "!"]


def test_paraphrase_scores_higher_than_unrelated_text(judge):
    batch = [
        JudgeItem(Q, REF, "She was born in the city of London, England.", "para"),
        JudgeItem(Q, REF, "Bananas are rich in potassium and grow in bunches.", "unrelated"),
    ]
    para, unrelated = judge.judge(batch)
    assert [j.item_id for j in (para, unrelated)] == ["para", "unrelated"]
    # (An embedding also rates "born in Paris" close to "born in London": telling a changed
    # fact from a paraphrase is what `squeeze judge-calibrate` measures, not this test.)
    assert para.similarity > unrelated.similarity
    assert para.similarity >= 3.0 and unrelated.similarity <= 1.0
    assert json.loads(para.raw)["cosine"] > json.loads(unrelated.raw)["cosine"]
    assert para.backend == "embedding" and para.model == "all-MiniLM-L6-v2"
    # Loaded from the packaged files only, without changing the process's environment.
    assert "HF_HUB_OFFLINE" not in os.environ or os.environ["HF_HUB_OFFLINE"] == ENV_BEFORE.get("HF_HUB_OFFLINE")


def test_repetition_lowers_naturalness_and_empty_is_zero(judge, monkeypatch):
    monkeypatch.setattr("judges.embedding_judge._CHUNK", 3)  # two chunks: progress indices must still line up
    seen = []
    fluent, looping, stutter, empty = judge.judge(
        [
            JudgeItem(Q, REF, "Ada Lovelace was born in London in 1815.", "fluent"),
            JudgeItem(Q, REF, "London London London London London London London", "looping"),
            JudgeItem(Q, REF, "born in London born in London born in London born in London", "stutter"),
            JudgeItem(Q, REF, "   ", "empty"),
        ],
        on_result=lambda i, j: seen.append((i, j.item_id)),
    )
    assert seen == [(0, "fluent"), (1, "looping"), (2, "stutter"), (3, "empty")]
    assert fluent.naturalness == 5.0
    assert looping.naturalness == 0.0
    assert 0.0 < stutter.naturalness < fluent.naturalness
    # By hand: the stutter's bigram entropy through the default knots (0.4 -> 0, 0.95 -> 1).
    entropy = ngram_entropy(words(stutter.generation), 2)
    assert stutter.naturalness == pytest.approx(5 * (entropy - 0.4) / 0.55, abs=1e-3)
    assert (empty.similarity, empty.naturalness) == (0.0, 0.0) and "empty generation" in empty.reason


def test_calibration_options_change_scores_and_the_version():
    default = make_judge("embedding")
    strict = make_judge("embedding", similarity_knots=[[0.0, 0.0], [1.0, 1.0]])
    assert default.prompt_version != strict.prompt_version
    assert default.prompt_version == make_judge("embedding", batch_size=3).prompt_version  # speed knobs don't count
    [j] = strict.judge([JudgeItem(Q, REF, "She was born in London.")])
    assert j.similarity == pytest.approx(json.loads(j.raw)["cosine"], abs=1e-3)
    with pytest.raises(ValueError, match="unknown embedding judge option"):
        make_judge("embedding", knots=[])


@pytest.fixture(scope="module")
def tiny_lm():
    corpus = [f"Question: {Q}\nAnswer: Ada was born in London in 1815 . London London"]
    model, tokenizer = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=1)
    return model.eval(), tokenizer


def test_mean_token_logprob_matches_a_direct_forward_pass(tiny_lm):
    model, tokenizer = tiny_lm
    prefixes = [f"Question: {Q}\nAnswer:", "Question: x\nAnswer:"]
    texts = [" Ada was born in London", " London"]
    batched = mean_token_logprobs(model, tokenizer, prefixes, texts, batch_size=2)
    for prefix, text, got in zip(prefixes, texts, batched, strict=False):
        head = tokenizer(prefix)["input_ids"]
        tail = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([head + tail])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        by_hand = sum(logprobs[len(head) + k - 1, tok].item() for k, tok in enumerate(tail)) / len(tail)
        assert got == pytest.approx(by_hand, abs=1e-4)
    assert mean_token_logprobs(model, tokenizer, ["Question: x\nAnswer:"], [""]) == [None]


def test_the_first_mention_of_a_skipped_word_is_left_out_of_the_mean(tiny_lm):
    model, tokenizer = tiny_lm
    prefix, text = f"Question: {Q}\nAnswer:", " Ada was born in London London"
    head = tokenizer(prefix)["input_ids"]
    tail = tokenizer(text, add_special_tokens=False)["input_ids"]
    skipped = skipped_tokens(tokenizer, text, {"London", "Ada"})
    # Ada and the first London are skipped; the repeated London is scored like any word.
    words_of = [tokenizer.decode([t]).strip() for t in tail]
    assert words_of == ["Ada", "was", "born", "in", "London", "London"]
    assert skipped == [True, False, False, False, True, False]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    kept = [k for k in range(len(tail)) if not skipped[k]]
    by_hand = sum(logprobs[len(head) + k - 1, tail[k]].item() for k in kept) / len(kept)
    [got] = mean_token_logprobs(model, tokenizer, [prefix], [text], skip_words=[{"London", "Ada"}])
    assert got == pytest.approx(by_hand, abs=1e-4)
    # A text made only of skipped words is scored whole rather than not at all.
    [whole] = mean_token_logprobs(model, tokenizer, [prefix], [" London"])
    assert mean_token_logprobs(model, tokenizer, [prefix], [" London"], skip_words=[{"London"}]) == [whole]


def test_the_token_floor_bounds_what_one_unlikely_token_costs(tiny_lm):
    model, tokenizer = tiny_lm
    prefix, text = f"Question: {Q}\nAnswer:", " Ada was born in London"
    head = tokenizer(prefix)["input_ids"]
    tail = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    per_token = [logprobs[len(head) + k - 1, tok].item() for k, tok in enumerate(tail)]
    floor = sorted(per_token)[len(per_token) // 2]  # half the tokens lie below it
    by_hand = sum(max(lp, floor) for lp in per_token) / len(per_token)
    [got] = mean_token_logprobs(model, tokenizer, [prefix], [text], floor=floor)
    [plain] = mean_token_logprobs(model, tokenizer, [prefix], [text])
    assert got == pytest.approx(by_hand, abs=1e-4) and got > plain + 1e-3
    # The judge floors at its lowest logprob knot, where q_lm reaches 0, unless told not to.
    knots = [[floor, 0.0], [0.0, 1.0]]
    judged = {
        on: json.loads(
            make_judge(
                "embedding",
                lm_model=model,
                lm_tokenizer=tokenizer,
                lm_skip_names=False,
                logprob_knots=knots,
                lm_token_floor=on,
                lm_score_end=False,
            )
            .judge([JudgeItem(Q, REF, text.strip())])[0]
            .raw
        )["mean_logprob"]
        for on in (True, False)
    }
    assert judged[True] == pytest.approx(got, abs=1e-3) and judged[False] == pytest.approx(plain, abs=1e-3)


def test_the_end_token_is_scored_after_the_text(tiny_lm):
    model, tokenizer = tiny_lm
    prefix, text = f"Question: {Q}\nAnswer:", " Ada was born in"
    head = tokenizer(prefix)["input_ids"]
    tail = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    by_hand = sum(logprobs[len(head) + k - 1, tok].item() for k, tok in enumerate(tail)) / len(tail)
    [got] = mean_token_logprobs(model, tokenizer, [prefix], [text], end_token=tokenizer.eos_token_id)
    [without] = mean_token_logprobs(model, tokenizer, [prefix], [text])
    # The end token counts where it lowers the mean, never where it would raise it.
    assert got == pytest.approx(min(by_hand, without), abs=1e-4)
    text_only = sum(logprobs[len(head) + k - 1, tok].item() for k, tok in enumerate(tail[:-1])) / (len(tail) - 1)
    assert without == pytest.approx(text_only, abs=1e-4)
    assert mean_token_logprobs(model, tokenizer, [prefix], [""], end_token=tokenizer.eos_token_id) == [None]
    # Only a text scored whole has its end scored: one cut at max_tokens did not end there.
    short = len(tail) - 2
    cut = mean_token_logprobs(model, tokenizer, [prefix], [text], max_tokens=short, end_token=tokenizer.eos_token_id)
    assert cut == mean_token_logprobs(model, tokenizer, [prefix], [text], max_tokens=short)


def test_reference_lm_term_enters_naturalness(tiny_lm):
    model, tokenizer = tiny_lm
    judge = make_judge(
        "embedding", lm_model=model, lm_tokenizer=tokenizer, lm_name="tiny", logprob_knots=[[-12.0, 0.0], [0.0, 1.0]]
    )
    assert judge.model == "all-MiniLM-L6-v2+lm:tiny"
    [j] = judge.judge([JudgeItem(Q, REF, "Ada was born in London")])
    features = json.loads(j.raw)
    # The question names Ada: her name's tokens are left out (lm_skip_names, the default).
    # The end token is scored after the answer (lm_score_end, the default).
    [logprob] = mean_token_logprobs(
        model,
        tokenizer,
        [f"Question: {Q}\nAnswer:"],
        [" Ada was born in London"],
        skip_words=[{"Ada"}],
        end_token=tokenizer.eos_token_id,
    )
    assert features["mean_logprob"] == pytest.approx(logprob, abs=1e-3)
    # 5 * q_rep * q_lm, with q_rep = 1 (nothing repeats) and q_lm linear on [-12, 0].
    assert j.naturalness == pytest.approx(5 * (logprob + 12) / 12, abs=1e-3)


def test_each_distinct_text_is_encoded_once_per_judge_and_scores_stay_the_same(monkeypatch):
    # Every sampled answer of an item shares its reference, and attacks ask again: each text is embedded once.
    from judges import embedding_judge
    from squeeze.diagnose.judging import load_embedding_settings

    def fresh():
        return make_judge("embedding", **load_embedding_settings())

    answers = ["She was born in London.", "In Paris, I think.", "London is where she was born.", "No idea."]
    items = [JudgeItem(Q, REF, a, f"x#{i}") for i, a in enumerate(answers)]
    alone = [fresh().judge([item])[0] for item in items]
    model = embedding_judge.load_sentence_model(None)
    sent: list[str] = []
    real_encode = model.encode

    def recording(texts, **kwargs):
        sent.extend(texts)
        return real_encode(texts, **kwargs)

    monkeypatch.setattr(model, "encode", recording)
    judge = fresh()
    together = judge.judge(items)
    assert len(sent) == len(set(sent)) and sent.count(REF) == 1
    asked_before = len(sent)
    again = judge.judge([JudgeItem(Q, REF, answers[0], "y"), JudgeItem(Q, REF, "Born in London, she was.", "z")])
    assert REF not in sent[asked_before:] and answers[0] not in sent[asked_before:]
    assert "Born in London, she was." in sent[asked_before:]
    assert again[0].similarity == together[0].similarity
    for a, b in zip(alone, together, strict=True):
        assert b.similarity == pytest.approx(a.similarity, abs=1e-4)
        assert b.naturalness == pytest.approx(a.naturalness, abs=1e-4)
