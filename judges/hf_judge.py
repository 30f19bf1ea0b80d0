"""A local chat model as the judge, through transformers (DESIGN section 10, `hf` backend).

The same versioned prompts and the same strict parser as the openai backend: one prompt
per aspect, answered `{"score": n, "reason": "..."}`. Prompts are rendered with the
tokenizer's chat template when it has one (a template that refuses a system turn gets the
system text at the top of the user turn), else as plain "System:/User:/Assistant:" text.
They are sorted by length, left-padded and generated greedily in batches, so a run is
deterministic; there are no retries, since greedy decoding would give the same answer.
A score that cannot be parsed is None, and the Judgment's `error` says why.

`scoring="logprob"` is for small chat models that do not keep to the JSON form (SmolLM2-135M
answers the prompt with prose): the assistant turn is pre-filled with `{"score":` and one
forward pass gives the next token's probabilities over the digits 0-5; the score is their
expectation (`expected_score`). No text is generated, so nothing can fail to parse, and one
forward pass replaces up to `max_new_tokens` decoding steps.

    judge = HFJudge(model="path/to/Qwen2.5-1.5B-Instruct", batch_size=8)
    judge = HFJudge(model=model, tokenizer=tokenizer)      # objects already in memory
    judge = HFJudge(model="smollm2-folder", scoring="logprob")
    judge = HFJudge(model=model, tokenizer=tokenizer, batch_size="auto", batch_sizer=find_batch)

`batch_size="auto"` asks `batch_sizer(seq_len)` (given by the caller: squeeze passes its cached
largest-batch search, squeeze.lm.runtime.auto_batch_size) once per judge for the longest
request it will see (prompt plus new tokens), and uses the answer for every batch.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from judges.base import ASPECTS, SCORE_MAX, SCORE_MIN, JudgeItem, Judgment, ResultCallback
from judges.parsing import AspectAnswer, judgment_from_answers, parse_score
from judges.prompting import load_prompt, render_messages, render_plain


@dataclass
class HFJudgeConfig:
    batch_size: int | str = 8  # or "auto": the caller's batch_sizer picks it
    max_new_tokens: int = 160
    max_prompt_tokens: int | None = None  # longer prompts are cut from the left; None: no cut
    device: str = "auto"  # "auto": cuda when available, else cpu
    dtype: str = "auto"  # torch dtype name for a model loaded from a path
    prompt_version: str = "v1"
    name: str | None = None  # the judge's name in `model` (and in cache keys)
    # "generate": greedy answer, parsed strictly. "logprob": no generation; the answer is
    # pre-filled up to `{"score":` and the score is the expectation of the next digit.
    scoring: str = "generate"

    def __post_init__(self):
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ValueError(f"hf judge: batch_size must be a positive integer or auto, got {self.batch_size!r}")
        if self.max_new_tokens < 1:
            raise ValueError("hf judge: max_new_tokens must be at least 1")
        if self.scoring not in ("generate", "logprob"):
            raise ValueError(f"hf judge: scoring must be generate or logprob, got {self.scoring!r}")


class HFJudge:
    backend = "hf"

    def __init__(self, model=None, tokenizer=None, batch_sizer=None, **config):
        known = {f.name for f in dataclasses.fields(HFJudgeConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown hf judge option(s) {unknown}; known: {', '.join(sorted(known))}")
        self.config = HFJudgeConfig(**config)
        if self.config.batch_size == "auto" and batch_sizer is None:
            raise ValueError("hf judge: batch_size=auto needs a batch_sizer (squeeze's judge factory gives one)")
        self._batch_sizer = batch_sizer
        self._auto_batch: int | None = None
        if model is None:
            raise ValueError("hf judge: give model (a path, or a model object with its tokenizer)")
        if isinstance(model, str):
            self._model, self._tokenizer = _load(model, tokenizer, self.config)
            name = model
        else:
            if tokenizer is None:
                raise ValueError("hf judge: a model object needs its tokenizer")
            self._model, self._tokenizer = model, tokenizer
            name = getattr(getattr(model, "config", None), "name_or_path", "") or "in-memory"
        self.model = self.config.name or name
        # The scoring mode is part of the cache key: the two modes give different scores.
        self.prompt_version = self.config.prompt_version + ("+logprob" if self.config.scoring == "logprob" else "")
        self._digit_ids = digit_token_ids(self._tokenizer) if self.config.scoring == "logprob" else None
        for aspect in ASPECTS:
            load_prompt(aspect, self.config.prompt_version)

    def _text(self, aspect: str, item: JudgeItem) -> str:
        messages = render_messages(aspect, self.config.prompt_version, item)
        tokenizer = self._tokenizer
        prefill = SCORE_PREFILL if self.config.scoring == "logprob" else ""
        if not getattr(tokenizer, "chat_template", None):
            return render_plain(messages) + prefill
        try:
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # templates without a system role raise; fold it into the user turn
            merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}]
            text = tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
        return text + prefill

    def judge(self, items: Sequence[JudgeItem], on_result: ResultCallback | None = None) -> list[Judgment]:
        tokenizer = self._tokenizer
        with_template = bool(getattr(tokenizer, "chat_template", None))
        # One request per (item, aspect), encoded once; a chat template writes its own BOS.
        requests = []
        for index, item in enumerate(items):
            for aspect in ASPECTS:
                ids = list(tokenizer(self._text(aspect, item), add_special_tokens=not with_template)["input_ids"])
                if self.config.max_prompt_tokens:
                    ids = ids[-self.config.max_prompt_tokens :]
                requests.append((index, aspect, ids))
        order = sorted(range(len(requests)), key=lambda r: len(requests[r][2]))
        batch_size = self._batch_size(max((len(ids) for _, _, ids in requests), default=1))
        answers: dict[int, dict[str, AspectAnswer]] = {i: {} for i in range(len(items))}
        elapsed: dict[int, float] = {i: 0.0 for i in range(len(items))}
        results: list[Judgment | None] = [None] * len(items)
        for start in range(0, len(order), batch_size):
            batch = [requests[r] for r in order[start : start + batch_size]]
            began = time.perf_counter()
            if self.config.scoring == "logprob":
                batch_answers = [
                    self._expected_answer(p) for p in self._digit_probabilities([ids for _, _, ids in batch])
                ]
            else:
                batch_answers = [
                    self._parsed_answer(text, items[index].generation)
                    for (index, _, _), text in zip(batch, self._generate([ids for _, _, ids in batch]), strict=True)
                ]
            share = (time.perf_counter() - began) / len(batch)
            for (index, aspect, _), answer in zip(batch, batch_answers, strict=False):
                answers[index][aspect] = answer
                elapsed[index] += share
                if len(answers[index]) == len(ASPECTS):
                    judgment = judgment_from_answers(
                        items[index], answers[index], self.backend, self.model, self.prompt_version, elapsed[index]
                    )
                    results[index] = judgment
                    if on_result is not None:
                        on_result(index, judgment)
        return results  # type: ignore[return-value]

    def _batch_size(self, longest_prompt: int) -> int:
        """The configured batch size, or for "auto" the sizer's answer for the longest request
        (asked once per judge: later calls reuse it)."""
        if self.config.batch_size != "auto":
            return self.config.batch_size
        if self._auto_batch is None:
            new_tokens = 0 if self.config.scoring == "logprob" else self.config.max_new_tokens
            self._auto_batch = max(1, int(self._batch_sizer(longest_prompt + new_tokens)))
        return self._auto_batch

    @staticmethod
    def _parsed_answer(text: str, generation: str | None = None) -> AspectAnswer:
        parsed = parse_score(text, generation=generation)
        error = None if parsed.score is not None else f"unparseable answer: {parsed.problem}"
        return AspectAnswer(parsed.score, parsed.reason, text, error)

    @staticmethod
    def _expected_answer(probabilities: list[float]) -> AspectAnswer:
        score, mass = expected_score(probabilities)
        shown = ", ".join(f"{d}: {p:.3f}" for d, p in enumerate(probabilities))
        raw = json.dumps({"digit_probabilities": probabilities, "digit_mass": mass})
        if score is None:
            return AspectAnswer(None, None, raw, "no probability on any score digit")
        return AspectAnswer(
            score, f"expected score over next-digit probabilities ({shown}); mass on digits {mass:.3f}", raw
        )

    def _left_padded(self, batch_ids: list[list[int]]):
        import torch

        tokenizer = self._tokenizer
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad_id is None:
            raise ValueError("hf judge: the tokenizer has neither a pad nor an EOS token to pad batches with")
        width = max(len(ids) for ids in batch_ids)
        # Left padding: every prompt ends at the last column, where the answer starts.
        input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, ids in enumerate(batch_ids):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        return input_ids, attention, pad_id, width

    def _digit_probabilities(self, batch_ids: list[list[int]]) -> list[list[float]]:
        """P(next token is the digit d | prompt + prefill), d = 0..5, for each prompt."""
        import torch

        model = self._model
        input_ids, attention, _, width = self._left_padded(batch_ids)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                logits = (
                    model(
                        input_ids=input_ids.to(device),
                        attention_mask=attention.to(device),
                        position_ids=positions.to(device),
                    )
                    .logits[:, -1]
                    .float()
                )
        finally:
            model.train(was_training)
        probs = torch.softmax(logits, dim=-1).cpu()
        return [[float(probs[row, ids].sum()) for ids in self._digit_ids] for row in range(len(batch_ids))]

    def _generate(self, batch_ids: list[list[int]]) -> list[str]:
        import torch

        tokenizer, model = self._tokenizer, self._model
        input_ids, attention, pad_id, width = self._left_padded(batch_ids)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()  # no dropout: greedy judging must be deterministic
        try:
            with torch.no_grad():
                output = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    max_new_tokens=self.config.max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
        finally:
            model.train(was_training)
        return [tokenizer.decode(row[width:], skip_special_tokens=True) for row in output.cpu()]


SCORE_PREFILL = '{"score":'


def digit_token_ids(tokenizer) -> list[list[int]]:
    """For each score d = 0..5, the single-token spellings of it that may follow
    `{"score":`: "d" and " d" (tokenizers differ in where the space goes)."""
    ids = []
    for digit in range(int(SCORE_MIN), int(SCORE_MAX) + 1):
        found = set()
        for text in (str(digit), f" {digit}"):
            encoded = tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1 and tokenizer.unk_token_id not in encoded:
                found.add(encoded[0])
        if not found:
            raise ValueError(
                f"hf judge: scoring=logprob needs a single token for the digit {digit}; "
                "this tokenizer has none, use scoring=generate"
            )
        ids.append(sorted(found))
    return ids


def expected_score(probabilities: list[float]) -> tuple[float | None, float]:
    """(sum_d d * P(d) / sum_d P(d), sum_d P(d)) over the digits d = 0..5.

    The probability-weighted score of G-Eval (Liu et al., 2023), renormalised over the
    digits; it keeps a small judge's uncertainty, which a greedy digit would throw away.
    None when the model puts no mass on any digit.
    """
    mass = float(sum(probabilities))
    if mass <= 0.0:
        return None, mass
    return float(sum(d * p for d, p in enumerate(probabilities)) / mass), mass


def _load(path: str, tokenizer, config: HFJudgeConfig):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    return model, tokenizer or AutoTokenizer.from_pretrained(path)
