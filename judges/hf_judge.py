"""A local chat model as the judge, through transformers (DESIGN section 10, `hf` backend).

The same versioned prompts and the same strict parser as the openai backend: one prompt
per aspect, answered `{"score": n, "reason": "..."}`. Prompts are rendered with the
tokenizer's chat template when it has one (a template that refuses a system turn gets the
system text at the top of the user turn), else as plain "System:/User:/Assistant:" text.
They are sorted by length, left-padded and generated greedily in batches, so a run is
deterministic; there are no retries, since greedy decoding would give the same answer.
A score that cannot be parsed is None, and the Judgment's `error` says why.

    judge = HFJudge(model="path/to/Qwen2.5-1.5B-Instruct", batch_size=8)
    judge = HFJudge(model=model, tokenizer=tokenizer)      # objects already in memory
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Sequence

from judges.base import ASPECTS, JudgeItem, Judgment, ResultCallback
from judges.parsing import AspectAnswer, judgment_from_answers, parse_score
from judges.prompting import load_prompt, render_messages, render_plain


@dataclass
class HFJudgeConfig:
    batch_size: int = 8
    max_new_tokens: int = 160
    max_prompt_tokens: int | None = None  # longer prompts are cut from the left; None: no cut
    device: str = "auto"  # "auto": cuda when available, else cpu
    dtype: str = "auto"  # torch dtype name for a model loaded from a path
    prompt_version: str = "v1"
    name: str | None = None  # the judge's name in `model` (and in cache keys)

    def __post_init__(self):
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("hf judge: batch_size and max_new_tokens must be at least 1")


class HFJudge:
    backend = "hf"

    def __init__(self, model=None, tokenizer=None, **config):
        known = {f.name for f in dataclasses.fields(HFJudgeConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown hf judge option(s) {unknown}; known: {', '.join(sorted(known))}")
        self.config = HFJudgeConfig(**config)
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
        self.prompt_version = self.config.prompt_version
        for aspect in ASPECTS:
            load_prompt(aspect, self.prompt_version)

    def _text(self, aspect: str, item: JudgeItem) -> str:
        messages = render_messages(aspect, self.prompt_version, item)
        tokenizer = self._tokenizer
        if not getattr(tokenizer, "chat_template", None):
            return render_plain(messages)
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # templates without a system role raise; fold it into the user turn
            merged = [{"role": "user", "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}]
            return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)

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
        answers: dict[int, dict[str, AspectAnswer]] = {i: {} for i in range(len(items))}
        elapsed: dict[int, float] = {i: 0.0 for i in range(len(items))}
        results: list[Judgment | None] = [None] * len(items)
        for start in range(0, len(order), self.config.batch_size):
            batch = [requests[r] for r in order[start : start + self.config.batch_size]]
            began = time.perf_counter()
            texts = self._generate([ids for _, _, ids in batch])
            share = (time.perf_counter() - began) / len(batch)
            for (index, aspect, _), text in zip(batch, texts):
                parsed = parse_score(text)
                error = None if parsed.score is not None else f"unparseable answer: {parsed.problem}"
                answers[index][aspect] = AspectAnswer(parsed.score, parsed.reason, text, error)
                elapsed[index] += share
                if len(answers[index]) == len(ASPECTS):
                    judgment = judgment_from_answers(
                        items[index], answers[index], self.backend, self.model, self.prompt_version, elapsed[index]
                    )
                    results[index] = judgment
                    if on_result is not None:
                        on_result(index, judgment)
        return results  # type: ignore[return-value]

    def _generate(self, batch_ids: list[list[int]]) -> list[str]:
        import torch

        tokenizer, model = self._tokenizer, self._model
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad_id is None:
            raise ValueError("hf judge: the tokenizer has neither a pad nor an EOS token to pad batches with")
        width = max(len(ids) for ids in batch_ids)
        # Left padding: every prompt ends at the last column, where generation starts.
        input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, ids in enumerate(batch_ids):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
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


def _load(path: str, tokenizer, config: HFJudgeConfig):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    return model, tokenizer or AutoTokenizer.from_pretrained(path)
