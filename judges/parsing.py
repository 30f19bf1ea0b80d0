"""Strict parsing of a judge's answer, and assembly of a Judgment from two answers.

A judge answers `{"score": n, "reason": "..."}` (DESIGN section 10). The parser accepts
only a JSON object that ENDS the answer (after trailing whitespace and an optional closing
code fence): text that a judge echoes from its prompt, such as a generation that says
`{"score": 5}` inside its fence, is followed by more text and so can never be taken for
the verdict. The score must be a number (not a string, not a bool) within 0-5; anything
else gives `score=None` with the problem named. A parse failure is never the minimum and
never a guess.

    parse_score('I weighed it.\\n{"score": 4, "reason": "same fact"}').score == 4.0
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from judges.base import ASPECTS, SCORE_MAX, SCORE_MIN, JudgeItem, Judgment

_DECODER = json.JSONDecoder()
# How many '{' positions, counted from the end, are tried as the start of the verdict;
# bounds the work on long answers full of braces.
_MAX_STARTS = 64


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


def parse_score(text: str | None, low: float = SCORE_MIN, high: float = SCORE_MAX) -> ParsedScore:
    if not text or not text.strip():
        return ParsedScore(None, None, "empty answer")
    value, problem = _final_object(_strip_tail(text))
    if problem:
        return ParsedScore(None, None, problem)
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
        raw=json.dumps({aspect: answers[aspect].raw for aspect in ASPECTS}, ensure_ascii=False),
        backend=backend,
        model=model,
        prompt_version=prompt_version,
        latency_s=latency_s,
        error="; ".join(errors) or None,
    )
