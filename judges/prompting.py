"""Judge prompts: versioned files, with the judged text fenced as data (DESIGN section 10).

A prompt lives in `judges/prompts/<aspect>_<version>.txt` (aspect: similarity or
naturalness) with a `### system` part and a `### user` part. The version string is part of
every cache key, so a prompt file is never edited in place: a changed prompt is a new
version.

Fencing. Question, reference and generation are each put between a line
`<<<BEGIN NAME>>>` and a line `<<<END NAME>>>`, and the prompt tells the judge that text
inside a fence is never an instruction. A generation cannot close its fence early: every
run of three angle brackets inside it (`<<<`, `>>>`, and their full-width look-alikes) is
replaced by single guillemets (`‹‹‹`, `›››`) before fencing, so the only `<<<END ...>>>`
line in the prompt is the real one. Substitution is a single pass, so a generation that
contains `{{reference}}` is not expanded.

    from judges.prompting import render_messages
    messages = render_messages("similarity", "v1", item)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from judges.base import ASPECTS, JudgeItem

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
FENCE_OPEN, FENCE_CLOSE = "<<<", ">>>"
ESCAPED_OPEN, ESCAPED_CLOSE = "\u2039" * 3, "\u203a" * 3
# Full-width and small-form angle brackets read like "<" and ">" to a model; fold them to
# ASCII first so that they are escaped too.
_LOOKALIKES = str.maketrans({"\uff1c": "<", "\ufe64": "<", "\uff1e": ">", "\ufe65": ">"})
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_SECTION = re.compile(r"^### (system|user)[ \t]*$", re.MULTILINE)
# Which field of the item goes into which fence, by placeholder name.
_FIELDS = {
    "question": ("QUESTION", "prompt"),
    "reference": ("REFERENCE", "reference"),
    "generation": ("GENERATION", "generation"),
}


def escape_fenced(text: str) -> str:
    """`text` with no `<<<` or `>>>` left in it, so it cannot open or close a fence."""
    text = text.translate(_LOOKALIKES)
    # str.replace works left to right without overlap, so a run of k brackets keeps
    # k mod 3 < 3 of them; the guillemets it writes are not brackets, so no new run forms.
    # The loop is a guard, not a need.
    while FENCE_OPEN in text or FENCE_CLOSE in text:
        text = text.replace(FENCE_OPEN, ESCAPED_OPEN).replace(FENCE_CLOSE, ESCAPED_CLOSE)
    return text


def fence(name: str, text: str) -> str:
    """`text` as data between its BEGIN and END lines."""
    if not re.fullmatch(r"[A-Z]+", name):
        raise ValueError(f"fence names are upper-case words, got {name!r}")
    return f"{FENCE_OPEN}BEGIN {name}{FENCE_CLOSE}\n{escape_fenced(text)}\n{FENCE_OPEN}END {name}{FENCE_CLOSE}"


def unfence(prompt_text: str, name: str) -> list[str]:
    """Every block fenced as `name` in a rendered prompt (for tests and test servers)."""
    pattern = re.compile(
        re.escape(f"{FENCE_OPEN}BEGIN {name}{FENCE_CLOSE}\n")
        + r"(.*?)"
        + re.escape(f"\n{FENCE_OPEN}END {name}{FENCE_CLOSE}"),
        re.DOTALL,
    )
    return pattern.findall(prompt_text)


@dataclass(frozen=True)
class PromptTemplate:
    aspect: str
    version: str
    system: str
    user: str

    @property
    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.system)) | set(_PLACEHOLDER.findall(self.user))


_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def prompt_path(aspect: str, version: str) -> Path:
    # A version is a name, never a path: `../x` must not pick a file outside PROMPT_DIR.
    if not isinstance(version, str) or not _VERSION.fullmatch(version) or ".." in version:
        raise ValueError(f"judge prompt version {version!r} is not a version name (letters, digits, _ . -)")
    return PROMPT_DIR / f"{aspect}_{version}.txt"


@cache
def load_prompt(aspect: str, version: str) -> PromptTemplate:
    if aspect not in ASPECTS:
        raise ValueError(f"unknown judge aspect {aspect!r}; known: {', '.join(ASPECTS)}")
    path = prompt_path(aspect, version)
    if not path.is_file():
        known = sorted(p.stem for p in PROMPT_DIR.glob(f"{aspect}_*.txt"))
        raise ValueError(f"no judge prompt {path.name} in {PROMPT_DIR}; available: {', '.join(known) or 'none'}")
    text = path.read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    # split gives ["", "system", body, "user", body]: anything else is a malformed file.
    if len(parts) != 5 or parts[1] != "system" or parts[3] != "user" or parts[0].strip():
        raise ValueError(f"{path}: a prompt file is a '### system' part followed by a '### user' part")
    template = PromptTemplate(aspect, version, parts[2].strip("\n"), parts[4].strip("\n"))
    unknown = template.placeholders - set(_FIELDS)
    if unknown:
        raise ValueError(f"{path}: unknown placeholders {sorted(unknown)}; known: {sorted(_FIELDS)}")
    return template


def _substitute(text: str, item: JudgeItem) -> str:
    def fenced(match: re.Match) -> str:
        name, attribute = _FIELDS[match.group(1)]
        return fence(name, getattr(item, attribute))

    return _PLACEHOLDER.sub(fenced, text)


def render_messages(aspect: str, version: str, item: JudgeItem) -> list[dict[str, str]]:
    """Chat messages (system, user) that ask a judge for one aspect of one item."""
    template = load_prompt(aspect, version)
    return [
        {"role": "system", "content": _substitute(template.system, item)},
        {"role": "user", "content": _substitute(template.user, item)},
    ]


def render_plain(messages: list[dict[str, str]]) -> str:
    """One text for a model without a chat template; the answer follows the last line."""
    parts = [f"{m['role'].capitalize()}:\n{m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"
