"""Measurements the embedding judge maps to 0-5 scores (DESIGN section 10, `embedding` backend).

- `piecewise_linear(x, knots)`: linear between (x, y) knots, flat beyond the ends.
- `distinct_ratio(words, n)`: distinct n-grams / n-grams (1.0 when there are none).
- `ngram_entropy(words, n)`: the entropy of the n-gram distribution divided by its
  largest possible value, log(number of n-grams): 1.0 when no n-gram repeats, 0.0 when
  one n-gram fills the text (1.0 when there are fewer than two n-grams).
- `mean_token_logprobs(model, tokenizer, prefixes, texts)`: the mean over the tokens of
  each text of log p(token | prefix, earlier tokens) under a causal LM, optionally leaving
  out the tokens of given words (the names the question holds).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD_RE = re.compile(r"\w+")


def check_knots(knots: Sequence[Sequence[float]], name: str) -> list[tuple[float, float]]:
    pairs = [(float(x), float(y)) for x, y in knots]
    if len(pairs) < 2:
        raise ValueError(f"{name}: a calibration needs at least two (x, y) knots, got {len(pairs)}")
    if any(b[0] <= a[0] for a, b in zip(pairs, pairs[1:], strict=False)):
        raise ValueError(f"{name}: knot x values must strictly increase, got {[x for x, _ in pairs]}")
    return pairs


def piecewise_linear(x: float, knots: Sequence[tuple[float, float]]) -> float:
    if x <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in zip(knots, knots[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return knots[-1][1]


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks."""
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_ratio(tokens: Sequence[str], n: int) -> float:
    grams = ngrams(tokens, n)
    return len(set(grams)) / len(grams) if grams else 1.0


def ngram_entropy(tokens: Sequence[str], n: int) -> float:
    grams = ngrams(tokens, n)
    if len(grams) < 2:
        return 1.0
    total = len(grams)
    entropy = -sum(c / total * math.log(c / total) for c in Counter(grams).values())
    return max(0.0, entropy / math.log(total))  # never -0.0


def skipped_tokens(tokenizer, text: str, skip_words: Collection[str]) -> list[bool] | None:
    """Per token of `text` (tokenised without special tokens): does it lie inside the first
    occurrence of one of `skip_words` (whole words, case-sensitive)? Only the first: a name
    copied once is free, a name repeated ("... Arssa Dorvane Arssa Dorvane") is scored like any
    other word. None where the tokenizer gives no character offsets (a slow tokenizer): then
    nothing can be skipped."""
    if not getattr(tokenizer, "is_fast", False):
        return None
    inside = [False] * len(text)
    seen: set[str] = set()
    for match in _WORD_RE.finditer(text):
        if match.group() in skip_words and match.group() not in seen:
            seen.add(match.group())
            inside[match.start() : match.end()] = [True] * (match.end() - match.start())
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    # A token is skipped when every word character it covers belongs to a skipped word.
    out = []
    for start, end in offsets:
        letters = [i for i in range(start, end) if text[i].isalnum() or text[i] == "_"]
        out.append(bool(letters) and all(inside[i] for i in letters))
    return out


def mean_token_logprobs(
    model,
    tokenizer,
    prefixes: Sequence[str],
    texts: Sequence[str],
    batch_size: int = 8,
    max_tokens: int = 512,
    skip_words: Sequence[Collection[str]] | None = None,
    floor: float | None = None,
    end_token: int | None = None,
) -> list[float | None]:
    """Mean log-prob per token of each text after its prefix; None for a text with no tokens.

    The prefix is tokenised with the tokenizer's special tokens (BOS) and the text without,
    then the two are concatenated, so the text's tokens are the ones scored. Only the
    first `max_tokens` tokens of a text are scored. `skip_words[i]`: words of text i whose
    tokens are left out of its mean (see `skipped_tokens`); a text whose every token is
    skipped is scored whole. `floor`: each token's log-prob is raised to at least this before
    the mean, so one token the LM never learned (a value it never saw) costs a bounded amount.
    `end_token` (the tokenizer's EOS): scored after the text as one more token where that
    lowers the mean, so an answer that stops where the LM would not (cut mid-sentence) pays
    for it, and a likely end never dilutes a broken one-token answer.
    """
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    device = next(model.parameters()).device
    rows = []
    for i, (prefix, text) in enumerate(zip(prefixes, texts, strict=False)):
        head = list(tokenizer(prefix)["input_ids"])
        whole = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        tail = whole[:max_tokens]
        skipped = skipped_tokens(tokenizer, text, skip_words[i]) if skip_words and skip_words[i] else None
        if skipped is None or len(skipped) < len(tail) or all(skipped[: len(tail)]):
            skipped = [False] * len(tail)
        skipped = skipped[: len(tail)]
        # A text cut at max_tokens did not end there, so its end is not scored.
        ends = end_token is not None and bool(tail) and len(whole) <= max_tokens
        if ends:
            tail, skipped = tail + [end_token], skipped + [False]
        rows.append((head, tail, skipped, ends))
    out: list[float | None] = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        width = max(len(h) + len(t) for h, t, _, _ in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        scored = torch.zeros((len(batch), width), dtype=torch.bool)  # positions whose token is scored
        for row, (head, tail, skipped, _) in enumerate(batch):
            sequence = head + tail
            ids[row, : len(sequence)] = torch.tensor(sequence)
            attention[row, : len(sequence)] = 1
            scored[row, len(head) : len(sequence)] = torch.tensor([not s for s in skipped], dtype=torch.bool)
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits.float()
        # Position t predicts token t+1 (right padding, so positions match the unpadded run).
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        token_lp = logprobs.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1).cpu()
        if floor is not None:
            token_lp = token_lp.clamp(min=floor)
        mask = scored[:, 1:]
        for row, (*_, ends) in enumerate(batch):
            kept = token_lp[row][mask[row]]
            if not len(kept):
                out.append(None)
                continue
            mean = float(kept.mean())
            if ends and len(kept) > 1:  # the end token (scored last) only ever counts against the text
                mean = min(mean, float(kept[:-1].mean()))
            out.append(mean)
    return out
