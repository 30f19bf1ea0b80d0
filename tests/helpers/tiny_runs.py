"""Tiny real models and a world for the reliability tests, built once per session.

An original model (a 2-layer Llama, trained for a few steps on the world's facts) and a
checkpoint of it (a few steps of gradient ascent), both saved as Hugging Face folders
with the world's word-level tokenizer. Small enough that a diagnosis takes seconds.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

from helpers.diagnose_runs import train_answers
from squeeze.lm.batching import collator_for
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.world.build import generate_world


@lru_cache(maxsize=1)
def tiny() -> dict:
    root = Path(tempfile.mkdtemp(prefix="squeeze-reliability-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        world = generate_world(n_people=4, seed=1, forget_pct=10)
        world.write(root / "world")
        tok = build_word_tokenizer(world.corpus_texts())
        records = world.splits["forget"][:3] + world.splits["retain"][:3]
        pairs = [encode_qa(tok, r.question, a) for r in records for a in world.answer_family(r)]
        model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, seed=0, tokenizer=tok)
        train_answers(model, collator_for(tok)(pairs), steps=20, lr=1e-2, sign=1.0)
        save_model(model, tok, root / "original")
        forget = world.splits["forget"][:3]
        train_answers(
            model,
            collator_for(tok)([encode_qa(tok, r.question, r.answer) for r in forget]),
            steps=2,
            lr=1e-2,
            sign=-1.0,
        )
        save_model(model, tok, root / "checkpoint")
    finally:
        torch.set_num_threads(threads)
    return {
        "root": root,
        "world": root / "world",
        "original": root / "original",
        "checkpoint": root / "checkpoint",
        "tokenizer": tok,
        "model": model,
    }


def diagnose_args(out, server_url: str, *extra, model=None) -> list[str]:
    """`squeeze diagnose` of the tiny checkpoint, judged by the loopback server, in seconds."""
    t = tiny()
    return [
        "diagnose",
        "--model",
        str(model or t["checkpoint"]),
        "--reference",
        str(t["original"]),
        "--world",
        str(t["world"]),
        "--out",
        str(out),
        "--judge-base-url",
        server_url,
        "--judge-model",
        "rule",
        "--judge-max-attempts",
        "1",
        "--judge-timeout",
        "20",
        "--cache",
        str(Path(out).parent / "cache.sqlite"),
        "--limit",
        "2",
        "--utility-items",
        "2",
        "--candidates",
        "2",
        "--max-new-tokens",
        "6",
        "--batch-size",
        "4",
        "--tau",
        "0.5",
        "--n-min",
        "2",
        "--s-min",
        "2.5",
        "--quiet",
        *extra,
    ]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
