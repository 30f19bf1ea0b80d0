"""Judges of Similarity and Naturalness (DESIGN section 10), by name.

A leaf package: it imports torch, transformers, sentence-transformers and openai, never
`squeeze`. Backends are imported only when made, so `import judges` stays light.

    from judges import make_judge
    judge = make_judge("openai", base_url="http://127.0.0.1:8000/v1", model="my-judge")
    judgments = judge.judge(items)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from judges.base import Judge, JudgeItem, Judgment, failure_counts


def _lazy(target: str) -> Callable[..., Judge]:
    """A factory that imports "module:Class" on first use and calls it with the config."""
    module, _, attribute = target.partition(":")

    def factory(**config) -> Judge:
        return getattr(importlib.import_module(module), attribute)(**config)

    factory.target = target  # type: ignore[attr-defined]
    return factory


# One line per backend: name -> factory(**config) -> Judge.
JUDGES: dict[str, Callable[..., Judge]] = {
    "embedding": _lazy("judges.embedding_judge:EmbeddingJudge"),
    "openai": _lazy("judges.openai_judge:OpenAIJudge"),
    "hf": _lazy("judges.hf_judge:HFJudge"),
}


def make_judge(name: str, /, **config) -> Judge:
    """A judge of backend `name`; an unknown name or option raises ValueError naming the known ones."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(sorted(JUDGES))}")
    return JUDGES[name](**config)


__all__ = ["JUDGES", "Judge", "JudgeItem", "Judgment", "failure_counts", "make_judge"]
