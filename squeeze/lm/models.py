"""Loading Hugging Face causal LMs (DESIGN section 4); saving is `squeeze/lm/saving.py`.

Any causal LM from a local path (or a hub name where the network allows); weights from
safetensors; a `.gguf` file or a known GGUF model name (`smollm2-135m-instruct`) loads from
its cached safetensors conversion (squeeze/lm/gguf.py); `trust_remote_code` off unless the
caller asks. `save_model` is re-exported here, so loading and saving share one import.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from squeeze.core.errors import ConfigError, SqueezeError
from squeeze.lm.gguf import GGUFError, resolve_model_source
from squeeze.lm.saving import save_model

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


class ModelLoadError(SqueezeError):
    pass


def local_source(path: str | os.PathLike) -> str | os.PathLike:
    """`path` itself, or for a GGUF file / known GGUF name its cached Hugging Face folder."""
    try:
        return resolve_model_source(path)
    except GGUFError as exc:
        raise ModelLoadError(str(exc)) from exc


def hf_judge_model(source: str | os.PathLike, **options) -> dict:
    """The hf judge's config: `model` (a loadable folder) and `name` (its name in cache keys)
    for a folder, a GGUF file or a known GGUF name such as smollm2-135m-instruct, then
    `options` (scoring, batch_size, ...)."""
    folder = local_source(source)
    if str(folder) == str(source):
        return {"model": str(source), **options}
    # The cache folder's name carries the GGUF file's hash, so a changed file is a new judge.
    return {"model": str(folder), "name": Path(folder).name, **options}


def load_tokenizer(path: str | os.PathLike, trust_remote_code: bool = False):
    path = local_source(path)
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
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=True
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot load a causal LM from {path}: {exc}") from exc
    return model.to(device)


def load_model_and_tokenizer(path: str | os.PathLike, **kwargs):
    path = local_source(path)
    return load_model(path, **kwargs), load_tokenizer(path, trust_remote_code=kwargs.get("trust_remote_code", False))


def resolve_original(path: str) -> Path:
    """A Hugging Face model folder, or a `train-original` run folder (then its original/)."""
    root = Path(path)
    for candidate in (root, root / "original"):
        if (candidate / "config.json").is_file():
            return candidate
    raise ConfigError(
        f"no original model at {path}: expected a Hugging Face model folder (with config.json) "
        "or a `squeeze train-original` run folder (with original/)"
    )
