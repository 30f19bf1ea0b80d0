"""OpenUnlearning's prompt-template arguments (issue 15, item 2): the prompt token ids squeeze
builds under them equal the string OpenUnlearning's `preprocess_chat_instance` builds, written
out by hand here, for a chat template that prints a date string and for the tag-based form."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers.diagnose_runs import FAST

from squeeze.core.config import resolve_config
from squeeze.core.errors import ConfigError
from squeeze.lm.prompting import QAEncoder, encode_answer, encode_prompt, format_prompt, prompt_template
from squeeze.lm.template_args import TemplateArgs, merged_template_args
from squeeze.lm.tiny import build_word_tokenizer

SYSTEM = "You are a helpful assistant."
HEADERS = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
# Written for this test in the manner of Llama-3's templates: a "Today Date" line that takes
# `date_string`, with a default of its own when none is passed.
DATED_TEMPLATE = (
    "{{ bos_token }}"
    "{% if date_string is not defined %}{% set date_string = '26 Jul 2024' %}{% endif %}"
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set messages = messages[1:] %}{% else %}{% set system = '' %}{% endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\nToday Date: {{ date_string }}\n\n{{ system }}<|eot_id|>"
    "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
QUESTION = "Who wrote the book?"


@pytest.fixture
def tokenizer():
    corpus = [QUESTION, SYSTEM, "Today Date: 10 Apr 2025 26 Jul 2024", "system user assistant Ada did."]
    tok = build_word_tokenizer(corpus)
    tok.add_special_tokens({"additional_special_tokens": HEADERS})
    tok.chat_template = DATED_TEMPLATE
    return tok


def ids(tokenizer, text: str, special: bool) -> list[int]:
    out = list(tokenizer(text, add_special_tokens=special)["input_ids"])
    assert tokenizer.unk_token_id not in out  # every piece is in the vocabulary: the comparison is exact
    return out


def test_chat_template_with_date_string_matches_the_hand_built_prompt(tokenizer):
    args = TemplateArgs(apply_chat_template=True, system_prompt=SYSTEM, date_string="10 Apr 2025")
    hand = (
        "<bos><|start_header_id|>system<|end_header_id|>\n\nToday Date: 10 Apr 2025\n\n"
        f"{SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{QUESTION}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    with prompt_template(args):
        assert format_prompt(tokenizer, QUESTION) == hand
        prompt = encode_prompt(tokenizer, QUESTION)
        assert QAEncoder(tokenizer)(QUESTION, "Ada did.")[0] == prompt
    # The chat template writes the BOS: no second one is added.
    assert prompt == ids(tokenizer, hand, special=False) and prompt.count(tokenizer.bos_token_id) == 1
    # What OpenUnlearning calls: apply_chat_template(tokenize=True, date_string=...).
    chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    theirs = tokenizer.apply_chat_template(chat, tokenize=True, add_generation_prompt=True, date_string="10 Apr 2025")
    assert prompt == list(theirs["input_ids"] if hasattr(theirs, "keys") else theirs)
    # Without the date string the template's own default date is printed: another prompt.
    with prompt_template(TemplateArgs(system_prompt=SYSTEM)):
        undated = encode_prompt(tokenizer, QUESTION)
        assert "Today Date: 26 Jul 2024" in format_prompt(tokenizer, QUESTION)
    assert undated != prompt


def test_tag_form_matches_the_hand_built_prompt_even_beside_a_chat_template(tokenizer):
    args = TemplateArgs(
        apply_chat_template=False,
        system_prompt_with_special_tokens="<|start_header_id|>system<|end_header_id|>\n\n" + SYSTEM + "<|eot_id|>",
        user_start_tag="Question: ",
        user_end_tag="\n",
        asst_start_tag="Answer: ",
        asst_end_tag="\n\n",
    )
    hand = f"<|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>Question: {QUESTION}\nAnswer: "
    with prompt_template(args):
        assert format_prompt(tokenizer, QUESTION) == hand
        prompt = encode_prompt(tokenizer, QUESTION)
        answer = encode_answer(tokenizer, "Ada did.")
    # Tokenised with the tokenizer's special tokens, as OpenUnlearning does (add_special_tokens=True).
    assert prompt == ids(tokenizer, hand, special=True) and prompt[0] == tokenizer.bos_token_id
    assert answer == ids(tokenizer, "Ada did.", special=False) + [tokenizer.eos_token_id]
    with pytest.raises(ConfigError, match="no chat template"):
        tokenizer.chat_template = None
        with prompt_template(TemplateArgs(apply_chat_template=True)):
            encode_prompt(tokenizer, QUESTION)


def openunlearning_model_config(path, **template):
    """A file laid out as OpenUnlearning's configs/model/*.yaml (written here, not copied)."""
    import yaml

    body = {"model_args": {"pretrained_model_name_or_path": "some/model"}, "template_args": template}
    path.write_text(yaml.safe_dump(body))
    return path


def test_template_args_come_from_an_openunlearning_model_config(tmp_path):
    from squeeze.diagnose.pipeline import DiagnoseConfig

    path = openunlearning_model_config(
        tmp_path / "model.yaml", apply_chat_template=True, system_prompt=SYSTEM, date_string="10 Apr 2025"
    )
    cfg = resolve_config(DiagnoseConfig, template_args=str(path))
    assert (cfg.template_args.apply_chat_template, cfg.template_args.date_string) == (True, "10 Apr 2025")
    # A flag given as well wins, field by field.
    cfg = resolve_config(DiagnoseConfig, [], ["template_args.date_string=1 Jan 2026"], template_args=str(path))
    assert cfg.template_args.date_string == "1 Jan 2026" and cfg.template_args.system_prompt == SYSTEM
    iso = tmp_path / "iso.yaml"
    iso.write_text("template_args:\n  apply_chat_template: true\n  date_string: 2025-04-10\n")
    assert TemplateArgs.from_string(str(iso))["date_string"] == "2025-04-10"  # YAML's date, read back as text
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['chat_format'\]"):
        TemplateArgs.from_string(str(openunlearning_model_config(tmp_path / "bad.yaml", chat_format="x")))
    # --system-prompt folds in; two different system prompts are an error.
    assert merged_template_args(TemplateArgs(), SYSTEM).system_prompt == SYSTEM
    assert merged_template_args(TemplateArgs(), "") is None
    with pytest.raises(ConfigError, match="differ"):
        merged_template_args(TemplateArgs(system_prompt="Be brief."), SYSTEM)


def test_diagnose_scores_under_the_template_args(diagnose_setup, diagnosed_runs, tmp_path):
    s = diagnose_setup
    path = openunlearning_model_config(
        tmp_path / "model.yaml",
        apply_chat_template=False,
        user_start_tag="Q: ",
        user_end_tag="\n",
        asst_start_tag="A:",
    )
    out = tmp_path / "tagged"
    args = ["--model", s["run"], "--no-cache", "--out", out, "--template-args", path, *FAST]
    from squeeze.cli.main import main

    assert main(["diagnose", *map(str, args)]) == 0
    meta = json.loads((out / "bins_meta.json").read_text())
    assert meta["template_args"]["user_start_tag"] == "Q: " and meta["template_args"]["apply_chat_template"] is False
    config = json.loads((out / "report.json").read_text())["provenance"]["config"]
    assert config["template_args"]["asst_start_tag"] == "A:"
    # The tags change every prompt and so the reference's log-prob of each target, against the
    # plain diagnosis of the same run.
    plain = pd.read_parquet(diagnosed_runs["ga"] / "logprobs.parquet")
    tagged = pd.read_parquet(out / "logprobs.parquet")
    target = "group == 'target' and step == 0"
    assert len(tagged.query(target)) == len(plain.query(target)) == 4
    assert (plain.query(target)["logp_sum"].to_numpy() != tagged.query(target)["logp_sum"].to_numpy()).any()


def test_few_shot_prompts_follow_the_template_args(tokenizer):
    """The rephrase attack's few-shot prompt: OpenUnlearning's in-context layout in the tag form
    (the system text once, each example closed by asst_end_tag), and the chat template under the
    system prompt and date string."""
    from squeeze.attacks.rephrase import few_shot_prompt
    from squeeze.core.types import QARecord

    shots = [QARecord(id="s", question="Who did?", answer="Ada did.")]
    tags = TemplateArgs(
        apply_chat_template=False,
        system_prompt_with_special_tokens="system ",
        user_start_tag="user ",
        user_end_tag="\n",
        asst_start_tag="assistant ",
        asst_end_tag="\n\n",
    )
    with prompt_template(tags):
        got = few_shot_prompt(tokenizer, shots, QUESTION)
    hand = f"system user Who did?\nassistant Ada did.\n\nuser {QUESTION}\nassistant "
    assert got == ids(tokenizer, hand, special=True)
    with prompt_template(TemplateArgs(system_prompt=SYSTEM, date_string="10 Apr 2025")):
        got = few_shot_prompt(tokenizer, shots, QUESTION)
    hand = (
        "<bos><|start_header_id|>system<|end_header_id|>\n\nToday Date: 10 Apr 2025\n\n"
        f"{SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho did?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nAda did.<|eot_id|>"
        f"<|start_header_id|>user<|end_header_id|>\n\n{QUESTION}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert got == ids(tokenizer, hand, special=False)
