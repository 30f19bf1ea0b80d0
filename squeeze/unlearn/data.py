"""Data preparation for `squeeze unlearn` (DESIGN sections 5 and 6).

- the original model's folder and the forget/retain sets,
- seeded samplers whose whole state is two integers (so checkpoints store it as JSON),
- NPO's reference log-probs, computed once before training and stored with the run (E3),
- BS-S's augmented responses (E8), sampled with `squeeze.lm.generation`, sharded over processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from squeeze.core.errors import ConfigError, DataError
from squeeze.core.types import QARecord


def load_sets(world: str, forget: str, retain: str) -> tuple[list[QARecord], list[QARecord]]:
    """(forget records, retain records) from a world directory or from two QA files."""
    if world:
        from squeeze.world.build import load_world

        splits = load_world(world).splits
        forget_set, retain_set = list(splits["forget"]), list(splits.get("retain", []))
        where = f"world {world}"
    else:
        from squeeze.core.data import load_qa

        forget_set = load_qa(forget)
        retain_set = load_qa(retain) if retain else []
        where = forget
    if not forget_set:
        raise DataError(f"the forget set of {where} is empty")
    ids = [r.id for r in forget_set]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"the forget set of {where} has the id {dup!r} more than once; ids must be unique")
    return forget_set, retain_set


class EpochSampler:
    """Endless stream of indices: a fresh seeded permutation of range(n) per epoch.

    The permutation of epoch e depends only on (seed, e), so the state is (epoch, pos) and
    a restored sampler continues with exactly the indices the uninterrupted one would draw.
    """

    def __init__(self, n: int, seed: int):
        if n < 1:
            raise ValueError("cannot sample from an empty set")
        self.n, self.seed = n, seed
        self.epoch, self.pos = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n).tolist()

    def draw(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.pos == self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            take = min(k - len(out), self.n - self.pos)
            out.extend(self._order[self.pos : self.pos + take])
            self.pos += take
        return out

    def state_dict(self) -> dict:
        return {"n": self.n, "seed": self.seed, "epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        if state["n"] != self.n or state["seed"] != self.seed:
            raise ConfigError(
                f"checkpoint sampler was over {state['n']} items (seed {state['seed']}); this run has {self.n} (seed {self.seed})"
            )
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._permutation(self.epoch)


def micro_batches(indices: Sequence[int], batch_size: int, grad_accum: int, rank: int, world: int) -> list[list[int]]:
    """This process's `grad_accum` micro-batches out of one step's global draw.

    Chunk k of process r is indices[(k * world + r) * b : ... + b], so one process with batch
    2b and two processes with batch b each see the same sequences in a step.
    """
    return [
        list(indices[(k * world + rank) * batch_size : (k * world + rank + 1) * batch_size]) for k in range(grad_accum)
    ]


def steps_for(cfg_steps: int | None, epochs: float, n_forget: int, global_batch: int) -> int:
    return cfg_steps if cfg_steps is not None else max(1, math.ceil(epochs * n_forget / global_batch))


def reference_logprobs(model, pairs, collator, batch_size: int) -> list[float]:
    """(E3) logp_0(y|x) of each pair under the model as it is now (the original model)."""
    from squeeze.lm.logprobs import score_pairs

    return [float(x) for x in score_pairs(model, pairs, collator, batch_size=batch_size).logp_sum]


# ---- BS-S augmented responses (E8) ---------------------------------------------------------


@dataclass
class AugSample:
    """One augmented response for a forget prompt; `ref_logp` is logp_0 when the base needs it."""

    text: str
    token_ids: list[int]
    ref_logp: float | None = None


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def sample_augmented(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    targets: Sequence[str],
    augmentation,
    seed: int,
    max_new_tokens: int,
    batch_size: int,
    accelerator,
) -> list[list[AugSample]]:
    """`augmentation.n_samples` responses per prompt from `model` (a methods.Augmentation says
    how to sample); copies of the target and empty answers dropped.

    Each process samples its share of the prompts (every world-th one) and the shares are
    gathered, so every process ends with the samples of every prompt.
    """
    from accelerate.utils import gather_object

    from squeeze.lm.generation import generate

    rank, world = accelerator.process_index, accelerator.num_processes
    mine = list(range(rank, len(prompts), world))
    candidates = generate(
        model,
        tokenizer,
        [prompts[i] for i in mine],
        n=augmentation.n_samples,
        mode=augmentation.sample_mode,
        max_new_tokens=max_new_tokens,
        temperature=augmentation.temperature,
        batch_size=max(1, batch_size // augmentation.n_samples),  # rows per generate call stay ~batch_size for any N
        seed=seed * 1_000_003 + rank,
        progress=accelerator.is_main_process,
    )
    local = []
    for i, cands in zip(mine, candidates, strict=False):
        target = normalise(targets[i])
        kept = [asdict(AugSample(c.text, list(c.token_ids))) for c in cands if normalise(c.text) not in ("", target)]
        local.append((i, kept))
    gathered = gather_object(local) if world > 1 else local
    by_item: list[list[AugSample]] = [[] for _ in prompts]
    for i, kept in gathered:
        by_item[i] = [AugSample(**row) for row in kept]
    return by_item


def samples_to_rows(samples: list[list[AugSample]], item_ids: Sequence[str], step: int) -> list[dict]:
    return [
        {"item_id": item_ids[i], "index": j, "step": step, **asdict(s)}
        for i, per_item in enumerate(samples)
        for j, s in enumerate(per_item)
    ]


def samples_from_rows(rows: list[dict], item_ids: Sequence[str]) -> list[list[AugSample]]:
    position = {item_id: i for i, item_id in enumerate(item_ids)}
    out: list[list[AugSample]] = [[] for _ in item_ids]
    for row in sorted(rows, key=lambda r: (position[r["item_id"]], r["index"])):
        out[position[row["item_id"]]].append(AugSample(row["text"], list(row["token_ids"]), row.get("ref_logp")))
    return out
