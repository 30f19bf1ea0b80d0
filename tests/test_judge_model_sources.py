"""Any model source as a judge's local model (issue 15, item 1): the hf judge's chat model and
the embedding judge's naturalness LM are loaded by squeeze's factory (a PEFT adapter merged in
memory, a GGUF file through its conversion, a Hub id from the cache or one line offline), on
the spec's device and dtype, and the hf judge's batch_size=auto is the cached search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.model_sources import IDS, logits, lora_adapter, tiny_folder
from helpers.tiny_gguf import write_tiny_gguf

from judges import JudgeItem, make_judge
from squeeze.core.errors import ConfigError, SqueezeError
from squeeze.diagnose.judging import JudgeSpec, ReferenceLM, build_judge
from squeeze.lm.models import load_model, load_tokenizer
from squeeze.lm.runtime import resolve_device

ITEMS = [JudgeItem("the cat", "sat on the mat", "a dog ran", "a"), JudgeItem("a dog", "ran far", "the mat", "b")]


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "squeeze-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


@pytest.fixture
def adapter(tmp_path):
    base = tiny_folder(tmp_path / "base")
    lora_adapter(base, tmp_path / "adapter")
    return base, tmp_path / "adapter"


def raw_answers(judge) -> list[str]:
    return [j.raw for j in judge.judge(ITEMS)]


def test_hf_judge_takes_a_peft_adapter_merged_in_memory(adapter):
    base, folder = adapter
    judge, cache = build_judge(JudgeSpec(backend="hf", model=str(folder), cache="", device="cpu", dtype="fp32"))
    assert cache is None and judge.model == str(folder)  # named as given: the cache key of this judge
    merged = load_model(folder)
    assert torch.allclose(logits(judge._model), logits(merged), atol=1e-5)  # the adapter is in the weights
    assert not torch.allclose(logits(judge._model), logits(load_model(base)), atol=1e-3)
    # The same answers as the merged model handed over in memory.
    in_memory = make_judge("hf", model=merged, tokenizer=load_tokenizer(folder), max_new_tokens=160)
    assert raw_answers(judge) == raw_answers(in_memory)


def test_hf_judge_dtype_and_device_and_bad_device(adapter):
    _, folder = adapter
    judge, _ = build_judge(JudgeSpec(backend="hf", model=str(folder), cache="", device="cpu", dtype="bf16"))
    param = next(judge._model.parameters())
    assert (param.dtype, param.device.type) == (torch.bfloat16, "cpu")
    assert len(judge.judge(ITEMS[:1])) == 1  # bf16 on the CPU runs
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            build_judge(JudgeSpec(backend="hf", model=str(folder), cache="", device="cuda:1"))
    with pytest.raises(ConfigError, match="dtype 'int4'"):
        build_judge(JudgeSpec(backend="hf", model=str(folder), cache="", dtype="int4"))


def test_hf_judge_batch_size_auto_is_searched_once_and_cached(adapter):
    _, folder = adapter
    spec = JudgeSpec(backend="hf", model=str(folder), cache="", device="cpu", batch_size="auto")
    judge, _ = build_judge(spec)
    answers = raw_answers(judge)
    table = json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())
    [(key, size)] = table.items()
    assert key.startswith("judge:") and "|cpu|float32|len" in key and size >= 1
    # Rounded up to a multiple of 64 tokens, so a slightly longer prompt reuses the same entry.
    assert int(key.split("|len")[1].split("|")[0]) % 64 == 0
    assert answers == raw_answers(build_judge(JudgeSpec(backend="hf", model=str(folder), cache="", batch_size=1))[0])
    with pytest.raises(ConfigError, match="auto is for the hf and embedding judges"):
        build_judge(JudgeSpec(backend="openai", model="m", cache="", batch_size="auto"))
    with pytest.raises(ValueError, match="needs a batch_sizer"):  # the leaf judge cannot size batches itself
        make_judge("hf", model=load_model(folder), tokenizer=load_tokenizer(folder), batch_size="auto")


def test_embedding_judge_batch_size_auto_sizes_its_naturalness_lm(adapter):
    _, folder = adapter
    judge, _ = build_judge(JudgeSpec(cache="", naturalness_lm=str(folder), device="cpu", batch_size="auto"))
    table = json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())
    [(key, size)] = table.items()
    assert key.startswith(f"judge-lm:{folder}") and judge.config.batch_size == size >= 1
    # Found once: a second judge reads the cached size.
    again, _ = build_judge(JudgeSpec(cache="", naturalness_lm=str(folder), device="cpu", batch_size="auto"))
    assert (
        again.config.batch_size == size
        and len(json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())) == 1
    )
    # Without an LM there is nothing to size: the sentence encoder's default.
    plain, _ = build_judge(JudgeSpec(cache="", naturalness_lm="none", device="cpu", batch_size="auto"))
    assert plain.config.batch_size == 32


def test_hf_judge_takes_a_gguf_file(tmp_path):
    path = tmp_path / "tiny.gguf"
    source = write_tiny_gguf(path)
    judge, _ = build_judge(JudgeSpec(backend="hf", model=str(path), cache="", device="cpu"))
    ids = torch.tensor([[1, 40, 77, 100, 2]])
    with torch.no_grad():
        assert torch.allclose(judge._model(input_ids=ids).logits, source(input_ids=ids).logits, atol=1e-4)
    assert judge.model != str(path) and judge.model in str(judge._model.config.name_or_path)  # the hashed folder


def test_an_uncached_hub_id_fails_at_once_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SqueezeError, match="judge model someone/absent-judge is not in the local Hub cache"):
        build_judge(JudgeSpec(backend="hf", model="someone/absent-judge", cache=""))


def test_squeeze_judge_names_an_offline_hub_judge_in_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    row = {"item_id": "a", "question": "q", "reference": "r", "generation": "g"}
    (run / "generations.jsonl").write_text(json.dumps(row) + "\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    done = subprocess.run(
        [sys.executable, "-m", "squeeze.cli.main", "judge", "--run", str(run), "--no-cache"]
        + ["--judge", "hf:model=someone/absent-judge,batch_size=auto,device=cpu"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1
    err = done.stderr.strip()
    assert err.startswith("squeeze: error: judge model someone/absent-judge is not in the local Hub cache")
    assert "\n" not in err


def test_embedding_naturalness_lm_takes_an_adapter(adapter):
    base, folder = adapter
    for spec, reference in (
        (JudgeSpec(cache="", naturalness_lm=str(folder), dtype="fp32"), None),
        (JudgeSpec(cache=""), ReferenceLM(path=str(folder))),  # "reference" given as a path
    ):
        judge, _ = build_judge(spec, reference)
        lm, _ = judge._lm
        where = str(resolve_device("auto"))  # the spec's default device, for the sentence model and the LM
        assert judge.config.device == where and str(next(lm.parameters()).device).startswith(where)
        lm = lm.cpu()
        assert judge.model.endswith(f"+lm:{folder}")  # the cache key names the LM as given
        assert torch.allclose(lm(input_ids=IDS).logits, logits(load_model(folder)), atol=1e-5)
        assert not torch.allclose(lm(input_ids=IDS).logits, logits(load_model(base)), atol=1e-3)
