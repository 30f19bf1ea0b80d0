"""The pure bin scorer (DESIGN section 8): teacher-forced log-probs of each forget item's target
and bin candidates under a model, as rows of the dynamics long table.

Used by the tracker (every `track_every` steps of a run) and by `squeeze diagnose` (the
reference as step 0, the checkpoint as step 1): a function of a model, a tokenizer and the
bins, holding no run folder and writing nothing. An item's candidates share its prompt and
most of their prefixes, so each item is scored as one packed sequence
(squeeze.lm.tree_scoring); a model that ignores custom 4D attention masks is detected on the
first call and scored one sequence per row instead.

    rows = score_bins(model, tokenizer, bins, step=0, facts={r.id: r.fact for r in forget})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from squeeze.core.types import Fact, ItemBins
from squeeze.lm.prompting import encode_prompt
from squeeze.lm.tree_scoring import flat_token_logprobs, prefix_tree, tree_token_logprobs
from squeeze.track.stats import value_needles, value_positions

DYNAMICS_COLUMNS = ["step", "item_id", "group", "candidate", "logp_sum", "logp_mean", "n_tokens", "value_logp"]


@dataclass
class _Seq:
    group: str
    candidate: int
    token_ids: list[int]
    value_at: list[int]  # positions of the fact's value in token_ids


@dataclass
class _Item:
    item_id: str
    prompt: list[int]
    seqs: list[_Seq]
    width: int = 0  # tokens of its packed row: the prompt and the prefix tree of its sequences

    def token_ids(self) -> list[list[int]]:
        return [s.token_ids for s in self.seqs]


class BinScorer:
    """The sequences of `bins`, tokenised once, scored under any model by `score(model, step)`."""

    def __init__(
        self,
        tokenizer,
        bins: Sequence[ItemBins],
        facts: Mapping[str, Fact | None] | None = None,
        batch_size: int = 64,
        packed: bool = True,
        keep: Mapping[str, Sequence[int]] | None = None,
    ):
        """`keep[item_id]`: the indices of the candidates to score (the tracker budget's cap); default all."""
        self.tokenizer, self.batch_size, self.packed = tokenizer, max(1, batch_size), packed
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        keep = keep or {}
        self.items = [self._item(b, (facts or {}).get(b.item_id), keep.get(b.item_id)) for b in bins]
        self._checked = not packed

    def _item(self, b: ItemBins, fact, keep: Sequence[int] | None = None) -> _Item:
        needles = value_needles(self.tokenizer, fact)
        seqs = [_Seq("target", -1, list(b.target_token_ids), value_positions(b.target_token_ids, needles))]
        for j in range(len(b.candidates)) if keep is None else keep:
            c = b.candidates[j]
            seqs.append(_Seq(c.bin, j, list(c.token_ids), value_positions(c.token_ids, needles)))
        prompt = encode_prompt(self.tokenizer, b.question)
        return _Item(b.item_id, prompt, seqs, len(prompt) + len(prefix_tree([s.token_ids for s in seqs])[0]))

    @torch.inference_mode()
    def score(self, model, step: int) -> pd.DataFrame:
        """Rows of the long table for every sequence under `model` at `step` (mode restored after)."""
        was_training = model.training
        model.eval()
        try:
            if not self._checked:
                self._check_packing(model)
            logps: dict[int, list[list[float]]] = {}
            for chunk in self._chunks():
                if self.packed:
                    scored = tree_token_logprobs(
                        model, [(self.items[i].prompt, self.items[i].token_ids()) for i in chunk], self.pad_id
                    )
                else:
                    scored = [
                        flat_token_logprobs(model, self.items[i].prompt, self.items[i].token_ids(), self.pad_id)
                        for i in chunk
                    ]
                logps.update(zip(chunk, scored, strict=True))
        finally:
            model.train(was_training)
        rows = []
        for k, item in enumerate(self.items):
            for seq, lp in zip(item.seqs, logps[k], strict=True):
                total, n = float(sum(lp)), len(lp)
                value = float(sum(lp[i] for i in seq.value_at)) if seq.value_at else float("nan")
                rows.append((step, item.item_id, seq.group, seq.candidate, total, total / max(n, 1), n, value))
        return pd.DataFrame(rows, columns=DYNAMICS_COLUMNS)

    def _chunks(self):
        """Item indices in chunks of at most `batch_size` sequences. Items go in order of their
        packed row's width, so a chunk's rows need little padding: the attention over a row costs
        the square of its padded width (on the default world's budget: 63 to 53 ms a call, measured once)."""
        chunk, size = [], 0
        for i in sorted(range(len(self.items)), key=lambda i: self.items[i].width):
            item = self.items[i]
            if chunk and size + len(item.seqs) > self.batch_size:
                yield chunk
                chunk, size = [], 0
            chunk.append(i)
            size += len(item.seqs)
        if chunk:
            yield chunk

    def _check_packing(self, model) -> None:
        """Packed scoring needs a model that honours a custom 4D attention mask (checked once per
        model object by squeeze.lm.packing, however many scorers score it)."""
        from squeeze.lm.packing import packing_works

        self.packed = packing_works(model, self.pad_id)
        self._checked = True


def score_bins(
    model,
    tokenizer,
    bins: Sequence[ItemBins],
    step: int = 0,
    facts: Mapping[str, Fact | None] | None = None,
    batch_size: int = 64,
    packed: bool = True,
) -> pd.DataFrame:
    """The long table (DYNAMICS_COLUMNS) of every target and candidate of `bins` under `model`."""
    return BinScorer(tokenizer, bins, facts, batch_size, packed).score(model, step)
