"""Settings of `squeeze unlearn` (DESIGN section 6) and their resolution against an objective.

Order of precedence, lowest first: the method's defaults (its `Objective` in methods/, the one
place they are defined), each `--config` YAML, the command-line flags, then `key=value`
overrides. `gamma`, `alpha`, `retain_loss` left at None take the objective's defaults, and the
`params` dict is merged over the objective's own parameters (`method.lam=0.3`), so the
`config.yaml` written into the run says exactly how the run was made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from squeeze.core.config import check_ranges, load_yaml, option, resolve_config
from squeeze.core.errors import ConfigError


@dataclass
class UnlearnConfig:
    method: str = option("", "unlearning objective, a name in methods.OBJECTIVES (--method)")
    original: str = option(
        "", "original model: a Hugging Face folder, or a train-original run folder (uses its original/)"
    )
    world: str = option("", "world directory; its forget and retain splits are used (or give forget and retain)")
    forget: str = option("", "forget set file of QA records (.jsonl/.json/.parquet), instead of world")
    retain: str = option("", "retain set file of QA records, instead of world")
    out: str = option("", "run directory")
    lr: float = option(1e-5, "peak learning rate (AdamW)")
    steps: int | None = option(None, "optimizer steps; None: derived from epochs")
    epochs: float = option(5.0, "passes over the forget set when steps is None")
    forget_batch_size: int = option(4, "forget sequences per micro-batch and process")
    retain_batch_size: int = option(4, "retain sequences per micro-batch and process")
    grad_accum: int = option(1, "micro-batches per optimizer step (effective batch = batch * grad_accum * processes)")
    warmup_steps: int = option(0, "linear warm-up from 0 to lr over this many steps")
    schedule: Literal["constant", "linear"] = option(
        "constant", "after warm-up: constant lr, or linear decay to 0 at the last step"
    )
    weight_decay: float = option(0.0, "AdamW weight decay")
    seed: int = option(0, "seed of the samplers, BS-S sampling and torch/numpy/python RNGs")
    gamma: float | None = option(None, "weight of L_forget; None: the objective's default")
    alpha: float | None = option(None, "weight of L_retain; None: the objective's default")
    retain_loss: str | None = option(
        None, "nll, nll_token (OpenUnlearning's token mean), kl or rmu; None: the objective's default"
    )
    params: dict = option(
        {}, "the objective's own parameters, merged over its defaults (params.lam=0.3 or method.lam=0.3)"
    )
    lora: bool = option(False, "train LoRA adapters (peft) instead of all weights; merged before saving")
    lora_r: int = option(8, "LoRA rank")
    lora_alpha: int = option(16, "LoRA scaling alpha")
    checkpoint_every: int = option(0, "steps between checkpoints (0: none); --resume continues from the last good one")
    track_every: int | None = option(
        None,
        "steps between hook calls (the tracker) on the every-N grid; 0: only step 0 and the end; "
        "None: the log-spaced schedule of track.schedule",
    )
    track: dict = option(
        {},
        "tracker budget (squeeze/track/budget.py): track.items (N or all; default 16 items, spread evenly), "
        "track.candidates (per bin, most likely first; N or all; default 1), track.schedule (log: dense early, "
        "sparse late, always the last step; every: every track_every steps; default log unless track_every is "
        "set), track.points (log-spaced steps; default 5), track.probe_every (0: none, the default; ends: first and last tracked step; N steps), "
        "track.figures (true: draw the dynamics figures at the end; default false: diagnose and squeeze track draw them)",
    )
    max_length: int | None = option(256, "longest prompt+answer in tokens (prompts are cut from the left)")
    gen_max_new_tokens: int = option(32, "longest BS-S sample, in tokens")
    score_batch_size: int | str = option(
        32,
        "batch size for reference log-probs, BS-S sampling and (when auto) the tracker; or auto (largest that fits, cached)",
    )
    device: str = option(
        "auto", "auto: what accelerate picks (GPU when present); cpu; cuda or cuda:N: that GPU (one process)"
    )
    dtype: str = option(
        "fp32",
        "fp32; bf16: bf16 mixed precision (fp32 weights and optimizer state, bf16 compute; slow on a CPU); "
        "auto: bf16 on a GPU that has it, else fp32",
    )
    report_to: str = option(
        "none", "none, or tensorboard: losses, lr and the tracker's curves as scalars in RUN/tensorboard"
    )

    def check(self) -> UnlearnConfig:
        """One clear error for an impossible setting."""
        positive = (
            "forget_batch_size",
            "retain_batch_size",
            "grad_accum",
            "lora_r",
            "gen_max_new_tokens",
        )
        from squeeze.lm.runtime import parse_batch_size

        self.score_batch_size = parse_batch_size(self.score_batch_size)
        self.training_dtype()  # one clear line for a bad device or dtype
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        self.track_budget()  # one clear error for a bad track.* setting
        for name in ("warmup_steps", "checkpoint_every", "track_every"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}")
        if self.steps is None and self.epochs <= 0:
            raise ConfigError(f"epochs must be > 0 when steps is not set, got {self.epochs}")
        if not self.lr > 0:  # also nan
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        check_ranges(
            self,
            {
                "weight_decay": (0, None),
                "seed": (0, 2**32 - 1),  # numpy's seed range
                "max_length": (2, None),  # one prompt token and one answer token at least
                "epochs": (0, None),
                "gamma": (None, None),
                "alpha": (None, None),
            },
        )
        from squeeze.unlearn.tensorboard import REPORT_TO

        if self.report_to not in REPORT_TO:
            raise ConfigError(f"report_to must be one of {list(REPORT_TO)}, got {self.report_to!r}")
        import methods

        if self.retain_loss is not None and self.retain_loss not in methods.RETAIN_TERMS:
            raise ConfigError(f"retain_loss must be one of {list(methods.RETAIN_TERMS)}, got {self.retain_loss!r}")
        if not self.original:
            raise ConfigError("no original model: pass --original (a model folder or a train-original run)")
        if not self.world and not self.forget:
            raise ConfigError("no data: pass --world DIR, or --forget FILE (and --retain FILE)")
        if self.world and (self.forget or self.retain):
            raise ConfigError("pass either --world or --forget/--retain, not both")
        if not self.out:
            raise ConfigError("no run directory: pass --out")
        return self

    def training_dtype(self):
        """The compute dtype of training on `device` (squeeze.lm.runtime), float32 or bfloat16."""
        import torch

        from squeeze.lm.runtime import resolve_device, resolve_dtype

        dtype = resolve_dtype(self.dtype, resolve_device(self.device))
        if dtype not in (torch.float32, torch.bfloat16):
            raise ConfigError(
                f"dtype {self.dtype!r}: training takes fp32, bf16 or auto (fp16 would need a loss scaler)"
            )
        return dtype

    def track_budget(self):
        """The tracker's budget (squeeze.track.budget.TrackBudget) from `track` and `track_every`."""
        from squeeze.track.budget import TrackBudget

        return TrackBudget.from_settings(self.track, self.track_every)

    def hook_steps(self, total_steps: int) -> list[int]:
        """The steps at which the trainer calls its hooks (0 and the last step always)."""
        from squeeze.track.budget import tracked_steps

        return tracked_steps(total_steps, self.track_budget(), self.track_every)


def check_run_dir(cfg: UnlearnConfig, resume: bool) -> None:
    """A fresh run never writes into another run's folder; a resumed one must match its config."""
    stored_path = Path(cfg.out) / "config.yaml"
    if not stored_path.exists():
        return
    if not resume:
        raise ConfigError(f"{cfg.out} already holds a run; pass --resume to continue it, or choose another --out")
    stored, ours = load_yaml(stored_path), dataclasses.asdict(cfg)
    differ = sorted(k for k in set(stored) | set(ours) if k not in ("device", "out") and stored.get(k) != ours.get(k))
    if differ:
        raise ConfigError(f"cannot resume {cfg.out}: settings differ from its config.yaml: {', '.join(differ)}")


def check_method_name(name: str) -> str:
    """A registered objective's name, or one clear error: a name is never used as a path (issue 14)."""
    import methods

    if name not in methods.OBJECTIVES:
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(sorted(methods.OBJECTIVES))}")
    return name


def load_unlearn_config(
    method: str = "", config_paths: Sequence[str] = (), overrides: Sequence[str] = (), **values: Any
) -> UnlearnConfig:
    """The objective's defaults < --config files < flags < key=value.

    `method.X=v` is read as `params.X=v` (the method's own parameter X), and a dotted key
    inside params (`params.base_params.beta=0.2`) sets a nested entry.
    """
    if not method:  # `method: NAME` inside a --config file names the method too
        for path in config_paths:
            method = load_yaml(path).get("method") or method
    if method:
        check_method_name(str(method))
    paths = list(config_paths)
    overrides = ["params." + o[len("method.") :] if o.startswith("method.") else o for o in overrides]
    cfg = resolve_config(UnlearnConfig, paths, overrides, method=method or None, **values)
    return dataclasses.replace(cfg, params=_nest_dotted(cfg.params))


def resolve_objective(cfg: UnlearnConfig, check: bool = True):
    """(cfg with gamma/alpha/retain_loss/params filled from the objective, the Objective).

    `check=False` leaves out the run's own checks (models, data, out): `--print-config` shows
    a method's settings before any of them is chosen.
    """
    import methods

    if not cfg.method:
        raise ConfigError("no method: pass --method NAME")
    try:
        objective = methods.get_objective(cfg.method)
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"unknown method {cfg.method!r}; known methods: {', '.join(sorted(methods.OBJECTIVES))}"
        ) from exc
    params = _merge_params(cfg.method, cfg.params)  # checked, and a base objective's resolved too
    resolved = dataclasses.replace(
        cfg,
        gamma=objective.gamma if cfg.gamma is None else cfg.gamma,
        alpha=objective.alpha if cfg.alpha is None else cfg.alpha,
        retain_loss=objective.retain_loss if cfg.retain_loss is None else cfg.retain_loss,
        params=params,
    )
    if check:
        resolved.check()
    term = methods.RETAIN_TERMS[resolved.retain_loss]
    if term.uses_hidden_states and not objective.needs_hidden_states:
        raise ConfigError(
            f"retain_loss {term.name!r} needs hidden states at the objective's layer; method {cfg.method!r} has none"
        )
    return resolved, objective


def _merge_params(name: str, given: dict) -> dict:
    """The method's defaults updated by `given`; an unknown key is one clear error."""
    import methods

    try:
        return methods.resolve_params(name, given)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _nest_dotted(params: dict) -> dict:
    out: dict = {}
    for key, value in params.items():
        head, _, rest = key.partition(".")
        if rest:
            out[head] = {**(out.get(head) or {}), **_nest_dotted({rest: value})}
        else:
            out[key] = {**out[key], **value} if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out
