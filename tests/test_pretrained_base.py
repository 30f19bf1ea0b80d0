"""`train-original` fine-tuning a pretrained base model (issue 7, item 2), and the experiment configs.

The "pretrained" base is a tiny Llama saved in the test with a chat template of its own and
a vocabulary the world alone would not give (an extra word), so the test can tell the
base's tokenizer from the word-level one the from-scratch path builds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from squeeze.core.config import resolve_config
from squeeze.demo.config import DemoConfig
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import answer_logprobs
from squeeze.lm.models import load_model_and_tokenizer, save_model
from squeeze.lm.prompting import encode_qa, format_prompt
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.original.config import TrainOriginalConfig
from squeeze.original.train import train_original
from squeeze.world.build import generate_world

EXPERIMENTS = Path(__file__).resolve().parents[1] / "configs" / "experiments"
# Words only, so the word-level tokenizer knows every piece the template writes.
CHAT_TEMPLATE = (
    "{% for message in messages %}Question : {{ message['content'] }}{% endfor %}"
    "{% if add_generation_prompt %} Answer :{% endif %}"
)
MARKER_WORD = "zebrafish"  # in the base's vocabulary, in no world text


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    world = generate_world(n_people=4, seed=0, forget_pct=10)
    world.write(root / "world")
    tokenizer = build_word_tokenizer([*world.corpus_texts(), MARKER_WORD])
    tokenizer.chat_template = CHAT_TEMPLATE
    base = build_tiny_llama(len(tokenizer), hidden_size=32, num_layers=2, num_heads=2, seed=1, tokenizer=tokenizer)
    save_model(base, tokenizer, root / "base")
    cfg = TrainOriginalConfig(
        world=str(root / "world"),
        out=str(root / "run"),
        base_model=str(root / "base"),
        epochs=2,
        batch_size=16,
        lr=1e-2,
        max_length=64,
        threads=1,
        parallel=True,
    )
    train_original(cfg)  # parallel: each spawned process loads its own copy of the base
    return root, world


def mean_answer_nll(model, tokenizer, world) -> float:
    pairs = [encode_qa(tokenizer, r.question, r.answer) for r in world.splits["forget"]]
    with torch.no_grad():
        out = answer_logprobs(model.eval(), collator_for(tokenizer)(pairs))
    return float(-out.logp_sum.sum() / out.n_tokens.sum())


def test_trained_models_keep_the_base_tokenizer_and_architecture(fine_tuned):
    root, _ = fine_tuned
    _, base_tokenizer = load_model_and_tokenizer(root / "base")
    for name in ("original", "retain"):
        model, tokenizer = load_model_and_tokenizer(root / "run" / name)
        assert tokenizer.chat_template == CHAT_TEMPLATE
        assert tokenizer.get_vocab() == base_tokenizer.get_vocab()
        assert MARKER_WORD in tokenizer.get_vocab()  # not the world-only word tokenizer
        # The base's shape, not the from-scratch defaults (hidden 64, 4 layers).
        assert (model.config.hidden_size, model.config.num_hidden_layers) == (32, 2)
        assert format_prompt(tokenizer, "Who?").startswith("Question : Who?")


def test_fine_tuning_lowers_the_loss(fine_tuned):
    root, world = fine_tuned
    report = json.loads((root / "run" / "train_report.json").read_text())
    assert report["base_model"] == str(root / "base")
    losses = [entry["loss"] for entry in report["train_log"]["original"]]
    assert losses[-1] < losses[0]
    base, tokenizer = load_model_and_tokenizer(root / "base")
    original, _ = load_model_and_tokenizer(root / "run" / "original")
    # The forget answers are in the original's training data: their NLL must fall well below the base's.
    assert mean_answer_nll(original, tokenizer, world) < 0.8 * mean_answer_nll(base, tokenizer, world)
    # Both models start from the same base weights, and training moved them apart.
    retain, _ = load_model_and_tokenizer(root / "run" / "retain")
    assert not torch.equal(original.model.embed_tokens.weight, retain.model.embed_tokens.weight)


def test_unknown_base_model_is_a_one_line_error(tmp_path):
    from squeeze.core.errors import SqueezeError

    generate_world(n_people=4, seed=0, forget_pct=10).write(tmp_path / "world")
    cfg = TrainOriginalConfig(
        world=str(tmp_path / "world"), out=str(tmp_path / "run"), base_model=str(tmp_path / "missing"), parallel=False
    )
    with pytest.raises(SqueezeError):
        train_original(cfg)


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_experiment_configs_parse_into_demo_config(path):
    cfg = resolve_config(DemoConfig, [path])
    assert cfg.people > 0 and cfg.methods


def test_smollm2_experiment_fine_tunes_the_pretrained_model():
    cfg = resolve_config(DemoConfig, [EXPERIMENTS / "smollm2_world.yaml"])
    assert cfg.base_model == "smollm2-135m-instruct"
    assert set(cfg.methods) == {"ga", "npo", "bs_t", "bs_s"}
    assert 0 < cfg.train_lr <= 1e-3


def test_smollm2_experiment_reads_its_own_calibration():
    """The thresholds and embedding-judge mapping tuned on SmolLM2 exist, parse, and differ
    from the tiny world's (SmolLM2's log-prob scale is not the tiny model's)."""
    from squeeze.diagnose.judging import load_embedding_settings
    from squeeze.diagnose.verdict_config import load_verdict_thresholds as load_thresholds

    cfg = resolve_config(DemoConfig, [EXPERIMENTS / "smollm2_world.yaml"])
    root = EXPERIMENTS.parents[1]
    own, default = load_thresholds(str(root / cfg.thresholds)), load_thresholds(None)
    assert 0 < own.tau and 0 < own.n_min < 5 and 0 < own.s_min < 5
    assert own.n_min != default.n_min
    assert (
        load_embedding_settings(root / cfg.judge.config)["logprob_knots"] != load_embedding_settings()["logprob_knots"]
    )
    assert cfg.mmlu > 0
