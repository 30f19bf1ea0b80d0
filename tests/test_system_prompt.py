"""`squeeze diagnose --system-prompt` (issue 15, item 2: OpenUnlearning's template arguments):
every prompt carries the system prompt, in a chat template as a system message and in the plain
format as a first paragraph; bins made under it are reused only under the same one."""

from __future__ import annotations

import json

import pandas as pd
from helpers.diagnose_runs import FAST
from helpers.tiny_gguf import CHAT_TEMPLATE

from squeeze.cli.main import main
from squeeze.lm.models import load_tokenizer
from squeeze.lm.prompting import QAEncoder, encode_prompt, format_prompt, system_prompt

SYSTEM = "You are a helpful assistant."


def test_chat_and_plain_prompts_by_hand(diagnose_setup):
    tok = load_tokenizer(diagnose_setup["original"])
    assert not getattr(tok, "chat_template", None)
    assert format_prompt(tok, "Who?") == "Question: Who?\nAnswer:"
    with system_prompt(SYSTEM):
        assert format_prompt(tok, "Who?") == f"{SYSTEM}\n\nQuestion: Who?\nAnswer:"
    assert format_prompt(tok, "Who?") == "Question: Who?\nAnswer:"  # only inside the block
    tok.chat_template = CHAT_TEMPLATE
    with system_prompt(SYSTEM):
        assert format_prompt(tok, "Who?") == (
            f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n"
        )
    assert format_prompt(tok, "Who?") == "<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n"


def test_the_memoised_encoder_keys_on_the_system_prompt(diagnose_setup):
    tok = load_tokenizer(diagnose_setup["original"])
    encode = QAEncoder(tok)
    plain = encode("Who?", "Ada.")[0]
    with system_prompt(SYSTEM):
        assert encode("Who?", "Ada.")[0] == encode_prompt(tok, "Who?") != plain
    assert encode("Who?", "Ada.")[0] == plain


def test_diagnose_scores_under_the_system_prompt_and_keeps_bins_apart(diagnose_setup, tmp_path):
    s = diagnose_setup
    common = ["--model", str(s["run"]), "--world", str(s["world"]), "--no-cache", *FAST]
    assert main(["diagnose", *common, "--out", str(tmp_path / "plain")]) == 0
    out = tmp_path / "system"
    assert main(["diagnose", *common, "--out", str(out), "--bins", str(tmp_path / "plain" / "bins.jsonl")]) == 0
    # Same settings, no system prompt: the bins are reused.
    assert "system_prompt" not in json.loads((out / "bins_meta.json").read_text())
    assert main(["diagnose", *common, "--out", str(out), "--system-prompt", SYSTEM]) == 0
    meta = json.loads((out / "bins_meta.json").read_text())
    assert meta["system_prompt"] == SYSTEM
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["config"]["system_prompt"] == SYSTEM
    plain = pd.read_parquet(tmp_path / "plain" / "logprobs.parquet")
    with_system = pd.read_parquet(out / "logprobs.parquet")
    target = "group == 'target' and step == 0"
    # The reference's log-prob of each target changes when the prompt starts with the system text.
    assert (plain.query(target)["logp_sum"].to_numpy() != with_system.query(target)["logp_sum"].to_numpy()).any()
