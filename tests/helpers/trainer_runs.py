"""Tiny inputs for the unlearning trainer and readers of its run folder (tests/test_trainer*.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from helpers import REPO
from squeeze.core.data import write_qa
from squeeze.core.types import QARecord
from squeeze.lm.models import save_model
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.unlearn.config import load_unlearn_config

NAMES = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]
CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kiev", "Bern", "Riga", "Doha", "Baku", "Lome", "Suva", "Apia"]


def make_inputs(root: Path) -> dict:
    """8 forget and 4 retain QA records as JSONL, and a tiny Llama saved as a train-original run."""
    root.mkdir(parents=True, exist_ok=True)
    records = [
        QARecord(id=f"p{i}", question=f"Where was {n} born ?", answer=f"{n} was born in {c} .")
        for i, (n, c) in enumerate(zip(NAMES, CITIES, strict=False))
    ]
    write_qa(root / "forget.jsonl", records[:8])
    write_qa(root / "retain.jsonl", records[8:])
    model, tokenizer = tiny_model_and_tokenizer(
        [r.question + " " + r.answer for r in records], hidden_size=32, num_layers=2, num_heads=2, seed=0
    )
    save_model(model, tokenizer, root / "original" / "original")
    return {
        "original": str(root / "original"),
        "forget": str(root / "forget.jsonl"),
        "retain": str(root / "retain.jsonl"),
    }


def config(inputs: dict, out: Path, method: str = "ga", *overrides: str):
    base = ["device=cpu", "steps=3", "lr=1e-2", "forget_batch_size=2", "retain_batch_size=2", "track_every=0"]
    return load_unlearn_config(method, [], base + list(overrides), out=str(out), **inputs)


def log_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "loss_log.jsonl").read_text().splitlines()]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "model.safetensors")


def quiet_env() -> dict:
    """The environment of a subprocess that runs the trainer: one thread, offline, this checkout first."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env
