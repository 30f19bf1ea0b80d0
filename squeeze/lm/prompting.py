"""Prompt formatting and QA tokenisation (DESIGN section 2, "Prompt formatting").

One function turns a question into the model's prompt: the tokenizer's chat template when
it has one, else `"Question: {q}\nAnswer:"`. Prompt and answer are tokenised separately
and concatenated so the prompt tokens a model is trained on are exactly the tokens it is
prompted with at generation time. The answer tokens end with EOS: a trained model learns
to stop, and generated candidates (which end with EOS) score the same way teacher-forced.

A system prompt (OpenUnlearning's model configs set one, e.g. "You are a helpful assistant."
for Llama-3.2-Instruct; issue 15) applies to every prompt formatted inside
`with system_prompt(TEXT):`: a system message before the user's in a chat template, else a
first paragraph before "Question:". Outside such a block there is none, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

PLAIN_TEMPLATE = "Question: {question}\nAnswer:"
_SYSTEM_PROMPT: ContextVar[str | None] = ContextVar("squeeze_system_prompt", default=None)


@contextmanager
def system_prompt(text: str | None) -> Iterator[None]:
    """Every prompt formatted inside the block starts with system prompt `text` (none when empty)."""
    token = _SYSTEM_PROMPT.set(text or None)
    try:
        yield
    finally:
        _SYSTEM_PROMPT.reset(token)


def active_system_prompt() -> str | None:
    return _SYSTEM_PROMPT.get()


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def format_prompt(tokenizer, question: str) -> str:
    system = _SYSTEM_PROMPT.get()
    if has_chat_template(tokenizer):
        messages = [{"role": "system", "content": system}] if system else []
        return tokenizer.apply_chat_template(
            [*messages, {"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
    plain = PLAIN_TEMPLATE.format(question=question)
    return f"{system}\n\n{plain}" if system else plain


def encode_prompt(tokenizer, question: str) -> list[int]:
    text = format_prompt(tokenizer, question)
    # A chat template writes its own special tokens (BOS included); the plain form lets
    # the tokenizer add whatever it adds by default.
    return list(tokenizer(text, add_special_tokens=not has_chat_template(tokenizer))["input_ids"])


def encode_answer(tokenizer, answer: str, add_eos: bool = True) -> list[int]:
    # After "Answer:" the answer follows a space; BPE tokenizers fold it into the first token.
    text = answer if has_chat_template(tokenizer) else " " + answer.strip()
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if add_eos and tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return ids


def decode_answer(tokenizer, token_ids: list[int]) -> str:
    return tokenizer.decode(token_ids, skip_special_tokens=True).strip()


def encode_qa(tokenizer, question: str, answer: str) -> tuple[list[int], list[int]]:
    """(prompt_ids, answer_ids) for one pair."""
    return encode_prompt(tokenizer, question), encode_answer(tokenizer, answer)


class QAEncoder:
    """`encode_qa` memoised for one tokenizer. The conventional metrics of one diagnose tokenise
    the same texts many times (a question once per answer it is scored with, an answer once per
    metric and per model); on the default world that cost more than the packed scoring itself
    (issue 13). Returns fresh lists, so a caller may change them."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._prompts: dict[tuple[str | None, str], list[int]] = {}
        self._answers: dict[str, list[int]] = {}

    def __call__(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        key = (active_system_prompt(), question)  # the same question under another system prompt is another prompt
        prompt = self._prompts.get(key)
        if prompt is None:
            prompt = self._prompts[key] = encode_prompt(self.tokenizer, question)
        ids = self._answers.get(answer)
        if ids is None:
            ids = self._answers[answer] = encode_answer(self.tokenizer, answer)
        return list(prompt), list(ids)
