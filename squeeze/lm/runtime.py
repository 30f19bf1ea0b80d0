"""Where and how a model runs: `device=auto|cpu|cuda:N`, `dtype=auto|bf16|fp32|fp16` and
`batch_size=auto` for every command that runs a model (issue 15, item 1).

- device `auto`: the first GPU when torch sees one, else the CPU; `cuda:N` fails with one line
  when there is no such GPU.
- dtype `auto`: bfloat16 on a GPU that supports it, else float32 (CPUs compute bf16 slowly and
  the tiny test models lose their memorised answers in it).
- batch size `auto`: the largest batch of the longest sequence the run will see that passes a
  forward pass without running out of memory, found by doubling from 1 up to a cap (then
  halving past an out-of-memory), once per (model, device, dtype, length); the answer is
  cached in `$SQUEEZE_CACHE/batch_sizes.json`, so later runs skip the search.

    squeeze diagnose --model ckpt --reference orig --forget f.jsonl --device cuda:1 --dtype bf16 --batch-size auto
"""

from __future__ import annotations

import json
from collections.abc import Callable

import torch

from squeeze.core.errors import ConfigError

DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
AUTO_BATCH_CAP = 256  # no search past this: larger batches buy nothing on the models we run
CACHE_FILE = "batch_sizes.json"


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    text = str(spec).strip().lower() or "auto"
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise ConfigError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N")
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r}: torch sees no CUDA GPU here (use device=cpu or auto)")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA GPU(s) here")
        return torch.device(text)
    raise ConfigError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N")


def resolve_dtype(spec: str | torch.dtype = "auto", device: str | torch.device = "cpu") -> torch.dtype:
    if isinstance(spec, torch.dtype):
        return spec
    text = str(spec).strip().lower() or "auto"
    if text == "auto":
        device = torch.device(device)
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    if text not in DTYPES:
        raise ConfigError(f"dtype {spec!r}: expected auto, {', '.join(DTYPES)}")
    return DTYPES[text]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def parse_batch_size(value) -> int | str:
    """An int >= 1 or the string 'auto' (what `--batch-size` and `batch_size=` accept)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not (isinstance(value, int) or str(value).strip().isdigit()) or int(value) < 1:
        raise ConfigError(f"batch size {value!r}: expected a positive integer or auto")
    return int(value)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def largest_fitting_batch(fits: Callable[[int], None], cap: int = AUTO_BATCH_CAP) -> int:
    """The largest b <= cap for which `fits(b)` returns without an out-of-memory error: doubling
    from 1, then a bisection between the last good and the first failed size."""
    good, size = 0, 1
    while size <= cap:
        try:
            fits(size)
        except BaseException as exc:
            if not is_out_of_memory(exc):
                raise
            break
        good, size = size, size * 2
        _free_memory()
    else:
        return good
    bad = size
    _free_memory()
    if good == 0:
        raise ConfigError("batch_size=auto: even a batch of 1 runs out of memory on this device")
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            fits(middle)
            good = middle
        except BaseException as exc:
            if not is_out_of_memory(exc):
                raise
            bad = middle
        _free_memory()
    return good


def _free_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cache_path():
    from squeeze.lm.gguf import cache_root

    return cache_root() / CACHE_FILE


def cached_batch_size(key: str, find: Callable[[], int]) -> int:
    """The batch size stored under `key`, else `find()` stored there (atomically) and returned."""
    from squeeze.core.rundir import write_json

    path = _cache_path()
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        table = {}
    if isinstance(table.get(key), int):
        return table[key]
    size = find()
    try:  # re-read: another process may have added entries meanwhile
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        table = {}
    table[key] = size
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, table)
    return size


def auto_batch_size(model, seq_len: int, model_id: str, cap: int = AUTO_BATCH_CAP, fits=None) -> int:
    """The largest batch of `seq_len`-token sequences `model` takes in one no-grad forward pass
    (generation's KV cache included: seq_len counts prompt + new tokens), cached per
    (model_id, device, dtype, seq_len, cap). `fits` replaces the forward-pass probe (tests)."""
    param = next(model.parameters())
    key = f"{model_id}|{param.device}|{dtype_name(param.dtype)}|len{seq_len}|cap{cap}"

    def forward(batch: int) -> None:
        ids = torch.full((batch, max(1, seq_len)), 1, dtype=torch.long, device=param.device)
        with torch.no_grad():
            model(input_ids=ids, use_cache=True)

    return cached_batch_size(key, lambda: largest_fitting_batch(fits or forward, cap))


def batch_size_for_records(model, tokenizer, records, max_new_tokens: int, model_id: str) -> int:
    """batch_size=auto for QA records: sized for the longest prompt plus the longer of its answer
    and a full generation."""
    from squeeze.lm.prompting import encode_qa

    pairs = (encode_qa(tokenizer, r.question, r.answer) for r in records)
    longest = max((len(p) + max(len(a), max_new_tokens) for p, a in pairs), default=max_new_tokens)
    return auto_batch_size(model, longest, model_id[:16])
