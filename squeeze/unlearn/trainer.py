"""The unlearning trainer (DESIGN section 6): a plain PyTorch loop on `accelerate`.

Each step draws a forget batch and a retain batch from seeded samplers, computes
`L = gamma * L_forget + alpha * L_retain` with an objective from `methods/`, and steps AdamW
and the schedule (linear warm-up, then constant or linear decay to 0). Hooks (the tracker)
run at step 0, at the steps of the tracker's schedule (`track_every`, `track.*`) and at the
end; checkpoints hold everything a resumed run needs to end with the same weights; a NaN or
inf loss stops the run.

    squeeze unlearn --method npo --original runs/original --world runs/world --out runs/npo lr=1e-4
    squeeze unlearn --out runs/npo --resume                  # after a crash: from the last good checkpoint
    accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m squeeze.cli.main unlearn ... device=cpu
    accelerate launch --config_file configs/accelerate/ddp_multi_gpu.yaml -m squeeze.cli.main unlearn ...

Only the main process writes files. Memory: one model, except where a frozen copy of the
original is needed: the KL retain loss, RMU's retain term, and on-policy BS-S with a base
that needs reference log-probs (its new samples are scored by the frozen copy). NPO's
reference log-probs on the forget set and on off-policy BS-S samples are computed once
before training (`reference_logprobs.json`, `bs_s_samples.jsonl`).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from tqdm.auto import tqdm

import methods
from methods.base import ForgetInputs
from methods.common import IGNORE_INDEX, shift_for_next_token
from squeeze.core.config import to_yaml
from squeeze.core.errors import ConfigError, TrainingDiverged
from squeeze.core.rundir import RunDir, read_json, write_json, write_jsonl, write_text
from squeeze.lm.batching import collator_for, position_ids_for
from squeeze.lm.models import load_model, load_tokenizer, resolve_original, save_model
from squeeze.lm.prompting import encode_qa
from squeeze.unlearn import data
from squeeze.unlearn.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, truncate_log
from squeeze.unlearn.config import UnlearnConfig, check_run_dir, resolve_objective


class TrainerHook(Protocol):
    """What the tracker implements. Called on every process; write files only on the main one."""

    def on_step(self, step: int, model, trainer: Trainer) -> None: ...  # step 0, the track schedule, last
    def on_end(self, model, trainer: Trainer) -> None: ...
    def state_dict(self) -> dict: ...  # JSON-serialisable; saved in checkpoints
    def load_state_dict(self, state: dict) -> None: ...


def _pick_gpu(device: str) -> None:
    """device=cuda:N in one process: make GPU N the current one, which accelerate then uses."""
    import os

    from squeeze.lm.runtime import resolve_device

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            f"device={device} picks one GPU; under accelerate launch give device=auto and choose GPUs there"
        )
    torch.cuda.set_device(resolve_device(device))


class Trainer:
    def __init__(self, cfg: UnlearnConfig, hooks: Sequence[TrainerHook] = (), resume: bool = False):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed

        self.cfg, self.objective = resolve_objective(cfg)
        self.hooks, self.resume = list(hooks), resume
        self.run = RunDir(self.cfg.out)
        self.params = dict(self.cfg.params)
        # An augmenting objective (BS-S) runs a base objective on both sets; every other
        # objective is its own base.
        self.augment = self.objective.augmentation(self.params) if self.objective.augments_forget_set else None
        base = self.objective.base_of(self.params)
        self.base = methods.get_objective(base[0]) if base else self.objective
        self.base_params = base[1] if base else self.params
        self.retain_term = methods.RETAIN_TERMS[self.cfg.retain_loss]
        # RMU updates only the layers up to its own; DDP must not wait for the others' grads.
        ddp = DistributedDataParallelKwargs(find_unused_parameters=self.base.needs_hidden_states)
        self.dtype = self.cfg.training_dtype()  # device and dtype through squeeze.lm.runtime (issue 15)
        if self.cfg.device.startswith("cuda:"):
            _pick_gpu(self.cfg.device)
        self.accelerator = Accelerator(cpu=self.cfg.device == "cpu", kwargs_handlers=[ddp])
        self.is_main = self.accelerator.is_main_process
        self.sharded = self.accelerator.distributed_type.value in ("FSDP", "DEEPSPEED")
        if self.sharded and (self.cfg.checkpoint_every or self.augment or self.cfg.lora):
            # Sampling would need every shard in lockstep; checkpoints and LoRA merging need whole weights.
            raise ConfigError(
                "under FSDP/DeepSpeed the trainer runs without checkpoints (checkpoint_every=0), BS-S or LoRA; use DDP for those"
            )
        if self.accelerator.distributed_type.value == "DEEPSPEED":  # no dataloader for accelerate to read it from
            self.accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = (
                self.cfg.forget_batch_size
            )
        set_seed(self.cfg.seed)  # the same seed on every process: they draw the same global batches
        check_run_dir(self.cfg, resume)
        original = self.original_dir = resolve_original(self.cfg.original)
        self.tokenizer = load_tokenizer(original)
        self.forget_set, self.retain_set = data.load_sets(self.cfg.world, self.cfg.forget, self.cfg.retain)
        self.uses_retain = self.cfg.alpha != 0
        if self.uses_retain and not self.retain_set:
            raise ConfigError(
                f"method {self.cfg.method} has a retain term (alpha={self.cfg.alpha}) but no retain set was given"
            )
        self.collate = collator_for(self.tokenizer, "right", max_length=self.cfg.max_length)
        self.forget_pairs = [encode_qa(self.tokenizer, r.question, r.answer) for r in self.forget_set]
        self.retain_pairs = [encode_qa(self.tokenizer, r.question, r.answer) for r in self.retain_set]

        model = load_model(original, device="cpu")
        self.layer = self._resolve_layer(model.config.num_hidden_layers)
        on_policy_ref = self.augment is not None and self.augment.on_policy and self.base.needs_reference_logprobs
        self.frozen = None
        if self.uses_retain and self.retain_term.needs_frozen_model or on_policy_ref:
            self.frozen = (
                load_model(original, device=self.accelerator.device, dtype=self.dtype).eval().requires_grad_(False)
            )
        if self.cfg.lora:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=self.cfg.lora_r, lora_alpha=self.cfg.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
            )
            model = get_peft_model(model, lora)
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )
        world = self.accelerator.num_processes
        self.global_batch = self.cfg.forget_batch_size * self.cfg.grad_accum * world
        self.total_steps = data.steps_for(self.cfg.steps, self.cfg.epochs, len(self.forget_pairs), self.global_batch)
        # Not passed to accelerator.prepare: its wrapper would step once per process.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.score_batch = self._score_batch_size()
        self.forget_sampler = data.EpochSampler(len(self.forget_pairs), self.cfg.seed)
        self.retain_sampler = data.EpochSampler(len(self.retain_pairs), self.cfg.seed + 1) if self.uses_retain else None
        self.forget_ref: list[float] | None = None
        self.samples: list[list[data.AugSample]] = [[] for _ in self.forget_pairs]
        self.step = 0

    # ---- setup -----------------------------------------------------------------------------

    def _score_batch_size(self) -> int:
        """score_batch_size, or for auto the largest no-grad batch of the longest forget or retain
        pair (or prompt plus a BS-S sample) that fits, found once and cached (squeeze.lm.runtime)."""
        if self.cfg.score_batch_size != "auto":
            return int(self.cfg.score_batch_size)
        from squeeze.bins.binner import model_fingerprint
        from squeeze.lm.runtime import auto_batch_size

        pairs = self.forget_pairs + self.retain_pairs
        longest = max(len(p) + max(len(a), self.cfg.gen_max_new_tokens) for p, a in pairs)
        model = self.accelerator.unwrap_model(self.model)
        return auto_batch_size(model, longest, "unlearn:" + model_fingerprint(self.original_dir)[:16])

    def _resolve_layer(self, num_layers: int) -> int | None:
        """RMU's layer: a 0-based decoder layer whose output is used; -1 picks the middle one."""
        if not self.base.needs_hidden_states:
            return None
        layer = int(self.base_params.get("layer", -1))
        layer = (num_layers - 1) // 2 if layer == -1 else layer
        if not 0 <= layer < num_layers:
            raise ConfigError(f"rmu layer must be in [0, {num_layers - 1}] (or -1 for the middle), got {layer}")
        return layer

    def _lr_factor(self, i: int) -> float:
        """Multiplier of lr for update i (0-based): linear warm-up, then constant or linear decay."""
        warm = self.cfg.warmup_steps
        if i < warm:
            return (i + 1) / warm
        if self.cfg.schedule == "linear":
            return max(0.0, (self.total_steps - i) / max(1, self.total_steps - warm))
        return 1.0

    def _prepare_reference(self) -> None:
        """(E3) logp_0 of every forget answer, once, from the untouched model (or the stored file)."""
        path = self.run / "reference_logprobs.json"
        if path.exists():
            stored = read_json(path)["forget"]
            self.forget_ref = [float(stored[r.id]) for r in self.forget_set]
            return
        model = self.accelerator.unwrap_model(self.model)
        self.forget_ref = data.reference_logprobs(model, self.forget_pairs, self.collate, self.score_batch)
        if self.is_main:
            write_json(path, {"forget": {r.id: v for r, v in zip(self.forget_set, self.forget_ref, strict=False)}})

    def _resample(self) -> None:
        """(E8) N responses per forget prompt, from the model as it is now (pi_0 before step 1)."""
        model = self.accelerator.unwrap_model(self.model)
        seed = self.cfg.seed * 7919 + self.step
        prompts = [p for p, _ in self.forget_pairs]
        targets = [r.answer for r in self.forget_set]
        self.samples = data.sample_augmented(
            model,
            self.tokenizer,
            prompts,
            targets,
            self.augment,
            seed,
            self.cfg.gen_max_new_tokens,
            self.score_batch,
            self.accelerator,
        )
        if self.base.needs_reference_logprobs:  # off-policy: the model is pi_0; on-policy: the frozen copy
            scorer = self.frozen if self.frozen is not None else model
            flat = [(i, s) for i, per_item in enumerate(self.samples) for s in per_item]
            pairs = [(self.forget_pairs[i][0], s.token_ids) for i, s in flat]
            for (_, s), ref in zip(
                flat, data.reference_logprobs(scorer, pairs, self.collate, self.score_batch), strict=False
            ):
                s.ref_logp = ref
        if self.is_main:
            write_jsonl(self.run / "bs_s_samples.jsonl", data.samples_to_rows(self.samples, self._ids(), self.step))

    def _ids(self) -> list[str]:
        return [r.id for r in self.forget_set]

    # ---- one step --------------------------------------------------------------------------

    def _forward(self, model, batch: dict, hidden: bool = False):
        # dtype=bf16 is mixed precision: the weights and AdamW's state stay fp32, the forward
        # runs under bf16 autocast (autocast, not accelerate's mixed_precision, whose state is
        # one per process), and the losses are computed from fp32 logits.
        with self._autocast():
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=position_ids_for(batch["attention_mask"]),
                output_hidden_states=hidden,
            )
        if out.logits.dtype != torch.float32:
            out.logits = out.logits.float()
        return out

    def _autocast(self):
        if self.dtype != torch.bfloat16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.accelerator.device.type, dtype=torch.bfloat16)

    def _batch(self, pairs) -> dict:
        return {k: v.to(self.accelerator.device) for k, v in self.collate(pairs).items()}

    def _forget_loss(self, objective, params: dict, pairs, refs) -> torch.Tensor:
        batch = self._batch(pairs)
        out = self._forward(self.model, batch, hidden=self.layer is not None)
        logits, labels = shift_for_next_token(out.logits, batch["labels"])
        inputs = ForgetInputs(logits=logits, labels=labels)
        if objective.needs_reference_logprobs:
            inputs.ref_logp = torch.tensor(refs, dtype=torch.float32, device=logits.device)
        if self.layer is not None:
            inputs.hidden = out.hidden_states[self.layer + 1]  # [0] is the embedding output
            inputs.hidden_mask = batch["labels"] != IGNORE_INDEX
        return objective.forget_loss(inputs, **params)

    def _retain_loss(self, pairs) -> torch.Tensor:
        batch = self._batch(pairs)
        term = self.retain_term
        out = self._forward(self.model, batch, hidden=term.uses_hidden_states)
        if term.uses_hidden_states:  # activations against the frozen model's, at the objective's layer
            with torch.no_grad():
                frozen = self._forward(self.frozen, batch, hidden=True).hidden_states[self.layer + 1]
            return term.loss(out.hidden_states[self.layer + 1], frozen, batch["labels"] != IGNORE_INDEX)
        logits, labels = shift_for_next_token(out.logits, batch["labels"])
        if term.needs_frozen_model:
            with torch.no_grad():
                ref_logits, _ = shift_for_next_token(self._forward(self.frozen, batch).logits, batch["labels"])
            return term.loss(logits, ref_logits, labels)
        return term.loss(logits, labels)

    def _train_step(self) -> dict:
        """Forward and backward every micro-batch of one step; return the step's mean losses.

        Each unit is (kind, loss closure, share): its loss enters the step's mean with weight
        `share` and is backpropagated with `coef[kind] * share`. (E8): BS-S's weights of the
        two sets come from methods.bs_s.bs_s_combine, which is linear in its two terms.
        """
        cfg, acc = self.cfg, self.accelerator
        rank, world, accum = acc.process_index, acc.num_processes, cfg.grad_accum
        f_micro = data.micro_batches(
            self.forget_sampler.draw(self.global_batch), cfg.forget_batch_size, accum, rank, world
        )
        r_micro = []
        if self.retain_sampler is not None:
            r_draw = self.retain_sampler.draw(cfg.retain_batch_size * accum * world)
            r_micro = data.micro_batches(r_draw, cfg.retain_batch_size, accum, rank, world)
        lam = 0.0
        if self.augment:  # the combination is linear in its two terms: its weight of the augmented one
            lam = float(self.objective.forget_loss(torch.tensor(0.0), torch.tensor(1.0), **self.params))
        coef = {"forget": cfg.gamma * (1 - lam), "retain": cfg.alpha, "aug": cfg.gamma * lam}
        units = []
        for k in range(accum):
            refs = [self.forget_ref[i] for i in f_micro[k]] if self.base.needs_reference_logprobs else None
            units.append(("forget", self._forget_closure([self.forget_pairs[i] for i in f_micro[k]], refs), 1 / accum))
            if r_micro:
                retain_pairs = [self.retain_pairs[i] for i in r_micro[k]]
                units.append(("retain", lambda pairs=retain_pairs: self._retain_loss(pairs), 1 / accum))
        if self.augment:
            units += self._augmented_units(sorted({i for m in f_micro for i in m}))
        sums = {"forget": 0.0, "retain": 0.0, "aug": 0.0}
        for n, (kind, loss_fn, share) in enumerate(units):
            last = n == len(units) - 1
            acc.sync_gradients = last  # DeepSpeed reads it: accumulate until the step's last backward
            # DDP/FSDP all-reduce the gradients only on the step's last backward.
            with contextlib.nullcontext() if last else acc.no_sync(self.model):
                loss = loss_fn()
                acc.backward(loss * (coef[kind] * share))
            sums[kind] += float(loss.detach()) * share
        stats = torch.tensor([sums["forget"], sums["retain"], sums["aug"]], dtype=torch.float64, device=acc.device)
        forget, retain, aug = (float(x) for x in acc.reduce(stats, reduction="mean"))
        row = {"forget": forget, "retain": retain}
        if self.augment:
            row["forget"] = float(self.objective.forget_loss(torch.tensor(forget), torch.tensor(aug), **self.params))
            row["forget_base"], row["augmented"] = forget, aug
        return {"loss": cfg.gamma * row["forget"] + cfg.alpha * retain, **row}

    def _forget_closure(self, pairs, refs):
        return lambda: self._forget_loss(self.base, self.base_params, pairs, refs)

    def _augmented_units(self, items: list[int]) -> list:
        """(E8) this process's augmented micro-batches of `aug_micro_batch` samples, with shares
        that make their sum over all processes the mean of the base loss over every sample."""
        rows = [(self.forget_pairs[i][0], s.token_ids, s.ref_logp) for i in items for s in self.samples[i]]
        by_tokens = self.base.averages_over == "tokens"
        size = lambda chunk: sum(len(r[1]) for r in chunk) if by_tokens else len(chunk)  # noqa: E731
        total = torch.tensor(float(size(rows)), dtype=torch.float64, device=self.accelerator.device)
        total = float(self.accelerator.reduce(total, reduction="sum"))
        world, step = self.accelerator.num_processes, self.augment.micro_batch
        units = []
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            refs = [r[2] for r in chunk] if self.base.needs_reference_logprobs else None
            # x world: the cross-process mean (DDP's, and the log's) divides by it again.
            units.append(
                ("aug", self._forget_closure([(r[0], r[1]) for r in chunk], refs), size(chunk) * world / total)
            )
        return units

    # ---- the loop --------------------------------------------------------------------------

    def train(self) -> Path:
        cfg = self.cfg
        if self.is_main:
            self.run.create()
            write_text(self.run.config, to_yaml(cfg))
        checkpoint = latest_checkpoint(self.run.checkpoint) if self.resume else None
        if self.base.needs_reference_logprobs:
            self._prepare_reference()
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            if self.augment:
                self._resample()
            self._call_hooks(0)
        log_path = self.run / "loss_log.jsonl"
        if self.is_main:  # drop what a killed run logged after its last checkpoint
            truncate_log(log_path, self.step)
        hook_steps = set(cfg.hook_steps(self.total_steps))  # step 0, the track schedule, the last step
        bar = tqdm(total=self.total_steps, initial=self.step, desc=f"unlearn {cfg.method}", disable=not self.is_main)
        while self.step < self.total_steps:
            if (
                self.augment
                and self.augment.on_policy
                and self.step > 0
                and self.step % self.augment.resample_every == 0
            ):
                self._resample()
            self.model.train()
            lr = self.scheduler.get_last_lr()[0]
            row = self._train_step()
            if not all(math.isfinite(v) for v in row.values()):
                self.optimizer.zero_grad(set_to_none=True)
                self._diverged(self.step + 1, row["loss"])
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            if self.is_main:
                with open(log_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"step": self.step, **row, "lr": lr}) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
            if self.step in hook_steps:
                self._call_hooks(self.step)
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self._save_checkpoint()
        bar.close()
        self._save_model()
        for hook in self.hooks:
            hook.on_end(self.accelerator.unwrap_model(self.model), self)
        self.accelerator.wait_for_everyone()
        return self.run.root

    def _call_hooks(self, step: int) -> None:
        for hook in self.hooks:
            hook.on_step(step, self.accelerator.unwrap_model(self.model), self)

    def _diverged(self, step: int, loss: float):
        last = latest_checkpoint(self.run.checkpoint)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
        raise TrainingDiverged(
            f"loss is {loss} at step {step} of {self.cfg.method}; stopped ({kept}); try a lower lr in a new --out"
        )

    def _state(self) -> dict:
        return {
            "forget_sampler": self.forget_sampler.state_dict(),
            "retain_sampler": self.retain_sampler.state_dict() if self.retain_sampler else None,
            "scheduler": self.scheduler.state_dict(),
            "hooks": [hook.state_dict() for hook in self.hooks],
            "bs_s_samples": data.samples_to_rows(self.samples, self._ids(), self.step) if self.augment else None,
        }

    def _save_checkpoint(self) -> None:
        if self.is_main:
            model = self.accelerator.unwrap_model(self.model)
            save_checkpoint(self.run.checkpoint, self.step, model, self.optimizer, self._state())
        self.accelerator.wait_for_everyone()

    def _restore(self, path: Path) -> None:
        state = load_checkpoint(path, self.accelerator.unwrap_model(self.model), self.optimizer)
        self.step = int(state["step"])
        self.forget_sampler.load_state_dict(state["forget_sampler"])
        if self.retain_sampler is not None:
            self.retain_sampler.load_state_dict(state["retain_sampler"])
        self.scheduler.load_state_dict(state["scheduler"])
        if len(state["hooks"]) != len(self.hooks):
            raise ConfigError(
                f"checkpoint {path} has {len(state['hooks'])} hook states; this run has {len(self.hooks)} hooks"
            )
        for hook, hook_state in zip(self.hooks, state["hooks"], strict=False):
            hook.load_state_dict(hook_state)
        if self.augment:
            self.samples = data.samples_from_rows(state["bs_s_samples"], self._ids())

    def _save_model(self) -> None:
        """The unlearned model in Hugging Face format at run/model (LoRA merged first)."""
        acc = self.accelerator
        state_dict = acc.get_state_dict(self.model) if self.sharded else None  # a collective: every process
        if self.is_main:
            model = acc.unwrap_model(self.model)
            if self.cfg.lora:
                model = model.merge_and_unload()
            save_model(model, self.tokenizer, self.run.model, state_dict=state_dict)
        acc.wait_for_everyone()


def run_unlearning(cfg: UnlearnConfig, hooks: Sequence[TrainerHook] = (), resume: bool = False) -> Path:
    """Unlearn with `cfg`; return the run directory (config.yaml, loss_log.jsonl, model/, ...).

    The main process holds the run folder's lock (issue 14): a second run into OUT refuses.
    """
    import os

    from squeeze.core.runlock import RunLock

    if not cfg.out or os.environ.get("RANK", "0") != "0":
        return Trainer(cfg, hooks=hooks, resume=resume).train()
    with RunLock(cfg.out):
        return Trainer(cfg, hooks=hooks, resume=resume).train()
