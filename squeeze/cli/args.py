"""Command-line flags generated from a config dataclass (TRL's TrlParser is the model).

Every subcommand configures itself the same way: one flag per field of its config dataclass
(`--field-name`, help text from the field's metadata), a nested config's fields as
`--outer-inner` (and `--outer TEXT` when the nested class has `from_string`), then
`--config FILE` (YAML, repeatable) and trailing `key=value` overrides. Precedence, lowest
first: the dataclass defaults, `base` (e.g. `--fast`'s settings), each `--config` file in
order, the flags, then `key=value` (squeeze.core.config.resolve_config).

    def add_parser(subparsers):
        parser = subparsers.add_parser("world", help="...")
        add_config_arguments(parser, WorldConfig)
        return parser

    def run(args):
        cfg = config_from_args(WorldConfig, args)
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from squeeze.core.config import nested_config_class, resolve_config
from squeeze.core.errors import ConfigError

PREFIX = "cfg:"  # dest of every generated flag: PREFIX + the field's dotted path
_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def flag_name(path: str) -> str:
    """`judge.base_url` -> `--judge-base-url`: the field's name with '-' for '_' and '.'."""
    return "--" + path.replace(".", "-").replace("_", "-")


def _plain_type(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return hint


def _is_scalar_union(hint: Any) -> bool:
    """`int | str` and the like: a union of two or more scalar types (None aside)."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return False
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return len(args) > 1 and all(a in (int, float, str) for a in args)


def _shown_default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
    else:
        return ""
    if value in ("", None, [], {}):
        return ""
    shown = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f" (default: {shown})"


def _add_field(parser, field: dataclasses.Field, hint: Any, path: str) -> None:
    meta = field.metadata
    help_text = (meta.get("help", "") + _shown_default(field)).replace("%", "%%")
    names = [flag_name(path), *meta.get("flags", ())]
    kwargs: dict[str, Any] = {"dest": PREFIX + path, "default": argparse.SUPPRESS, "help": help_text}
    scalar_union = _is_scalar_union(hint)
    hint = _plain_type(hint)
    origin = typing.get_origin(hint)
    if hint is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is typing.Literal:
        choices = list(typing.get_args(hint))
        kwargs.update(choices=choices, type=type(choices[0]))
    elif hint is list or origin is list:
        kwargs.update(nargs="+", metavar=meta.get("metavar") or "V")
    elif hint in (int, float, str):
        default_metavar = {int: "N", float: "X"}.get(hint) or path.rpartition(".")[2].upper()
        kwargs.update(type=hint, metavar=meta.get("metavar") or default_metavar)
    elif scalar_union:  # e.g. `int | str` (a number or `auto`): the config reads the text
        kwargs.update(type=str, metavar=meta.get("metavar") or "V")
    else:  # dicts and the like: key=value only (`params.lam=0.3`)
        return
    parser.add_argument(*names, **kwargs)


def add_config_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    positional: str | None = None,
    constants: Mapping[str, tuple[str, Any, str]] | None = None,
    skip: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """Add a flag per field of `cls` (except `skip`), --config and the trailing words.

    `positional`: a list field filled by the trailing words that are not key=value (`RUN...`).
    `constants`: extra flags that set a field to a constant, {flag: (dotted path, value, help)},
    e.g. {"--no-cache": ("judge.cache", "", "judge everything again and cache nothing")}.
    """
    hints = typing.get_type_hints(cls)
    claimed = {flag for field in dataclasses.fields(cls) for flag in field.metadata.get("flags", ())}
    for field in dataclasses.fields(cls):
        if field.name in skip or field.name == positional:
            continue
        sub_cls = nested_config_class(hints[field.name])
        if sub_cls is None:
            _add_field(parser, field, hints[field.name], field.name)
            continue
        group = parser.add_argument_group(f"{field.name}: {field.metadata.get('help', '')}")
        if hasattr(sub_cls, "from_string") and flag_name(field.name) not in claimed:
            group.add_argument(
                flag_name(field.name),
                *field.metadata.get("flags", ()),
                dest=PREFIX + field.name,
                default=argparse.SUPPRESS,
                metavar="TEXT",
                help=f"{sub_cls.__name__} as text: {sub_cls.from_string.__doc__ or ''}".replace("%", "%%"),
            )
        sub_hints = typing.get_type_hints(sub_cls)
        for sub in dataclasses.fields(sub_cls):
            _add_field(group, sub, sub_hints[sub.name], f"{field.name}.{sub.name}")
    for flag, (path, value, help_text) in (constants or {}).items():
        parser.add_argument(
            flag, dest=PREFIX + path, action="store_const", const=value, default=argparse.SUPPRESS, help=help_text
        )
    parser.add_argument(
        "--config", action="append", default=[], metavar="FILE", help="YAML file of settings (repeatable; later wins)"
    )
    words = f"{positional.upper()}... " if positional else ""
    parser.add_argument(
        "rest",
        nargs="*",
        metavar=f"{words}key=value",
        help=(f"{positional}, then " if positional else "") + "setting overrides, e.g. batch_size=8 judge.model=NAME",
    )
    parser.set_defaults(_config_positional=positional)
    return parser


def given_values(args: argparse.Namespace) -> dict[str, Any]:
    """The generated flags the command line gave, by dotted path."""
    return {dest[len(PREFIX) :]: value for dest, value in vars(args).items() if dest.startswith(PREFIX)}


def split_rest(args: argparse.Namespace, positional: bool = True) -> tuple[list[str], list[str]]:
    """(key=value overrides, the other trailing words); other words are an error unless the
    command takes them (`positional`)."""
    rest = list(getattr(args, "rest", []) or [])
    words = [w for w in rest if not _OVERRIDE.match(w)]
    if words and not (positional and getattr(args, "_config_positional", None)):
        raise ConfigError(f"unexpected argument {words[0]!r}: settings are --flag VALUE or key=value")
    return [w for w in rest if _OVERRIDE.match(w)], words


def config_from_args(cls: type, args: argparse.Namespace, base: dict | None = None, **fixed: Any):
    """The config of `cls` from defaults < `base` < --config files < flags < `fixed` < key=value."""
    overrides, words = split_rest(args)
    values = given_values(args)
    if words:
        values[args._config_positional] = words
    values.update(fixed)
    return resolve_config(cls, list(getattr(args, "config", []) or []), overrides, base=base, **values)


def require(cfg: Any, *names: str) -> None:
    """One clear error for each setting a command cannot run without."""
    for name in names:
        if getattr(cfg, name) in ("", None, []):
            raise ConfigError(f"{flag_name(name)} is required (or {name}: in a --config file, or {name}=...)")
