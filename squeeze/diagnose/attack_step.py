"""The attacks of issue 11 on a checkpoint that diagnose (or `squeeze attack`) has loaded.

The model, its tokenizer and the judge are the caller's; the greedy answers and judgments
diagnose already made are the attacks' "before". With `cfg.retain_model`, the same attacks
on the retain model give the baseline, cached under `cfg.attack_cache` (the retain model
and data are the same for every method the demo diagnoses, so it runs once).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


def attack_checkpoint(
    cfg,
    model,
    tokenizer,
    reference_tokenizer,
    inputs: dict,
    judge,
    load: dict,
    generations=None,
    judgments=None,
    seen=(),
) -> tuple[list[dict], dict]:
    """(rows of attacks.jsonl, the attacks block of report.json) for the attacks `cfg` names.

    `seen`: other judgments by the same judge (diagnose's of its sampled answers); an attack's
    answer that repeats one of them reuses it instead of being judged again."""
    from squeeze.attacks.leakage import LeakReader
    from squeeze.attacks.recovery import summarise
    from squeeze.attacks.report import summary_block
    from squeeze.attacks.runner import attack_rows, baseline_key, make_target, read_before
    from squeeze.attacks.settings import AttackSettings
    from squeeze.diagnose.inputs import checkpoint_tokenizer
    from squeeze.diagnose.naturalness import resolve_retain_model
    from squeeze.diagnose.report import resolve_thresholds
    from squeeze.lm.models import load_model

    settings = AttackSettings.of(cfg)
    names = settings.attack_names()
    reader = LeakReader(judge, resolve_thresholds(cfg).s_min, cfg.progress)
    reader.remember(seen, inputs["forget"])
    options = dict(max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, progress=cfg.progress)
    target = make_target(model, tokenizer, inputs, settings, **options)
    before = read_before(model, target, reader, generations, judgments)
    rows, timings = attack_rows("checkpoint", target, names, reader, before=before)
    all_timings = {"checkpoint": timings}
    if cfg.retain_model:
        retain_dir = resolve_retain_model(cfg.retain_model)
        retain_tok, _ = checkpoint_tokenizer(retain_dir, reference_tokenizer, inputs["forget"], what="retain model")
        retain = load_model(retain_dir, **load).eval()
        base = make_target(retain, retain_tok, inputs, settings, **options)
        cache = Path(settings.attack_cache) if settings.attack_cache else None
        base_rows, all_timings["retain_model"] = attack_rows(
            "retain_model", base, names, reader, cache=cache, cache_key=baseline_key(retain_dir, base, reader)
        )
        rows += base_rows
        del retain, base
    return rows, summary_block(summarise(rows), dataclasses.asdict(settings), all_timings)
