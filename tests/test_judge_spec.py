"""One judge spec, one factory (issue 12): the spec picks the backend, the factory injects the
key, the calibrated mapping, the reference model and the cache; `judges/` reads none of them."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

import judges
from judges.cache import CachedJudge, JudgmentCache
from squeeze.core.config import build_config, resolve_config
from squeeze.core.errors import ConfigError
from squeeze.diagnose.judging import (
    JudgeSpec,
    ReferenceLM,
    build_judge,
    judge_options,
    load_embedding_settings,
)
from squeeze.lm.tiny import tiny_model_and_tokenizer

JUDGES_DIR = Path(judges.__file__).parent


def test_default_spec_is_the_embedding_judge_with_the_calibrated_mapping():
    name, options = judge_options(JudgeSpec())
    assert name == "embedding"
    calibrated = load_embedding_settings()
    assert calibrated and all(options[k] == v for k, v in calibrated.items())
    assert options["batch_size"] == JudgeSpec().batch_size and "lm_model" not in options


def test_reference_model_and_cache_are_injected(tmp_path):
    model, tokenizer = tiny_model_and_tokenizer(["Question: q\nAnswer: a"], hidden_size=16, num_layers=1, num_heads=2)
    reference = ReferenceLM(model, tokenizer, "orig@abc")
    judge, cache = build_judge(JudgeSpec(cache=str(tmp_path / "c.sqlite")), reference)
    try:
        assert isinstance(judge, CachedJudge) and isinstance(cache, JudgmentCache)
        assert cache.path == tmp_path / "c.sqlite"
        assert judge.inner._lm == (model, tokenizer) and judge.model.endswith("+lm:orig@abc")
    finally:
        cache.close()
    plain, none = build_judge(JudgeSpec(cache="", naturalness_lm="none"), reference)
    assert none is None and plain._lm is None  # no cache, no LM term
    _, by_path = judge_options(JudgeSpec(), ReferenceLM(path="runs/original/original"))
    assert by_path["lm_path"] == "runs/original/original"


def test_the_naturalness_lm_is_the_retain_model_when_there_is_one(tmp_path):
    from squeeze.diagnose.naturalness import with_naturalness_lm

    retain = tmp_path / "retain"
    retain.mkdir()
    (retain / "config.json").write_text("{}")
    assert JudgeSpec().naturalness_lm == "auto"
    assert with_naturalness_lm(JudgeSpec(), str(retain)).naturalness_lm == str(retain)
    assert with_naturalness_lm(JudgeSpec(naturalness_lm="retain"), str(retain)).naturalness_lm == str(retain)
    assert with_naturalness_lm(JudgeSpec(), "").naturalness_lm == "reference"  # no retain model: the reference
    assert with_naturalness_lm(JudgeSpec(naturalness_lm="none"), str(retain)).naturalness_lm == "none"
    with pytest.raises(ConfigError, match="needs --retain-model"):
        with_naturalness_lm(JudgeSpec(naturalness_lm="retain"), "")
    # Another backend scores naturalness itself: nothing to resolve.
    other = JudgeSpec(backend="openai", model="m")
    assert with_naturalness_lm(other, str(retain)) is other


def test_openai_key_is_read_by_the_factory_from_the_named_variable():
    spec = JudgeSpec(backend="openai", api_key_env="MY_KEY", model="m", concurrency=3)
    name, options = judge_options(spec, environ={"MY_KEY": "sk-1", "OPENAI_API_KEY": "sk-other"})
    assert name == "openai" and options["api_key"] == "sk-1" and options["concurrency"] == 3
    with pytest.raises(ConfigError, match="MY_KEY"):
        judge_options(spec, environ={})
    local = judge_options(dataclasses.replace(spec, base_url="http://127.0.0.1:9/v1"), environ={})[1]
    assert local["api_key"] is None and local["base_url"] == "http://127.0.0.1:9/v1"
    assert judge_options(JudgeSpec(base_url="http://x/v1"), environ={})[0] == "openai"  # the default backend


def test_hf_needs_a_model_and_unknown_backends_are_one_line_errors():
    with pytest.raises(ConfigError, match="--judge hf needs --judge-model"):
        judge_options(JudgeSpec(backend="hf"))
    with pytest.raises(ConfigError, match="unknown judge backend 'gpt'"):
        judge_options(JudgeSpec(backend="gpt"))
    with pytest.raises(ConfigError, match="no such file"):
        judge_options(JudgeSpec(config="/nowhere/embedding.yaml"))


def test_spec_from_text_and_from_yaml():
    assert JudgeSpec.from_string("hf:model=m,scoring=logprob") == {"backend": "hf", "model": "m", "scoring": "logprob"}
    assert build_config(JudgeSpec, JudgeSpec.from_string("openai")).backend == "openai"

    @dataclasses.dataclass
    class Holder:
        judge: JudgeSpec = dataclasses.field(default_factory=JudgeSpec)

    # A string, then a mapping, then a dotted override: each sets only what it names.
    cfg = resolve_config(Holder, [], ["judge.model=m2"], base={"judge": "hf:model=m1,batch_size=4"})
    assert (cfg.judge.backend, cfg.judge.model, cfg.judge.batch_size) == ("hf", "m2", 4)
    with pytest.raises(ConfigError, match="unknown JudgeSpec key 'modle'"):
        resolve_config(Holder, [], ["judge.modle=x"])


def test_every_command_holds_one_judge_spec_and_no_flat_judge_field():
    from squeeze.calibrate.run import CalibrationSettings
    from squeeze.demo.config import DemoConfig
    from squeeze.diagnose.judge_run import JudgeRunConfig
    from squeeze.diagnose.pipeline import DiagnoseConfig

    for cls in (DiagnoseConfig, DemoConfig, JudgeRunConfig, CalibrationSettings):
        hints = typing.get_type_hints(cls)
        assert hints["judge"] is JudgeSpec, cls
        names = {f.name for f in dataclasses.fields(cls)}
        assert not {n for n in names if n.startswith("judge_")}, cls
        assert not names & {"concurrency", "scoring", "cache", "timeout", "max_attempts", "reference_lm"}, cls


def test_judges_package_reads_no_environment_and_no_configs():
    for path in JUDGES_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("environ", "getenv", "putenv", "unsetenv"), f"{path}: os.{node.attr}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert node.value != "configs" and "configs/" not in node.value, f"{path}: names configs/"
