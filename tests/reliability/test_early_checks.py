"""Issue 14, case 6: every option, file and model is checked before expensive work, and a
bad value is one line (no traceback) that leaves no folder blocking the corrected re-run."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers.judge_server import JudgeServer
from helpers.tiny_runs import diagnose_args, tiny, write_jsonl

from squeeze.cli.main import main
from squeeze.lm.tiny import build_tiny_llama
from squeeze.world.build import load_world


def run_cli(args, capfd) -> tuple[int | str, list[str]]:
    """(exit code, or the exception type a traceback would show; the error lines printed)."""
    try:
        code = main([str(a) for a in args])
    except Exception as exc:  # what a user sees as a traceback
        code = type(exc).__name__
    err = capfd.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("squeeze: error:")]


def _swapped_tokenizer(tmp_path, world):
    """The reference's tokenizer with two ids swapped: words the first 8 items never use."""
    from tokenizers import Tokenizer

    tok = tiny()["tokenizer"]
    from squeeze.lm.prompting import encode_qa

    early = {
        i
        for split in world.splits.values()
        for r in split[:8]
        for ids in encode_qa(tok, r.question, r.answer)
        for i in ids
    }
    spec = json.loads(tok.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    late = [w for w in sorted(vocab) if w.isalpha() and vocab[w] not in early][:2]
    vocab[late[0]], vocab[late[1]] = vocab[late[1]], vocab[late[0]]
    from transformers import PreTrainedTokenizerFast

    swapped = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        **{k: getattr(tok, k) for k in ("pad_token", "unk_token", "bos_token", "eos_token")},
    )
    folder = tmp_path / "swapped"
    shutil.copytree(tiny()["checkpoint"], folder)
    swapped.save_pretrained(folder)
    return folder


def _checkpoint(tmp_path, kind: str):
    t = tiny()
    folder = tmp_path / kind
    if kind == "no_weights":
        shutil.copytree(t["checkpoint"], folder)
        (folder / "model.safetensors").unlink()
    elif kind == "pickle_only":
        shutil.copytree(t["checkpoint"], folder)
        (folder / "model.safetensors").unlink()
        torch.save(t["model"].state_dict(), folder / "pytorch_model.bin")
    elif kind == "small_vocab":  # saved by plain transformers: no tokenizer, fewer embeddings
        small = build_tiny_llama(len(t["tokenizer"]) - 7, hidden_size=32, num_layers=2, num_heads=2, seed=0)
        small.save_pretrained(folder)
    elif kind == "swapped_tokenizer":
        folder = _swapped_tokenizer(tmp_path, load_world(t["world"]))
    return folder


CASES = {
    "hf judge without a model": (["--judge", "hf"], "needs --judge-model"),
    "judge concurrency 0": (["--judge-concurrency", "0"], "concurrency must be"),
    "missing thresholds file": (["--thresholds", "/nonexistent/verdict.yaml"], "verdict.yaml"),
    "corrupt cache": (["--cache", "CORRUPT"], "cannot be used"),
    "embedding judge given a base URL": (["--judge", "embedding"], "--judge-base-url is for the openai judge"),
    "no weights": ("no_weights", "no weights"),
    "pickle-only weights": ("pickle_only", "only pickle weights"),
    "no tokenizer and a smaller vocabulary": ("small_vocab", "token embeddings"),
    "tokenizer differing beyond 8 items": ("swapped_tokenizer", "tokenizer differs"),
    "an answer far beyond the model's length": ("long_answer", "token limit"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_case6_bad_option_file_or_model_is_one_line_before_any_work(case, tmp_path, capfd):
    extra, message = CASES[case]
    out = tmp_path / "out"
    model, args = None, []
    if isinstance(extra, list):
        args = list(extra)
        if "CORRUPT" in args:
            corrupt = tmp_path / "corrupt.sqlite"
            corrupt.write_bytes(b"this is not a database" * 100)
            args[args.index("CORRUPT")] = str(corrupt)
    elif extra == "long_answer":
        records = [r.to_dict() for r in load_world(tiny()["world"]).splits["forget"]]
        records[0]["answer"] = " ".join(["the"] * 3000)  # 3000 tokens; the model holds 128
        args = ["--forget", str(write_jsonl(tmp_path / "forget.jsonl", records))]
    else:
        model = _checkpoint(tmp_path, extra)
    with JudgeServer() as server:
        argv = diagnose_args(out, server.base_url, *args, model=model)
        if case == "hf judge without a model":  # neither a server nor a model
            for flag in ("--judge-base-url", "--judge-model"):
                del argv[argv.index(flag) : argv.index(flag) + 2]
        code, errors = run_cli(argv, capfd)
        assert server.requests == 0
    assert code == 1
    assert len(errors) == 1 and message in errors[0], errors
    assert not out.exists(), "a failed check must leave no folder (and no bins, scores or generations)"


UNLEARN_VALUES = ["lr=nan", "lr=1e400", "weight_decay=-1", "seed=-1", "epochs=1e400", "max_length=0"]


@pytest.mark.parametrize("value", UNLEARN_VALUES)
def test_case6_bad_unlearn_values_are_one_line_and_leave_no_folder(value, tmp_path, capfd):
    t = tiny()
    out = tmp_path / "run"
    steps = [] if value.startswith("epochs") else ["steps=2"]
    args = ["unlearn", "--method", "ga", "--original", t["original"], "--world", t["world"], "--out", out]
    code, errors = run_cli([*args, value, *steps, "forget_batch_size=2", "retain_batch_size=2"], capfd)
    key = value.split("=")[0]
    assert code == 1 and len(errors) == 1 and key in errors[0], errors
    assert not out.exists()
    if value == "max_length=0":  # the corrected re-run is not refused
        code, errors = run_cli([*args, "max_length=64", "steps=1", "forget_batch_size=2", "retain_batch_size=2"], capfd)
        assert code == 0, errors


@pytest.mark.parametrize("value", ["lr=nan", "weight_decay=-1", "seed=-1", "warmup_frac=2"])
def test_case6_bad_train_original_values_are_one_line_and_leave_no_folder(value, tmp_path, capfd):
    out = tmp_path / "orig"
    args = ["train-original", "--world", tiny()["world"], "--out", out, value, "epochs=1", "parallel=false"]
    code, errors = run_cli(args, capfd)
    assert code == 1 and len(errors) == 1 and value.split("=")[0] in errors[0], errors
    assert not out.exists()


def test_case6_bins_refuses_a_5mb_answer_before_any_work(tmp_path, capfd):
    records = [r.to_dict() for r in load_world(tiny()["world"]).splits["forget"]]
    records[0]["answer"] = "word " * 1_000_000  # 5 MB
    forget = write_jsonl(tmp_path / "forget.jsonl", records)
    out = tmp_path / "bins"
    code, errors = run_cli(
        ["bins", "--model", tiny()["original"], "--forget", forget, "--out", out, "--candidates", "2"], capfd
    )
    assert code == 1 and len(errors) == 1 and "token limit" in errors[0], errors
    assert not out.exists()
