"""The hf backend end to end on tiny transformers models built here (no download)."""

import json
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from judges import make_judge
from judges.base import JudgeItem, failure_counts
from judges.hf_judge import SCORE_PREFILL, expected_score
from judges.prompting import render_messages, render_plain
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer

ANSWER = '{"score": 3, "reason": "ok"}'
ITEMS = [
    JudgeItem("Where was Ada born?", "Ada was born in London.", "She was born in London.", "a"),
    JudgeItem("What did Ada write?", "Ada wrote notes on the engine.", "Notes notes notes.", "b"),
    JudgeItem("Who taught Ada?", "Augustus De Morgan taught Ada.", "De Morgan did.", "c"),
]


def prompt_texts():
    return [
        render_plain(render_messages(aspect, "v1", item)) for item in ITEMS for aspect in ("similarity", "naturalness")
    ]


@pytest.fixture(scope="module")
def tokenizer():
    tok = build_word_tokenizer(prompt_texts())
    tok.add_tokens([ANSWER])  # the whole verdict is one token, so a tiny model can learn it
    return tok


def tiny(tokenizer, seed):
    return build_tiny_llama(
        len(tokenizer), hidden_size=32, num_layers=2, num_heads=2, max_positions=1024, seed=seed, tokenizer=tokenizer
    )


def bigram_llama(tokenizer):
    """A Llama with untied output layer whose attention and MLP outputs are zero: the
    residual stream at a position is that position's token embedding."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return model


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A real Llama whose weights are set by hand to answer every judge prompt with ANSWER, EOS.

    Attention and MLP outputs are zeroed, so the residual stream at a position is that
    position's token embedding and the model is a bigram model: the untied output layer
    maps the prompt's last token (":" of "Assistant:") to ANSWER and ANSWER to EOS. It
    only answers right if generation starts right after the prompt's true last token, so
    right padding (or a wrong slice of the output) would fail the test. Training a model
    to do this would cost seconds of CPU per step on this machine; setting it costs none.
    """
    model = bigram_llama(tokenizer)
    colon, answer = tokenizer.convert_tokens_to_ids(":"), tokenizer.convert_tokens_to_ids(ANSWER)
    with torch.no_grad():
        embed = model.model.embed_tokens.weight
        embed[colon] = torch.nn.functional.one_hot(torch.tensor(0), 32).float()
        embed[answer] = torch.nn.functional.one_hot(torch.tensor(1), 32).float()
        model.lm_head.weight.zero_()
        model.lm_head.weight[answer, 0] = 10.0
        model.lm_head.weight[tokenizer.eos_token_id, 1] = 10.0
    return model.eval()


def test_trained_judge_scores_through_batched_left_padded_generation(trained, tokenizer):
    seen = []
    judge = make_judge("hf", model=trained, tokenizer=tokenizer, batch_size=4, max_new_tokens=4, name="tiny-judge")
    judgments = judge.judge(ITEMS, on_result=lambda i, j: seen.append(i))
    assert [j.item_id for j in judgments] == ["a", "b", "c"] and sorted(seen) == [0, 1, 2]
    for j in judgments:
        assert (j.similarity, j.naturalness, j.error) == (3.0, 3.0, None), j.raw
        assert json.loads(j.raw) == {"similarity": ANSWER, "naturalness": ANSWER}
        assert (j.backend, j.model, j.prompt_version) == ("hf", "tiny-judge", "v1")
    # Batch size 1 (no padding at all) gives the same answers.
    single = make_judge("hf", model=trained, tokenizer=tokenizer, batch_size=1, max_new_tokens=4).judge(ITEMS)
    assert [j.raw for j in single] == [j.raw for j in judgments]


def test_judge_loads_from_a_path(trained, tokenizer, tmp_path):
    trained.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    judge = make_judge("hf", model=str(tmp_path), device="cpu", max_new_tokens=4)
    assert judge.model == str(tmp_path)
    assert [(j.similarity, j.naturalness) for j in judge.judge(ITEMS)] == [(3.0, 3.0)] * 3


def test_unparseable_answers_are_none_and_counted(tokenizer):
    judge = make_judge("hf", model=tiny(tokenizer, seed=5), tokenizer=tokenizer, batch_size=6, max_new_tokens=6)
    judgments = judge.judge(ITEMS)
    for j in judgments:
        assert j.similarity is None and j.naturalness is None  # None, never 0
        assert "unparseable answer" in j.error
        assert all(isinstance(text, str) and text for text in json.loads(j.raw).values())
    counts = failure_counts(judgments)
    assert (counts["unparsed_items"], counts["similarity_none"], counts["naturalness_none"]) == (3, 3, 3)


def test_bad_hf_options():
    with pytest.raises(ValueError, match="give model"):
        make_judge("hf")
    with pytest.raises(ValueError, match="unknown hf judge option"):
        make_judge("hf", model="x", temperature=0.7)


# ------------------------------------------------------------------ scoring="logprob"
DIGITS = "0 1 2 3 4 5"


@pytest.fixture(scope="module")
def digit_tokenizer():
    return build_word_tokenizer(prompt_texts() + [DIGITS, SCORE_PREFILL])


def test_expected_score_by_hand():
    # (2 * 0.3 + 5 * 0.1) / 0.4 = 2.75, over a digit mass of 0.4
    assert expected_score([0.0, 0.0, 0.3, 0.0, 0.0, 0.1]) == pytest.approx((2.75, 0.4))
    assert expected_score([0.1, 0.1, 0.1, 0.1, 0.1, 0.1]) == pytest.approx((2.5, 0.6))
    assert expected_score([0.0] * 6) == (None, 0.0)


def test_logprob_scores_match_a_forward_pass_by_hand(digit_tokenizer):
    model = tiny(digit_tokenizer, seed=3).eval()
    judge = make_judge("hf", model=model, tokenizer=digit_tokenizer, batch_size=4, scoring="logprob", name="tiny")
    judgments = judge.judge(ITEMS)
    assert judge.prompt_version == "v1+logprob"
    digits = [digit_tokenizer.convert_tokens_to_ids(str(d)) for d in range(6)]
    for item, judgment in zip(ITEMS, judgments, strict=False):
        for aspect, got in (("similarity", judgment.similarity), ("naturalness", judgment.naturalness)):
            text = render_plain(render_messages(aspect, "v1", item)) + SCORE_PREFILL
            assert text.endswith('Assistant:{"score":')
            ids = digit_tokenizer(text)["input_ids"]
            with torch.no_grad():  # one unpadded sequence: no padding or position ids involved
                probs = torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1)[digits]
            assert got == pytest.approx(float((probs * torch.arange(6)).sum() / probs.sum()), abs=1e-5)
        assert judgment.error is None and "digit_probabilities" in json.loads(judgment.raw)["similarity"]


def test_logprob_reads_the_digit_the_model_prefers(digit_tokenizer):
    """A bigram model (as in `trained`) whose prompt's last token puts 60% on "2" and 40% on "5"."""
    model = bigram_llama(digit_tokenizer)
    last = digit_tokenizer(SCORE_PREFILL)["input_ids"][-1]
    two, five = (digit_tokenizer.convert_tokens_to_ids(d) for d in ("2", "5"))
    with torch.no_grad():
        model.model.embed_tokens.weight[last] = torch.nn.functional.one_hot(torch.tensor(0), 32).float()
        model.lm_head.weight.zero_()
        # The final RMSNorm scales the one-hot state to sqrt(32) at dim 0: logits 30 + ln p.
        model.lm_head.weight[two, 0] = (30.0 + math.log(0.6)) / math.sqrt(32)
        model.lm_head.weight[five, 0] = (30.0 + math.log(0.4)) / math.sqrt(32)
    judgments = make_judge("hf", model=model.eval(), tokenizer=digit_tokenizer, scoring="logprob").judge(ITEMS)
    assert [(j.similarity, j.naturalness) for j in judgments] == [pytest.approx((3.2, 3.2), abs=1e-4)] * 3


def test_logprob_needs_digit_tokens(tokenizer):
    no_digits = build_word_tokenizer(["grade the answer with words only"])  # the digits are unknown words
    with pytest.raises(ValueError, match="single token for the digit 0"):
        make_judge("hf", model=tiny(no_digits, seed=0), tokenizer=no_digits, scoring="logprob")
    with pytest.raises(ValueError, match="generate or logprob"):
        make_judge("hf", model=tiny(tokenizer, seed=0), tokenizer=tokenizer, scoring="sample")
