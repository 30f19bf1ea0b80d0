"""Every teacher-forced answer score of one model, computed once and packed (issue 13).

The conventional metrics of one model score the same prompts many times: a forget record's
answer (Prob, ES/EM, Min-K%), its paraphrase and its perturbed answers (truth ratio), and the
retain, world-fact and holdout records likewise. `AnswerScores` collects every (prompt, answer)
pair the metrics will ask for, drops duplicates, and scores each prompt once with all of its
answers in one prefix-tree row (squeeze.lm.tree_scoring: logits only at answer positions),
keeping each answer token's log-prob and the model's argmax there. The metrics then read
their numbers from it (`AnswerTokens`, as `squeeze.metrics.tokens.answer_token_stats` gives).
A model that ignores custom 4D attention masks (squeeze.lm.packing, checked once per model)
is scored one padded row per distinct pair instead; the values are the same either way to
1e-4 nats (tests/test_packed_scores.py).

    scores = AnswerScores(model, tokenizer)
    scores.add(pairs_a + pairs_b)           # optional: everything up front, in one packed pass
    pairs_a = [scores.encode(q, a) for q, a in texts]   # memoised encode_qa
    stats = scores.stats(pairs_a)           # list[AnswerTokens], in the order given
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from squeeze.lm.batching import Pair, collator_for, pad_token_id
from squeeze.lm.prompting import QAEncoder
from squeeze.metrics.tokens import AnswerTokens, answer_token_stats

NODE_BUDGET = 2048  # prompt + tree tokens per packed forward pass (bounds the 4D mask's size)


class AnswerScores:
    """Memo of per-token answer statistics under one model; see the module doc."""

    def __init__(
        self,
        model,
        tokenizer,
        packed: bool | None = None,
        batch_size: int = 32,
        progress: bool = False,
        encode: QAEncoder | None = None,
    ):
        """`encode`: the memoised tokenisation to use (share one between models of one tokenizer)."""
        from squeeze.lm.packing import packing_works

        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, batch_size, progress
        self.encode = encode if encode is not None else QAEncoder(tokenizer)
        self.pad_id = pad_token_id(tokenizer)
        self.packed = packing_works(model, self.pad_id) if packed is None else packed
        self._done: dict[tuple[tuple[int, ...], tuple[int, ...]], AnswerTokens] = {}
        self.pairs_asked = 0  # pairs requested, duplicates included (for the benchmark)

    def add(self, pairs: Sequence[Pair]) -> None:
        """Score every pair not scored yet (duplicates once)."""
        todo = list(dict.fromkeys((tuple(p), tuple(a)) for p, a in pairs if (tuple(p), tuple(a)) not in self._done))
        if not todo:
            return
        if self.packed:
            self._score_packed(todo)
        else:
            stats = answer_token_stats(
                self.model, todo, collator_for(self.tokenizer), batch_size=self.batch_size, desc="scores"
            )
            self._done.update(zip(todo, stats, strict=True))

    def stats(self, pairs: Sequence[Pair]) -> list[AnswerTokens]:
        self.add(pairs)
        self.pairs_asked += len(pairs)
        return [self._done[(tuple(p), tuple(a))] for p, a in pairs]

    def logp_means(self, pairs: Sequence[Pair]) -> list[float]:
        """Mean answer-token log-prob per pair (the negative CE of DESIGN section 5)."""
        return [sum(s.logprobs) / max(len(s.logprobs), 1) for s in self.stats(pairs)]

    @property
    def n_distinct(self) -> int:
        return len(self._done)

    @torch.inference_mode()
    def _score_packed(self, todo: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> None:
        from squeeze.lm.tree_scoring import prefix_tree, tree_token_stats

        by_prompt: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        for prompt, answer in todo:
            by_prompt.setdefault(prompt, []).append(answer)
        # in order of row width: a chunk's rows then need little padding (a row's attention
        # costs the square of its padded width)
        items = sorted(
            (
                (len(p) + len(prefix_tree([list(a) for a in answers])[0]), p, answers)
                for p, answers in by_prompt.items()
            ),
            key=lambda item: item[0],
        )
        chunks, chunk, size = [], [], 0
        for cost, prompt, answers in items:
            if chunk and (size + cost > NODE_BUDGET or len(chunk) >= self.batch_size):
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append((prompt, answers))
            size += cost
        chunks.append(chunk)
        was_training = self.model.training
        self.model.eval()
        try:
            for chunk in tqdm(chunks, desc="scores (packed)", leave=False, disable=not self.progress):
                scored = tree_token_stats(
                    self.model, [(list(p), [list(a) for a in answers]) for p, answers in chunk], self.pad_id
                )
                for (prompt, answers), per_answer in zip(chunk, scored, strict=True):
                    for answer, (logps, argmax) in zip(answers, per_answer, strict=True):
                        self._done[(prompt, answer)] = AnswerTokens(list(answer), logps, argmax)
        finally:
            self.model.train(was_training)
