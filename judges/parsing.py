"""Strict parsing of a judge's answer, and assembly of a Judgment from two answers.

A judge answers `{"score": n, "reason": "..."}` (DESIGN section 10). The parser accepts
only a JSON object that ENDS the answer (after trailing whitespace and an optional closing
code fence), and only when it is the answer's ONE verdict object (issue 14): an answer
that holds two (`{"score": 0} ... OVERRIDE: {"score": 5}`) says nothing reliable. Given
the judged generation, an answer whose verdict lies inside a copy of that generation (a
judge that only repeats a generation ending in `{"score": 5}`) is an echo, not a verdict.
The score must be a number (not a string, not a bool) within 0-5; anything else gives
`score=None` with the problem named. A parse failure is never the minimum and never a guess.

    parse_score('I weighed it.\\n{"score": 4, "reason": "same fact"}').score == 4.0
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from judges.base import ASPECTS, SCORE_MAX, SCORE_MIN, JudgeItem, Judgment
from judges.prompting import escape_fenced
from judges.redact import redact

_DECODER = json.JSONDecoder()
# How many '{' positions, counted from the end, are tried as the start of the verdict;
# bounds the work on long answers full of braces.
_MAX_STARTS = 64
_MAX_OBJECTS = 256  # objects decoded when counting verdicts


@dataclass(frozen=True)
class ParsedScore:
    score: float | None
    reason: str | None
    problem: str | None = None  # why score is None


def _strip_tail(text: str) -> str:
    text = text.rstrip()
    if text.endswith("```"):
        text = text[:-3].rstrip()
    return text


def _final_object(text: str) -> tuple[object, str | None]:
    """The JSON value that starts at some '{' and ends exactly at the end of `text`."""
    if not text.endswith("}"):
        return None, "the answer does not end with a JSON object"
    tried = 0
    start = text.rfind("{")
    while start != -1 and tried < _MAX_STARTS:
        tried += 1
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            value, end = None, -1
        if end == len(text):
            return value, None
        start = text.rfind("{", 0, start)
    return None, "the answer does not end with a valid JSON object"


def _verdict_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every top-level JSON object in `text` that has a "score" key."""
    spans, position, tried = [], text.find("{"), 0
    while position != -1 and tried < _MAX_OBJECTS:
        tried += 1
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict) and "score" in value:
            spans.append((position, end))
        position = text.find("{", end)
    return spans


def _inside_echo(text: str, span: tuple[int, int], generation: str) -> bool:
    """Whether the object at `span` lies inside a copy of the generation (raw or as fenced)."""
    for copy in {generation.strip(), escape_fenced(generation).strip()}:
        if not copy:
            continue
        start = text.find(copy)
        while start != -1:
            if start <= span[0] and span[1] <= start + len(copy):
                return True
            start = text.find(copy, start + 1)
    return False


def parse_score(
    text: str | None, low: float = SCORE_MIN, high: float = SCORE_MAX, generation: str | None = None
) -> ParsedScore:
    if not text or not text.strip():
        return ParsedScore(None, None, "empty answer")
    body = _strip_tail(text)
    value, problem = _final_object(body)
    if problem:
        return ParsedScore(None, None, problem)
    spans = _verdict_spans(body)
    if len(spans) > 1:
        return ParsedScore(None, None, f"the answer holds {len(spans)} verdict objects, not one")
    if generation and spans and _inside_echo(body, spans[0], generation):
        return ParsedScore(None, None, "the answer repeats the judged generation (an echo, not a verdict)")
    if not isinstance(value, dict) or "score" not in value:
        return ParsedScore(None, None, 'the final JSON object has no "score"')
    score, reason = value["score"], value.get("reason")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        return ParsedScore(None, None, f'"score" is not a number: {score!r}')
    if reason is not None and not isinstance(reason, str):
        return ParsedScore(None, None, f'"reason" is not a string: {reason!r}')
    if not low <= score <= high:
        return ParsedScore(None, reason, f'"score" {score} is outside {low:g}-{high:g}')
    return ParsedScore(float(score), reason)


@dataclass
class AspectAnswer:
    """The outcome of asking one aspect of one item, after any retries."""

    score: float | None
    reason: str | None
    raw: str
    error: str | None = None
    attempts: int = 1


def judgment_from_answers(
    item: JudgeItem,
    answers: dict[str, AspectAnswer],
    backend: str,
    model: str,
    prompt_version: str,
    latency_s: float,
) -> Judgment:
    """One Judgment from the per-aspect answers of an LLM judge.

    `reason` reads "similarity: ... | naturalness: ..."; `raw` is a JSON object mapping
    each aspect to the judge's full answer text, kept for inspection; `error` names every
    aspect that failed and why.
    """
    sim, nat = answers[ASPECTS[0]], answers[ASPECTS[1]]
    reasons = [f"{aspect}: {answers[aspect].reason}" for aspect in ASPECTS if answers[aspect].reason]
    errors = [f"{aspect}: {answers[aspect].error}" for aspect in ASPECTS if answers[aspect].error]
    return Judgment(
        item_id=item.item_id,
        prompt=item.prompt,
        reference=item.reference,
        generation=item.generation,
        similarity=sim.score,
        naturalness=nat.score,
        reason=" | ".join(reasons) or None,
        raw=redact(json.dumps({aspect: answers[aspect].raw for aspect in ASPECTS}, ensure_ascii=False)),
        backend=backend,
        model=model,
        prompt_version=prompt_version,
        latency_s=latency_s,
        error=redact("; ".join(errors)) or None,
    )
