"""`squeeze judge --run RUN`: judgments.jsonl from generations.jsonl, cached, failures counted."""

import json

import pytest
from helpers.judge_server import JudgeServer, expected_scores

from squeeze.cli.main import main

ROWS = [
    {
        "item_id": "f1",
        "question": "Where was Ada born?",
        "reference": "Ada was born in London",
        "generation": "She was born in London",
        "model": "unlearned",
        "step": 3,
    },
    {
        "item_id": "f2",
        "question": "What did Ada write?",
        "reference": "Ada wrote notes on the engine",
        "generation": "notes notes notes",
        "model": "unlearned",
        "step": 3,
    },
    {
        "item_id": "f3",
        "question": "Who taught Ada?",
        "reference": "De Morgan taught Ada",
        "generation": "",
        "model": "original",
        "step": 0,
    },
]


def write_run(tmp_path, rows=ROWS, text=None):
    run = tmp_path / "run"
    run.mkdir()
    (run / "generations.jsonl").write_text(text if text is not None else "".join(json.dumps(r) + "\n" for r in rows))
    return run


def read_judgments(run):
    return [json.loads(line) for line in (run / "judgments.jsonl").read_text().splitlines()]


def test_judge_a_run_with_a_server_then_rerun_from_cache(tmp_path, capsys):
    run = write_run(tmp_path)
    cache = tmp_path / "cache.sqlite"
    with JudgeServer() as server:
        server.plan.for_item("notes notes", "echo", times=1, aspect="similarity")  # one unparseable score
        args = [
            "judge",
            "--run",
            str(run),
            "--judge-base-url",
            server.base_url,
            "--judge-model",
            "rule",
            "--cache",
            str(cache),
            "--judge-max-attempts",
            "1",
        ]
        assert main(args) == 1  # an item left unjudged fails the command (issue 14) ...
        captured = capsys.readouterr()
        out = captured.out
        assert "1 of 3 items unjudged" in captured.err
        assert "judged 3 generations with openai/rule (0 from cache)" in out  # ... with everything written
        assert "parse failures: 1 items (similarity 1, naturalness 0); errors: 1" in out
        rows = read_judgments(run)
        assert [r["item_id"] for r in rows] == ["f1", "f2", "f3"]
        assert rows[0]["meta"] == {"model": "unlearned", "step": 3}
        assert (rows[0]["similarity"], rows[0]["naturalness"]) == expected_scores(
            ROWS[0]["reference"], ROWS[0]["generation"]
        )
        assert rows[1]["similarity"] is None and rows[1]["naturalness"] is not None
        assert rows[0]["model"] == "rule" and rows[0]["backend"] == "openai"
        first_requests = server.requests
        assert first_requests == 6

        # Re-run: the two good items come from the cache; only the failed one is asked again.
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "(2 from cache)" in out and "parse failures: 0 items" in out
        assert server.requests == first_requests + 2
        assert main(args) == 0
        assert "(3 from cache)" in capsys.readouterr().out
        assert server.requests == first_requests + 2  # zero calls


def test_default_is_the_offline_embedding_judge(tmp_path, capsys):
    run = write_run(tmp_path)
    assert main(["judge", "--run", str(run), "--no-cache", "--limit", "2"]) == 0
    assert "with embedding/all-MiniLM-L6-v2" in capsys.readouterr().out
    rows = read_judgments(run)
    assert len(rows) == 2 and all(r["backend"] == "embedding" and r["similarity"] is not None for r in rows)
    assert rows[1]["naturalness"] < 5.0  # "notes notes notes"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '{"item_id": "a", "question": "q", "reference": "r", "generation": "g"}\n{"item_id": "b", "question": "q"}\n',
            "generations.jsonl:2: missing field(s) reference, generation",
        ),
        (
            '{"item_id": "a", "question": "q", "reference": "r", "generation": 3}\n',
            "generations.jsonl:1: field(s) generation must be strings",
        ),
        ("not json\n", "generations.jsonl:1: not JSON"),
        ("\n", "generations.jsonl: no generations to judge"),
    ],
)
def test_bad_generations_are_one_line_errors(tmp_path, capsys, text, message):
    run = write_run(tmp_path, text=text)
    assert main(["judge", "--run", str(run), "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (run / "judgments.jsonl").exists()


def test_missing_run_and_bad_judge_options(tmp_path, capsys):
    assert main(["judge", "--run", str(tmp_path / "nope")]) == 1
    assert "generations.jsonl: not found" in capsys.readouterr().err
    run = write_run(tmp_path)
    assert main(["judge", "--run", str(run), "--judge", "hf", "--no-cache"]) == 1
    assert "--judge hf needs --judge-model" in capsys.readouterr().err
    assert (
        main(
            [
                "judge",
                "--run",
                str(run),
                "--judge",
                "openai",
                "--judge-concurrency",
                "0",
                "--judge-base-url",
                "http://x/v1",
            ]
        )
        == 1
    )
    assert "concurrency" in capsys.readouterr().err


def test_hf_judge_with_logprob_scoring_from_a_model_folder(tmp_path, capsys):
    from judges.base import JudgeItem
    from judges.prompting import render_messages, render_plain
    from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer

    run = write_run(tmp_path)
    texts = [
        render_plain(render_messages(aspect, "v1", JudgeItem(r["question"], r["reference"], r["generation"])))
        for r in ROWS
        for aspect in ("similarity", "naturalness")
    ]
    tokenizer = build_word_tokenizer(texts + ['0 1 2 3 4 5 {"score":'])
    model = build_tiny_llama(
        len(tokenizer), hidden_size=32, num_layers=2, num_heads=2, max_positions=1024, seed=0, tokenizer=tokenizer
    )
    model.save_pretrained(tmp_path / "judge")
    tokenizer.save_pretrained(tmp_path / "judge")
    assert (
        main(
            [
                "judge",
                "--run",
                str(run),
                "--judge",
                "hf",
                "--judge-model",
                str(tmp_path / "judge"),
                "--judge-scoring",
                "logprob",
                "--no-cache",
            ]
        )
        == 0
    )
    assert "parse failures: 0 items" in capsys.readouterr().out
    rows = read_judgments(run)
    assert {r["prompt_version"] for r in rows} == {"v1+logprob"}
    assert all(0.0 <= r[aspect] <= 5.0 for r in rows for aspect in ("similarity", "naturalness"))
