"""Settings of `squeeze demo` (kept free of torch so `--help` is fast)."""

from __future__ import annotations

from dataclasses import dataclass

from squeeze.core.config import check_ranges, option
from squeeze.core.errors import ConfigError
from squeeze.diagnose.judging import JudgeSpec
from squeeze.diagnose.options import DiagnoseOptions

ALL_METHODS = ["ga", "graddiff", "npo", "simnpo", "wga", "rmu", "bs_t", "bs_s"]

# The README's figures need probes at every tracked step (the leak-vs-drop figure) and more
# items and candidates than `squeeze unlearn`'s cheaper default budget (squeeze/track/budget.py).
DEMO_TRACK = {"probe_every": 1, "figures": True, "items": 32, "candidates": 3}


@dataclass
class DemoConfig(DiagnoseOptions):
    # Inherited: thresholds, the MMLU settings and the attacks' settings, handed on to every diagnose (with the judge).
    attacks: str = option("relearn,quantize,rephrase,sample", "attacks run by every diagnose (issue 11; '' : none)")
    # Smaller than `squeeze attack`'s defaults so that the demo's time goes to more methods, not to
    # repeating each attack (issue 11 item 4): one relearn fold, one bit width, leak@4.
    relearn_folds: int = option(1, "relearn: 1 fold in the demo (train on half A, measure B); 2 measures every item")
    quantize_bits: str = option("4", "quantize: bit widths in the demo (4: the coarser of squeeze attack's 8,4)")
    sample_k: int = option(4, "sample: answers per question in the demo (leak@4)")
    out: str = option("runs/demo", "run directory of the whole pipeline")
    people: int = option(100, "people in the fictitious world")
    world_seed: int = option(0, "seed of the world")
    forget_pct: int = option(10, "percent of people to forget (1, 5 or 10)")
    forget_people: int = option(0, "forget exactly this many people instead (0: forget_pct)")
    original_run: str = option(
        "",
        "reuse the original and retain models of this folder (a train-original run, or a validate run's models/) "
        "instead of training them; they must have been trained on the same world",
    )
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
    track: dict = option(
        dict(DEMO_TRACK),
        "tracker budget of every unlearning run (squeeze unlearn's track.* settings, e.g. track.items=16); "
        "the demo's: 32 items, 3 candidates, probes at every tracked step, figures",
    )
    seed: int = option(0, "unlearning seed")
    judge: JudgeSpec = option(
        JudgeSpec(backend="embedding"), "the judge of every diagnose (--judge BACKEND, --judge-<option>)"
    )
    limit: int = option(0, "judge and diagnose at most this many forget items (0: all)")
    figures_dir: str = option("figures", "copy the README's key figures here ('' to skip)")
    force: bool = option(False, "recompute finished stages that were made with other settings (else: refuse)")

    def check(self) -> DemoConfig:
        """One clear error for an impossible setting or an unknown name, before any folder is made.

        Method names become folders under OUT/methods: only registered names are accepted,
        so `../../x` can never point outside OUT (issue 14).
        """
        import methods
        from squeeze.diagnose.judging import check_spec
        from squeeze.track.budget import TrackBudget

        unknown = [m for m in self.methods if not isinstance(m, str) or m not in methods.OBJECTIVES]
        if unknown or not self.methods:
            raise ConfigError(
                f"methods must be a non-empty list of known methods ({', '.join(sorted(methods.OBJECTIVES))}), "
                f"got {unknown or self.methods!r}"
            )
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods lists a method twice: {self.methods}")
        check_spec(self.judge)
        TrackBudget.from_settings(self.track, self.track_every)  # one clear error for a bad track.* setting
        if self.forget_pct not in (1, 5, 10):
            raise ConfigError(f"forget_pct must be 1, 5 or 10, got {self.forget_pct}")
        if not self.lr > 0 or self.train_lr < 0:
            raise ConfigError(f"lr must be > 0 and train_lr >= 0, got {self.lr} and {self.train_lr}")
        check_ranges(
            self,
            {
                "people": (1, None),
                "world_seed": (0, 2**32 - 1),
                "forget_people": (0, None),
                "epochs": (1, None),
                "train_batch_size": (0, None),
                "train_threads": (0, None),
                "candidates": (1, None),
                "steps": (1, None),
                "forget_batch_size": (1, None),
                "retain_batch_size": (1, None),
                "track_every": (0, None),
                "seed": (0, 2**32 - 1),
                "limit": (0, None),
                "mmlu": (0, None),
            },
        )
        return self


FAST = {
    "people": 20,
    "epochs": 20,
    "candidates": 10,
    "steps": 40,
    "lr": 1e-4,
    "methods": ["ga", "npo", "bs_t", "bs_s"],
    "figures_dir": "",
}
