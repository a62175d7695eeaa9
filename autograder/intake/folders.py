"""Turn what the instructor passes to ``grade`` into submission items.

A SUBMISSION argument is a notebook file, a folder, or a Moodle "Download all
submissions" zip. Folders: notebooks directly inside are one participant each (named by
file stem); sub-folders are one participant each (named by the folder). Every source ends
up as ``SubmissionItem`` objects, so the Moodle intake plugs in beside the plain one.

Nothing is read into memory here: an item points at its file (``source``), and the
gradebook copies it in chunks. A notebook over the size cap (``sizecap``) is refused
from its size on disk, before it is read; the participant gets the status ``refused``
and the batch goes on. Every student-chosen string an item carries (names, file names,
notices quoting them) is ``safetext.clean``; the reason is in the chosen language.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import IntakeError
from ..core.i18n import Lang, default_lang, tr
from ..core.intake_record import IntakeRecord
from ..core.results import Notice, Status
from ..core.safetext import clean, one_line, visible
from ..core.sizecap import MAX_NOTEBOOK_BYTES, refused_file, too_large
from .items import SubmissionItem, clean_notice


def _file_item(participant: str, path: Path, lang: Lang) -> SubmissionItem:
    """One loose notebook, refused from its size on disk when over the cap."""
    size = path.stat().st_size
    name = clean(path.name)
    if size <= MAX_NOTEBOOK_BYTES:
        return SubmissionItem(participant=participant, file=name, source=path)
    why = too_large(size)
    notice = refused_file(visible(path.name), why.message_ja, why.message_en)
    return SubmissionItem(participant=participant, file=name, intake=IntakeRecord(
        status=Status.REFUSED, reason=why.text(lang), notices=(notice,)))


def _candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix.lower() in (".ipynb", ".py") and not p.name.startswith("."))


def _folder_items(folder: Path, file_name: str, lang: Lang) -> list[SubmissionItem]:
    items = [_file_item(one_line(p.stem, limit=None), p, lang)
             for p in sorted(folder.glob("*.ipynb"))]
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        participant = one_line(sub.name, limit=None)
        files = _candidates(sub)
        if not files:
            items.append(SubmissionItem(participant=participant, file="", intake=IntakeRecord(
                status=Status.MISSING,
                reason=tr(lang, ja="提出ファイルがありません", en="no file was submitted"))))
            continue
        exact = [f for f in files if f.name == file_name]
        chosen = (exact or [f for f in files if f.suffix == ".ipynb"] or files)[0]
        items.append(_file_item(participant, chosen, lang))
    return items


def collect(paths: Iterable[Path], *, assignment_id: str, workdir: Path,
            team_submission: bool | None = None, lang: Lang | None = None,
            file_name: str = "") -> tuple[list[SubmissionItem], list[Notice]]:
    """Every submission item under ``paths`` (files, folders, Moodle zips), and messages
    about the archives themselves (refused entries, online text ignored...).
    ``file_name`` is the name students submit (``[assignment] file``, default
    ``<id>.ipynb``): Moodle zips and sub-folders choose their file by it.

    Items from a zip point at files extracted below ``workdir``: keep it until they are
    stored (``intake_session`` does).
    """
    lang = lang or default_lang()
    items: list[SubmissionItem] = []
    messages: list[Notice] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise IntakeError(tr(lang, ja="ファイルもフォルダもありません",
                                 en="no such file or folder"),
                              where=visible(str(path)),
                              hint=tr(lang, ja="パスを確かめてください(ノートブック・フォルダ・"
                                               "Moodle の zip を指定します)",
                                      en="check the path (a notebook, a folder or Moodle's"
                                         " zip)"))
        if path.is_dir():
            items.extend(_folder_items(path, file_name or f"{assignment_id}.ipynb", lang))
        elif path.suffix.lower() == ".zip":
            from .moodle import items_from_moodle_zip

            found, notes = items_from_moodle_zip(path, assignment_id=assignment_id,
                                                 workdir=workdir, lang=lang,
                                                 team_submission=team_submission,
                                                 file_name=file_name)
            items.extend(found)
            messages.extend(clean_notice(n) for n in notes)
        else:
            items.append(_file_item(one_line(path.stem, limit=None), path, lang))
    _refuse_duplicates(items)
    return items, messages


@contextmanager
def intake_session(paths: Iterable[Path], *, assignment_id: str, workdir: Path,
                   team_submission: bool | None = None, lang: Lang | None = None,
                   file_name: str = "") -> Iterator[tuple[list[SubmissionItem], list[Notice]]]:
    """``collect`` into a private folder below ``workdir``, removed when the block ends:
    the items' files are there until then (and a rerun after a crash starts clean)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="intake-", dir=workdir) as tmp:
        yield collect(paths, assignment_id=assignment_id, workdir=Path(tmp),
                      team_submission=team_submission, lang=lang, file_name=file_name)


def _refuse_duplicates(items: list[SubmissionItem]) -> None:
    seen: dict[str, str] = {}
    for item in items:
        if item.participant in seen:
            raise IntakeError(
                tr(ja=f"参加者 {item.participant!r} が 2 回現れます ({seen[item.participant]}"
                      f" と {item.file})",
                   en=f"participant {item.participant!r} appears twice "
                      f"({seen[item.participant]} and {item.file})"),
                hint=tr(ja="1 回の実行では参加者ごとに 1 ファイルを採点してください",
                        en="grade one file per participant per run"))
        seen[item.participant] = item.file
