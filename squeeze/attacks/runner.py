"""Run the attacks on one loaded model and turn their attempts into per-item rows (issue 11, item 2).

`attack_rows` is what `squeeze attack` and `squeeze diagnose --attacks` both call: the model,
tokenizer and judge are the caller's (loaded once), the greedy "before" answers can be
handed in (diagnose has them already), and every attempt of every attack is read in one
judge call. `baseline_rows` does the same for the retain model, cached on disk by a key
over everything that determines its result, so the demo's eight diagnoses compute it once.

A row (one line of attacks.jsonl) is one forget item under one attack of one model:
    {"model": "checkpoint" | "retain_model", "attack", "item_id", "question",
     "before": {generation, leak, leak_oracle, leak_judge, similarity, naturalness},
     "attempts": [{variant, question, prompt?, generation, leak, ...}],
     "leak_before", "leak_after", "recovered", and the same split by "_oracle" and "_judge"}
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

from squeeze.attacks import get_attack
from squeeze.attacks.base import AttackTarget, Attempt, greedy_attempts
from squeeze.attacks.leakage import LeakReader, any_leak
from squeeze.attacks.settings import AttackSettings
from squeeze.core.types import QARecord

READINGS = ("", "_oracle", "_judge")  # the primary leak, then the oracle's and the judge's


def _attempt_row(attempt: Attempt, reading: dict) -> dict:
    row = {"variant": attempt.variant, "question": attempt.question, "generation": attempt.generation, **reading}
    if attempt.prompt:
        row["prompt"] = attempt.prompt
    return row


def item_rows(role: str, attack: str, forget: Sequence[QARecord], before: dict, attempts: list[dict]) -> list[dict]:
    """Rows of one attack: `before` maps item id to its greedy reading, `attempts` are attempt rows
    (with item_id). Items the attack did not measure get no row."""
    by_item: dict[str, list[dict]] = {}
    for a in attempts:
        by_item.setdefault(a["item_id"], []).append({k: v for k, v in a.items() if k != "item_id"})
    rows = []
    for record in forget:
        if record.id not in by_item:
            continue
        tries, b = by_item[record.id], before[record.id]
        row = {"model": role, "attack": attack, "item_id": record.id, "question": record.question, "before": b}
        row["attempts"] = tries
        for suffix in READINGS:
            leak_before = b[f"leak{suffix}"]
            leak_after = any_leak([t[f"leak{suffix}"] for t in tries])
            row[f"leak_before{suffix}"], row[f"leak_after{suffix}"] = leak_before, leak_after
            known = leak_before is not None and leak_after is not None
            row[f"recovered{suffix}"] = (not leak_before and leak_after) if known else None
        rows.append(row)
    return rows


def read_before(
    model, target: AttackTarget, reader: LeakReader, generations: Sequence[str] | None = None, judgments=None
) -> dict:
    """{item id: reading of the greedy answer to its own question} (generated unless given)."""
    forget = target.forget
    if generations is None:
        attempts = greedy_attempts(model, target, forget, "greedy")
    else:
        attempts = [Attempt(r.id, "greedy", r.question, g) for r, g in zip(forget, generations, strict=True)]
    readings = reader.read({r.id: r for r in forget}, attempts, judgments)
    return {a.item_id: {"generation": a.generation, **x} for a, x in zip(attempts, readings, strict=True)}


def run_attack(name: str, target: AttackTarget, reader: LeakReader) -> tuple[list[dict], dict]:
    """(attempt rows with item_id, timing) of one attack on the target."""
    started = time.perf_counter()
    attempts = get_attack(name).run(target)
    attacked = time.perf_counter() - started
    readings = reader.read({r.id: r for r in target.forget}, attempts)
    rows = [{"item_id": a.item_id, **_attempt_row(a, x)} for a, x in zip(attempts, readings, strict=True)]
    return rows, {"attack_seconds": attacked, "read_seconds": time.perf_counter() - started - attacked}


def _cache_path(cache: Path | None, cache_key: dict | None, name: str, settings: dict) -> tuple[Path | None, dict]:
    if cache is None or cache_key is None:
        return None, {}
    key = {**cache_key, "attack": name, "settings": settings}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return Path(cache) / f"{name}-{digest}.json", key


def attack_rows(
    role: str,
    target: AttackTarget,
    names: Sequence[str],
    reader: LeakReader,
    before: dict | None = None,
    cache: Path | None = None,
    cache_key: dict | None = None,
) -> tuple[list[dict], dict]:
    """(rows of every attack in `names`, seconds per attack) for the target's model.

    With `cache` and `cache_key`, the greedy "before" and each attack's attempts are read
    from / written to cache/<name>-<hash>.json, the hash taken over the key, the attack's
    name and its settings.
    """
    from squeeze.core.rundir import read_json, write_json

    if before is None:
        path, key = _cache_path(cache, cache_key, "before", {"attack_seed": target.settings.attack_seed})
        if path is not None and path.is_file():
            before = read_json(path)["before"]
        else:
            before = read_before(target.model, target, reader)
            if path is not None:
                write_json(path, {"key": key, "before": before})
    rows, timings = [], {}
    for name in names:
        path, key = _cache_path(cache, cache_key, name, target.settings.of_attack(name))
        if path is not None and path.is_file():
            attempts, timings[name] = read_json(path)["attempts"], {"cached": True}
        else:
            attempts, timings[name] = run_attack(name, target, reader)
            if path is not None:
                write_json(path, {"key": key, "attempts": attempts})
        rows += item_rows(role, name, target.forget, before, attempts)
    return rows, timings


def baseline_key(model_dir: Path, target: AttackTarget, reader: LeakReader) -> dict:
    """What the retain model's attack results depend on besides each attack's own settings."""
    from squeeze.bins.binner import model_fingerprint

    def records(rs):
        return hashlib.sha256(json.dumps([r.to_dict() for r in rs], sort_keys=True).encode()).hexdigest()

    judge = reader.judge
    return {
        "format": "squeeze-attack-baseline/1",
        "model": model_fingerprint(model_dir),
        "forget": records(target.forget),
        "retain": records(target.retain),
        "world_relations": sorted(target.world.relations) if target.world is not None else None,
        "max_new_tokens": target.max_new_tokens,
        "judge": None if judge is None else [judge.backend, judge.model, judge.prompt_version],
        "s_min": reader.s_min,
    }


def make_target(model, tokenizer, inputs: dict, settings: AttackSettings, **options) -> AttackTarget:
    """An AttackTarget over diagnose-style inputs (forget, retain and world records)."""
    world = None
    if inputs.get("world"):
        from squeeze.world.build import load_world

        world = load_world(inputs["world"])
    return AttackTarget(
        model, tokenizer, list(inputs["forget"]), list(inputs.get("retain") or []), settings, world, **options
    )
