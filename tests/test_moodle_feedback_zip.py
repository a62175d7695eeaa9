"""The feedback-files zip, checked path by path against Moodle's importer rule."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from autograder.core.errors import ExportError
from autograder.moodle import (
    FeedbackEntry,
    build_feedback_zip,
    moodle_feedback_match,
    read_moodle_zip,
)
from autograder.moodle.feedback_zip import clean_filename, feedback_path

SUBMITTED = b'{"cells": [], "nbformat": 4}'

ENTRIES = [
    FeedbackEntry("1234567", "Taro Yamada", {"14_n.html": b"<p>85</p>",
                                             "14_n_graded.ipynb": b'{"graded": 1}'}),
    FeedbackEntry("1234568", "山田 花子", {"14_n.html": "<p>よくできました</p>".encode()}),
    FeedbackEntry("1234569", "Mary_Ann O'Brien", {"14_n.html": b"<p>ok</p>"}),
    FeedbackEntry("1234570", "a/b: <c> & \"d\" `e` | f\\g", {"14_n.html": b"x"}),
    FeedbackEntry("42", "Group A", {"14_n.html": b"group"}),
    FeedbackEntry("1234571", "Participant", {"14_n.html": b"blind"}),
]


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words checked below are the English texts (Japanese: its own test)."""
    monkeypatch.setenv("AUTOGRADER_LANG", "en")


def moodle_3x_match(path: str) -> tuple[str, str, str] | None:
    """Moodle 3.x's importer: the whole path split on '_' into 5 parts, no wrapper folder."""
    info = path.split("_", 4)
    if len(info) < 5 or not info[1].isdigit():
        return None
    return info[1], f"{info[2]}_{info[3]}", info[4]


@pytest.mark.parametrize("layout", ["folders", "flat"])
def test_every_path_matches_moodles_rule(tmp_path: Path, layout: str) -> None:
    result = build_feedback_zip(ENTRIES, tmp_path / "feedback.zip", layout=layout)  # type: ignore[arg-type]
    assert result.skipped == []
    with zipfile.ZipFile(result.path) as zf:
        infos = zf.infolist()
        contents = {i.filename: zf.read(i) for i in infos}
    assert [i.filename for i in infos] == result.written
    assert all(i.flag_bits & 0x800 for i in infos)
    expected = [(int(e.moodle_id), name) for e in ENTRIES for name in e.files]  # type: ignore[arg-type]
    matched = [moodle_feedback_match(i.filename) for i in infos]
    assert [(m.participant_id, m.filename) for m in matched if m] == expected
    assert {m.plugin for m in matched if m} == {"assignsubmission_file"}
    if layout == "flat":  # what Moodle 3.x needs, and 4.1+ reads too
        assert [moodle_3x_match(i.filename)[::2] for i in infos] == [  # type: ignore[index]
            (str(pid), name) for pid, name in expected]
    assert contents[result.written[2]] == "<p>よくできました</p>".encode()


def test_the_default_layout_is_one_every_moodle_reads(tmp_path: Path) -> None:
    # the folder layout imports nothing on Moodle 3.x-4.0 (a "file/14" plugin); flat
    # names are read by 3.x and by 4.1+ alike
    result = build_feedback_zip(ENTRIES, tmp_path / "feedback.zip")
    assert result.written and all("/" not in path for path in result.written)
    for path in result.written:
        found, old = moodle_feedback_match(path), moodle_3x_match(path)
        assert found is not None and old is not None
        assert (str(found.participant_id), found.plugin, found.filename) == old


def test_folder_names_cleaned_like_moodle(tmp_path: Path) -> None:
    result = build_feedback_zip(ENTRIES, tmp_path / "feedback.zip", layout="folders",
                                date_time=(2026, 11, 23, 10, 0, 0))
    assert result.written == [
        "Taro Yamada_1234567_assignsubmission_file/14_n.html",
        "Taro Yamada_1234567_assignsubmission_file/14_n_graded.ipynb",
        "山田 花子_1234568_assignsubmission_file/14_n.html",
        "Mary Ann OBrien_1234569_assignsubmission_file/14_n.html",
        "ab c  d e  fg_1234570_assignsubmission_file/14_n.html",
        "Group A_42_assignsubmission_file/14_n.html",
        "Participant_1234571_assignsubmission_file/14_n.html",
    ]
    with zipfile.ZipFile(result.path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2026, 11, 23, 10, 0, 0)}
        raw = [i.filename.encode("utf-8") for i in zf.infolist()]
    assert "山田 花子".encode() in raw[2]


@pytest.mark.parametrize(("text", "cleaned"), [
    ("14_n.html", "14_n.html"),
    ("山田 花子", "山田 花子"),
    ("a&b<c>d\"e`f|g'h:i\\j/k", "abcdefghijk"),
    ("tab\there\x00\x7f", "tabhere"),
    ("..", ""),
    ("é ü 한글 😀", "é ü 한글 😀"),
])
def test_clean_filename(text: str, cleaned: str) -> None:
    assert clean_filename(text) == cleaned


MATCHES = [
    ("Taro Yamada_1234567_assignsubmission_file/14_n.html",
     (1234567, "assignsubmission_file", "14_n.html")),
    ("Taro Yamada_1234567_assignsubmission_file_/14_n.html",
     (1234567, "assignsubmission_file", "14_n.html")),
    ("Taro Yamada_1234567_assignsubmission_file_14_n.html",
     (1234567, "assignsubmission_file", "14_n.html")),
    ("wrapper/Taro Yamada_1234567_assignfeedback_file/sub/x.pdf",
     (1234567, "assignfeedback_file", "sub/x.pdf")),
    ("Group A_42_assignsubmission_file/14_n.html", (42, "assignsubmission_file", "14_n.html")),
    ("Default group_assignsubmission_file/14_n.html", None),
    ("Taro Yamada_abc_assignsubmission_file/14_n.html", None),
    ("Taro Yamada_1234567_assignsubmission_nosuchplugin/14_n.html", None),
    ("Taro Yamada_1234567_assignsubmission_file/.hidden.html", None),
    ("Taro Yamada_1234567_assignsubmission_file/~$lock.html", None),
    ("__MACOSX/Taro Yamada_1234567_assignsubmission_file/14_n.html", None),
    ("Taro Yamada_1234567_assignsubmission_file/.DS_Store", None),
    ("Taro Yamada_1234567_assignsubmission_file/Thumbs.db", None),
    ("Taro Yamada_1234567_assignsubmission_file/", None),
    ("14_n.html", None),
]


@pytest.mark.parametrize(("path", "expected"), MATCHES, ids=[m[0] for m in MATCHES])
def test_moodle_feedback_match(path: str, expected: tuple[int, str, str] | None) -> None:
    assert moodle_feedback_match(path) == expected


def test_participants_restrict_the_match() -> None:
    path = "Taro Yamada_1234567_assignsubmission_file/14_n.html"
    assert moodle_feedback_match(path, participants={1234567}) is not None
    assert moodle_feedback_match(path, participants={1}) is None


def test_feedback_identical_to_submission_is_left_out(tmp_path: Path) -> None:
    digest = hashlib.sha256(SUBMITTED).hexdigest()
    entry = FeedbackEntry("7", "Taro Yamada", {"14_n_graded.ipynb": SUBMITTED,
                                               "14_n.html": b"<p>ok</p>"},
                          submitted_sha256={digest})
    result = build_feedback_zip([entry], tmp_path / "f.zip")
    assert result.written == ["Taro Yamada_7_assignsubmission_file_14_n.html"]
    assert [n.code for n in result.skipped] == ["feedback_identical"]
    with zipfile.ZipFile(result.path) as zf:
        assert all(hashlib.sha256(zf.read(i)).hexdigest() != digest for i in zf.infolist())


def test_unimportable_feedback_is_reported(tmp_path: Path) -> None:
    entries = [FeedbackEntry(None, "Default group", {"14_n.html": b"x"}),
               FeedbackEntry("8", "Jiro", {".hidden.html": b"x", "14_n.html": b"y"})]
    # a name starting with "." is skipped by the importer where it is a file's own name:
    # in the folder layout (in the flat one it follows the participant's prefix)
    result = build_feedback_zip(entries, tmp_path / "f.zip", layout="folders")
    assert result.written == ["Jiro_8_assignsubmission_file/14_n.html"]
    assert [n.code for n in result.skipped] == ["feedback_default_group", "feedback_unmatched"]


@pytest.mark.parametrize(("entries", "message"), [
    ([FeedbackEntry("7", "A", {"a": b"1"}), FeedbackEntry("7", "B", {"b": b"2"})], "two feedback"),
    ([FeedbackEntry("7", "A", {"a:b": b"1", "ab": b"2"})], "two feedback files"),
    ([FeedbackEntry("group-42", "A", {"a": b"1"})], "not a Moodle"),
])
def test_ambiguous_feedback_is_an_error(tmp_path: Path, entries: list[FeedbackEntry],
                                        message: str) -> None:
    with pytest.raises(ExportError, match=message):
        build_feedback_zip(entries, tmp_path / "f.zip")
    assert not (tmp_path / "f.zip").exists()


def test_feedback_zip_reads_back_as_a_moodle_zip(tmp_path: Path) -> None:
    result = build_feedback_zip(ENTRIES[:4], tmp_path / "f.zip")
    intake = read_moodle_zip(result.path, assignment_id="14_n", workdir=tmp_path / "w")
    assert [p.participant_id for p in intake.participants] == [e.moodle_id for e in ENTRIES[:4]]
    assert feedback_path(ENTRIES[0], "14_n.html", layout="flat") == \
        "Taro Yamada_1234567_assignsubmission_file_14_n.html"
