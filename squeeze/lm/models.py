"""Loading Hugging Face causal LMs (DESIGN section 4); saving is `squeeze/lm/saving.py`.

Any model source squeeze/lm/sources.py resolves: a local folder, a Hub id, a `.gguf` file or
a known GGUF model name (`smollm2-135m-instruct`, loaded from its cached safetensors
conversion, squeeze/lm/gguf.py), or a PEFT adapter folder (its base loaded and the adapter
merged in memory). Weights from safetensors; `trust_remote_code` off unless the caller asks.
`save_model` is re-exported here, so loading and saving share one import.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from squeeze.lm.saving import save_model
from squeeze.lm.sources import ModelLoadError, adapter_base, is_adapter_folder, resolve_in_run, resolve_model

__all__ = [
    "ModelLoadError",
    "hf_judge_model",
    "load_model",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "local_source",
    "resolve_original",
    "save_model",
]


def local_source(path: str | os.PathLike) -> Path:
    """The local folder of any model source (squeeze.lm.sources.resolve_model)."""
    return resolve_model(path)


def hf_judge_model(source: str | os.PathLike, **options) -> dict:
    """The hf judge's config: `model` (a loadable folder) and `name` (its name in cache keys)
    for a folder, a GGUF file or a known GGUF name such as smollm2-135m-instruct, then
    `options` (scoring, batch_size, ...)."""
    folder = resolve_model(source, what="judge model")
    if str(folder) == str(source):
        return {"model": str(source), **options}
    # The cache folder's name carries the GGUF file's hash, so a changed file is a new judge.
    return {"model": str(folder), "name": Path(folder).name, **options}


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def load_tokenizer(path: str | os.PathLike, trust_remote_code: bool = False):
    path = local_source(path)
    if is_adapter_folder(path) and not _has_tokenizer(path):  # an adapter usually ships none: its base's
        return load_tokenizer(adapter_base(path), trust_remote_code=trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises several types for a bad path
        raise ModelLoadError(f"cannot load a tokenizer from {path}: {exc}") from exc
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    path: str | os.PathLike,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    trust_remote_code: bool = False,
):
    path = local_source(path)
    if is_adapter_folder(path):
        return load_adapter_merged(path, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=True
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot load a causal LM from {path}: {exc}") from exc
    return model.to(device)


def load_adapter_merged(adapter_dir: Path, dtype=torch.float32, device="cpu", trust_remote_code: bool = False):
    """The base model named in the adapter's config with the adapter merged into its weights."""
    from peft import PeftModel

    base = load_model(adapter_base(adapter_dir), dtype=dtype, device="cpu", trust_remote_code=trust_remote_code)
    try:
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    except Exception as exc:  # peft raises several types for a mismatched or broken adapter
        raise ModelLoadError(f"cannot apply the PEFT adapter {adapter_dir}: {type(exc).__name__}: {exc}") from exc
    return merged.to(device)


def load_model_and_tokenizer(path: str | os.PathLike, **kwargs):
    path = local_source(path)
    return load_model(path, **kwargs), load_tokenizer(path, trust_remote_code=kwargs.get("trust_remote_code", False))


def resolve_original(path: str) -> Path:
    """Any model source (squeeze.lm.sources), or a `train-original` run folder (then its original/)."""
    return resolve_in_run(path, ("original",), what="original model")
