"""Moodle "Download all submissions" zips: every layout, every participant once, safely."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from moodle_zips import (
    FLAT,
    FOLDERS_3X,
    FOLDERS_4X,
    LAYOUTS,
    Student,
    add_entry,
    build_submissions_zip,
    build_zip,
    entries_for,
    notebook_bytes,
    roster,
    symlink_mode,
    unicode_path_extra,
)

from autograder.core.errors import ConfigError, IntakeError, UnsafeArchive
from autograder.moodle import FileStatus, Intake, ZipLimits, read_moodle_zip

# participant id -> (display name, status, chosen file relpath, notice codes)
EXPECTED = {
    "1234567": ("Taro Yamada", "ok", "14_n.ipynb", set()),
    "1234568": ("山田 花子", "ok", "14_n (1).ipynb", {"misnamed"}),
    "1234569": ("Mary Ann OBrien", "ok", "14_N.ipynb", {"misnamed"}),
    "1234570": ("佐藤 次郎", "ok", "work/14_n.ipynb", set()),
    "1234571": ("鈴木 一郎", "ok", "14_n.py", {"converted_py"}),
    "1234572": ("高橋 三郎", "wrong_assignment", "13_n.ipynb", {"wrong_assignment"}),
    "1234573": ("田中 四郎", "missing", None, {"missing", "online_text_ignored"}),
    "1234574": ("伊藤 五郎", "ok", "14_n.ipynb", {"multiple_files"}),
    "1234575": ("Jean-Luc Picard", "ok", "Copy of 14_n.ipynb", {"misnamed"}),
    "1234576": ("渡辺 六郎", "ok", "１４＿ｎ.ipynb", {"misnamed"}),
}


def _read(tmp_path: Path, zip_path: Path, *, team_submission: bool | None = None,
          limits: ZipLimits | None = None) -> Intake:
    return read_moodle_zip(zip_path, assignment_id="14_n", workdir=tmp_path / "work",
                           team_submission=team_submission, limits=limits)


def _files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("utf8_flag", [True, False], ids=["utf8-flag", "cp932-no-flag"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_participant_accounted_for_once(tmp_path: Path, layout: str,
                                              utf8_flag: bool) -> None:
    zip_path = build_submissions_zip(tmp_path / "dl.zip", roster(), layout=layout,
                                     utf8_flag=utf8_flag)
    intake = _read(tmp_path, zip_path)
    ids = [p.participant_id for p in intake.participants]
    assert sorted(ids) == sorted(EXPECTED) and len(ids) == len(set(ids))
    with zipfile.ZipFile(zip_path) as zf:  # the zip really is what the layout says
        assert {bool(i.flag_bits & 0x800) for i in zf.infolist()} == {utf8_flag}
    assert intake.layouts == {layout}
    assert intake.messages == []
    for entry in intake.participants:
        name, status, chosen, codes = EXPECTED[entry.participant_id]
        assert (entry.display_name, entry.status.value) == (name, status)
        want = chosen if layout != FLAT else (chosen or "").rsplit("/", 1)[-1] or None
        assert (entry.chosen.relpath if entry.chosen else None) == want
        assert {n.code for n in entry.notices} == codes
        assert not entry.is_group and entry.moodle_id == entry.participant_id
        if entry.status is FileStatus.OK:
            assert entry.notebook_path is not None and entry.notebook_path.is_file()


def test_unflagged_names_really_are_cp932_bytes(tmp_path: Path) -> None:
    zip_path = build_submissions_zip(tmp_path / "dl.zip", roster()[:2], layout=FOLDERS_3X,
                                     utf8_flag=False)
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
    assert all(i.flag_bits & 0x800 == 0 for i in infos)
    raw = [i.filename.encode("cp437") for i in infos]
    with pytest.raises(UnicodeDecodeError):  # CP932, not UTF-8 without the flag
        raw[1].decode("utf-8")
    assert "山田 花子_1234568_assignsubmission_file_/14_n (1).ipynb".encode("cp932") in raw


def test_subfolders_kept_and_files_listed(tmp_path: Path) -> None:
    zip_path = build_submissions_zip(tmp_path / "dl.zip", roster(), layout=FOLDERS_4X)
    entry = _read(tmp_path, zip_path).by_id()["1234570"]
    assert [f.relpath for f in entry.files] == ["work/14_n.ipynb", "work/data/img.png"]
    assert entry.files[1].path.read_bytes() == b"\x89PNG"
    assert entry.files[0].entry_name == "佐藤 次郎_1234570_assignsubmission_file/work/14_n.ipynb"


def test_py_export_is_converted_into_workdir(tmp_path: Path) -> None:
    zip_path = build_submissions_zip(tmp_path / "dl.zip", roster(), layout=FOLDERS_3X)
    entry = _read(tmp_path, zip_path).by_id()["1234571"]
    assert entry.notebook_path == tmp_path / "work" / "converted" / "1234571" / "14_n.ipynb"
    nb = nbformat.read(str(entry.notebook_path), as_version=4)
    assert [c.source for c in nb.cells] == ["x = 1"]
    assert nb.metadata["autograder"]["converted_from"] == "14_n.py"


@pytest.mark.parametrize("word", ["Participant", "参加者", "Teilnehmer/in"])
def test_blind_marking_in_any_language(tmp_path: Path, word: str) -> None:
    students = [Student(1000 + i, word, {"14_n.ipynb": notebook_bytes()}) for i in range(3)]
    intake = _read(tmp_path, build_submissions_zip(tmp_path / "dl.zip", students,
                                                   layout=FOLDERS_4X))
    assert [p.participant_id for p in intake.participants] == ["1000", "1001", "1002"]
    assert {p.display_name for p in intake.participants} == {word.replace("/", "")}
    assert intake.blind_marking


def test_group_submissions_moodle_3x_are_per_member(tmp_path: Path) -> None:
    nb = notebook_bytes()
    students = [Student(1234567, "Group A-Taro Yamada", {"14_n.ipynb": nb}),
                Student(1234568, "Group A-山田 花子", {"14_n.ipynb": nb}),
                Student(1234569, "Default group-Jiro Sato", {"14_n.ipynb": nb})]
    intake = _read(tmp_path, build_submissions_zip(tmp_path / "dl.zip", students,
                                                   layout=FOLDERS_3X), team_submission=True)
    assert [(p.participant_id, p.display_name, p.is_group) for p in intake.participants] == [
        ("1234567", "Group A-Taro Yamada", False), ("1234568", "Group A-山田 花子", False),
        ("1234569", "Default group-Jiro Sato", False)]


@pytest.mark.parametrize("team", [True, None], ids=["explicit", "detected"])
@pytest.mark.parametrize("layout", [FOLDERS_4X, FLAT])
def test_group_submissions_moodle_41_are_per_group(tmp_path: Path, layout: str,
                                                   team: bool | None) -> None:
    nb = notebook_bytes()
    groups = [Student(42, "Group A", {"14_n.ipynb": nb}),
              Student(43, "Group_B", {"14_n (1).ipynb": nb}),
              Student(None, "Default group", {"14_n.ipynb": nb})]
    intake = _read(tmp_path, build_submissions_zip(tmp_path / "dl.zip", groups, layout=layout),
                   team_submission=team)
    got = [(p.participant_id, p.moodle_id, p.display_name, p.is_group, p.status.value)
           for p in intake.participants]
    assert got == [("group-42", "42", "Group A", True, "ok"),
                   ("group-43", "43", "Group B", True, "ok"),
                   ("group-default", None, "Default group", True, "ok")]


def test_online_text_only_is_missing_with_notice(tmp_path: Path) -> None:
    students = [Student(7, "Taro Yamada", {}, online_text="<p>提出します</p>")]
    for layout in (FOLDERS_3X, FOLDERS_4X):
        entries = entries_for(students[0], layout)
        assert entries[0][0].endswith("assignsubmission_onlinetext" +
                                      ("_/" if layout == FOLDERS_3X else "/") + "onlinetext.html")
    intake = _read(tmp_path, build_submissions_zip(tmp_path / "dl.zip", students,
                                                   layout=FOLDERS_3X))
    (entry,) = intake.participants
    assert entry.status is FileStatus.MISSING and entry.files == []
    assert entry.other_plugins == {"onlinetext": ["onlinetext.html"]}
    assert {n.code for n in entry.notices} == {"missing", "online_text_ignored"}
    assert all(n.message_ja and n.message_en for n in entry.notices)


def test_rezipped_download_with_wrapper_folder_and_junk(tmp_path: Path) -> None:
    inner = entries_for(roster()[0], FOLDERS_4X)
    entries = [(f"提出物/{name}", data) for name, data in inner]
    entries += [("__MACOSX/提出物/._x", b"junk"), ("提出物/.DS_Store", b"junk"),
                ("提出物/readme.txt", b"loose file")]
    intake = _read(tmp_path, build_zip(tmp_path / "dl.zip", entries))
    assert [p.participant_id for p in intake.participants] == ["1234567"]
    assert intake.participants[0].status is FileStatus.OK
    assert [m.code for m in intake.messages] == ["wrapper_folder", "unmatched", "junk_ignored"]
    assert "提出物/readme.txt" in intake.messages[1].message_en


def test_unicode_path_extra_field_wins(tmp_path: Path) -> None:
    real = "山田 花子_1234568_assignsubmission_file/14_n.ipynb"
    raw = b"garbled_1234568_assignsubmission_file/14_n.ipynb"
    with zipfile.ZipFile(tmp_path / "dl.zip", "w") as zf:
        add_entry(zf, raw, notebook_bytes(), extra=unicode_path_extra(raw, real))
    (entry,) = _read(tmp_path, tmp_path / "dl.zip").participants
    assert entry.display_name == "山田 花子"


def test_nfd_names_are_normalised(tmp_path: Path) -> None:
    import unicodedata

    name = unicodedata.normalize("NFD", "ガッツ 太郎")  # macOS writes decomposed kana
    zip_path = build_zip(tmp_path / "dl.zip",
                         [(f"{name}_5_assignsubmission_file/14_n.ipynb", notebook_bytes())])
    (entry,) = _read(tmp_path, zip_path).participants
    assert entry.display_name == "ガッツ 太郎"


GOOD = ("Taro Yamada_1_assignsubmission_file/14_n.ipynb", notebook_bytes())

UNSAFE = [
    ("../../evil.txt", {}, "traversal"),
    ("Taro Yamada_2_assignsubmission_file/../../../evil.txt", {}, "traversal"),
    ("..\\..\\evil.txt", {}, "traversal"),
    ("/tmp/evil.txt", {}, "absolute"),
    ("C:/evil.txt", {}, "absolute"),
    ("Taro Yamada_2_assignsubmission_file/evil\x07.txt", {}, "control"),
    ("Taro Yamada_2_assignsubmission_file/link", {"mode": symlink_mode()}, "symlink"),
    ("Taro Yamada_2_assignsubmission_file/fifo", {"mode": 0o010644}, "special"),
]


@pytest.mark.parametrize(("name", "options", "reason"), UNSAFE,
                         ids=[u[2] + str(i) for i, u in enumerate(UNSAFE)])
def test_unsafe_entry_refused_rest_processed(tmp_path: Path, name: str,
                                             options: dict[str, int], reason: str) -> None:
    zip_path = tmp_path / "dl.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        add_entry(zf, *GOOD)
        add_entry(zf, name, b"../../../../etc/passwd", **options)  # type: ignore[arg-type]
    before = _files_under(tmp_path)
    workdir = tmp_path / "deep" / "er" / "work"
    intake = read_moodle_zip(zip_path, assignment_id="14_n", workdir=workdir)
    assert _files_under(tmp_path) - before <= _files_under(workdir)
    assert not any(p.is_symlink() for p in workdir.rglob("*"))
    assert [m.code for m in intake.messages] == [f"refused_{reason}"]
    assert name.replace("\\", "/").split("/")[-1][:4] in intake.messages[0].message_en
    assert intake.by_id()["1"].status is FileStatus.OK


def _limited(tmp_path: Path, entries: list[tuple[str, bytes]], limits: ZipLimits,
             compress: int = zipfile.ZIP_DEFLATED) -> Intake:
    zip_path = tmp_path / "dl.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, data in entries:
            add_entry(zf, name, data, compress=compress)
    return _read(tmp_path, zip_path, limits=limits)


def test_compression_bomb_entry_refused(tmp_path: Path) -> None:
    limits = ZipLimits(max_ratio=50, ratio_floor_bytes=1 << 16)
    bomb = ("Jiro Sato_2_assignsubmission_file/14_n.ipynb", b"\0" * (4 << 20))
    intake = _limited(tmp_path, [GOOD, bomb], limits)
    assert [m.code for m in intake.messages] == ["refused_bomb"]
    # their only file was refused: ``refused`` (not ``missing``), and told why
    assert intake.by_id()["2"].status is FileStatus.REFUSED
    assert [n.code for n in intake.by_id()["2"].notices] == ["file_refused"]
    assert "zip bomb" in intake.by_id()["2"].notices[0].message_en
    assert not (tmp_path / "work/submissions/Jiro Sato_2_assignsubmission_file/14_n.ipynb").exists()


def test_oversized_entry_refused(tmp_path: Path) -> None:
    big = ("Jiro Sato_2_assignsubmission_file/14_n.ipynb", os.urandom(300_000))
    intake = _limited(tmp_path, [GOOD, big], ZipLimits(max_file_bytes=200_000))
    assert [m.code for m in intake.messages] == ["refused_too_large"]
    assert intake.by_id()["1"].status is FileStatus.OK


def test_encrypted_entry_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "dl.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        add_entry(zf, *GOOD)
        add_entry(zf, "Jiro Sato_2_assignsubmission_file/14_n.ipynb", b"ciphertext", flags=0x1)
    assert [m.code for m in _read(tmp_path, zip_path).messages] == ["refused_encrypted"]


def test_duplicate_names_all_refused(tmp_path: Path) -> None:
    dup = ("Jiro Sato_2_assignsubmission_file/14_n.ipynb", b"{}")
    with pytest.warns(UserWarning, match="Duplicate name"):
        intake = _limited(tmp_path, [GOOD, dup, dup], ZipLimits())
    assert [m.code for m in intake.messages] == ["refused_duplicate"]  # one line per kind
    assert intake.messages[0].message_en.startswith("2 entries were not extracted")
    assert intake.by_id()["2"].files == []


@pytest.mark.parametrize("limits", [ZipLimits(max_entries=2), ZipLimits(max_total_bytes=1000)],
                         ids=["entries", "total"])
def test_archive_level_bomb_refuses_everything(tmp_path: Path, limits: ZipLimits,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    entries = [(f"S_{i}_assignsubmission_file/14_n.ipynb", b"x" * 600) for i in range(3)]
    with pytest.raises(UnsafeArchive, match="limit") as info:
        _limited(tmp_path, entries, limits)
    assert info.value.hint and "ZipLimits" in info.value.hint
    assert not (tmp_path / "work").exists()


def test_corrupt_entry_refused_rest_processed(tmp_path: Path) -> None:
    zip_path = tmp_path / "dl.zip"
    payload = b"PAYLOAD-" * 64
    with zipfile.ZipFile(zip_path, "w") as zf:
        add_entry(zf, *GOOD)
        add_entry(zf, "Jiro Sato_2_assignsubmission_file/14_n.ipynb", payload,
                  compress=zipfile.ZIP_STORED)
    data = bytearray(zip_path.read_bytes())
    at = data.index(payload)
    data[at + 10] ^= 0xFF
    zip_path.write_bytes(bytes(data))
    intake = _read(tmp_path, zip_path)
    assert [m.code for m in intake.messages] == ["refused_corrupt"]
    assert intake.by_id()["1"].status is FileStatus.OK
    assert intake.by_id()["2"].files == []


@pytest.mark.parametrize(("content", "hint_word"), [
    (b"<!DOCTYPE html><html><body>Moodle login</body></html>", "log in"),
    (b"", "Download all submissions"),
    (b"Rar!\x1a\x07\x00", "Download all submissions"),
], ids=["html-login-page", "empty", "rar"])
def test_not_a_zip_gets_intake_error_with_hint(tmp_path: Path, content: bytes, hint_word: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    path = tmp_path / "dl.zip"
    path.write_bytes(content)
    with pytest.raises(IntakeError) as info:
        _read(tmp_path, path)
    assert info.value.hint and hint_word in info.value.hint
    assert str(path) in str(info.value)


def test_truncated_zip_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    zip_path = build_submissions_zip(tmp_path / "dl.zip", roster(), layout=FOLDERS_3X)
    zip_path.write_bytes(zip_path.read_bytes()[:-40])
    with pytest.raises(IntakeError) as info:
        _read(tmp_path, zip_path)
    assert info.value.hint and "download it again" in info.value.hint
    with pytest.raises(IntakeError, match="not found"):
        _read(tmp_path, tmp_path / "nope.zip")


def test_zip_without_participant_folders(tmp_path: Path) -> None:
    zip_path = build_zip(tmp_path / "dl.zip", [("14_n.ipynb", notebook_bytes())])
    with pytest.raises(IntakeError, match="no Moodle participant folders"):
        _read(tmp_path, zip_path)
    zip_path = build_zip(tmp_path / "evil.zip", [("../../14_n.ipynb", notebook_bytes())])
    with pytest.raises(IntakeError, match=r"all 1 entries were refused.*traversal"):
        read_moodle_zip(zip_path, assignment_id="14_n", workdir=tmp_path / "w2")


def test_workdir_must_be_fresh_and_assignment_id_valid(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    zip_path = build_submissions_zip(tmp_path / "dl.zip", roster()[:1], layout=FOLDERS_4X)
    _read(tmp_path, zip_path)
    with pytest.raises(IntakeError, match="not empty"):
        _read(tmp_path, zip_path)
    with pytest.raises(ConfigError, match="characters"):
        read_moodle_zip(zip_path, assignment_id="../14_n", workdir=tmp_path / "w2")
