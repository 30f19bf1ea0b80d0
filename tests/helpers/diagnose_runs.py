"""A tiny world, an original model and two checkpoints of it, and their `squeeze diagnose`
outputs, built once per session (tests/conftest.py: `diagnose_setup`, `diagnosed_runs`).
Shared by the diagnose, leaderboard and packaging tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import yaml

from squeeze.bins.binner import normalise
from squeeze.cli.main import main
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import answer_logprobs
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.world.build import generate_world

N_TRAINED = 4  # forget items the tiny original model memorises
# Explicit thresholds (DESIGN section 10's rule at these values), so a calibrated
# squeeze/defaults/verdict.yaml does not change what these tests expect.
FAST = [
    "--limit",
    "4",
    "--candidates",
    "4",
    "--max-new-tokens",
    "12",
    "--batch-size",
    "8",
    "--quiet",
    "--tau",
    "0.5",
    "--n-min",
    "2",
    "--s-min",
    "2.5",
]


def train_answers(model, batch, steps: int, lr: float, sign: float, optimizer=torch.optim.AdamW):
    """`steps` optimizer steps on the batch's answer tokens: sign +1 fits them, -1 is gradient ascent (E1).
    Returns the model, in eval mode."""
    opt = optimizer(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        out = answer_logprobs(model, batch)
        loss = -sign * out.logp_sum.sum() / out.n_tokens.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def build_diagnose_setup(root: Path) -> dict[str, Path]:
    """A world; an original model trained on every answer template of a few facts; and two
    checkpoints of it: gradient ascent on the targets (E1), saved as a squeeze-style run
    folder (model/ + config.yaml), and a *spurious* one fine-tuned to give a sibling template
    instead of each target (the fact stays, the target's wording falls), saved by plain
    `save_pretrained` without a tokenizer. All under `root`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from threads on a busy machine
    try:
        world = generate_world(n_people=4, seed=1, forget_pct=10)
        world.write(root / "world")
        forget, retain = world.splits["forget"][:N_TRAINED], world.splits["retain"][:3]
        tok = build_word_tokenizer(world.corpus_texts())
        pairs = [encode_qa(tok, r.question, a) for r in forget + retain for a in world.answer_family(r)]
        torch.manual_seed(0)
        model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, seed=0, tokenizer=tok)
        train_answers(model, collator_for(tok)(pairs), steps=80, lr=1e-2, sign=1.0)
        save_model(model, tok, root / "original")
        original = copy.deepcopy(model.state_dict())
        targets = collator_for(tok)([encode_qa(tok, r.question, r.answer) for r in forget])
        train_answers(model, targets, steps=3, lr=0.1, sign=-1.0, optimizer=torch.optim.SGD)  # gradient ascent (E1)
        save_model(model, tok, root / "run" / "model")
        (root / "run" / "config.yaml").write_text(
            yaml.safe_dump({"method": "ga", "original": str(root / "original"), "world": str(root / "world")}),
            encoding="utf-8",
        )
        model.load_state_dict(original)
        siblings = [next(a for a in world.answer_family(r) if normalise(a) != normalise(r.answer)) for r in forget]
        train_answers(
            model,
            collator_for(tok)([encode_qa(tok, r.question, a) for r, a in zip(forget, siblings, strict=False)]),
            steps=15,
            lr=3e-3,
            sign=1.0,
        )
        model.save_pretrained(root / "bare")  # plain transformers: weights and config only
        (root / "forget.jsonl").write_text(
            "".join(json.dumps(r.to_dict()) + "\n" for r in world.splits["forget"]), encoding="utf-8"
        )
    finally:
        torch.set_num_threads(threads)
    return {
        "root": root,
        "world": root / "world",
        "original": root / "original",
        "run": root / "run",
        "bare": root / "bare",
        "forget": root / "forget.jsonl",
        "cache": root / "judges.sqlite",
    }


def run_diagnose(*args: str) -> int:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(["diagnose", *map(str, args), *FAST])
    finally:
        torch.set_num_threads(threads)


def diagnose_both(s: dict[str, Path]) -> dict[str, Path]:
    """The diagnose outputs of both checkpoints of `build_diagnose_setup`."""
    # The run folder: reference and data come from its config.yaml; output to RUN/diagnose.
    assert run_diagnose("--model", s["run"], "--cache", s["cache"]) == 0
    # The bare folder: everything from flags; the forget records carry their facts.
    out = s["root"] / "bare-diagnose"
    assert (
        run_diagnose(
            "--model",
            s["bare"],
            "--reference",
            s["original"],
            "--forget",
            s["forget"],
            "--out",
            out,
            "--cache",
            s["cache"],
        )
        == 0
    )
    return {"ga": s["run"] / "diagnose", "spurious": out}
