"""Supervised training of the original and retain models on the fictitious world.

The *original* model trains on forget + retain + world_facts with every answer template
equally often, so it memorises each fact and spreads its beliefs over the paraphrase
family (DESIGN section 3). The *retain* model trains on retain + world_facts only: the gold
standard an unlearned model is compared with. Both share one word-level tokenizer built
from the whole world, so their log-probs are comparable. With `base_model` set, both are
instead fine-tuned copies of that pretrained model and keep its tokenizer and chat template
(prompts go through squeeze.lm.prompting, the loss covers answer tokens only, as from scratch).

    squeeze train-original --world runs/world --out runs/original
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import answer_logprobs
from squeeze.lm.prompting import encode_qa
from squeeze.original.config import TrainOriginalConfig
from squeeze.world.held_out import held_out_answers

ORIGINAL_SPLITS = ("forget", "retain", "world_facts")
RETAIN_SPLITS = ("retain", "world_facts")
# paraphrase_only (a gold model of `squeeze validate`): the original's data without one answer
# template per relation that has forget items, for every person (squeeze.world.held_out); the
# sibling templates stay, so it still learns every fact.
PLAN = {"original": ORIGINAL_SPLITS, "retain": RETAIN_SPLITS, "paraphrase_only": ORIGINAL_SPLITS}
LEAVES_OUT_TARGETS = ("paraphrase_only",)


def epoch_pairs(
    world, splits: Sequence[str], tokenizer, rng: random.Random, leave_out: dict[str, str] | None = None
) -> list[tuple[list[int], list[int]]]:
    """One pass: every answer template of every record once, each with a random question template
    (except the answer `leave_out[record.id]`, when given).

    Drawing the question per pass keeps an epoch at (records x answer templates) sequences
    while every question template is still seen many times over training.
    """
    pairs = []
    for split in splits:
        for record in world.splits[split]:
            questions = world.question_family(record)
            for answer in world.answer_family(record):
                if leave_out and leave_out.get(record.id) == answer:
                    continue
                pairs.append(encode_qa(tokenizer, rng.choice(questions), answer))
    rng.shuffle(pairs)
    return pairs


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_lm(
    model,
    tokenizer,
    world,
    splits: Sequence[str],
    cfg: TrainOriginalConfig,
    desc: str,
    leave_out: dict[str, str] | None = None,
) -> list[dict]:
    """Answer-only NLL training (without the answers `leave_out` names); returns the per-epoch loss log."""
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    collate = collator_for(tokenizer, padding_side="right", max_length=cfg.max_length or None)
    n_pairs = sum(
        len(world.splits[s]) * len(world.answer_family(world.splits[s][0])) for s in splits if world.splits[s]
    ) - len(leave_out or {})
    steps_per_epoch = math.ceil(n_pairs / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup_frac * total))
    device, dtype = cfg.training_dtype()
    model.to(device)
    # bf16 is mixed precision: fp32 weights and AdamW state, the forward under bf16 autocast.
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if dtype == torch.bfloat16 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.train()
    log, step = [], 0
    bar = tqdm(total=total, desc=desc, unit="step")
    for epoch in range(cfg.epochs):
        pairs = epoch_pairs(world, splits, tokenizer, rng, leave_out)
        losses = []
        for start in range(0, len(pairs), cfg.batch_size):
            batch = {k: v.to(device) for k, v in collate(pairs[start : start + cfg.batch_size]).items()}
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, cfg.lr, warmup)
            with autocast or contextlib.nullcontext():
                out = answer_logprobs(model, batch)
            # Token-level mean NLL over the batch's answer tokens.
            loss = -out.logp_sum.sum() / out.n_tokens.sum()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
            bar.update(1)
        log.append({"epoch": epoch, "loss": sum(losses) / len(losses)})
        bar.set_postfix(loss=f"{log[-1]['loss']:.3f}")
    bar.close()
    model.eval()
    return log


def load_base(source: str):
    """A fresh copy of the pretrained base model with its own tokenizer (chat template included).

    Each training process loads its own copy, so original and retain both start from the
    same weights. Fine-tuning runs in float32 whatever the base was stored in.
    """
    from squeeze.lm.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(source, dtype=torch.float32)
    # Padding is masked out of the loss; generation must still know which id pads.
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _train_one(cfg: TrainOriginalConfig, name: str) -> tuple[list[dict], float]:
    """Build, train and save one model; a process of its own when models train in parallel."""
    from squeeze.lm.models import save_model
    from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
    from squeeze.world.build import load_world

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    world = load_world(cfg.world)
    if cfg.base_model:
        model, tokenizer = load_base(cfg.base_model)
    else:
        tokenizer = build_word_tokenizer(world.corpus_texts())
        model = build_tiny_llama(
            len(tokenizer),
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            num_heads=cfg.num_heads,
            seed=cfg.seed,
            tokenizer=tokenizer,
        )
    leave_out = held_out_answers(world, PLAN[name]) if name in LEAVES_OUT_TARGETS else None
    log = train_lm(model, tokenizer, world, PLAN[name], cfg, desc=f"train {name}", leave_out=leave_out)
    save_model(model, tokenizer, Path(cfg.out) / name)
    return log, time.perf_counter() - started


def train_original(cfg: TrainOriginalConfig) -> Path:
    """Train the requested models (in parallel processes when asked), save them, write the report."""
    from squeeze.core.errors import ConfigError
    from squeeze.core.runlock import RunLock
    from squeeze.world.build import load_world

    cfg.check()
    unknown = [m for m in cfg.models if m not in PLAN]
    if unknown or not cfg.models:
        raise ConfigError(f"models must be a non-empty subset of {sorted(PLAN)}, got {cfg.models}")
    world = load_world(cfg.world)
    if cfg.base_model:
        from squeeze.lm.sources import resolve_model

        # Resolve (a GGUF: convert and cache; a Hub id: download) once here, so parallel
        # processes only read the cache.
        resolve_model(cfg.base_model, what="base_model")
    with RunLock(cfg.out):
        return _train_into(cfg, world)


def _train_into(cfg: TrainOriginalConfig, world) -> Path:
    from squeeze.core.config import to_yaml
    from squeeze.core.rundir import RunDir, write_json, write_text
    from squeeze.lm.models import load_model_and_tokenizer
    from squeeze.original.report import acceptance_report

    run = RunDir(cfg.out).create()
    write_text(run.config, to_yaml(cfg))
    started = time.perf_counter()
    if cfg.parallel and len(cfg.models) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from squeeze.original.workers import die_with_parent

        # Tiny models use one core badly: two single-threaded processes finish sooner.
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=len(cfg.models), mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
        )
        with pool:
            futures = {name: pool.submit(_train_one, cfg, name) for name in cfg.models}
            results = {name: f.result() for name, f in futures.items()}
    else:
        results = {name: _train_one(cfg, name) for name in cfg.models}
    wall = time.perf_counter() - started
    models, tokenizer = {}, None
    for name in cfg.models:
        models[name], tokenizer = load_model_and_tokenizer(run / name)
    report = acceptance_report(world, tokenizer, models)
    report["train_seconds"] = {name: seconds for name, (_, seconds) in results.items()}
    report["train_wall_seconds"] = wall
    report["train_log"] = {name: log for name, (log, _) in results.items()}
    report["n_parameters"] = sum(p.numel() for p in next(iter(models.values())).parameters())
    if cfg.base_model:
        report["base_model"] = cfg.base_model
    write_json(run / "train_report.json", report)
    return run.root


def run(cfg: TrainOriginalConfig) -> Path:
    """The train-original stage: `train_original`; returns the run folder (OUT/original, OUT/retain)."""
    return train_original(cfg)
