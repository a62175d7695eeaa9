"""Hostile Moodle downloads at the intake (issue 14): real zips, no kernels.

A notebook over the size cap is refused before it is read, with the message loose files
get; stray and refused entries are summed per kind; every refusal that concerns a
participant is a notice to them, and a participant left with nothing because of one is
``refused``; empty folders are participants; names are never cut at a NUL, never carry a
control character into what is stored, and messages never send one to a terminal.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from moodle_zips import (
    FOLDERS_3X,
    FOLDERS_4X,
    Student,
    add_entry,
    add_streamed_notebook,
    build_submissions_zip,
    build_zip,
    notebook_bytes,
    symlink_mode,
)

from autograder.core.errors import IntakeError
from autograder.core.notebooks import ReadLimits
from autograder.core.results import Status
from autograder.core.safetext import is_clean
from autograder.core.sizecap import MAX_NOTEBOOK_BYTES, too_large
from autograder.intake.folders import collect
from autograder.intake.moodle import items_from_moodle_zip
from autograder.moodle import FileStatus, Intake, ZipLimits, read_moodle_zip

GOOD = ("Taro Yamada_1_assignsubmission_file/14_n.ipynb", notebook_bytes())
SMALL_CAP = ZipLimits(max_notebook_bytes=100_000)


def _read(tmp_path: Path, zip_path: Path, limits: ZipLimits | None = None) -> Intake:
    return read_moodle_zip(zip_path, assignment_id="14_n", workdir=tmp_path / "work",
                           limits=limits)


def _zip(tmp_path: Path, entries: list[tuple[str | bytes, bytes, dict[str, int]]]) -> Path:
    path = tmp_path / "dl.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, options in entries:
            add_entry(zf, name, data, **options)  # type: ignore[arg-type]
    return path


def _everything_said(intake: Intake) -> list[str]:
    notices = [n for p in intake.participants for n in p.notices] + intake.messages
    return [text for n in notices for text in (n.message_ja, n.message_en)]


def test_the_cap_is_the_readers_limit() -> None:
    assert MAX_NOTEBOOK_BYTES == ReadLimits().max_bytes == ZipLimits().max_notebook_bytes


def test_notebook_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "dl.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        add_entry(zf, *GOOD)
        add_streamed_notebook(zf, "Jiro Sato_2_assignsubmission_file/14_n.ipynb", mib=2)
        add_entry(zf, "Jiro Sato_2_assignsubmission_file/notes.txt", b"x" * 200_000)
    intake = _read(tmp_path, path, SMALL_CAP)
    jiro = intake.by_id()["2"]
    assert jiro.status is FileStatus.REFUSED and jiro.chosen is None
    assert [n.code for n in jiro.notices] == ["file_refused"]
    # the same words as a loose file of that size, from the declared size (2 MiB + a bit)
    declared = zipfile.ZipFile(path).getinfo("Jiro Sato_2_assignsubmission_file/14_n.ipynb")
    expected = too_large(declared.file_size, limit=100_000)
    assert jiro.notices[0].message_en.endswith(expected.message_en)
    assert jiro.notices[0].message_ja.endswith(expected.message_ja)
    assert [m.code for m in intake.messages] == ["refused_notebook_too_large"]
    assert not (tmp_path / "work/submissions/Jiro Sato_2_assignsubmission_file/14_n.ipynb"
                ).exists()
    assert jiro.files[0].relpath == "notes.txt"  # the cap is for notebooks only
    assert intake.by_id()["1"].status is FileStatus.OK


def test_lying_header_never_writes_past_the_declared_size(tmp_path: Path) -> None:
    """A local+central header that declares 1,000 bytes for 300,000: zipfile stops at the
    declared size, the CRC fails, the entry is refused and the batch goes on."""
    name = "Jiro Sato_2_assignsubmission_file/14_n.ipynb"
    path = tmp_path / "dl.zip"
    with zipfile.ZipFile(path, "w") as zf:
        add_entry(zf, *GOOD)
        add_entry(zf, name, os.urandom(300_000), compress=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    raw = name.encode()
    for at in (data.index(raw), data.rindex(raw)):  # local header, then central directory
        size_at = at - (8 if at == data.index(raw) else 22)  # uncompressed size field
        data[size_at:size_at + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    intake = _read(tmp_path, path)
    assert [m.code for m in intake.messages] == ["refused_corrupt"]
    assert intake.by_id()["2"].status is FileStatus.REFUSED
    assert intake.by_id()["1"].status is FileStatus.OK
    assert not any(p.stat().st_size > 1000 for p in (tmp_path / "work").rglob("14_n.ipynb")
                   if "Jiro" in str(p))


def test_stray_files_are_one_line_with_the_first_names(tmp_path: Path) -> None:
    strays = [(f"stray/junk-{i:04d}.txt", b"x", {}) for i in range(500)]
    intake = _read(tmp_path, _zip(tmp_path, [(*GOOD, {}), *strays]))
    (line,) = intake.messages
    assert line.code == "unmatched"
    assert line.message_en.startswith("500 files in no participant's folder were ignored")
    assert "“stray/junk-0000.txt”" in line.message_en and "and 497 more" in line.message_en
    assert "ほか 497 個" in line.message_ja


def test_refusals_are_one_line_per_reason_and_a_notice_each(tmp_path: Path) -> None:
    links = [(f"P{i}_{100 + i}_assignsubmission_file/14_n.ipynb", b"/etc/passwd",
              {"mode": symlink_mode()}) for i in range(50)]
    traversal = [("../../evil.txt", b"x", {})]
    intake = _read(tmp_path, _zip(tmp_path, [(*GOOD, {}), *links, *traversal]))
    assert [m.code for m in intake.messages] == ["refused_symlink", "refused_traversal"]
    assert intake.messages[0].message_en.startswith("50 entries were not extracted")
    for i in range(50):
        entry = intake.by_id()[str(100 + i)]
        assert entry.status is FileStatus.REFUSED
        assert [n.code for n in entry.notices] == ["file_refused"]
        assert "symbolic links" in entry.notices[0].message_en


@pytest.mark.parametrize("folder", ["Eve Link_7_assignsubmission_file",
                                    "Eve Link_7_assignsubmission_file_"])
def test_a_student_folder_that_is_a_link_is_told(tmp_path: Path, folder: str) -> None:
    intake = _read(tmp_path, _zip(tmp_path, [(*GOOD, {}),
                                             (folder, b"/etc", {"mode": symlink_mode()})]))
    eve = intake.by_id()["7"]
    assert (eve.display_name, eve.status) == ("Eve Link", FileStatus.REFUSED)
    assert [n.code for n in eve.notices] == ["file_refused"]
    assert folder in eve.notices[0].message_en and "symbolic" in eve.notices[0].message_en


@pytest.mark.parametrize("layout", [FOLDERS_3X, FOLDERS_4X])
def test_empty_folders_are_participants_who_submitted_nothing(tmp_path: Path,
                                                              layout: str) -> None:
    suffix = "_/" if layout == FOLDERS_3X else "/"
    folders = [(f"Student {i}_{500 + i}_assignsubmission_file{suffix}", b"", {})
               for i in range(3)]
    folders.append((f"Student 3_503_assignsubmission_file{suffix}work/", b"", {}))
    intake = _read(tmp_path, _zip(tmp_path, folders))
    assert [(p.participant_id, p.status) for p in intake.participants] == [
        (str(500 + i), FileStatus.MISSING) for i in range(4)]
    assert intake.layouts == {layout} and intake.messages == []


def test_a_nul_byte_never_cuts_a_name(tmp_path: Path) -> None:
    # zipfile's ZipInfo.filename stops at the NUL: "Jiro_7_.../14_n.ipynb" would be graded
    entries: list[tuple[str | bytes, bytes, dict[str, int]]] = [
        (*GOOD, {}),
        (b"Ta\x00ro_5_assignsubmission_file/14_n.ipynb", notebook_bytes(), {}),
        (b"Jiro_7_assignsubmission_file/14_n.ipynb\x00.txt", notebook_bytes(), {})]
    intake = _read(tmp_path, _zip(tmp_path, entries))
    assert intake.by_id()["5"].display_name == "Taro"       # cleaned, not cut to "Ta"
    assert intake.by_id()["7"].status is FileStatus.REFUSED  # never graded as 14_n.ipynb
    assert "\\x00" in intake.messages[0].message_en
    assert all(is_clean(text) for text in _everything_said(intake))


def test_escape_sequences_never_reach_what_is_stored_or_shown(tmp_path: Path) -> None:
    entries: list[tuple[str | bytes, bytes, dict[str, int]]] = [
        (*GOOD, {}),
        ("Mallory\x1b[2J_9_assignsubmission_file/14_n.ipynb", notebook_bytes(), {}),
        ("\x1b]0;pwned\x07stray.txt", b"x", {}),
        ("Bidi \u202eevil_8_assignsubmission_file/14_n\u200b.ipynb", notebook_bytes(), {})]
    items, messages = items_from_moodle_zip(_zip(tmp_path, entries), assignment_id="14_n",
                                            workdir=tmp_path / "w", lang="en")
    by_id = {item.participant: item for item in items}
    assert by_id["9"].participant_name == "Mallory"
    assert by_id["9"].intake.status is Status.REFUSED
    assert "\\x1b[2J" in by_id["9"].intake.reason  # shown as text, not sent to the terminal
    assert by_id["8"].participant_name == "Bidi evil" and by_id["8"].intake.status is None
    strings = [s for item in items
               for s in (item.participant_name, item.file, item.intake.reason,
                         *(n.message_ja for n in item.intake.notices),
                         *(n.message_en for n in item.intake.notices))]
    strings += [text for n in messages for text in (n.message_ja, n.message_en)]
    assert all(is_clean(s) and "\x1b" not in s for s in strings)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_reason_is_in_the_chosen_language(tmp_path: Path, lang: str) -> None:
    path = tmp_path / "dl.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        add_entry(zf, *GOOD)
        add_streamed_notebook(zf, "Jiro_2_assignsubmission_file/14_n.ipynb",
                              mib=MAX_NOTEBOOK_BYTES >> 20)
    items, _ = items_from_moodle_zip(path, assignment_id="14_n", workdir=tmp_path / "w",
                                     lang=lang)  # type: ignore[arg-type]
    jiro = next(item for item in items if item.participant == "2")
    assert jiro.intake.status is Status.REFUSED
    words = "受け付けられませんでした" if lang == "ja" else "was not accepted"
    assert words in jiro.intake.reason


def test_markup_in_names_is_kept_as_text(tmp_path: Path) -> None:
    # Moodle's clean_filename drops "/" from names, not from the student's own files
    students = [Student(3, "Eve [red]x[", {"[/]14_n.ipynb": notebook_bytes()})]
    path = build_submissions_zip(tmp_path / "dl.zip", students, layout=FOLDERS_4X)
    items, _ = items_from_moodle_zip(path, assignment_id="14_n", workdir=tmp_path / "w",
                                     lang="en")
    (eve,) = items
    assert (eve.participant_name, eve.file, eve.intake.status) == (
        "Eve [red]x[", "[/]14_n.ipynb", None)


def test_intake_failure_for_one_participant_is_their_error(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import autograder.moodle.zipintake as zipintake

    real = zipintake.convert_py_file

    def explode(source: Path, dest: Path) -> Path:
        if "Jiro" in str(source):
            raise RecursionError("maximum recursion depth exceeded")
        return real(source, dest)

    monkeypatch.setattr(zipintake, "convert_py_file", explode)
    path = build_zip(tmp_path / "dl.zip", [GOOD, ("Jiro_2_assignsubmission_file/14_n.py",
                                                  b"# %%\nx = 1\n")])
    intake = _read(tmp_path, path)
    jiro = intake.by_id()["2"]
    assert jiro.status is FileStatus.ERROR and jiro.notebook_path is None
    assert "RecursionError" in jiro.notices[-1].message_en
    assert intake.by_id()["1"].status is FileStatus.OK


def test_loose_notebook_over_the_cap_is_refused_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "ok.ipynb").write_bytes(notebook_bytes())
    with (folder / "huge.ipynb").open("wb") as fh:  # sparse: the size without the bytes
        fh.truncate(MAX_NOTEBOOK_BYTES + 1)
    items, _ = collect([folder], assignment_id="14_n", workdir=tmp_path / "w", lang="en")
    by_id = {item.participant: item for item in items}
    assert by_id["ok"].intake.status is None and by_id["ok"].source == folder / "ok.ipynb"
    huge = by_id["huge"]
    assert huge.intake.status is Status.REFUSED and huge.source is None and huge.content == b""
    assert huge.intake.reason == too_large(MAX_NOTEBOOK_BYTES + 1).message_en
    assert [n.code for n in huge.intake.notices] == ["file_refused"]


def test_a_name_longer_than_the_file_system_allows_is_read_not_refused(tmp_path: Path) -> None:
    # Moodle's flat layout puts name, id and a file name of up to 255 characters into one
    # segment: 3 bytes a Japanese character, far past a file system's 255 bytes
    long_name = "深層学習の課題レポート" * 12 + "14_n.ipynb"
    entries: list[tuple[str | bytes, bytes, dict[str, int]]] = [
        (f"山田 太郎_11_assignsubmission_file_{long_name}", notebook_bytes(), {}),
        (f"佐藤 花子_12_assignsubmission_file/{long_name}", notebook_bytes(), {}),
        ("Eve_13_assignsubmission_file/" + "x" * 3000 + ".ipynb", notebook_bytes(), {})]
    intake = _read(tmp_path, _zip(tmp_path, entries))
    got = {p.participant_id: p for p in intake.participants}
    for pid in ("11", "12"):
        assert got[pid].status is FileStatus.OK, got[pid]
        chosen = got[pid].chosen
        assert chosen is not None and chosen.relpath == long_name
        assert chosen.path.read_bytes() == notebook_bytes()
        assert len(chosen.path.name.encode()) <= 255 and chosen.path.suffix == ".ipynb"
    assert got["13"].status is FileStatus.REFUSED   # an absurd name is still refused


def _with_method(path: Path, method: int) -> Path:
    """The zip at ``path`` with every entry's compression method field set to ``method``
    (Python cannot write Deflate64: the stored bytes stay, the headers say otherwise)."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        while at >= 0:
            data[at + offset:at + offset + 2] = method.to_bytes(2, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    return path


def test_a_zip_re_made_with_deflate64_is_one_clear_error(tmp_path: Path) -> None:
    # Windows Explorer re-zips a large folder with Deflate64: every student's file would
    # be "refused", and a refused student gets 0
    path = tmp_path / "dl.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(3):
            add_entry(zf, f"Student {i}_{i + 1}_assignsubmission_file/14_n.ipynb",
                      notebook_bytes(), compress=zipfile.ZIP_STORED)
    with pytest.raises(IntakeError, match="Deflate64") as raised:
        _read(tmp_path, _with_method(path, 9))
    assert "Moodle" in (raised.value.hint or "")
    assert not (tmp_path / "work" / "submissions").exists() or not any(
        (tmp_path / "work" / "submissions").iterdir())
