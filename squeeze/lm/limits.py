"""Checks on a model folder and on the texts it will see, made before any expensive work (issue 14).

- `check_weights`: a folder holds safetensors weights (DESIGN section 4: pickle files are
  never loaded), reported before bins are built, not after.
- `check_vocab_size`: every id of the tokenizer has a row in the model's embedding.
- `check_same_vocabulary`: two tokenizers map every token to the same id (the whole
  vocabulary, not a sample of items): diagnose compares token log-probs across models.
- `check_lengths`: no question + answer is longer than the model's position limit; a 5 MB
  answer is one clear error, not an attempt to allocate a terabyte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from squeeze.core.errors import ConfigError, DataError


def _config(model_dir: Path) -> dict:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{model_dir}/config.json: cannot read the model's config ({exc})") from None


def check_weights(model_dir: str | os.PathLike, what: str = "model") -> None:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():  # a hub name or a .gguf file: resolved by its own loader
        return
    if any(model_dir.glob("*.safetensors")) or (model_dir / "model.safetensors.index.json").is_file():
        return
    pickles = sorted(p.name for p in model_dir.glob("*.bin")) + sorted(p.name for p in model_dir.glob("*.pt"))
    if pickles:
        raise ConfigError(
            f"the {what} at {model_dir} has only pickle weights ({', '.join(pickles[:3])}); squeeze loads "
            "safetensors only: re-save it with save_pretrained(..., safe_serialization=True)"
        )
    raise ConfigError(f"the {what} at {model_dir} has no weights (no *.safetensors file)")


def check_vocab_size(model_dir: str | os.PathLike, tokenizer, what: str = "model") -> None:
    vocab_size = _config(Path(model_dir)).get("vocab_size")
    if isinstance(vocab_size, int) and len(tokenizer) > vocab_size:
        raise ConfigError(
            f"the {what} at {model_dir} has {vocab_size} token embeddings but its tokenizer has {len(tokenizer)} "
            "tokens: give the model its own tokenizer, or use a checkpoint of the reference model"
        )


def check_same_vocabulary(reference_tok, other_tok, what: str) -> None:
    ours, theirs = reference_tok.get_vocab(), other_tok.get_vocab()
    if ours == theirs:
        return
    differ = sorted(t for t in set(ours) | set(theirs) if ours.get(t) != theirs.get(t))
    shown = ", ".join(repr(t) for t in differ[:3])
    raise ConfigError(
        f"the {what}'s tokenizer differs from the reference's on {len(differ)} token(s) (e.g. {shown}); "
        "diagnose compares token log-probs, so both models must share one tokenizer"
    )


def max_positions(model_dir: str | os.PathLike) -> int | None:
    """The longest sequence the model's config allows, when it says."""
    config = _config(Path(model_dir))
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(config.get(key), int) and config[key] > 0:
            return config[key]
    return None


def check_lengths(tokenizer, records: Sequence, limit: int | None, source: str, extra: int = 0) -> None:
    """Every record's prompt + answer (+ `extra` generated tokens) fits in `limit` tokens."""
    from squeeze.lm.prompting import encode_qa

    if not limit:
        return
    # No tokenizer averages 64 characters a token: text this long cannot fit and is not even tokenised.
    char_cap = 64 * limit
    for record in records:
        text_len = len(record.question) + len(record.answer)
        if text_len > char_cap:
            raise DataError(
                f"{source}: item {record.id!r} is {text_len} characters long, far beyond the model's "
                f"{limit}-token limit; shorten or drop it"
            )
        prompt, answer = encode_qa(tokenizer, record.question, record.answer)
        if len(prompt) + len(answer) + extra > limit:
            raise DataError(
                f"{source}: item {record.id!r} is {len(prompt) + len(answer)} tokens (+{extra} to generate), "
                f"longer than the model's {limit}-token limit; shorten or drop it"
            )
