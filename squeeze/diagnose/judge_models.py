"""The judges' local models, loaded by squeeze (issue 15, item 1).

`judges/` is a leaf package: it cannot resolve squeeze's model sources. So the judge factory
(squeeze.diagnose.judging.build_judge) loads every local model a judge would otherwise load
from a path itself, through squeeze.lm.sources and squeeze.lm.models, and hands the judge the
objects: the hf judge's chat model and the embedding judge's naturalness LM can then be any
model source (a folder, a PEFT adapter merged in memory, a `.gguf` file or known GGUF name, a
Hub id from the local cache, failing with one line offline), on `device` in `dtype`
(squeeze.lm.runtime), and the hf judge's `batch_size=auto` is the cached largest-batch search.

Cache keys do not change: a judge's name is still the source as given (or, for a GGUF, its
hash-named conversion folder), whatever device or dtype it runs on.
"""

from __future__ import annotations

from typing import Any

AUTO_LENGTH_STEP = 64  # auto batch sizes are searched for lengths rounded up to this: fewer searches


def check_runtime(spec) -> None:
    """The spec's batch size (normalised to an int or "auto"), device and dtype, or one clear error."""
    from squeeze.core.errors import ConfigError
    from squeeze.lm.runtime import parse_batch_size, resolve_device, resolve_dtype

    try:
        spec.batch_size = parse_batch_size(spec.batch_size)
    except ConfigError:
        raise ConfigError(f"--judge-batch-size must be a positive integer or auto, got {spec.batch_size!r}") from None
    backend = spec.resolved_backend
    if spec.batch_size == "auto" and backend not in ("hf", "embedding"):
        raise ConfigError(
            f"--judge-batch-size auto is for the hf and embedding judges; give the {backend} judge a number"
        )
    if backend != "openai":
        resolve_dtype(spec.dtype, resolve_device(spec.device))


def load_local_lm(source: str, device: str = "auto", dtype: str = "auto"):
    """(model in eval mode, tokenizer) of any model source, on `device` in `dtype`."""
    from squeeze.lm.models import load_model, load_tokenizer
    from squeeze.lm.runtime import resolve_device, resolve_dtype
    from squeeze.lm.sources import resolve_model

    folder = resolve_model(source, what="judge model")
    where = resolve_device(device)
    model = load_model(folder, device=where, dtype=resolve_dtype(dtype, where)).eval()
    return model, load_tokenizer(folder)


def batch_sizer(model, model_id: str):
    """`seq_len -> batch size`: squeeze.lm.runtime.auto_batch_size for `model`, found once per
    rounded length and cached on disk."""
    from squeeze.lm.runtime import auto_batch_size

    def size(seq_len: int) -> int:
        rounded = -(-max(1, seq_len) // AUTO_LENGTH_STEP) * AUTO_LENGTH_STEP
        return auto_batch_size(model, rounded, model_id)

    return size


def with_local_models(backend: str, config: dict[str, Any], device: str, dtype: str) -> dict[str, Any]:
    """`config` (judges.make_judge's options) with the model paths the judge would load itself
    replaced by objects squeeze loaded."""
    config = dict(config)
    if backend == "hf" and isinstance(config.get("model"), str):
        source = config["model"]
        model, tokenizer = load_local_lm(source, device, dtype)
        config.update(model=model, tokenizer=tokenizer, name=config.get("name") or source)
        if config.get("batch_size") == "auto":
            from squeeze.bins.binner import model_fingerprint

            config["batch_sizer"] = batch_sizer(model, "judge:" + model_fingerprint(source)[:16])
    elif backend == "embedding":
        from squeeze.lm.runtime import resolve_device

        config.setdefault("device", str(resolve_device(device)))  # the sentence model's device too
        if config.get("lm_path"):
            source = config.pop("lm_path")
            model, tokenizer = load_local_lm(source, device, dtype)
            config.update(lm_model=model, lm_tokenizer=tokenizer, lm_name=config.get("lm_name") or source)
        if config.get("batch_size") == "auto":
            config["batch_size"] = embedding_batch_size(config)
    return config


EMBEDDING_DEFAULT_BATCH = 32  # sentence-transformers' own default, for a judge without an LM to size


def embedding_batch_size(config: dict[str, Any]) -> int:
    """The embedding judge's `batch_size=auto`: the largest batch of its naturalness LM's longest
    scored text (a 64-token prompt allowance plus `lm_max_tokens`) that fits, searched once and
    cached; without an LM, sentence-transformers' default."""
    lm = config.get("lm_model")
    if lm is None:
        return EMBEDDING_DEFAULT_BATCH
    longest = 64 + int(config.get("lm_max_tokens", 256))
    return batch_sizer(lm, "judge-lm:" + str(config.get("lm_name") or "in-memory"))(longest)
