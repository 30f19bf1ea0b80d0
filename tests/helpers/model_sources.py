"""Model sources built in code for the tests: a tiny model folder and a LoRA adapter on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from squeeze.lm.models import load_model, save_model
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer

IDS = torch.tensor([[1, 5, 6, 7, 8, 2]])


def tiny_folder(path: Path, seed: int = 0) -> Path:
    tok = build_word_tokenizer(["the cat sat on the mat", "a dog ran far away"])
    model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, seed=seed, tokenizer=tok)
    return save_model(model, tok, path)


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def lora_adapter(base_dir: Path, out: Path, relative: bool = False) -> torch.Tensor:
    """A LoRA adapter on the tiny model with non-zero B matrices (a fresh LoRA is the identity);
    returns the unmerged PEFT model's logits."""
    from peft import LoraConfig, get_peft_model

    base = load_model(base_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    expected = logits(peft_model)
    peft_model.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = os.path.relpath(base_dir, out) if relative else str(base_dir)
    (out / "adapter_config.json").write_text(json.dumps(config))
    return expected
