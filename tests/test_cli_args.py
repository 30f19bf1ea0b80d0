"""Every subcommand's flags come from its config dataclass (issue 12): the field's help is in
--help, and --config FILE and key=value work the same way everywhere, with one precedence."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from squeeze.cli.args import add_config_arguments, config_from_args, flag_name
from squeeze.cli.main import SUBCOMMANDS, build_parser
from squeeze.core.config import nested_config_class, option
from squeeze.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _commands():
    """(name, config class) of every subcommand, read from the parser it builds."""
    from squeeze.bins.stage import BinsConfig
    from squeeze.calibrate.run import CalibrationSettings
    from squeeze.demo.config import DemoConfig
    from squeeze.diagnose.attack_config import AttackConfig
    from squeeze.diagnose.checkpoint_series import TrackConfig
    from squeeze.diagnose.judge_run import JudgeRunConfig
    from squeeze.diagnose.pipeline import DiagnoseConfig
    from squeeze.leaderboard.stage import LeaderboardConfig
    from squeeze.original.config import TrainOriginalConfig
    from squeeze.track.stage import PlotConfig
    from squeeze.unlearn.config import UnlearnConfig
    from squeeze.validate.config import ValidateConfig
    from squeeze.world.stage import WorldConfig

    return {
        "world": WorldConfig,
        "train-original": TrainOriginalConfig,
        "judge": JudgeRunConfig,
        "unlearn": UnlearnConfig,
        "bins": BinsConfig,
        "plot": PlotConfig,
        "track": TrackConfig,
        "judge-calibrate": CalibrationSettings,
        "diagnose": DiagnoseConfig,
        "attack": AttackConfig,
        "leaderboard": LeaderboardConfig,
        "demo": DemoConfig,
        "validate": ValidateConfig,
    }


def _subparser(name):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


def _leaf_fields(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        sub = nested_config_class(hints[f.name])
        if sub is not None:
            yield from _leaf_fields(sub, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, hints[f.name]


def test_every_subcommand_is_covered():
    assert sorted(_commands()) == sorted(m.rsplit(".", 1)[1].replace("_", "-") for m in SUBCOMMANDS)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_field_is_a_flag_with_its_help(name):
    cls = _commands()[name]
    text = " ".join(_subparser(name).format_help().split())
    assert "--config FILE" in text and "key=value" in text
    for path, field, hint in _leaf_fields(cls):
        if hint is dict or typing.get_origin(hint) is dict or path in ("runs",):
            continue  # a dict is key=value only; plot and leaderboard take RUN... as words
        flags = [flag_name(path), *field.metadata.get("flags", ())]
        assert any(flag in text for flag in flags), f"{name}: {flags}"
        assert " ".join(field.metadata["help"].split())[:40] in text, f"{name}: {path}"


@pytest.mark.parametrize("name", sorted(_commands()))
def test_config_file_and_key_value_work_on_every_subcommand(name, tmp_path):
    cls = _commands()[name]
    path, _, hint = next((p, f, h) for p, f, h in _leaf_fields(cls) if h in (str, int) and p != "method")
    value = "from-file" if hint is str else 7
    config = tmp_path / "c.yaml"
    config.write_text(f"{path}: {value}\n")
    args = _subparser(name).parse_args(["--config", str(config)])
    assert _get(config_from_args(cls, args), path) == value
    other = "from-override" if hint is str else 9
    args = _subparser(name).parse_args(["--config", str(config), f"{path}={other}"])
    assert _get(config_from_args(cls, args), path) == other
    with pytest.raises(ConfigError, match="unknown"):
        config_from_args(cls, _subparser(name).parse_args(["no_such_key=1"]))


def _get(cfg, path):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


@dataclasses.dataclass
class Inner:
    size: int = option(3, "inner size")


@dataclasses.dataclass
class Toy:
    name: str = option("default", "the toy's name")
    steps: int = option(1, "how many steps", flags=("-n",))
    rate: float | None = option(None, "an optional rate")
    verbose: bool = option(True, "talk while working")
    tags: list = option(["a"], "some tags")
    level: typing.Literal[1, 5] = option(1, "a choice of numbers")
    inner: Inner = option(Inner(), "a nested config")


def _toy(argv, base=None):
    import argparse

    parser = add_config_arguments(argparse.ArgumentParser(prog="toy"), Toy)
    return config_from_args(Toy, parser.parse_args(argv), base=base), parser


def test_precedence_defaults_base_file_flags_overrides(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: file\nsteps: 2\nrate: 0.5\ninner: {size: 4}\n")
    assert _toy([])[0] == Toy()
    assert _toy([], base={"name": "base", "steps": 5})[0].steps == 5
    cfg = _toy(["--config", str(config)], base={"name": "base"})[0]
    assert (cfg.name, cfg.steps, cfg.rate, cfg.inner.size) == ("file", 2, 0.5, 4)
    cfg = _toy(["--config", str(config), "-n", "3", "--inner-size", "6", "--no-verbose", "--tags", "x", "y"])[0]
    assert (cfg.steps, cfg.inner.size, cfg.verbose, cfg.tags, cfg.name) == (3, 6, False, ["x", "y"], "file")
    assert _toy(["--level", "5"])[0].level == 5  # a Literal's choices keep their type
    cfg = _toy(["--config", str(config), "--steps", "3", "steps=4", "inner.size=8"])[0]
    assert (cfg.steps, cfg.inner.size) == (4, 8)
    help_text = _toy([])[1].format_help()
    assert "how many steps (default: 1)" in help_text and "--inner-size" in help_text
    with pytest.raises(ConfigError, match="unexpected argument 'stray'"):
        _toy(["stray"])
    with pytest.raises(ConfigError, match="Toy.steps must be int"):
        _toy(["steps=many"])


def test_old_flag_spellings_still_reach_the_judge_spec():
    from squeeze.diagnose.pipeline import DiagnoseConfig

    argv = ["--model", "m", "--judge", "hf", "--judge-model", "j", "--judge-scoring", "logprob", "--no-cache"]
    cfg = config_from_args(DiagnoseConfig, _subparser("diagnose").parse_args([*argv, "--quiet"]))
    assert (cfg.judge.backend, cfg.judge.model, cfg.judge.scoring, cfg.judge.cache, cfg.progress) == (
        "hf",
        "j",
        "logprob",
        "",
        False,
    )


def test_demo_pipeline_calls_stages_in_python_not_through_the_cli():
    source = (ROOT / "squeeze" / "demo" / "pipeline.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m == "squeeze.cli" or m.startswith("squeeze.cli.")}
    assert "argv" not in source
