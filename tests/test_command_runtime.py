"""device / dtype / batch_size=auto on `squeeze unlearn`, `train-original` and `validate`
(issue 15, item 1), through squeeze.lm.runtime: bf16 mixed precision trains on the CPU too
(fp32 weights, bf16 compute), impossible settings fail with one line before anything is
written, and auto batch sizes are searched once and cached."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from helpers.trainer_runs import config, log_rows, make_inputs, weights

from squeeze.cli.main import main
from squeeze.core.errors import ConfigError
from squeeze.unlearn.trainer import run_unlearning

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    return make_inputs(tmp_path_factory.mktemp("runtime_inputs"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "squeeze-cache"))


def test_bf16_mixed_precision_trains_on_the_cpu_and_saves_fp32_weights(inputs, tmp_path):
    fp32 = run_unlearning(config(inputs, tmp_path / "fp32", "npo", "dtype=fp32"))
    bf16 = run_unlearning(config(inputs, tmp_path / "bf16", "npo", "dtype=bf16"))
    a, b = [r["loss"] for r in log_rows(fp32)], [r["loss"] for r in log_rows(bf16)]
    assert all(torch.isfinite(torch.tensor(b)))
    # bf16 compute is really used (the losses move off fp32's), and stays close to it.
    assert a != b and max(abs(x - y) for x, y in zip(a, b, strict=True)) < 0.05 * max(map(abs, a))
    assert {w.dtype for w in weights(bf16 / "model").values()} == {torch.float32}  # fp32 master weights
    assert "dtype: bf16" in (bf16 / "config.yaml").read_text()


def test_bad_device_or_dtype_is_one_clear_error_before_the_run(inputs, tmp_path, capsys):
    with pytest.raises(ConfigError, match="training takes fp32, bf16 or auto"):
        run_unlearning(config(inputs, tmp_path / "a", "ga", "dtype=fp16"))
    with pytest.raises(ConfigError, match="expected auto, cpu, cuda or cuda:N"):
        run_unlearning(config(inputs, tmp_path / "b", "ga", "device=tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            run_unlearning(config(inputs, tmp_path / "c", "ga", "device=cuda:1"))
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing was started
    args = ["unlearn", "--method", "ga", "--original", inputs["original"], "--forget", inputs["forget"]]
    args += ["--out", str(tmp_path / "d"), "dtype=int8"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("squeeze: error: dtype 'int8'") and "\n" not in err


def test_score_batch_size_auto_is_searched_once_and_gives_the_same_reference(inputs, tmp_path):
    fixed = run_unlearning(config(inputs, tmp_path / "fixed", "npo", "score_batch_size=3"))
    auto = run_unlearning(config(inputs, tmp_path / "auto", "npo", "score_batch_size=auto"))
    table = json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())
    [(key, size)] = table.items()
    assert key.startswith("unlearn:") and "|cpu|float32|len" in key and size >= 1
    # NPO's reference log-probs (E3) do not depend on how they were batched.
    ref_fixed = json.loads((fixed / "reference_logprobs.json").read_text())["forget"]
    ref_auto = json.loads((auto / "reference_logprobs.json").read_text())["forget"]
    assert ref_fixed.keys() == ref_auto.keys()
    assert all(abs(ref_fixed[k] - ref_auto[k]) < 1e-4 for k in ref_fixed)
    assert "score_batch_size: auto" in (auto / "config.yaml").read_text()  # the setting, as given
    with pytest.raises(ConfigError, match="expected a positive integer or auto"):
        run_unlearning(config(inputs, tmp_path / "bad", "npo", "score_batch_size=0"))


def test_train_original_takes_device_and_bf16_mixed_precision(capsys):
    from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
    from squeeze.original.config import TrainOriginalConfig
    from squeeze.original.train import train_lm
    from squeeze.world.build import generate_world

    world = generate_world(n_people=4, seed=1)
    tok = build_word_tokenizer(world.corpus_texts())
    logs = {}
    for dtype in ("fp32", "bf16"):
        model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, tokenizer=tok)
        cfg = TrainOriginalConfig(epochs=2, batch_size=32, lr=1e-2, device="cpu", dtype=dtype)
        logs[dtype] = [row["loss"] for row in train_lm(model, tok, world, ("forget",), cfg, desc=dtype)]
        assert {p.dtype for p in model.parameters()} == {torch.float32}  # fp32 master weights either way
    assert logs["fp32"] != logs["bf16"] and all(map(math.isfinite, logs["bf16"]))
    assert logs["bf16"][-1] < logs["bf16"][0] * 1.01  # it trains
    with pytest.raises(ConfigError, match="training takes fp32, bf16 or auto"):
        TrainOriginalConfig(world="w", dtype="fp16").check()
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            TrainOriginalConfig(world="w", device="cuda:0").check()
    capsys.readouterr()  # the progress bars so far
    assert main(["train-original", "--world", "w", "--dtype", "int8"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("squeeze: error: dtype 'int8'") and "\n" not in err


def test_validate_hands_device_dtype_and_batch_size_to_its_diagnoses(tmp_path, capsys):
    from squeeze.validate.config import ValidateConfig
    from squeeze.validate.run import gold_diagnose_config, resolve

    cfg = resolve(ValidateConfig(device="cpu", dtype="bf16", batch_size="auto", out=str(tmp_path / "v")))
    models = {name: tmp_path / name for name in ("original", "retain", "noised")}
    dcfg = gold_diagnose_config(cfg, "noised", models, tmp_path / "world", tmp_path / "v")
    assert (dcfg.device, dcfg.dtype, dcfg.batch_size) == ("cpu", "bf16", "auto")
    assert resolve(ValidateConfig(batch_size="8")).batch_size == 8
    for bad, message in (("--device=cuda:7", "device 'cuda:7'"), ("--batch-size=0", "positive integer or auto")):
        if bad.startswith("--device") and torch.cuda.is_available():
            continue
        assert main(["validate", "--out", str(tmp_path / "bad"), bad]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("squeeze: error:") and message in err and "\n" not in err
    assert not (tmp_path / "bad").exists()  # before any world or model is made
