"""The log-probability dynamics tracker (DESIGN section 8): a trainer hook.

At the trainer's hook steps (step 0, the schedule of squeeze.track.budget, the last step) it
scores, under the current model, the target and every bin candidate of each forget item
(teacher forcing, batched, no grad, the model's train/eval mode restored after) and appends
one row per sequence to `RUN/dynamics.parquet`: `step, item_id, group (target|high|mid|low),
candidate (-1 for the target, else the index in ItemBins.candidates), logp_sum, logp_mean,
n_tokens, value_logp` (the log-prob of the fact value's tokens inside the sequence; NaN
without a fact or when the value is not in it). Optional probes go to `RUN/probes.parquet`
(`step, probe, item_id, value, text`): the forget items' greedy leak (`forget_greedy_leak`),
and a fixed small retain set's target log-prob (`retain_logp_sum`) and greedy correctness
(`retain_greedy_correct`). At the end it writes `dynamics_summary.json` (squeeze_stats) and
the figures (plots).

Cost: an item's candidates share its prompt and most of their prefixes, so each item is
scored as one packed sequence (squeeze.lm.tree_scoring); a model that ignores custom 4D
attention masks is detected on the first call and scored one sequence per row instead.
`squeeze unlearn` passes a `TrackBudget` (squeeze.track.budget): an even subsample of the
items, the most likely candidates of each bin, probes at the first and last step only.

Resume: the state saved in checkpoints holds the last tracked step; loading it drops the
table rows a killed run wrote after that checkpoint, so every step appears exactly once.

    tracker = Tracker("runs/ga", tokenizer, bins, track_every=10, forget=forget_records)
    run_unlearning(cfg, hooks=[tracker])
    tracker_for_trainer(trainer)       # the same, from what a Trainer already holds
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from squeeze.bins.binner import load_bins
from squeeze.core.rundir import RunDir, write_json, write_parquet
from squeeze.core.types import ItemBins, QARecord
from squeeze.lm.prompting import encode_answer, encode_prompt
from squeeze.track.budget import TrackBudget, kept_candidates, select_items
from squeeze.track.scoring import DYNAMICS_COLUMNS, BinScorer

PROBE_COLUMNS = ["step", "probe", "item_id", "value", "text"]


# ---- the hook -----------------------------------------------------------------------------


class Tracker:
    """Trainer hook (squeeze.unlearn.trainer.TrainerHook) writing dynamics.parquet; see the module doc."""

    def __init__(
        self,
        run_dir,
        tokenizer,
        bins: Sequence[ItemBins],
        track_every: int,
        batch_size: int = 64,
        forget: Sequence[QARecord] | None = None,
        retain: Sequence[QARecord] | None = None,
        retain_probe_size: int = 32,
        probe_every: int | None = None,
        max_items: int | None = None,
        budget: TrackBudget | None = None,
        packed: bool = True,
        final_leaks: bool = True,
        make_figures: bool = True,
        matched_drop: float = 10.0,
        max_new_tokens: int = 32,
        flush_seconds: float = 30.0,
    ):
        if not bins:
            raise ValueError("the tracker needs at least one item's bins")
        self.run = RunDir(run_dir)
        self.tokenizer, self.track_every, self.batch_size = tokenizer, track_every, max(1, batch_size)
        self.budget = budget
        self.n_items_total = len(bins)
        if budget is not None:  # the budget's even spread and candidate cap (squeeze.track.budget)
            bins = select_items(bins, budget)
        else:
            bins = list(bins)[:max_items] if max_items else list(bins)
        facts = {r.id: r.fact for r in forget or []}
        per_bin = budget.candidates if budget is not None else None
        keep = {b.item_id: kept_candidates(b, per_bin) for b in bins}
        self.scorer = BinScorer(tokenizer, bins, facts, batch_size=self.batch_size, packed=packed, keep=keep)
        self.forget = [r for r in forget or [] if r.fact is not None and r.id in {b.item_id for b in bins}]
        self.retain = _spread(list(retain or []), retain_probe_size)
        if budget is not None:
            probe_every = budget.probe_every
        self.probe_every = (track_every or 1) if probe_every is None and budget is None else probe_every
        at_ends = budget is not None and budget.probe_every is None  # probes at the first and last step
        self.has_probes = (at_ends or bool(self.probe_every)) and bool(self.forget or self.retain)
        self.final_leaks, self.make_figures = final_leaks, make_figures
        self.matched_drop, self.max_new_tokens, self.flush_seconds = matched_drop, max_new_tokens, flush_seconds
        self.fingerprint = _fingerprint(bins, [[s.candidate for s in it.seqs] for it in self.items])
        self._frames: list[pd.DataFrame] = []
        self._probes: list[pd.DataFrame] = []
        self._last_flush = time.monotonic()
        self.last_step: int | None = None
        self.is_main = True  # under DDP only the main process scores and writes
        self.seconds = 0.0  # time spent tracking (for the overhead benchmark)
        # (step, {forget id: greedy answer}) of the latest probe: the end-of-run greedy leak rate
        # reuses it when that probe saw the final model (the same generation, not run twice)
        self._greedy_at: tuple[int, dict[str, str]] | None = None

    @property
    def items(self):
        return self.scorer.items

    @property
    def packed(self) -> bool:
        return self.scorer.packed

    # -- hook protocol -------------------------------------------------------------------------

    def on_step(self, step: int, model, trainer=None) -> None:
        self.last_step = step
        self.is_main = getattr(trainer, "is_main", True)
        if not self.is_main:
            return
        started = time.perf_counter()
        self._drop_from(step)  # a replayed step replaces its rows
        self._frames.append(self.score(model, step))
        if self.has_probes and self._probe_due(step, getattr(trainer, "total_steps", None)):
            self._probes.append(self.probe(model, step))
        self.seconds += time.perf_counter() - started
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def _probe_due(self, step: int, total_steps: int | None) -> bool:
        if step == total_steps:
            return True
        if self.probe_every is None:  # the budget's default: the first and last tracked step only
            return not any(len(f) for f in self._probes)
        return bool(self.probe_every) and step % self.probe_every == 0

    def on_end(self, model, trainer=None) -> None:
        if not getattr(trainer, "is_main", True):
            return
        self.flush()
        self.write_summary(model)
        if self.make_figures:
            from squeeze.track.plots import plot_run

            plot_run(self.run.root)

    def state_dict(self) -> dict:
        if self.last_step is not None and self.is_main:
            self.flush()  # the table on disk then holds every step up to this checkpoint
        return {"last_step": self.last_step, "fingerprint": self.fingerprint, "version": 1}

    def load_state_dict(self, state: dict) -> None:
        from squeeze.core.errors import ConfigError

        if state.get("fingerprint") != self.fingerprint:
            raise ConfigError(f"{self.run.root}: the checkpoint's tracker followed other bins than bins given now")
        self.last_step = state.get("last_step")
        keep = -1 if self.last_step is None else self.last_step
        self._frames = [f[f["step"] <= keep] for f in [_read(self.run.dynamics, DYNAMICS_COLUMNS)]]
        self._probes = [f[f["step"] <= keep] for f in [_read(self.run / "probes.parquet", PROBE_COLUMNS)]]

    # -- scoring ---------------------------------------------------------------------------------

    def score(self, model, step: int) -> pd.DataFrame:
        """Rows of the long table for every tracked sequence under `model` at `step` (BinScorer)."""
        return self.scorer.score(model, step)

    @torch.inference_mode()
    def probe(self, model, step: int) -> pd.DataFrame:
        """Greedy leak of the forget items; target log-prob and greedy correctness on retain items."""
        from squeeze.lm.batching import collator_for
        from squeeze.lm.generation import generate_answers
        from squeeze.lm.logprobs import score_pairs
        from squeeze.world.build import contains_fact

        rows = []
        gen = dict(n=1, mode="greedy", max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)
        if self.forget:
            greedy = generate_answers(model, self.tokenizer, [r.question for r in self.forget], **gen)
            for r, (c,) in zip(self.forget, greedy, strict=True):
                rows.append((step, "forget_greedy_leak", r.id, float(contains_fact(c.text, r.fact)), c.text))
            self._greedy_at = (step, {r.id: c.text for r, (c,) in zip(self.forget, greedy, strict=True)})
        if self.retain:
            pairs = [
                (encode_prompt(self.tokenizer, r.question), encode_answer(self.tokenizer, r.answer))
                for r in self.retain
            ]
            logp = score_pairs(model, pairs, collator_for(self.tokenizer), batch_size=self.batch_size).logp_sum.tolist()
            greedy = generate_answers(model, self.tokenizer, [r.question for r in self.retain], **gen)
            for r, lp, (c,) in zip(self.retain, logp, greedy, strict=False):
                rows.append((step, "retain_logp_sum", r.id, float(lp), None))
                rows.append((step, "retain_greedy_correct", r.id, float(_correct(c.text, r)), c.text))
        return pd.DataFrame(rows, columns=PROBE_COLUMNS)

    # -- files ------------------------------------------------------------------------------------

    def _drop_from(self, step: int) -> None:
        self._frames = [f[f["step"] < step] for f in self._frames]
        self._probes = [f[f["step"] < step] for f in self._probes]

    def table(self) -> pd.DataFrame:
        return _concat(self._frames, DYNAMICS_COLUMNS)

    def probes(self) -> pd.DataFrame:
        return _concat(self._probes, PROBE_COLUMNS)

    def flush(self) -> None:
        """Write both tables atomically (a crash never leaves half a table)."""
        self._frames = [self.table()]
        write_parquet(self.run.dynamics, self._frames[0])
        if self.has_probes:
            self._probes = [self.probes()]
            write_parquet(self.run / "probes.parquet", self._probes[0])
        self._last_flush = time.monotonic()

    def write_summary(self, model=None) -> dict:
        """dynamics_summary.json from the tables (and the end-of-run leak rates on the world)."""
        from squeeze.track.stats import leak_rates, summarise

        leaks = None
        if model is not None and self.final_leaks and self.has_probes and self.forget:
            final = self._greedy_at is not None and self._greedy_at[0] == self.last_step
            leaks = leak_rates(
                model,
                self.tokenizer,
                self.forget,
                max_new_tokens=self.max_new_tokens,
                batch_size=self.batch_size,
                greedy_texts=self._greedy_at[1] if final else None,
            )
        summary = summarise(self.table(), self.probes(), leaks, drop=self.matched_drop)
        summary["tracker_seconds"] = self.seconds
        summary["budget"] = {
            **(self.budget.describe() if self.budget is not None else {"items": "all", "candidates": "all"}),
            "n_items_tracked": len(self.items),
            "n_items_total": self.n_items_total,
        }
        write_json(self.run / "dynamics_summary.json", summary)
        return summary


def _spread(records: list, k: int) -> list:
    """k records evenly spread over the list (deterministic), or all of them."""
    if k <= 0 or not records:
        return []
    if len(records) <= k:
        return records
    return [records[int(i * len(records) / k)] for i in range(k)]


def _correct(text: str, record: QARecord) -> bool:
    from squeeze.bins.binner import normalise
    from squeeze.world.build import contains_fact

    return contains_fact(text, record.fact) if record.fact is not None else normalise(text) == normalise(record.answer)


def _fingerprint(bins: Sequence[ItemBins], kept: list[list[int]]) -> str:
    blob = json.dumps([[b.item_id, b.target_token_ids, [c.token_ids for c in b.candidates]] for b in bins])
    if any(len(k) - 1 != len(b.candidates) for b, k in zip(bins, kept, strict=True)):  # a candidate cap
        blob += json.dumps(kept)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    return pd.read_parquet(path) if Path(path).exists() else pd.DataFrame(columns=columns)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).sort_values(["step"], kind="stable").reset_index(drop=True)


def tracker_for_run(run_dir, tokenizer, track_every: int, forget=None, retain=None, **kwargs) -> Tracker | None:
    """The tracker of an unlearning run whose folder holds bins.jsonl (`squeeze bins`), else None."""
    path = RunDir(run_dir).bins
    if not path.exists():
        return None
    return Tracker(run_dir, tokenizer, load_bins(path), track_every, forget=forget, retain=retain, **kwargs)


def tracker_for_trainer(trainer, **kwargs) -> Tracker | None:
    """The tracker of an unlearning run, on when its folder holds bins.jsonl (`squeeze bins`).

    Built from what the trainer already holds (its tokenizer, forget and retain records), so
    nothing is loaded again. Probes: the greedy leak of every forget item with a fact, and a
    fixed retain probe. Warns when bins_meta.json says the bins came from another model than
    the trainer's original.
    """
    from squeeze.bins.binner import model_fingerprint

    run = RunDir(trainer.cfg.out)
    if not run.bins.exists():
        return None
    meta = run / "bins_meta.json"
    original = trainer.original_dir
    if meta.exists() and json.loads(meta.read_text(encoding="utf-8")).get("model_fingerprint") != model_fingerprint(
        original
    ):
        warnings.warn(
            f"{run.bins} was made from another model than {original}; its bins are not this model's beliefs",
            stacklevel=2,
        )
    kwargs.setdefault("budget", trainer.cfg.track_budget())
    kwargs.setdefault("make_figures", kwargs["budget"].figures)
    return tracker_for_run(
        run.root,
        trainer.tokenizer,
        trainer.cfg.track_every or 0,
        forget=trainer.forget_set,
        retain=trainer.retain_set,
        **kwargs,
    )
