"""Foundation: prompting, collation masks, the answer log-prob scorer, tiny models, config, SFT."""

from __future__ import annotations

import math

import pytest
import torch

from squeeze.core.config import option, resolve_config
from squeeze.core.errors import ConfigError
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import score_pairs
from squeeze.lm.models import load_model_and_tokenizer, save_model
from squeeze.lm.prompting import PLAIN_TEMPLATE, encode_qa, format_prompt
from squeeze.lm.tiny import tiny_model_and_tokenizer

CORPUS = ["Ada was born in Lyon .", "Where was Ada born ?", "Bo writes poetry ."]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return tiny_model_and_tokenizer(CORPUS, hidden_size=32, num_layers=2, num_heads=2)


def test_plain_prompt_and_answer_ends_with_eos(tiny):
    _, tok = tiny
    assert format_prompt(tok, "Where was Ada born?") == PLAIN_TEMPLATE.format(question="Where was Ada born?")
    prompt, answer = encode_qa(tok, "Where was Ada born?", "Ada was born in Lyon.")
    assert prompt[0] == tok.bos_token_id and tok.unk_token_id not in prompt
    assert answer[-1] == tok.eos_token_id and tok.bos_token_id not in answer
    assert tok.decode(answer, skip_special_tokens=True) == "Ada was born in Lyon."


@pytest.mark.parametrize("side", ["right", "left"])
def test_collator_masks_prompt_and_padding(tiny, side):
    _, tok = tiny
    pairs = [encode_qa(tok, "Where was Ada born?", "Ada was born in Lyon."), encode_qa(tok, "Bo?", "poetry.")]
    batch = collator_for(tok, padding_side=side)(pairs)
    for row, (prompt, answer) in enumerate(pairs):
        real = batch["attention_mask"][row].bool()
        assert real.sum() == len(prompt) + len(answer)
        labels = batch["labels"][row][real].tolist()
        assert labels == [-100] * len(prompt) + answer
        assert (batch["labels"][row][~real] == -100).all()
        assert batch["input_ids"][row][real].tolist() == prompt + answer
        padded_at = (~real).nonzero().flatten().tolist()
        if padded_at:
            assert (padded_at[0] > 0) if side == "right" else (padded_at[-1] < real.nonzero()[0].item())


def test_answer_logprobs_equal_a_hand_computation(tiny):
    model, tok = tiny
    model.eval()
    pairs = [encode_qa(tok, "Where was Ada born?", "Ada was born in Lyon."), encode_qa(tok, "Bo?", "poetry.")]
    expected = []
    for prompt, answer in pairs:  # one unpadded sequence at a time, by the definition
        ids = torch.tensor([prompt + answer])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double()
        total = 0.0
        for t, token in enumerate(answer):
            position = len(prompt) + t - 1  # logits at i predict token i + 1
            row = logits[position]
            total += (row[token] - torch.logsumexp(row, dim=0)).item()
        expected.append((total, len(answer)))
    for side in ("right", "left"):
        scored = score_pairs(model, pairs, collator_for(tok, padding_side=side))
        for i, (total, count) in enumerate(expected):
            assert scored.logp_sum[i].item() == pytest.approx(total, abs=1e-4)
            assert scored.n_tokens[i].item() == count
            assert scored.logp_mean[i].item() == pytest.approx(total / count, abs=1e-4)


def test_score_pairs_restores_training_mode(tiny):
    model, tok = tiny
    model.train()
    score_pairs(model, [encode_qa(tok, "Bo?", "poetry.")], collator_for(tok))
    assert model.training


def test_tiny_model_save_and_load_round_trip(tiny, tmp_path):
    model, tok = tiny
    save_model(model, tok, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    loaded, loaded_tok = load_model_and_tokenizer(tmp_path / "m")
    ids = torch.tensor([encode_qa(tok, "Where was Ada born?", "Lyon.")[0]])
    assert loaded_tok(CORPUS[0])["input_ids"] == tok(CORPUS[0])["input_ids"]
    with torch.no_grad():
        assert torch.equal(model.eval()(input_ids=ids).logits, loaded.eval()(input_ids=ids).logits)
    # Saving again replaces the folder in one step; no temporary folder is left behind.
    save_model(model, tok, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_short_training_run_lowers_the_loss():
    from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
    from squeeze.original.config import TrainOriginalConfig
    from squeeze.original.train import train_lm
    from squeeze.world.build import generate_world

    world = generate_world(n_people=4, seed=1)
    tok = build_word_tokenizer(world.corpus_texts())
    model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, tokenizer=tok)
    cfg = TrainOriginalConfig(epochs=6, batch_size=32, lr=1e-2)
    log = train_lm(model, tok, world, ("forget", "retain"), cfg, desc="test")
    assert log[-1]["loss"] < 0.8 * log[0]["loss"]
    assert math.isfinite(log[-1]["loss"])


def test_config_layers_yaml_and_overrides(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Settings:
        lr: float = option(1e-3, "learning rate")
        steps: int = option(10, "steps")
        params: dict = option({"lam": 0.2, "k": 20}, "method parameters")

    path = tmp_path / "s.yaml"
    path.write_text("steps: 20\nparams: {k: 5}\n")
    cfg = resolve_config(Settings, [path], ["lr=1e-4", "params.lam=0.5"])
    assert (cfg.lr, cfg.steps, cfg.params) == (1e-4, 20, {"lam": 0.5, "k": 5})
    with pytest.raises(ConfigError, match="unknown Settings key 'stepz'"):
        resolve_config(Settings, [], ["stepz=3"])
    with pytest.raises(ConfigError, match="steps must be int"):
        resolve_config(Settings, [], ["steps=many"])


def test_cli_errors_are_one_line(capsys):
    from squeeze.cli.main import main

    assert main(["train-original", "--world", "/nonexistent/world", "--out", "/tmp/never"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("squeeze: error:") and "\n" not in err and "/nonexistent/world" in err
