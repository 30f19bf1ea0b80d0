"""Everything `squeeze diagnose` can check before it builds bins, scores and generates (issue 14).

`check_settings(cfg)` reads only the settings, small files and the cache: numbers in range,
the judge's spec (`squeeze.diagnose.judging.check_spec`: its options, built early through
the backend's own config, its files and its cache), the thresholds file. `check_models(...)` reads
config and tokenizer files, never weights into memory: weights present and in safetensors,
the checkpoint's tokenizer equal to the reference's over the whole vocabulary, every
tokenizer id inside the model's embedding, every forget/retain text inside the model's
position limit. A failed check is one line and leaves no folder behind.
"""

from __future__ import annotations

import math
from pathlib import Path

from squeeze.core.errors import ConfigError


def check_settings(cfg) -> None:
    from squeeze.core.failures import check_fraction
    from squeeze.diagnose.judging import check_spec
    from squeeze.lm.runtime import parse_batch_size, resolve_device, resolve_dtype
    from squeeze.metrics.conventions import CONVENTIONS

    resolve_dtype(cfg.dtype, resolve_device(cfg.device))  # auto|cpu|cuda[:N], auto|fp32|bf16|fp16 (issue 15)
    cfg.batch_size = parse_batch_size(cfg.batch_size)  # N or auto
    if cfg.metric_convention not in CONVENTIONS:
        raise ConfigError(f"metric_convention must be one of {list(CONVENTIONS)}, got {cfg.metric_convention!r}")
    for name in ("candidates", "max_new_tokens", "bin_max_new_tokens"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.samples < 0 or cfg.mmlu < 0 or cfg.utility_items < 0:
        raise ConfigError("samples, mmlu and utility_items must be >= 0")
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {cfg.limit}")
    for name in ("tau", "n_min", "s_min"):
        value = getattr(cfg, name)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
    check_fraction("max_unjudged", cfg.max_unjudged)
    from squeeze.diagnose.naturalness import with_naturalness_lm

    cfg.judge = with_naturalness_lm(cfg.judge, cfg.retain_model)  # auto: the retain model when there is one
    check_spec(cfg.judge)  # the judge's options, its files and its cache
    from squeeze.diagnose.report import resolve_thresholds

    resolve_thresholds(cfg)  # a missing or malformed --thresholds file fails here


def check_models(model_dir: Path, reference_dir: Path, retain_dir: Path | None, records: list) -> None:
    """Weights, tokenizers and lengths of the checkpoint, the reference and the retain model."""
    from squeeze.lm.limits import check_lengths, check_same_vocabulary, check_vocab_size, check_weights, max_positions
    from squeeze.lm.models import ModelLoadError, load_tokenizer
    from squeeze.lm.sources import config_folder

    models = [("checkpoint", model_dir), ("reference", reference_dir)]
    models += [("retain model", retain_dir)] if retain_dir is not None else []
    for what, folder in models:
        check_weights(folder, what)
    try:
        reference_tok = load_tokenizer(reference_dir)
    except ModelLoadError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None
    for what, folder in models:
        try:
            own = load_tokenizer(folder) if folder != reference_dir else reference_tok
        except ModelLoadError:
            own = reference_tok  # no tokenizer of its own: the reference's is used
        if own is not reference_tok:
            check_same_vocabulary(reference_tok, own, what)
        described = config_folder(folder)  # a PEFT adapter: its base's config.json (issue 15)
        check_vocab_size(described, own, what)
        check_lengths(own, records, max_positions(described), f"the {what} ({folder})")
