"""OpenUnlearning's prompt-template arguments (issue 15, item 2), so its prompts can be reproduced.

OpenUnlearning gives each model a `template_args:` mapping (configs/model/*.yaml there) that
its data code (src/data/utils.py, `preprocess_chat_instance`) turns into the prompt:

- `apply_chat_template: true`: the tokenizer's chat template over [system (when
  `system_prompt` is set), user], with the generation prompt, and `date_string` passed to the
  template when set (Llama-3's templates print "Today Date: ..." and otherwise take the
  template's own default date);
- `apply_chat_template: false`: the text `system_prompt_with_special_tokens + user_start_tag +
  question + user_end_tag + asst_start_tag`, tokenised with the tokenizer's special tokens
  (its BOS) added.

`TemplateArgs` holds the same fields under the same names, and `--template-args FILE` reads an
OpenUnlearning model config (its `template_args:`) or a bare mapping, so a run can be given
the very file OpenUnlearning used. `apply_chat_template` left unset (None) is squeeze's own
rule: the chat template when the tokenizer has one, else "Question: ...\\nAnswer:"
(squeeze/lm/prompting.py). Applied by `with prompt_template(args):` there.

Answers are tokenised on their own, as everywhere in squeeze (DESIGN section 2), where
OpenUnlearning cuts the tokens of prompt + answer at the prompt's length: for a tag that ends
in a space, or a template that writes more than EOS after the answer, the answer's tokens
can differ at its first or last token.

    squeeze diagnose ... --template-args open-unlearning/configs/model/Llama-3.2-1B-Instruct.yaml
    squeeze diagnose ... --template-args-date-string "10 Apr 2025" --system-prompt "You are a helpful assistant."
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from squeeze.core.config import option
from squeeze.core.errors import ConfigError


@dataclass
class TemplateArgs:
    apply_chat_template: bool | None = option(
        None, "true: the tokenizer's chat template; false: the tags below; unset: chat template when there is one"
    )
    system_prompt: str = option("", "system message (chat template)")
    system_prompt_with_special_tokens: str = option("", "text before the first user tag (apply_chat_template false)")
    user_start_tag: str = option("", "text before the question (apply_chat_template false)")
    user_end_tag: str = option("", "text after the question (apply_chat_template false)")
    asst_start_tag: str = option("", "text after user_end_tag, where the answer starts (apply_chat_template false)")
    asst_end_tag: str = option("", "text after an answer (OpenUnlearning's few-shot examples; unused for one question)")
    date_string: str = option("", "passed to the chat template as date_string (Llama-3's 'Today Date')")

    @classmethod
    def from_string(cls, text: str) -> dict:
        """A YAML file: an OpenUnlearning model config (its `template_args:`) or a bare mapping."""
        import yaml

        path = Path(text).expanduser()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--template-args {text}: cannot read: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--template-args {text}: not YAML ({exc})") from None
        if isinstance(data, dict) and isinstance(data.get("template_args"), dict):
            data = data["template_args"]
        if not isinstance(data, dict):
            raise ConfigError(f"--template-args {text}: expected a template_args mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"--template-args {text}: unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
        # YAML reads `date_string: 2025-04-10` as a date: every field but the switch is text.
        return {k: v if k == "apply_chat_template" else ("" if v is None else str(v)) for k, v in data.items()}

    def given(self) -> dict:
        """The fields set away from their defaults (what bins_meta.json records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != f.default}

    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


def merged_template_args(template: TemplateArgs | None, system_prompt: str = "") -> TemplateArgs | None:
    """`template` with `--system-prompt` folded in (the two must agree when both are given);
    None when neither sets anything."""
    template = dataclasses.replace(template) if template is not None else TemplateArgs()
    if system_prompt:
        if template.system_prompt and template.system_prompt != system_prompt:
            raise ConfigError(
                f"--system-prompt {system_prompt!r} and the template args' system_prompt "
                f"{template.system_prompt!r} differ: give one"
            )
        template.system_prompt = system_prompt
    return template if template.given() else None
