"""What judge calibration measures on (DESIGN sections 3 and 10): forget-question generations
of the original and unlearned models labelled by the world's leakage oracle, the targets'
teacher-forced log-prob drops, and matched fluent/degenerate texts for naturalness.

- `collect_generations`: per model and forget item, the greedy answer and `n_samples`
  sampled ones (temperature 1, seeded), each labelled `leak = contains_fact(generation, fact)`
  and paired with the reference the judge compares against: the item's target answer.
- `mean_logprobs`: the teacher-forced mean log-prob per answer token of QA records under a model.
- `degenerate_variants`: broken copies of fluent texts (a word looped, a phrase stuttered,
  the words shuffled): the same content in gibberish or repetition, so naturalness is
  calibrated on fluency alone.

    rows = collect_generations(world, [("original", Path("runs/orig/original"))], n_samples=2)
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

from squeeze.core.errors import ConfigError
from squeeze.core.types import QARecord
from squeeze.world.build import World, contains_fact


def resolve_model_dir(path: str | Path) -> Path:
    """A Hugging Face model folder: PATH itself, PATH/model (an unlearning run) or
    PATH/original (a train-original run)."""
    from squeeze.lm.sources import resolve_in_run

    return resolve_in_run(path, ("model", "original"))


def original_of_runs(runs: Sequence[str | Path]) -> Path:
    """The original model the unlearning runs started from (`original:` in their config.yaml)."""
    from squeeze.core.config import load_yaml

    for run in runs:
        config = Path(run) / "config.yaml"
        if config.is_file() and load_yaml(config).get("original"):
            return resolve_model_dir(load_yaml(config)["original"])
    raise ConfigError("no original model: pass --original (none of the runs names one in its config.yaml)")


def run_label(path: str | Path, taken: set[str]) -> str:
    """A short unique name for a model in tables: the run folder's name."""
    path = Path(path)
    base = path.parent.name if path.name in ("model", "original") and path.parent.name else path.name
    label, n = base or "model", 2
    while label in taken:
        label, n = f"{base}-{n}", n + 1
    taken.add(label)
    return label


def run_settings(run: str | Path) -> dict:
    """How an unlearning run was made (method, lr, steps, alpha), from its config.yaml; {} if none."""
    from squeeze.core.config import load_yaml

    config = Path(run) / "config.yaml"
    if not config.is_file():
        return {}
    stored = load_yaml(config)
    return {k: stored[k] for k in ("method", "lr", "steps", "alpha", "retain_loss") if stored.get(k) is not None}


def forget_items(world: World, limit: int | None = None) -> list[QARecord]:
    items = [r for r in world.splits["forget"] if r.fact is not None]
    if not items:
        raise ConfigError("the world has no forget items with facts: nothing to calibrate on")
    return items[:limit] if limit else items


def answers_of(
    models: Sequence[tuple[str, Path]],
    records: Sequence[QARecord],
    n_samples: int = 2,
    seed: int = 0,
    max_new_tokens: int = 24,
    batch_size: int | str = 32,
    device: str = "cpu",
    dtype: str = "fp32",
):
    """(model name, mode, record, Candidate) for each model's greedy answer and `n_samples`
    sampled ones (temperature 1, seeded) to each record's question, model by model, each loaded
    on `device` in `dtype` (squeeze.lm.runtime); `batch_size` "auto": the largest that fits."""
    from squeeze.lm.generation import generate_answers

    questions = [r.question for r in records]
    for name, path in models:
        model, tokenizer = _load(path, device, dtype)
        if batch_size == "auto":
            batch_size = _auto_batch(model, tokenizer, path, records, max_new_tokens)
        plans = [("greedy", 1)] + ([("sample", n_samples)] if n_samples > 0 else [])
        for mode, n in plans:
            kwargs = dict(n=n, mode=mode, max_new_tokens=max_new_tokens, batch_size=batch_size, progress=True)
            if mode == "sample":
                kwargs["seed"] = seed
            candidates = generate_answers(model, tokenizer, questions, **kwargs)
            for record, cands in zip(records, candidates, strict=False):
                for cand in cands:
                    yield name, mode, record, cand
        del model


def collect_generations(
    world: World,
    models: Sequence[tuple[str, Path]],
    n_samples: int = 2,
    limit: int | None = None,
    seed: int = 0,
    max_new_tokens: int = 24,
    batch_size: int | str = 32,
    device: str = "cpu",
    dtype: str = "fp32",
) -> list[dict]:
    """One row per generation: model, item_id, mode, question, reference, generation, leak."""
    records = forget_items(world, limit)
    return [
        {
            "model": name,
            "item_id": record.id,
            "mode": mode,
            "question": record.question,
            "reference": record.answer,
            "wrong_answers": list(record.perturbed_answer or []),
            "generation": cand.text,
            "leak": bool(contains_fact(cand.text, record.fact)),
        }
        for name, mode, record, cand in answers_of(
            models, records, n_samples, seed, max_new_tokens, batch_size, device, dtype
        )
    ]


def mean_logprobs(
    path: Path, records: Sequence[QARecord], device: str = "cpu", batch_size: int | str = 64, dtype: str = "fp32"
) -> list[float]:
    """Teacher-forced mean log-prob per answer token of each record's answer (nats)."""
    from squeeze.lm.batching import collator_for
    from squeeze.lm.logprobs import score_pairs
    from squeeze.lm.prompting import encode_qa

    model, tokenizer = _load(path, device, dtype)
    if batch_size == "auto":
        batch_size = _auto_batch(model, tokenizer, path, records, 0)
    pairs = [encode_qa(tokenizer, r.question, r.answer) for r in records]
    return score_pairs(model, pairs, collator_for(tokenizer), batch_size).logp_mean.tolist()


def _load(path, device: str, dtype: str):
    from squeeze.lm.models import load_model_and_tokenizer
    from squeeze.lm.runtime import resolve_device, resolve_dtype

    where = resolve_device(device)
    return load_model_and_tokenizer(path, device=where, dtype=resolve_dtype(dtype, where))


def _auto_batch(model, tokenizer, path, records, max_new_tokens: int) -> int:
    from squeeze.bins.binner import model_fingerprint
    from squeeze.lm.runtime import batch_size_for_records

    return batch_size_for_records(model, tokenizer, records, max_new_tokens, model_fingerprint(path))


def target_drops(
    world: World,
    original: Path,
    runs: Sequence[tuple[str, Path]],
    limit: int | None = None,
    device: str = "cpu",
    dtype: str = "fp32",
    batch_size: int | str = 64,
) -> dict[str, dict[str, list[float]]]:
    """Per unlearned run, the drop (original minus run, nats per token) of the mean log-prob of
    each forget target and of as many retain answers: forgetting against collateral change."""
    forget = forget_items(world, limit)
    retain = world.splits["retain"][: len(forget)]
    score = dict(device=device, dtype=dtype, batch_size=batch_size)
    base_f = mean_logprobs(original, forget, **score)
    base_r = mean_logprobs(original, retain, **score) if retain else []
    out = {}
    for name, path in runs:
        run_f = mean_logprobs(path, forget, **score)
        run_r = mean_logprobs(path, retain, **score) if retain else []
        out[name] = {
            "forget": [a - b for a, b in zip(base_f, run_f, strict=False)],
            "retain": [a - b for a, b in zip(base_r, run_r, strict=False)],
        }
    return out


_WORD = re.compile(r"\w+")


def degenerate_variants(texts: Sequence[str], seed: int = 0) -> list[dict]:
    """For each fluent text: a looped word, a stuttered phrase, and the words shuffled
    ("source" is the index of the text they were made from)."""
    rng = random.Random(seed)
    out = []
    for index, text in enumerate(texts):
        tokens = text.split()
        if len(tokens) < 3:
            continue
        word = rng.choice([t for t in tokens if _WORD.search(t)] or tokens)
        phrase = " ".join(tokens[:3])
        shuffled = tokens[:]
        for _ in range(5):  # a shuffle that happens to keep the order is no word salad
            rng.shuffle(shuffled)
            if shuffled != tokens:
                break
        out.append({"kind": "loop", "source": index, "text": " ".join([word] * 8)})
        out.append({"kind": "stutter", "source": index, "text": " ".join([phrase] * 4)})
        out.append({"kind": "salad", "source": index, "text": " ".join(shuffled)})
    return out
