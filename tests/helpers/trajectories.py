"""Per-step trajectories of each unlearning method on a fixed tiny model and seed (issue 12,
item 6; TRL's invariant tests): the trainer's logged losses and the forget targets' mean
log-prob, recorded by `tests/reference_trajectories/regenerate.py` and compared by
`tests/test_reference_trajectories.py`. Any change to a loss, the trainer's batching or
its optimizer step moves these numbers; a change meant to do that regenerates the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from helpers.trainer_runs import config, log_rows, make_inputs
from squeeze.lm.logprobs import score_pairs
from squeeze.unlearn.trainer import run_unlearning

FOLDER = Path(__file__).resolve().parents[1] / "reference_trajectories"
STEPS = 4
# Shared by every method; each method keeps its own defaults (its Objective in methods/).
SETTINGS = (f"steps={STEPS}", "lr=1e-2", "forget_batch_size=4", "retain_batch_size=4", "track_every=1", "seed=0")
TOLERANCE = {"rel": 1e-4, "abs": 1e-6}


class TargetLogprob:
    """A trainer hook: the mean over forget items of the target's sequence log-prob."""

    def __init__(self):
        self.values: dict[int, float] = {}

    def on_step(self, step, model, trainer):
        scores = score_pairs(model, trainer.forget_pairs, trainer.collate, batch_size=len(trainer.forget_pairs))
        self.values[step] = float(scores.logp_sum.mean())

    def on_end(self, model, trainer):
        pass

    def state_dict(self):
        return {"values": self.values}

    def load_state_dict(self, state):
        self.values = dict(state["values"])


def trajectory_inputs(root: Path) -> dict:
    """The fixed tiny model (seed 0) and QA files every trajectory starts from."""
    return make_inputs(root)


def trajectory(method: str, inputs: dict, out: Path) -> dict:
    """Run `method` for STEPS steps from `inputs` into `out`; its per-step numbers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the sums are added in one order on every run
    try:
        hook = TargetLogprob()
        run = run_unlearning(config(inputs, out, method, *SETTINGS), hooks=[hook])
    finally:
        torch.set_num_threads(threads)
    return {
        "method": method,
        "settings": list(SETTINGS),
        "losses": [{k: row[k] for k in ("step", "loss", "forget", "retain")} for row in log_rows(run)],
        "target_logp": [{"step": step, "mean_logp_sum": value} for step, value in sorted(hook.values.items())],
    }


def reference_file(method: str) -> Path:
    return FOLDER / f"{method}.json"


def write_reference(record: dict) -> Path:
    path = reference_file(record["method"])
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path
