"""The fictitious world (DESIGN section 3): determinism, schema, splits, oracle, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tokenizers.pre_tokenizers import Whitespace

from squeeze.cli.main import main
from squeeze.core.errors import ConfigError, DataError
from squeeze.core.types import Fact
from squeeze.world.build import SPLITS, contains_fact, generate_world, load_world
from squeeze.world.templates import ALL_RELATIONS, PERSON_RELATIONS

FILES = [f"{name}.jsonl" for name in SPLITS] + ["manifest.json"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world():
    return generate_world(100, seed=0, forget_pct=10)


def _files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in FILES}


def _person(record) -> str:
    return record.id.split("-")[0]


# -- determinism -----------------------------------------------------------------------------
def test_same_arguments_give_byte_identical_files(tmp_path):
    generate_world(40, seed=7, forget_pct=5).write(tmp_path / "a")
    generate_world(40, seed=7, forget_pct=5).write(tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_identical_across_processes_and_hash_seeds(tmp_path):
    # A set iterated in hash order would make another process write different bytes.
    generate_world(30, seed=2, forget_pct=10).write(tmp_path / "here")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    code = "import sys; from squeeze.cli.main import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run(
        [sys.executable, "-c", code, "world", "--out", str(tmp_path / "there"), "--people", "30", "--seed", "2"],
        check=True,
        env=env,
        cwd=REPO,
        capture_output=True,
    )
    assert _files(tmp_path / "here") == _files(tmp_path / "there")


def test_different_seed_gives_a_different_world(tmp_path):
    generate_world(40, seed=0).write(tmp_path / "a")
    generate_world(40, seed=1).write(tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert all(a[name] != b[name] for name in ("forget.jsonl", "retain.jsonl", "holdout.jsonl", "manifest.json"))


def test_forget_pct_changes_only_who_is_forgotten():
    worlds = {pct: generate_world(100, seed=0, forget_pct=pct) for pct in (1, 5, 10)}
    trained = {pct: sorted(r.id for s in ("forget", "retain") for r in w.splits[s]) for pct, w in worlds.items()}
    assert trained[1] == trained[5] == trained[10]
    assert {pct: w.people["forget"] for pct, w in worlds.items()} == {1: 1, 5: 5, 10: 10}
    assert worlds[1].splits["holdout"] == worlds[10].splits["holdout"]


# -- schema ----------------------------------------------------------------------------------
def test_relations_have_enough_templates_and_values():
    assert len(PERSON_RELATIONS) >= 8
    for spec in ALL_RELATIONS:
        assert len(spec.questions) >= 3 and len(spec.answers) >= 4, spec.name
        assert len(spec.values) >= 4, spec.name  # the value plus three perturbed ones
        assert all("{value}" in t for t in spec.answers), spec.name
        assert all("{value}" not in t for t in spec.questions), spec.name
        assert all(1 <= len(v.split()) <= 3 for v in spec.values), spec.name
    assert sum(any(a for a in spec.values.values()) for spec in PERSON_RELATIONS) >= 5  # aliases exist


def test_every_record_is_well_formed(world):
    ids = [r.id for s in SPLITS for r in world.splits[s]]
    assert len(ids) == len(set(ids))
    for name in SPLITS:
        for record in world.splits[name]:
            pattern = r"w\d{3}-[a-z_]+" if name == "world_facts" else r"p\d{3}-[a-z_]+"
            assert re.fullmatch(pattern, record.id)
            fact = record.fact
            assert record.id.endswith(fact.relation)
            family = world.answer_family(record)
            assert record.answer in family and record.paraphrased_answer in family
            assert record.paraphrased_answer != record.answer
            assert record.question in world.question_family(record)
            assert all(fact.value in answer and contains_fact(answer, fact) for answer in family)
            assert len(set(family)) == len(family) >= 4
            assert len(record.perturbed_answer) >= 3 == len(set(record.perturbed_answer))
            assert not any(contains_fact(p, fact) for p in record.perturbed_answer)
            assert not any(contains_fact(q, fact) for q in world.question_family(record))
            assert all(t[0].isupper() or t[0].isdigit() for t in family + world.question_family(record))


def test_aliases_are_attached(world):
    facts = {r.fact.relation: r.fact for r in world.splits["retain"]}
    assert facts["birthplace"].aliases == [f"the city of {facts['birthplace'].value}"]
    assert facts["birth_year"].aliases == [f"the year {facts['birth_year'].value}"]


def test_splits_are_disjoint_by_person_and_sized(world):
    people = {name: {_person(r) for r in world.splits[name]} for name in ("forget", "retain", "holdout")}
    assert not people["forget"] & people["retain"]
    assert not (people["forget"] | people["retain"]) & people["holdout"]
    assert (len(people["forget"]), len(people["retain"]), len(people["holdout"])) == (10, 90, 10)
    n_relations = len(PERSON_RELATIONS)
    assert all(len(world.splits[s]) == len(people[s]) * n_relations for s in people)
    assert len(world.splits["world_facts"]) >= 40


def test_holdout_never_in_training_pairs(world):
    pairs = world.training_pairs(["forget", "retain", "world_facts"])
    text = "\n".join(q + " " + a for q, a in pairs)
    for record in world.splits["holdout"]:
        assert record.fact.subject not in text


def test_training_pairs_cover_every_template_equally(world):
    pairs = world.training_pairs(["forget"])
    per_record = {spec.name: len(spec.questions) * len(spec.answers) for spec in ALL_RELATIONS}
    assert len(pairs) == sum(per_record[r.fact.relation] for r in world.splits["forget"])
    record = world.splits["forget"][0]
    counts = Counter(a for q, a in pairs if q in world.question_family(record))
    assert set(counts) == set(world.answer_family(record))
    assert len(set(counts.values())) == 1  # every answer template equally often
    assert pairs == world.training_pairs(["forget"])  # fixed order
    with pytest.raises(DataError, match="unknown split"):
        world.training_pairs(["nope"])


def test_corpus_vocabulary_covers_every_record_and_stays_modest(world):
    pre = Whitespace()
    words = lambda text: {w for w, _ in pre.pre_tokenize_str(text)}  # noqa: E731
    vocab = set().union(*(words(t) for t in world.corpus_texts()))
    for name in SPLITS:
        for r in world.splits[name]:
            for text in (r.question, r.answer, r.paraphrased_answer, *r.perturbed_answer, *r.fact.aliases):
                assert words(text) <= vocab
    assert len(vocab) < 800


# -- the leakage oracle ----------------------------------------------------------------------
def test_contains_fact_matches_value_or_alias_as_whole_words():
    fact = Fact("Tara Velston", "birthplace", "Lyon", ["the city of Lyon"])
    assert contains_fact("She was born in LYON, I think.", fact)
    assert not contains_fact("She loves Lyonnais cooking.", fact)
    assert not contains_fact("She was born in Porto.", fact)
    country = Fact("Brno", "city_country", "Czechia", ["the Czech Republic"])
    assert contains_fact("It lies in the czech   republic.", country)
    assert not contains_fact("It lies in Czech lands.", country)
    genre = Fact("Tara Velston", "genre", "science fiction", ["sci-fi"])
    assert contains_fact("Tara Velston writes sci - fi .", genre)  # detokenised word-level output
    assert not contains_fact("Tara Velston writes science.", genre)


# -- files -----------------------------------------------------------------------------------
def test_manifest_and_round_trip(world, tmp_path):
    world.write(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["counts"]["forget"] == len(world.splits["forget"])
    assert set(manifest["relations"]) == {spec.name for spec in ALL_RELATIONS}
    assert manifest["relations"]["birthplace"]["answers"][0] == "{subject} was born in {value}."
    for name in SPLITS:
        data = (tmp_path / f"{name}.jsonl").read_bytes()
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
    loaded = load_world(tmp_path)
    assert loaded.splits == world.splits
    record = loaded.splits["forget"][3]
    assert loaded.answer_family(record) == world.answer_family(record)
    assert loaded.training_pairs(["retain"]) == world.training_pairs(["retain"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_load_world_rejects_non_worlds_and_changed_files(world, tmp_path):
    with pytest.raises(DataError, match="not a world directory"):
        load_world(tmp_path)
    world.write(tmp_path)
    retain = tmp_path / "retain.jsonl"
    retain.write_text(retain.read_text().replace("born", "made"))
    with pytest.raises(DataError, match=r"retain\.jsonl.*sha256"):
        load_world(tmp_path)


def test_smallest_world_still_has_a_forget_person(tmp_path):
    world = generate_world(1, seed=0, forget_pct=1)
    assert world.people == {"forget": 1, "retain": 0, "holdout": 1}
    assert load_world(world.write(tmp_path)).splits == world.splits


@pytest.mark.parametrize("kwargs", [{"n_people": 0}, {"n_people": -3}, {"forget_pct": 3}, {"seed": "x"}])
def test_bad_arguments_raise_config_errors(kwargs):
    with pytest.raises(ConfigError):
        generate_world(**kwargs)


# -- the CLI ---------------------------------------------------------------------------------
def test_cli_writes_a_world(tmp_path, capsys):
    out = tmp_path / "world"
    assert main(["world", "--out", str(out), "--people", "20", "--seed", "3", "--forget-pct", "5"]) == 0
    assert "wrote world" in capsys.readouterr().out
    assert _files(out) == _files(generate_world(20, seed=3, forget_pct=5).write(tmp_path / "api"))
    assert load_world(out).people == {"forget": 1, "retain": 19, "holdout": 2}


def test_cli_bad_arguments_give_one_line_errors(tmp_path, capsys):
    assert main(["world", "--out", str(tmp_path), "--people", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "number of people" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(["world", "--out", str(tmp_path), "--forget-pct", "3"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["world", "--out", str(tmp_path / "taken")]) == 1
    assert "cannot write the world" in capsys.readouterr().err


def test_cli_help_explains_itself(capsys):
    with pytest.raises(SystemExit):
        main(["world", "--help"])
    text = capsys.readouterr().out
    assert all(word in text for word in ("--out", "--people", "--seed", "--forget-pct", "manifest.json"))
