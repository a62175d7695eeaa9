"""The file-name rule NN_[nh].ipynb, the choice among several files, and .py conversion."""

from __future__ import annotations

import datetime
from pathlib import Path

import nbformat
import pytest

from autograder.core.errors import ConfigError, InvalidNotebook
from autograder.moodle import FileStatus, SubmittedFile, decide
from autograder.moodle.naming import AssignmentName, Match, NamedFile, classify, file_rule
from autograder.moodle.pyconvert import convert_py_file, py_to_notebook

T14N = AssignmentName.parse("14_n")


def _file(relpath: str, date_time: tuple[int, ...] = (2026, 11, 23, 10, 0, 0)) -> SubmittedFile:
    return SubmittedFile(relpath=relpath, path=Path("/nonexistent") / relpath, size=1,
                         entry_name=f"X_1_assignsubmission_file/{relpath}",
                         date_time=date_time)  # type: ignore[arg-type]


NAMES = [
    ("14_n.ipynb", Match.EXACT, ""),
    ("work/14_n.ipynb", Match.EXACT, ""),
    ("14_n (1).ipynb", Match.NEAR, ""),
    ("14_n(2).ipynb", Match.NEAR, ""),
    ("14_N.ipynb", Match.NEAR, ""),
    ("14_n.IPYNB", Match.NEAR, ""),
    ("14n.ipynb", Match.NEAR, ""),
    ("14-n.ipynb", Match.NEAR, ""),
    ("14 n.ipynb", Match.NEAR, ""),
    ("14_nのコピー.ipynb", Match.NEAR, ""),
    ("14_n のコピー.ipynb", Match.NEAR, ""),
    ("14_n - コピー (2).ipynb", Match.NEAR, ""),
    ("14_n - Copy.ipynb", Match.NEAR, ""),
    ("14_n copy 2.ipynb", Match.NEAR, ""),
    ("Copy of 14_n.ipynb", Match.NEAR, ""),
    ("Copy of Copy of 14_n (1).ipynb", Match.NEAR, ""),
    ("14_n.ipynb.ipynb", Match.NEAR, ""),
    ("１４＿ｎ.ipynb", Match.NEAR, ""),
    ("１４＿ｎ．ｉｐｙｎｂ", Match.NEAR, ""),
    ("14_n .ipynb", Match.NEAR, ""),
    ("14_n_山田太郎.ipynb", Match.RENAMED, ""),
    ("山田_14_n.ipynb", Match.RENAMED, ""),
    ("課題14_n_final.ipynb", Match.RENAMED, ""),
    ("14_n.py", Match.PY, ""),
    ("14_n.ipynb.py", Match.PY, ""),
    ("Copy of 14_n.py", Match.PY, ""),
    ("Untitled0.ipynb", Match.UNNAMED, ""),
    ("課題.ipynb", Match.UNNAMED, ""),
    ("13_n.ipynb", Match.OTHER, "13_n"),
    ("14_h.ipynb", Match.OTHER, "14_h"),
    ("14_h (1).ipynb", Match.OTHER, "14_h"),
    ("03_n.ipynb", Match.OTHER, "03_n"),
    ("13_n.py", Match.OTHER, "13_n"),
    ("14_normal.ipynb", Match.UNNAMED, ""),
    ("140_n.ipynb", Match.UNNAMED, ""),
    ("report.pdf", Match.IGNORED, ""),
    ("14_n.zip", Match.IGNORED, ""),
    ("14_n.ipynb.txt", Match.IGNORED, ""),
    ("notes.py", Match.IGNORED, ""),
]


@pytest.mark.parametrize(("name", "match", "other"), NAMES, ids=[n[0] for n in NAMES])
def test_name_rule(name: str, match: Match, other: str) -> None:
    found = classify(_file(name), T14N)
    assert (found.match, found.other_id) == (match, other)


def test_zero_padded_lecture() -> None:
    target = AssignmentName.parse("03_h")
    assert classify(_file("03_h.ipynb"), target).match is Match.EXACT
    assert classify(_file("3_h.ipynb"), target).match is Match.NEAR
    assert classify(_file("3_n.ipynb"), target).match is Match.OTHER


@pytest.mark.parametrize("bad", ["14n", "lecture14", "14_x", "1_n", ""])
def test_assignment_id_must_be_nn_level(bad: str) -> None:
    with pytest.raises(ConfigError):
        AssignmentName.parse(bad)


# files submitted -> (status, chosen, notice codes)
CHOICES = [
    (["14_n.ipynb"], "ok", "14_n.ipynb", []),
    (["14_n (1).ipynb", "14_n.ipynb"], "ok", "14_n.ipynb", ["multiple_files"]),
    (["14_n (1).ipynb", "14_n (2).ipynb"], "ok", "14_n (2).ipynb",
     ["multiple_files", "misnamed"]),
    (["Copy of 14_n.ipynb", "Copy of Copy of 14_n.ipynb"], "ok", "Copy of Copy of 14_n.ipynb",
     ["multiple_files", "misnamed"]),
    (["old/14_n.ipynb", "14_n.ipynb"], "ok", "14_n.ipynb", ["multiple_files"]),
    (["14_n.py", "14_N.ipynb"], "ok", "14_N.ipynb", ["multiple_files", "misnamed"]),
    (["14_n.py"], "ok", "14_n.py", []),
    (["14_n_山田.ipynb", "14_n.py"], "ok", "14_n_山田.ipynb", ["multiple_files", "misnamed"]),
    (["Untitled0.ipynb"], "ok", "Untitled0.ipynb", ["misnamed"]),
    (["Untitled0.ipynb", "13_n.ipynb"], "wrong_assignment", "13_n.ipynb", ["wrong_assignment"]),
    (["14_h.ipynb"], "wrong_assignment", "14_h.ipynb", ["wrong_assignment"]),
    (["14_h.ipynb", "14_n (1).ipynb"], "ok", "14_n (1).ipynb", ["misnamed"]),
    (["report.pdf", "img.png"], "missing", None, ["missing"]),
    ([], "missing", None, ["missing"]),
]


@pytest.mark.parametrize(("files", "status", "chosen", "codes"), CHOICES,
                         ids=[" + ".join(c[0]) or "nothing" for c in CHOICES])
def test_choice(files: list[str], status: str, chosen: str | None, codes: list[str]) -> None:
    decision = decide([_file(f) for f in files], assignment_id="14_n")
    assert decision.status is FileStatus(status)
    assert (decision.chosen.file.relpath if decision.chosen else None) == chosen
    assert [n.code for n in decision.notices] == codes
    for notice in decision.notices:
        assert notice.message_ja and notice.message_en and notice.text("en") == notice.message_en
        if chosen:
            assert chosen in notice.message_ja and chosen in notice.message_en


def test_newest_time_stamp_breaks_ties() -> None:
    older = _file("Copy of 14_n.ipynb", (2026, 11, 20, 9, 0, 0))
    newer = _file("14_nのコピー.ipynb", (2026, 11, 22, 9, 0, 0))
    assert decide([older, newer], assignment_id="14_n").chosen.file is newer  # type: ignore[union-attr]
    assert decide([newer, older], assignment_id="14_n").chosen.file is newer  # type: ignore[union-attr]


def test_an_empty_file_is_not_chosen_over_one_with_a_notebook() -> None:
    empty, full = _file("14_n.ipynb"), _file("14_n (1).ipynb")
    object.__setattr__(empty, "size", 0)
    decision = decide([empty, full], assignment_id="14_n")
    assert decision.chosen is not None and decision.chosen.file is full


@pytest.mark.parametrize(("later", "minutes", "chosen"), [
    ("14_n (1).ipynb", 60 * 24 * 3, "14_n (1).ipynb"),   # uploaded days later: the last one
    ("Copy of 14_n.ipynb", 11, "Copy of 14_n.ipynb"),
    ("14_n_山田.ipynb", 30, "14_n_山田.ipynb"),
    ("14_n (1).ipynb", 2, "14_n.ipynb"),               # minutes apart: the name decides
    ("old/14_n (1).ipynb", 600, "14_n.ipynb"),         # another folder: the name decides
    ("14_n.py", 600, "14_n.ipynb"),                    # an export: never over a notebook
])
def test_a_clearly_later_upload_wins(later: str, minutes: int, chosen: str) -> None:
    first = _file("14_n.ipynb", (2026, 11, 20, 9, 0, 0))
    when = datetime.datetime(2026, 11, 20, 9, 0, 0) + datetime.timedelta(minutes=minutes)
    second = _file(later, when.timetuple()[:6])
    for order in ([first, second], [second, first]):
        decision = decide(order, assignment_id="14_n")
        assert decision.chosen is not None and decision.chosen.file.relpath == chosen


def test_notices_tell_the_student_what_to_do() -> None:
    (notice,) = decide([_file("14_n (1).ipynb")], assignment_id="14_n").notices
    assert "「14_n.ipynb」という名前で提出してください" in notice.message_ja
    assert "name it “14_n.ipynb” next time" in notice.message_en
    (missing,) = decide([_file("a.pdf")], assignment_id="14_n").notices
    assert "a.pdf" in missing.message_ja and "14_n.ipynb" in missing.message_en


COLAB = '''# -*- coding: utf-8 -*-
"""14_n.ipynb

Automatically generated by Colab.

Original file is located at
    https://colab.research.google.com/drive/1AbCdEf

# 第14回 畳み込み

!注意: この行はマークダウンです
"""

# Commented out IPython magic to ensure Python compatibility.
# %matplotlib inline
import torch
!pip install -q torchinfo

def conv2d(x, k, stride=1, padding=0):
    """1 チャネルの畳み込み"""
    return x

"""## プーリング
`max_pool2d` を実装します。
"""

TEMPLATE = """
これはコードの中の文字列です
"""
EPOCHS = 1
'''


def test_colab_export_to_cells() -> None:
    nb = py_to_notebook(COLAB, source_name="14_n.py")
    cells = [(c.cell_type, c.source) for c in nb.cells]
    assert cells == [
        ("markdown", "# 第14回 畳み込み\n\n!注意: この行はマークダウンです"),
        ("code", "%matplotlib inline\nimport torch\n!pip install -q torchinfo\n\n"
                 "def conv2d(x, k, stride=1, padding=0):\n    \"\"\"1 チャネルの畳み込み\"\"\"\n"
                 "    return x"),
        ("markdown", "## プーリング\n`max_pool2d` を実装します。"),
        ("code", 'TEMPLATE = """\nこれはコードの中の文字列です\n"""\nEPOCHS = 1'),
    ]
    assert nb.metadata["autograder"] == {"converted_from": "14_n.py", "format": "colab"}
    nbformat.validate(nb)


def test_percent_export_keeps_tags() -> None:
    text = ('# %% [markdown]\n# # 課題 14_n\n# 説明\n\n# %% tags=["parameters"]\nEPOCHS = 3\n\n'
            '# %%\ndef step(u):\n    return 1 if u > 0 else 0\n')
    nb = py_to_notebook(text)
    assert [(c.cell_type, c.source) for c in nb.cells] == [
        ("markdown", "# 課題 14_n\n説明"), ("code", "EPOCHS = 3"),
        ("code", "def step(u):\n    return 1 if u > 0 else 0")]
    assert nb.cells[1].metadata == {"tags": ["parameters"]}
    assert nb.metadata["autograder"]["format"] == "percent"


def test_broken_python_stays_one_code_cell() -> None:
    nb = py_to_notebook('x = """never closed\ny = 2\n')
    assert [(c.cell_type, c.source) for c in nb.cells] == [("code", 'x = """never closed\ny = 2')]


def test_convert_file_decodes_cp932_and_refuses_binary(tmp_path: Path) -> None:
    src = tmp_path / "14_n.py"
    src.write_bytes('# %%\nmessage = "こんにちは"\n'.encode("cp932"))
    out = convert_py_file(src, tmp_path / "out" / "14_n.ipynb")
    assert nbformat.read(str(out), as_version=4).cells[0].source == 'message = "こんにちは"'
    src.write_bytes(b"\x00\x01binary")
    with pytest.raises(InvalidNotebook):
        convert_py_file(src, tmp_path / "out2.ipynb")


# ---------------------------------------------------------------- any other id or file name

PS1_NAMES = [
    ("ps1.ipynb", Match.EXACT),
    ("PS1.ipynb", Match.NEAR),
    ("ps_1.ipynb", Match.NEAR),
    ("ps1 (1).ipynb", Match.NEAR),
    ("Copy of ps1.ipynb", Match.NEAR),
    ("ps1のコピー.ipynb", Match.NEAR),
    ("ｐｓ１.ipynb", Match.NEAR),
    ("ps1_山田.ipynb", Match.RENAMED),
    ("山田 ps1.ipynb", Match.RENAMED),
    ("ps1.py", Match.PY),
    ("ps12.ipynb", Match.UNNAMED),
    ("14_n.ipynb", Match.UNNAMED),  # no other assignment is known by name under this rule
    ("Untitled0.ipynb", Match.UNNAMED),
    ("ps1.pdf", Match.IGNORED),
]


@pytest.mark.parametrize(("name", "match"), PS1_NAMES, ids=[n[0] for n in PS1_NAMES])
def test_named_file_rule(name: str, match: Match) -> None:
    assert classify(_file(name), file_rule("ps1")).match is match


def test_which_rule_an_assignment_gets() -> None:
    assert file_rule("14_n") == AssignmentName(14, "n")
    assert file_rule("16_h", "16_h.ipynb") == AssignmentName(16, "h")
    assert file_rule("14_n", "week14.ipynb") == NamedFile("14_n", "week14.ipynb")
    assert file_rule("week5") == NamedFile("week5", "week5.ipynb")
    with pytest.raises(ConfigError):
        file_rule("../14_n")


def test_named_file_notices_name_the_wanted_file() -> None:
    decision = decide([_file("Week-5 (2).ipynb")], assignment_id="week5",
                      file_name="week-5.ipynb")
    assert decision.chosen is not None and decision.chosen.match is Match.NEAR
    (notice,) = decision.notices
    assert notice.code == "misnamed" and "“week-5.ipynb”" in notice.message_en
    (missing,) = decide([_file("a.pdf")], assignment_id="week5").notices
    assert "week5.ipynb" in missing.message_ja
