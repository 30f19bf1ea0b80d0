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
`with prompt_template(TemplateArgs(...)):` is the general form: OpenUnlearning's template
arguments (squeeze/lm/template_args.py: date_string, tag-based prompts for base models).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from squeeze.core.errors import ConfigError
from squeeze.lm.template_args import TemplateArgs

PLAIN_TEMPLATE = "Question: {question}\nAnswer:"
_TEMPLATE: ContextVar[TemplateArgs | None] = ContextVar("squeeze_prompt_template", default=None)


@contextmanager
def prompt_template(args: TemplateArgs | None) -> Iterator[None]:
    """Every prompt formatted inside the block follows template arguments `args` (None: squeeze's own)."""
    token = _TEMPLATE.set(args if args is not None and args.given() else None)
    try:
        yield
    finally:
        _TEMPLATE.reset(token)


def system_prompt(text: str | None) -> contextlib.AbstractContextManager[None]:
    """Every prompt formatted inside the block starts with system prompt `text` (none when empty)."""
    return prompt_template(TemplateArgs(system_prompt=text or ""))


def active_template() -> TemplateArgs | None:
    return _TEMPLATE.get()


def active_system_prompt() -> str | None:
    template = _TEMPLATE.get()
    return (template.system_prompt or None) if template is not None else None


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def uses_chat_template(tokenizer) -> bool:
    """Whether prompts go through the chat template: as the template args say, else when there is one."""
    template = _TEMPLATE.get()
    wanted = template.apply_chat_template if template is not None else None
    if wanted is None:
        return has_chat_template(tokenizer)
    if wanted and not has_chat_template(tokenizer):
        raise ConfigError("template args say apply_chat_template: true, but the tokenizer has no chat template")
    return bool(wanted)


def uses_tags() -> bool:
    """OpenUnlearning's tag-based prompt (apply_chat_template: false)."""
    template = _TEMPLATE.get()
    return template is not None and template.apply_chat_template is False


def chat_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat template over `messages` (the system prompt first, when one is active), with the
    generation prompt and the template args' date_string."""
    template = _TEMPLATE.get()
    system = active_system_prompt()
    head = [{"role": "system", "content": system}] if system else []
    dated = {"date_string": template.date_string} if template is not None and template.date_string else {}
    return tokenizer.apply_chat_template([*head, *messages], tokenize=False, add_generation_prompt=True, **dated)


def format_prompt(tokenizer, question: str) -> str:
    template = _TEMPLATE.get()
    system = active_system_prompt()
    if uses_chat_template(tokenizer):
        return chat_prompt(tokenizer, [{"role": "user", "content": question}])
    if uses_tags():  # OpenUnlearning's wrapped prompt, exactly (src/data/utils.py there)
        t = template
        return t.system_prompt_with_special_tokens + t.user_start_tag + question + t.user_end_tag + t.asst_start_tag
    plain = PLAIN_TEMPLATE.format(question=question)
    return f"{system}\n\n{plain}" if system else plain


def encode_prompt(tokenizer, question: str) -> list[int]:
    text = format_prompt(tokenizer, question)
    # A chat template writes its own special tokens (BOS included); the plain and tag forms
    # let the tokenizer add whatever it adds by default (OpenUnlearning: add_special_tokens=True).
    return list(tokenizer(text, add_special_tokens=not uses_chat_template(tokenizer))["input_ids"])


def encode_answer(tokenizer, answer: str, add_eos: bool = True) -> list[int]:
    # After "Answer:" the answer follows a space; BPE tokenizers fold it into the first token.
    # A chat template or a tag ends with the separator itself.
    text = answer if uses_chat_template(tokenizer) or uses_tags() else " " + answer.strip()
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
        self._prompts: dict[tuple[tuple | None, str], list[int]] = {}
        self._answers: dict[tuple[tuple | None, str], list[int]] = {}

    def __call__(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        template = active_template()  # the same question under other template args is another prompt
        key = (template.key() if template is not None else None, question)
        prompt = self._prompts.get(key)
        if prompt is None:
            prompt = self._prompts[key] = encode_prompt(self.tokenizer, question)
        ids = self._answers.get((key[0], answer))
        if ids is None:
            ids = self._answers[(key[0], answer)] = encode_answer(self.tokenizer, answer)
        return list(prompt), list(ids)
