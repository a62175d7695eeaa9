"""One CLI voice: the same location options on every command, ``--lang`` anywhere, help
in the chosen language with defaults, every message in both languages, text printed as
typed (never eaten as rich markup), and ``export`` that never creates a gradebook.
Nothing here starts a kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.cli import build_parser, language_in, main
from autograder.core.errors import ConfigError, GradebookError, IntakeError

ASSIGNMENTS = Path(__file__).resolve().parent / "assignments"


@pytest.fixture(autouse=True)
def japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    # main() exports --lang for the workers it spawns: start each test from the default
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    return capsys.readouterr().out


def test_help_is_japanese_by_default_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(["grade", "--help"], capsys)
    assert text.startswith("使い方: autograder grade")
    assert "オプション:" in text and "このヘルプを表示して終了します" in text
    assert "(既定: grading-out)" in text and "(既定: 1)" in text
    assert "採点済みのものも採点し直します" in text


@pytest.mark.parametrize("argv", [["--lang", "en", "grade", "--help"],
                                  ["grade", "--help", "--lang", "en"],
                                  ["grade", "--lang=en", "--help"]])
def test_lang_anywhere_gives_english_help(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(argv, capsys)
    assert text.startswith("usage: autograder grade")
    assert "(default: grading-out)" in text and "grade again what is already graded" in text


def test_usage_errors_speak_the_chosen_language(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["grade"])
    assert "次の引数が必要です: assignment, submissions" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["grade", "--lang", "en"])
    assert "the following arguments are required" in capsys.readouterr().err


def test_language_is_found_wherever_it_is() -> None:
    assert language_in(["grade", "x", "--lang", "en"]) == "en"
    assert language_in(["--lang=ja", "grade"]) == "ja"
    assert language_in(["grade", "--", "--lang", "en"]) is None


# command -> the shared options it takes
SHARED = {
    "new": {"--assignments"},
    "release": {"--assignments"},
    "validate": {"--assignments", "--data", "--param"},
    "calibrate": {"--assignments", "--data", "--param"},
    "grade": {"--assignments", "--gradebook", "--data", "--param"},
    "export": {"--assignments", "--gradebook"},
    "data": {"--data"},
}


def _options(parser: object, command: str) -> dict[str, object]:
    sub = next(a for a in parser._subparsers._actions  # type: ignore[attr-defined]
               if a.dest == "command")
    return {o: a for a in sub.choices[command]._actions for o in a.option_strings}


@pytest.mark.parametrize("command", sorted(SHARED))
def test_every_command_takes_the_same_shared_options(command: str) -> None:
    parser = build_parser()
    options = _options(parser, command)
    for name in SHARED[command] | {"--lang"}:
        assert name in options, f"{command} lacks {name}"
    reference = _options(parser, "grade")
    for name in SHARED[command] - {"--lang"}:
        mine, theirs = options[name], reference[name]
        assert (mine.help, mine.metavar) == (theirs.help, theirs.metavar), name  # type: ignore[attr-defined]


def test_old_option_names_still_work() -> None:
    parser = build_parser()
    args = parser.parse_args(["release", "ps1", "--root", "elsewhere"])
    assert str(args.assignments) == "elsewhere"
    args = parser.parse_args(["data", "--cache", "c", "list"])
    assert str(args.data) == "c"
    args = parser.parse_args(["data", "list", "--data", "d"])
    assert str(args.data) == "d"


def test_errors_in_japanese_mode_are_japanese(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "5_n", str(tmp_path), "--assignments", str(ASSIGNMENTS)]) == \
        ConfigError.exit_code
    assert "課題 '5_n' がありません" in capsys.readouterr().err
    assert main(["grade", "ps1", str(tmp_path / "nothing"), "--assignments", str(ASSIGNMENTS),
                 "--out", str(tmp_path / "out"), "--gradebook", str(tmp_path / "gb")]) == \
        IntakeError.exit_code
    assert "ファイルもフォルダもありません" in capsys.readouterr().err
    folder = tmp_path / "ps1"
    shutil.copytree(ASSIGNMENTS / "ps1", folder)
    manifest = folder / "assignment.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        'file = "ps1.ipynb"', 'file = "ps1.ipynb"\ndevice = "tpu"'), encoding="utf-8")
    assert main(["release", "ps1", "--assignments", str(tmp_path)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "device" in err and "cpu, cuda のどれか" in err and "must be" not in err


def test_bracketed_text_is_printed_as_typed(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "[set_a]" / "ps1"
    shutil.copytree(ASSIGNMENTS / "ps1", folder)
    notebook = folder / "ps1.ipynb"
    notebook.write_text(notebook.read_text(encoding="utf-8").replace(
        '"points": 1', '"points": 0', 1), encoding="utf-8")
    assert main(["--lang", "en", "release", "ps1", "--assignments", str(folder.parent)]) != 0
    err = " ".join(capsys.readouterr().err.split())
    assert "[set_a]" in err and "cell 3 [test_given]:" in err, err
    notebook.write_text(notebook.read_text(encoding="utf-8").replace(
        '"points": 0', '"points": 1', 1), encoding="utf-8")
    out = tmp_path / "[out]"
    assert main(["release", "ps1", "--assignments", str(folder.parent), "--out", str(out)]) == 0
    assert f"{out}/ps1.ipynb" in "".join(capsys.readouterr().out.split())


def test_export_never_creates_a_gradebook(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo" / "gb.sqlite"
    code = main(["export", "ps1", "--assignments", str(ASSIGNMENTS), "--gradebook",
                 str(missing), "--out", str(tmp_path / "out")])
    assert code == GradebookError.exit_code
    assert "採点記録がありません" in capsys.readouterr().err
    assert not missing.exists() and not missing.parent.exists()
    assert not (tmp_path / "out").exists()
