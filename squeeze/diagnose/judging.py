"""A judge is one spec (`JudgeSpec`: a backend and its options), built by one factory (DESIGN section 10).

`diagnose`, `judge`, `judge-calibrate` and `demo` all hold a `JudgeSpec` and call
`build_judge`, which turns it into the backend's settings and injects what the leaf package
`judges/` must not fetch itself: the API key (read here from the environment variable the
spec names), the embedding judge's calibrated mapping (read here from its YAML), the
reference model for the embedding judge's naturalness term, and the disk cache.

    judge, cache = build_judge(JudgeSpec(backend="openai", base_url="http://127.0.0.1:8000/v1", model="m"))
    with opened_judge(JudgeSpec(), reference=ReferenceLM(model, tokenizer, "orig@1a2b")) as judge:
        judgments = judge.judge(items)

On the command line each field is a flag `--judge-<field>` (and `judge.<field>=v`);
`--judge BACKEND` (or `BACKEND:key=value,...`) sets the backend.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squeeze.core.config import option
from squeeze.core.errors import ConfigError
from squeeze.core.resources import EMBEDDING_JUDGE, default_file

BACKENDS = ("embedding", "openai", "hf")


def embedding_settings_file() -> Path:
    """The embedding judge's calibrated mapping (`judge-calibrate --write-config`), package data."""
    return default_file(EMBEDDING_JUDGE)


def load_embedding_settings(path: str | os.PathLike | None = None) -> dict:
    """The `judge:` mapping of an embedding-judge settings YAML (default: the calibrated one the
    package ships); the file's other keys (its `calibration:` record) are notes."""
    import yaml

    if path is None:
        path = embedding_settings_file()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the embedding judge's settings: {exc}") from None
    settings = data.get("judge", {}) if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: expected a `judge:` mapping of embedding judge settings")
    return settings


@dataclass
class JudgeSpec:
    backend: str = option("", "embedding, openai or hf; default: openai when base_url is given, else embedding")
    model: str = option("", "openai: the served model name; hf: a chat model folder, .gguf file or GGUF name")
    base_url: str = option("", "openai: an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = option("OPENAI_API_KEY", "openai: name of the environment variable holding the API key")
    concurrency: int = option(16, "openai: requests in flight")
    timeout: float = option(60.0, "openai: seconds per request")
    max_attempts: int = option(4, "openai: requests per score, retries included")
    scoring: str = option(
        "generate",
        "hf: generate (parse the JSON answer) or logprob (expected score from the next-digit probabilities; "
        "for small models that do not keep to JSON)",
    )
    batch_size: int | str = option(
        16,
        "hf and embedding: items per batch, or auto (the largest that fits the judge's LM, found once and cached; "
        "an embedding judge without an LM: 32)",
    )
    device: str = option("auto", "hf and embedding: device of the judge's local models: auto, cpu, cuda or cuda:N")
    dtype: str = option("auto", "hf and embedding: dtype of the judge's local LMs: auto (bf16 on a GPU), fp32 or bf16")
    config: str = option(
        "",
        "embedding: settings YAML (judge-calibrate --write-config); default: the packaged squeeze/defaults/judges/embedding.yaml",
    )
    sentence_model: str = option("", "embedding: a sentence-transformers folder; default: the packaged MiniLM")
    naturalness_lm: str = option(
        "auto",
        "embedding: naturalness LM: auto (the command's retain model if it has one, else its reference), retain, "
        "reference, none, or a path",
    )
    cache: str = option(".cache/judges.sqlite", "judgment cache (SQLite); empty: no cache", flags=("--cache",))

    @classmethod
    def from_string(cls, text: str) -> dict[str, Any]:
        """`BACKEND` or `BACKEND:key=value,key=value` as the fields it sets (`hf:model=m,scoring=logprob`)."""
        from squeeze.core.config import parse_overrides

        backend, _, rest = text.partition(":")
        values: dict[str, Any] = {"backend": backend.strip()}
        values.update(parse_overrides([part for part in rest.split(",") if part.strip()]))
        return values

    @property
    def resolved_backend(self) -> str:
        return self.backend or ("openai" if self.base_url else "embedding")


@dataclass
class ReferenceLM:
    """The reference causal LM for the embedding judge's naturalness term: objects in memory
    (named, so two different references never share cache entries), or a folder to load."""

    model: Any = None
    tokenizer: Any = None
    name: str = ""
    path: str = ""


def check_spec(spec: JudgeSpec) -> None:
    """The spec's options, its files and its cache, checked before any expensive work (issue 14).

    The numbers are checked by the backend's own config (`OpenAIJudgeConfig`), built here early.
    """
    name = spec.resolved_backend
    if name not in BACKENDS:
        raise ConfigError(f"unknown judge backend {name!r}; known: {', '.join(BACKENDS)}")
    if name == "hf" and not spec.model:
        raise ConfigError("--judge hf needs --judge-model PATH")
    if name != "openai" and spec.base_url:
        raise ConfigError(
            f"--judge-base-url is for the openai judge; the {name} judge would ignore it (drop one of the two)"
        )
    if name == "hf" and spec.scoring not in ("generate", "logprob"):
        raise ConfigError(f"--judge-scoring must be generate or logprob, got {spec.scoring!r}")
    if name == "openai":
        from judges.openai_judge import OpenAIJudgeConfig

        try:
            OpenAIJudgeConfig(
                base_url=spec.base_url or None,
                concurrency=spec.concurrency,
                timeout_s=spec.timeout,
                max_attempts=spec.max_attempts,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
    from squeeze.diagnose.judge_models import check_runtime

    check_runtime(spec)
    if name == "embedding" and spec.config and not Path(spec.config).is_file():
        raise ConfigError(f"--judge-config {spec.config}: no such file")
    if spec.cache:
        from judges.cache import JudgmentCache

        try:
            JudgmentCache(spec.cache).close()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def judge_options(
    spec: JudgeSpec, reference: ReferenceLM | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, dict]:
    """(backend name, keyword arguments of `judges.make_judge`) for `spec`."""
    check_spec(spec)
    name = spec.resolved_backend
    if name == "openai":
        key = (os.environ if environ is None else environ).get(spec.api_key_env) or None
        if not spec.base_url and key is None:
            raise ConfigError(f"openai judge: set the environment variable {spec.api_key_env} or give --judge-base-url")
        options = {
            "base_url": spec.base_url or None,
            "api_key": key,
            "concurrency": spec.concurrency,
            "timeout_s": spec.timeout,
            "max_attempts": spec.max_attempts,
        }
        return name, {**options, **({"model": spec.model} if spec.model else {})}
    if name == "hf":
        if not spec.model:
            raise ConfigError("--judge hf needs --judge-model PATH")
        from squeeze.lm.models import hf_judge_model

        return name, hf_judge_model(spec.model, scoring=spec.scoring, batch_size=spec.batch_size)
    if spec.config and not Path(spec.config).is_file():
        raise ConfigError(f"--judge-config {spec.config}: no such file")
    options = {
        **load_embedding_settings(spec.config or None),
        "model_path": spec.sentence_model or None,
        "batch_size": spec.batch_size,
    }
    if spec.naturalness_lm in ("reference", "auto"):  # auto: no retain model was given to resolve it to
        if reference is not None and reference.model is not None:
            options.update(lm_model=reference.model, lm_tokenizer=reference.tokenizer, lm_name=reference.name or None)
        elif reference is not None and reference.path:
            options["lm_path"] = reference.path
    elif spec.naturalness_lm not in ("", "none"):
        options["lm_path"] = spec.naturalness_lm
    return name, options


def build_judge(
    spec: JudgeSpec,
    reference: ReferenceLM | None = None,
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
):
    """(judge, cache): the judge of `spec` (behind the disk cache unless spec.cache is empty)
    and the cache to close after; `options` are extra backend settings (calibration's tuned knots)."""
    from judges import make_judge
    from judges.cache import CachedJudge, JudgmentCache
    from squeeze.diagnose.judge_models import with_local_models

    name, config = judge_options(spec, reference, environ)
    config = with_local_models(name, config, spec.device, spec.dtype)  # any model source, loaded here (issue 15)
    try:
        judge = make_judge(name, **{**config, **(options or {})})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not spec.cache:
        return judge, None
    try:
        cache = JudgmentCache(spec.cache)
    except ValueError as exc:  # judges.cache.CacheError: a corrupt or unreadable file
        raise ConfigError(str(exc)) from None
    return CachedJudge(judge, cache), cache


@contextlib.contextmanager
def opened_judge(spec: JudgeSpec, reference: ReferenceLM | None = None, **kwargs) -> Iterator:
    """`build_judge` as a context manager that closes the cache."""
    judge, cache = build_judge(spec, reference, **kwargs)
    try:
        yield judge
    finally:
        if cache is not None:
            cache.close()


def judge_item(row: dict, generation: str, item_id: str):
    """The JudgeItem for one answer to a generations row, with the row's wrong answers (the
    record's perturbed answers, which the embedding judge's fact check reads) when it has any."""
    from judges import JudgeItem

    return JudgeItem(row["question"], row["reference"], generation, item_id, tuple(row.get("wrong_answers", ())))
