"""Settings of `squeeze demo` (kept free of torch so `--help` is fast)."""

from __future__ import annotations

from dataclasses import dataclass

from squeeze.core.config import option
from squeeze.diagnose.judging import JudgeSpec
from squeeze.diagnose.options import DiagnoseOptions

ALL_METHODS = ["ga", "graddiff", "npo", "simnpo", "wga", "rmu", "bs_t", "bs_s"]


@dataclass
class DemoConfig(DiagnoseOptions):
    # Inherited: thresholds, the MMLU settings and the attacks' settings, handed on to every diagnose (with the judge).
    attacks: str = option("relearn,quantize,rephrase,sample", "attacks run by every diagnose (issue 11; '' : none)")
    out: str = option("runs/demo", "run directory of the whole pipeline")
    people: int = option(100, "people in the fictitious world")
    world_seed: int = option(0, "seed of the world")
    forget_pct: int = option(10, "percent of people to forget (1, 5 or 10)")
    epochs: int = option(20, "training passes of the original and retain models")
    base_model: str = option(
        "",
        "pretrained model the original and retain models are fine-tuned from (folder, .gguf or smollm2-135m-instruct); '' trains tiny models from scratch",
    )
    train_lr: float = option(
        0.0, "peak learning rate of train-original (0: its default, meant for from-scratch models)"
    )
    train_batch_size: int = option(0, "sequences per train-original step (0: its default)")
    train_threads: int = option(0, "torch threads per train-original process (0: its default)")
    train_parallel: bool = option(True, "train the original and retain models in parallel processes")
    candidates: int = option(20, "beam candidates per forget item for the binner")
    methods: list = option(list(ALL_METHODS), "unlearning methods to run, in order")
    lr: float = option(1e-4, "unlearning learning rate, the same for every method")
    steps: int = option(100, "unlearning steps, the same for every method")
    forget_batch_size: int = option(8, "forget sequences per step")
    retain_batch_size: int = option(8, "retain sequences per step")
    track_every: int = option(10, "tracker period in steps")
    seed: int = option(0, "unlearning seed")
    judge: JudgeSpec = option(
        JudgeSpec(backend="embedding"), "the judge of every diagnose (--judge BACKEND, --judge-<option>)"
    )
    limit: int = option(0, "judge and diagnose at most this many forget items (0: all)")
    figures_dir: str = option("figures", "copy the README's key figures here ('' to skip)")


FAST = {
    "people": 20,
    "epochs": 20,
    "candidates": 10,
    "steps": 40,
    "lr": 1e-4,
    "methods": ["ga", "npo", "bs_t", "bs_s"],
    "figures_dir": "",
}
