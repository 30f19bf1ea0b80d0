"""The fictitious world (DESIGN section 3): fictitious people and their facts, like TOFU but
with ground truth for paraphrase leakage.

Every relation has several question templates and several answer templates (the same value
in different words). The original model trains on every (question, answer) template pair,
so its beliefs for a question are exactly the paraphrase family; a forget item's target is
one template and its siblings are the escape routes. Because every value and alias is
known, `contains_fact` is an oracle for fact leakage.

    squeeze world --out runs/world --people 100 --seed 0 --forget-pct 10

Deterministic: seeded `random.Random` instances only, no timestamps, sorted JSON keys, so
the same arguments give byte-identical files. People and their facts depend only on the
seed and the number of people; `forget_pct` only changes which trained people are forgotten.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from squeeze.core.errors import ConfigError, DataError, SqueezeError
from squeeze.core.rundir import write_text
from squeeze.core.types import Fact, QARecord
from squeeze.world.templates import (
    ALL_RELATIONS,
    FIRST_CODAS,
    FIRST_ONSETS,
    LAST_CODAS,
    LAST_ONSETS,
    PERSON_RELATIONS,
    WORLD_RELATIONS,
    RelationSpec,
)

SPLITS: tuple[str, ...] = ("forget", "retain", "holdout", "world_facts")
FORGET_PCTS: tuple[int, ...] = (1, 5, 10)
MANIFEST = "manifest.json"
FORMAT = "squeeze-world/1"
N_PERTURBED = 3
MAX_PEOPLE = 5000


@dataclass
class Relation:
    """A relation as a world uses it (from the tables, or read back from a manifest)."""

    name: str
    kind: str
    questions: list[str]
    answers: list[str]
    values: dict[str, list[str]]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "questions": self.questions, "answers": self.answers, "values": self.values}

    @classmethod
    def from_spec(cls, spec: RelationSpec) -> Relation:
        return cls(
            spec.name, spec.kind, list(spec.questions), list(spec.answers), {v: list(a) for v, a in spec.values.items()}
        )


@dataclass
class World:
    """A generated (or loaded) world: its splits of QA records and the relations behind them."""

    seed: int
    n_people: int
    forget_pct: int
    relations: dict[str, Relation]
    splits: dict[str, list[QARecord]]
    people: dict[str, int] = field(default_factory=dict)  # people per split
    forget_people: int = 0  # a forget split of exactly this many people instead of forget_pct (0: forget_pct)

    # -- paraphrase families ---------------------------------------------------------------
    def _relation_of(self, record: QARecord) -> tuple[Relation, Fact]:
        if record.fact is None:
            raise DataError(f"record {record.id!r} has no fact, so it has no template family")
        if record.fact.relation not in self.relations:
            raise DataError(f"record {record.id!r}: unknown relation {record.fact.relation!r}")
        return self.relations[record.fact.relation], record.fact

    def answer_family(self, record: QARecord) -> list[str]:
        """Every answer template filled with the record's fact, the target included."""
        relation, fact = self._relation_of(record)
        return [_fill(t, fact.subject, fact.value) for t in relation.answers]

    def question_family(self, record: QARecord) -> list[str]:
        """Every question template of the record's relation, about the record's subject."""
        relation, fact = self._relation_of(record)
        return [_fill(t, fact.subject, fact.value) for t in relation.questions]

    def training_pairs(self, split_names) -> list[tuple[str, str]]:
        """Every (question template x answer template) pair of every record in `split_names`,
        in split order, then record order, then question, then answer: the original model's
        corpus, with every answer template equally often."""
        if isinstance(split_names, str):
            split_names = [split_names]
        pairs: list[tuple[str, str]] = []
        for name in split_names:
            if name not in self.splits:
                raise DataError(f"unknown split {name!r}; the world has {', '.join(SPLITS)}")
            for record in self.splits[name]:
                answers = self.answer_family(record)
                pairs.extend((q, a) for q in self.question_family(record) for a in answers)
        return pairs

    def corpus_texts(self) -> list[str]:
        """Every question and answer string the world can produce (all splits, paraphrases,
        perturbed answers, every value and alias), deduplicated in a fixed order: the
        corpus a word-level tokenizer's vocabulary is built from."""
        texts: dict[str, None] = {}
        for name in SPLITS:
            for record in self.splits.get(name, []):
                for text in (
                    *self.question_family(record),
                    *self.answer_family(record),
                    record.question,
                    record.answer,
                    record.paraphrased_answer or "",
                    *(record.perturbed_answer or []),
                ):
                    texts[text] = None
        for relation in self.relations.values():
            for value, aliases in relation.values.items():
                texts[value] = None
                texts.update(dict.fromkeys(aliases))
        texts.pop("", None)
        return list(texts)

    # -- files -----------------------------------------------------------------------------
    def split_bytes(self, name: str) -> bytes:
        rows = (json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in self.splits[name])
        return "".join(rows).encode("utf-8")

    def manifest(self) -> dict:
        files = {}
        for name in SPLITS:
            files[name] = {"path": f"{name}.jsonl", "sha256": hashlib.sha256(self.split_bytes(name)).hexdigest()}
        return {
            "format": FORMAT,
            "seed": self.seed,
            "n_people": self.n_people,
            "forget_pct": self.forget_pct,
            # Only when set, so that every forget_pct world keeps its manifest (and hashes) byte for byte.
            **({"forget_people": self.forget_people} if self.forget_people else {}),
            "counts": {name: len(self.splits[name]) for name in SPLITS},
            "people": dict(self.people),
            "relations": {name: rel.to_dict() for name, rel in self.relations.items()},
            "files": files,
        }

    def write(self, out_dir) -> Path:
        """Write the four splits as JSON Lines, then manifest.json (last, so a directory with a
        manifest is complete). Each file is written atomically."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name in SPLITS:
                write_text(out / f"{name}.jsonl", self.split_bytes(name).decode("utf-8"))
            write_text(out / MANIFEST, json.dumps(self.manifest(), indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise SqueezeError(f"{out}: cannot write the world: {exc.strerror or exc}") from None
        return out


def _fill(template: str, subject: str, value: str) -> str:
    return template.replace("{subject}", subject).replace("{value}", value)


# -- the leakage oracle ----------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _form_pattern(form: str) -> re.Pattern:
    # Match word by word so detokenised text ("sci - fi", double spaces) still matches.
    pieces = re.findall(r"\w+|[^\w\s]", form)
    body = ""
    for i, piece in enumerate(pieces):
        if i:
            both_words = piece[0].isalnum() and pieces[i - 1][-1].isalnum()
            body += r"\s+" if both_words else r"\s*"
        body += re.escape(piece)
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", re.IGNORECASE)


def contains_fact(text: str, fact: Fact) -> bool:
    """Does `text` state the fact's value or one of its aliases (case-insensitive, whole
    words)? The oracle for fact leakage (DESIGN section 3)."""
    return any(form.strip() and _form_pattern(form.strip()).search(text) for form in fact.surface_forms())


# -- generation ------------------------------------------------------------------------------
def _check_args(n_people: int, seed: int, forget_pct: int, forget_people: int) -> None:
    if isinstance(n_people, bool) or not isinstance(n_people, int) or not 1 <= n_people <= MAX_PEOPLE:
        raise ConfigError(f"number of people must be an integer from 1 to {MAX_PEOPLE}, got {n_people!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if forget_pct not in FORGET_PCTS:
        raise ConfigError(f"forget percentage must be one of {', '.join(map(str, FORGET_PCTS))}, got {forget_pct!r}")
    if isinstance(forget_people, bool) or not isinstance(forget_people, int) or not 0 <= forget_people < n_people:
        raise ConfigError(
            f"forget_people must be 0 (use forget_pct) or from 1 to {n_people - 1} (fewer than the people), "
            f"got {forget_people!r}"
        )


def _table_words() -> set[str]:
    words: set[str] = set()
    for spec in ALL_RELATIONS:
        for text in (
            *spec.questions,
            *spec.answers,
            *spec.values,
            *(a for al in spec.values.values() for a in al),
            *(spec.subjects or {}),
        ):
            words.update(w.lower() for w in re.findall(r"\w+", text))
    return words


def _names(rng: random.Random, count: int) -> list[str]:
    """`count` distinct full names; no name word is also a word of the tables, so a name
    never reads as a value."""
    taken = _table_words()
    firsts = [a + b for a in FIRST_ONSETS for b in FIRST_CODAS if (a + b).lower() not in taken]
    lasts = [a + b for a in LAST_ONSETS for b in LAST_CODAS if (a + b).lower() not in taken]
    if count > len(firsts) * len(lasts):
        raise ConfigError(f"at most {len(firsts) * len(lasts)} distinct names are available, asked for {count}")
    names: list[str] = []
    used: set[str] = set()
    while len(names) < count:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if name not in used:
            used.add(name)
            names.append(name)
    return names


def _record(rng: random.Random, record_id: str, spec: RelationSpec, subject: str, value: str) -> QARecord:
    q = rng.randrange(len(spec.questions))
    a = rng.randrange(len(spec.answers))
    p = (a + 1 + rng.randrange(len(spec.answers) - 1)) % len(spec.answers)  # any other template
    others = rng.sample(sorted(v for v in spec.values if v != value), N_PERTURBED)
    return QARecord(
        id=record_id,
        question=_fill(spec.questions[q], subject, value),
        answer=_fill(spec.answers[a], subject, value),
        paraphrased_answer=_fill(spec.answers[p], subject, value),
        perturbed_answer=[_fill(spec.answers[a], subject, other) for other in others],
        fact=Fact(subject=subject, relation=spec.name, value=value, aliases=list(spec.values[value])),
    )


def generate_world(n_people: int = 100, seed: int = 0, forget_pct: int = 10, forget_people: int = 0) -> World:
    """Generate `n_people` trained people (forget + retain), about 10% more as holdout, and
    the world facts. Same arguments, same world. `forget_people` > 0 forgets exactly that many
    people instead of `forget_pct` percent: more forget items on a world small enough to fine-tune
    a pretrained model on (issue 13 item 4); the people and their facts are the same either way."""
    _check_args(n_people, seed, forget_pct, forget_people)
    n_holdout = max(1, round(n_people / 10))
    total = n_people + n_holdout
    width = max(3, len(str(total - 1)))
    people_rng = random.Random(f"squeeze-world/people/{seed}")
    names = _names(people_rng, total)

    by_person: list[list[QARecord]] = []
    for index, name in enumerate(names):
        pid = f"p{index:0{width}d}"
        records = []
        for spec in PERSON_RELATIONS:
            value = people_rng.choice(list(spec.values))
            records.append(_record(people_rng, f"{pid}-{spec.name}", spec, name, value))
        by_person.append(records)

    # Which trained people are forgotten depends on the seed and the percentage (or count) only.
    if forget_people:
        n_forget, split_rng = forget_people, random.Random(f"squeeze-world/forget/{seed}/people{forget_people}")
    else:
        n_forget = max(1, round(n_people * forget_pct / 100))
        split_rng = random.Random(f"squeeze-world/forget/{seed}/{forget_pct}")
    forget_ids = set(split_rng.sample(range(n_people), n_forget))
    splits: dict[str, list[QARecord]] = {name: [] for name in SPLITS}
    for index, records in enumerate(by_person):
        split = "holdout" if index >= n_people else "forget" if index in forget_ids else "retain"
        splits[split].extend(records)

    world_rng = random.Random(f"squeeze-world/facts/{seed}")
    counter = 0
    for spec in WORLD_RELATIONS:
        for subject, value in (spec.subjects or {}).items():
            splits["world_facts"].append(_record(world_rng, f"w{counter:03d}-{spec.name}", spec, subject, value))
            counter += 1

    people = {"forget": len(forget_ids), "retain": n_people - len(forget_ids), "holdout": n_holdout}
    relations = {spec.name: Relation.from_spec(spec) for spec in ALL_RELATIONS}
    return World(seed, n_people, forget_pct, relations, splits, people, forget_people)


# -- reading a world back --------------------------------------------------------------------
def load_world(directory) -> World:
    """Read a world written by `World.write`; checks the manifest and every file's hash."""
    from squeeze.core.data import load_qa  # data never imports world; kept local to keep imports light

    root = Path(directory)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise DataError(
            f"{root} is not a world directory: {MANIFEST} is missing (create one with `squeeze world --out {root}`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{manifest_path}: cannot read the world manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{manifest_path}: not a squeeze world manifest (format should be {FORMAT!r})")
    try:
        relations = {
            name: Relation(
                name, r["kind"], list(r["questions"]), list(r["answers"]), {v: list(a) for v, a in r["values"].items()}
            )
            for name, r in manifest["relations"].items()
        }
        files = {name: manifest["files"][name] for name in SPLITS}
        seed, n_people, forget_pct = manifest["seed"], manifest["n_people"], manifest["forget_pct"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{manifest_path}: malformed world manifest (missing or mistyped {exc})") from None
    splits: dict[str, list[QARecord]] = {}
    for name in SPLITS:
        path = root / files[name]["path"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read world split: {exc.strerror or exc}") from None
        if hashlib.sha256(data).hexdigest() != files[name]["sha256"]:
            raise DataError(f"{path}: contents do not match the sha256 in {MANIFEST} (changed since written?)")
        splits[name] = load_qa(path, allow_empty=True)
    people = dict(manifest.get("people", {}))
    return World(seed, n_people, forget_pct, relations, splits, people, int(manifest.get("forget_people", 0)))
