"""What every command shares, so that each reads and behaves the same: the parser set-up
(help in the chosen language, defaults shown, ``--lang`` accepted anywhere) and the common
options, each defined once:

- ``--assignments DIR``  the assignments folder (``--root``: the old name, still read)
- ``--gradebook PATH``   the SQLite gradebook
- ``--data DIR``         the dataset cache (``--cache``: the old name, still read)
- ``--param KEY=VALUE``  a grading parameter
- ``--lang ja|en``       before or after the command name

A new command calls ``command(sub, name, ja=..., en=...)`` for its parser and the
``add_*`` helpers for the options it takes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ...core.config import Scalar
from ...core.errors import ConfigError
from ...core.i18n import LANGS, tr


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's layout, with each option's default after its help (when it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or not action.option_strings or default is None
                or default is False or default == argparse.SUPPRESS or default == []):
            return text
        return text + tr(ja="(既定: %(default)s)", en=" (default: %(default)s)")


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, *,
            ja: str, en: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command's parser: help in the chosen language, defaults shown, ``--lang``."""
    text = tr(ja=ja, en=en)
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=text, formatter_class=HelpFormatter, **kwargs)
    add_lang(parser)
    return parser


def add_lang(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # On a sub-command the default is SUPPRESS: an absent --lang there keeps the value given
    # before the command name (argparse would otherwise overwrite it with None).
    parser.add_argument("--lang", choices=list(LANGS),
                        default=None if top else argparse.SUPPRESS,
                        help=tr(ja="メッセージと報告の言語(既定: ja か $AUTOGRADER_LANG)",
                                en="language of messages and reports (default ja or"
                                   " $AUTOGRADER_LANG)"))


def add_assignments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignments", type=Path, default=None, metavar="DIR",
                        help=tr(ja="課題フォルダ(既定: $AUTOGRADER_ASSIGNMENTS か ./assignments)",
                                en="assignments folder (default $AUTOGRADER_ASSIGNMENTS or"
                                   " ./assignments)"))
    parser.add_argument("--root", dest="assignments", type=Path, help=argparse.SUPPRESS)


def add_gradebook(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gradebook", type=Path, default=None, metavar="PATH",
                        help=tr(ja="SQLite の採点記録(既定: $AUTOGRADER_GRADEBOOK か"
                                   " ./.autograder/gradebook.sqlite)",
                                en="SQLite gradebook (default $AUTOGRADER_GRADEBOOK or"
                                   " ./.autograder/gradebook.sqlite)"))


def add_data(parser: argparse.ArgumentParser, *, keep_given: bool = False) -> None:
    """``--data``; with ``keep_given`` (a nested command) an absent option keeps the value
    the enclosing command was given."""
    default = argparse.SUPPRESS if keep_given else None
    parser.add_argument("--data", type=Path, default=default, metavar="DIR",
                        help=tr(ja="データセットのキャッシュ(既定: $AUTOGRADER_DATA か"
                                   " ~/.cache/dl-autograder/data)",
                                en="dataset cache (default $AUTOGRADER_DATA or"
                                   " ~/.cache/dl-autograder/data)"))
    parser.add_argument("--cache", dest="data", type=Path, default=default,
                        help=argparse.SUPPRESS)


def add_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help=tr(ja="採点パラメータを上書き(マニフェストの [grading] の後に)"
                                   "。例: --param EPOCHS=1",
                                en="override a grading parameter (after the manifest's"
                                   " [grading]), e.g. --param EPOCHS=1"))


def parse_params(pairs: list[str]) -> dict[str, Scalar]:
    """``KEY=VALUE`` pairs; values parsed as TOML scalars (``5``, ``0.1``, ``true``, ``"x"``)."""
    import tomllib

    params: dict[str, Scalar] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(tr(ja=f"--param {pair!r} は KEY=VALUE の形ではありません",
                                 en=f"--param {pair!r} is not KEY=VALUE"),
                              hint=tr(ja="例: --param EPOCHS=1 --param DATASET=synthetic",
                                      en="e.g. --param EPOCHS=1 --param DATASET=synthetic"))
        try:
            params[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            params[key] = raw  # a bare word is a string: DATASET=synthetic
    return params


def parse_gpus(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise ConfigError(tr(ja=f"--gpus {text!r} は 0,1 のような GPU 番号の並びです",
                             en=f"--gpus {text!r} must be GPU indices like 0,1")) from None
