"""Any model source, everywhere a model is named (issue 15, item 1): a local folder, a PEFT
adapter folder (merged in memory), a `.gguf` file, a Hub id (from the local Hub cache; offline
one clear line at once), and device / dtype / batch_size=auto."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.diagnose_runs import FAST
from helpers.model_sources import logits, lora_adapter, tiny_folder
from helpers.tiny_gguf import write_tiny_gguf

from squeeze.bins.binner import model_fingerprint
from squeeze.core.errors import ConfigError
from squeeze.lm.models import ModelLoadError, load_model, load_tokenizer, resolve_original
from squeeze.lm.runtime import (
    auto_batch_size,
    cached_batch_size,
    largest_fitting_batch,
    parse_batch_size,
    resolve_device,
    resolve_dtype,
)
from squeeze.lm.sources import resolve_in_run, resolve_model


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "squeeze-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    import huggingface_hub.constants

    # Read from the environment when huggingface_hub is imported, i.e. before this fixture.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_local_folder_is_itself_and_run_folders_unwrap(tmp_path):
    folder = tiny_folder(tmp_path / "run" / "original")
    assert resolve_model(folder) == folder
    assert resolve_original(str(tmp_path / "run")) == folder
    assert resolve_in_run(tmp_path / "run", ("original",)) == folder
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="neither config.json nor adapter_config.json"):
        resolve_model(tmp_path / "empty")
    with pytest.raises(ModelLoadError, match=r"^no model at .*not a folder, a \.gguf file"):
        resolve_model(tmp_path / "absent")


def test_peft_adapter_folder_merges_into_its_base(tmp_path):
    base_dir = tiny_folder(tmp_path / "base")
    adapter = tmp_path / "adapter"
    expected = lora_adapter(base_dir, adapter, relative=True)
    assert not (adapter / "config.json").exists()
    assert resolve_model(adapter) == adapter
    merged = load_model(adapter)
    assert type(merged).__name__ == "LlamaForCausalLM"  # merged, not a PeftModel wrapper
    assert torch.allclose(logits(merged), expected, atol=1e-5)
    assert not torch.allclose(logits(load_model(base_dir)), expected, atol=1e-3)
    assert load_tokenizer(adapter).get_vocab() == load_tokenizer(base_dir).get_vocab()  # the base's tokenizer
    # The fingerprint (bins reuse) tells the adapter from its base.
    assert model_fingerprint(adapter) != model_fingerprint(base_dir)


def test_gguf_file_resolves_to_its_cached_conversion(tmp_path):
    path = tmp_path / "tiny.gguf"
    source = write_tiny_gguf(path)
    folder = resolve_model(path)
    assert (folder / "config.json").is_file() and Path(os.environ["SQUEEZE_CACHE"]) in folder.parents
    assert resolve_original(str(path)) == folder  # --reference / --original take it too
    with torch.no_grad():
        ids = torch.tensor([[1, 40, 77, 100, 2]])
        assert torch.allclose(load_model(path)(input_ids=ids).logits, source(input_ids=ids).logits, atol=1e-4)


def fake_hub_cache(repo_id: str, model_dir: Path) -> Path:
    """The layout huggingface_hub writes (models--owner--name/refs, snapshots/<commit>/)."""
    commit = "0" * 40
    root = Path(os.environ["HF_HUB_CACHE"]) / f"models--{repo_id.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in model_dir.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    return snapshot


def test_hub_id_from_the_local_cache_without_network(tmp_path, monkeypatch):
    folder = tiny_folder(tmp_path / "m")
    snapshot = fake_hub_cache("someone/tiny-model", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model("someone/tiny-model") == snapshot
    assert torch.equal(logits(load_model("someone/tiny-model")), logits(load_model(folder)))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: connections are refused at once


def test_unreachable_hub_fails_at_once_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ModelLoadError, match=r"someone/absent-model: the Hub .* cannot be reached"):
        resolve_model("someone/absent-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not in the local Hub cache and HF_HUB_OFFLINE is set"):
        resolve_model("someone/absent-model")


def test_cli_names_an_unreachable_hub_model_in_one_line(tmp_path):
    original = tiny_folder(tmp_path / "orig")
    forget = tmp_path / "f.jsonl"
    forget.write_text(json.dumps({"id": "a", "question": "the cat", "answer": "sat on the mat"}) + "\n")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    env.pop("HF_HUB_OFFLINE", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "squeeze.cli.main", "diagnose", "--model", "someone/absent-model"]
        + ["--reference", str(original), "--forget", str(forget), "--out", str(tmp_path / "d"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    err = done.stderr.strip()
    assert err.startswith("squeeze: error: model someone/absent-model: the Hub") and "\n" not in err
    assert time.monotonic() - started < 120  # no retry loop (a generous bound: the import alone takes seconds)


def test_device_and_dtype_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            resolve_device("cuda:1")
    with pytest.raises(ConfigError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype("fp32") is torch.float32
    assert resolve_dtype("auto", "cpu") is torch.float32
    with pytest.raises(ConfigError, match="dtype 'int8'"):
        resolve_dtype("int8")
    assert parse_batch_size("auto") == "auto" and parse_batch_size("12") == 12 and parse_batch_size(3) == 3
    for bad in ("0", "x", -2, True):
        with pytest.raises(ConfigError, match="expected a positive integer or auto"):
            parse_batch_size(bad)


def test_largest_fitting_batch_searches_and_caches():
    tried = []

    def fits(batch: int) -> None:
        tried.append(batch)
        if batch > 37:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated: no GPU here)")

    assert largest_fitting_batch(fits, cap=256) == 37
    assert tried[:7] == [1, 2, 4, 8, 16, 32, 64]  # doubling, then a bisection between 32 and 64
    assert largest_fitting_batch(lambda b: None, cap=100) == 64  # the last power of two under the cap
    with pytest.raises(ValueError):  # anything but out-of-memory is a real error
        largest_fitting_batch(lambda b: (_ for _ in ()).throw(ValueError("bug")))
    calls = []
    assert cached_batch_size("k", lambda: calls.append(1) or 7) == 7
    assert cached_batch_size("k", lambda: calls.append(1) or 9) == 7 and calls == [1]  # found once


def test_auto_batch_size_on_a_real_model_is_cached(tmp_path):
    model = load_model(tiny_folder(tmp_path / "m"))
    seen = []
    assert auto_batch_size(model, 12, "tiny", cap=8, fits=lambda b: seen.append(b)) == 8
    assert auto_batch_size(model, 12, "tiny", cap=8) == 8 and seen == [1, 2, 4, 8]  # second call: from the cache
    assert auto_batch_size(model, 12, "other", cap=8) == 8  # a real forward-pass probe
    table = json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())
    assert set(table) == {"tiny|cpu|float32|len12|cap8", "other|cpu|float32|len12|cap8"}


def test_diagnose_takes_an_adapter_checkpoint_and_auto_batch_size_and_records_provenance(tmp_path, diagnose_setup):
    from squeeze.cli.main import main

    s = diagnose_setup
    adapter = tmp_path / "adapter"
    lora_adapter(s["original"], adapter)
    out = tmp_path / "diag"
    fast = [f for i, f in enumerate(FAST) if "--batch-size" not in FAST[max(0, i - 1) : i + 1]]
    args = ["--model", adapter, "--reference", s["original"], "--world", s["world"], "--out", out, "--no-cache"]
    args += ["--device", "cpu", "--dtype", "fp32", "--batch-size", "auto", *fast]
    assert main(["diagnose", *map(str, args)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == str(adapter) and report["n_items"] == 4
    table = json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())
    assert len(table) == 1 and next(iter(table.values())) >= 1  # searched once, stored
    # Provenance (item 6) of the same run: in report.json, report.md and the leaderboard row and CSV.
    prov = report["provenance"]
    # The resolved batch size, not "auto": provenance says what ran.
    assert (prov["device"], prov["dtype"], prov["config"]["batch_size"]) == (
        "cpu",
        "float32",
        next(iter(table.values())),
    )
    assert set(prov["data_sha256"]) == {str(s["world"])} and prov["seeds"]["bins"] == 0
    assert "## Provenance" in (out / "report.md").read_text()
    from squeeze.leaderboard.table import DisagreementRule, build_rows, to_csv

    rows = build_rows([out], DisagreementRule())
    assert rows[0]["torch"] == prov["torch"] and rows[0]["git_commit"] == (prov["git_commit"] or "")[:12] + (
        "+dirty" if prov["git_dirty"] else ""
    )
    assert to_csv(rows).splitlines()[0].endswith("squeeze_version,git_commit,torch,transformers,device,dtype")
