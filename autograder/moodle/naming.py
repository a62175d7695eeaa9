"""The file-name rules and the choice of one file per participant.

Two rules (``file_rule``): the course's ``NN_[nh].ipynb`` (``AssignmentName``: the
default for an id of that form) and any other name a manifest asks for (``NamedFile``:
``[assignment] file``, default ``<id>.ipynb``; ``ps1``, ``week5``).

Every file name is first NFKC-normalised (full-width ``１４＿ｎ`` becomes ``14_n``) and
lower-cased. Then it is one of:

========  ===================================================  =========================
rank      what                                                 examples for 14_n
========  ===================================================  =========================
exact     the required name, byte for byte                     ``14_n.ipynb``
near      the assignment's token with copy marks or another    ``14_n (1).ipynb``,
          spelling, and nothing else                           ``14_N.ipynb``, ``14n.ipynb``,
                                                               ``14-n.ipynb``,
                                                               ``14_nのコピー.ipynb``,
                                                               ``Copy of 14_n.ipynb``,
                                                               ``14_n.ipynb.ipynb``
renamed   the token among other words                          ``14_n_山田.ipynb``
py        a ``.py`` export named for the assignment            ``14_n.py``, ``14_n.ipynb.py``
unnamed   a notebook naming no assignment at all               ``Untitled0.ipynb``
========  ===================================================  =========================

Under ``NamedFile`` (e.g. ``ps1.ipynb``) *near* is the name in another case, spelling of
its separators or with copy marks (``PS1.ipynb``, ``ps-1.ipynb``, ``ps1 (1).ipynb``),
*renamed* the name among other words (``ps1_山田.ipynb``); there is no *other*.

Under ``AssignmentName``, a name whose only token is another assignment (``13_n.ipynb``,
``14_h.ipynb`` in a 14_n batch) is *other*. Anything else (``.pdf``, ``.zip``, a ``.py``
naming nothing) is not gradable. The best rank wins. "Unnamed" notebooks are used only
when no file names any assignment; when the only named files are another assignment's,
the participant is ``wrong_assignment``.

Among files of the same rank, the newest-looking one wins: first the one nearest the
participant's folder (fewest sub-folders), then the highest copy generation (each
``Copy of``/``コピー``/``copy`` is one more generation: a copy is made after its original),
then the highest copy number (``(2)`` after ``(1)``, as browsers and Windows count), then
the latest time stamp in the zip, then the name (so the choice is reproducible).
An empty file comes after every file with something in it. And a file named
for the assignment (exact, near or renamed) in the chosen one's folder that was uploaded
at least ten minutes after it wins over it (``_newer_upload``): ``14_n (1).ipynb`` of
Thursday is the last version, not the ``14_n.ipynb`` of Monday left beside it.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import PurePosixPath

from ..core.assignment_ids import check_id
from ..core.errors import ConfigError
from ..core.i18n import tr
from ..core.results import Notice
from .model import FileStatus, SubmittedFile

_ASSIGNMENT_ID = re.compile(r"^(?P<lecture>\d{2})_(?P<level>[nh])$")
_TOKEN_ONLY = re.compile(r"^0*(?P<lecture>\d{1,2})[\s_\-.]*(?P<level>[nh])$")
_TOKEN_ANY = re.compile(r"(?<!\d)0*(?P<lecture>\d{1,2})[\s_\-.]*(?P<level>[nh])(?![a-z])")

# (pattern, whether it adds a copy generation); a group ``n`` holds a copy number.
_COPY_MARKS: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"^copy\s+of\s+"), True),                              # Colab / Drive (en)
    (re.compile(r"\s*\((?P<n>\d+)\)$"), False),                        # browsers: (1), (2)
    (re.compile(r"\s*-\s*(?:copy|コピー)(?:\s*\((?P<n>\d+)\))?$"), True),  # Windows Explorer
    (re.compile(r"\s*の?コピー(?:\s*\((?P<n>\d+)\))?$"), True),          # Drive / Colab (ja)
    (re.compile(r"^コピー\s*[~〜-]\s*"), True),                           # old Windows (ja)
    (re.compile(r"\s+copy(?:\s+(?P<n>\d+))?$"), True),                 # macOS Finder
    (re.compile(r"\.ipynb$"), False),                                  # 14_n.ipynb.ipynb
)


class Match(IntEnum):
    """How a file relates to the assignment; lower is better."""

    EXACT = 0
    NEAR = 1
    RENAMED = 2
    PY = 3
    UNNAMED = 4
    OTHER = 8        # another assignment's file
    IGNORED = 9      # not gradable


@dataclass(frozen=True)
class AssignmentName:
    """The course rule: ``NN_n.ipynb`` / ``NN_h.ipynb``, with its near misses."""

    lecture: int
    level: str

    @classmethod
    def parse(cls, assignment_id: str) -> AssignmentName:
        found = _ASSIGNMENT_ID.match(assignment_id)
        if found is None:
            raise ConfigError(
                tr(ja=f"課題 ID {assignment_id!r} は NN_n / NN_h の形ではありません",
                   en=f"assignment id {assignment_id!r} is not of the form NN_n or NN_h"),
                where="assignment_id",
                hint=tr(ja="14_n や 03_h のような ID にしてください",
                        en="use an id such as 14_n or 03_h"))
        return cls(int(found["lecture"]), found["level"])

    @property
    def id(self) -> str:
        return f"{self.lecture:02d}_{self.level}"

    @property
    def file_name(self) -> str:
        return f"{self.id}.ipynb"

    def place(self, stem: str) -> tuple[Match | None, str]:
        """How a normalised stem (copy marks gone) relates: NEAR, RENAMED, OTHER (with the
        other assignment's id) or ``None``."""
        whole = _TOKEN_ONLY.match(stem)
        tokens = ({_token(whole["lecture"], whole["level"])} if whole else
                  {_token(t["lecture"], t["level"]) for t in _TOKEN_ANY.finditer(stem)})
        if self.id in tokens:
            return (Match.NEAR if whole else Match.RENAMED), ""
        if tokens:
            return Match.OTHER, sorted(tokens)[0]
        return None, ""


_SEPARATORS = re.compile(r"[\s_\-.]+")


@dataclass(frozen=True)
class NamedFile:
    """Any other file name (``[assignment] file``, default ``<id>.ipynb``): near misses
    are the same name in another case, with other separators or with copy marks."""

    id: str
    file_name: str

    def place(self, stem: str) -> tuple[Match | None, str]:
        wanted = normalise_name(self.file_name[: -len(".ipynb")])
        if _SEPARATORS.sub("", stem) == _SEPARATORS.sub("", wanted):
            return Match.NEAR, ""
        parts = [re.escape(p) for p in _SEPARATORS.split(wanted) if p]
        among = re.compile(r"(?<![a-z0-9])" + r"[\s_\-.]*".join(parts) + r"(?![a-z0-9])")
        return (Match.RENAMED, "") if parts and among.search(stem) else (None, "")


FileRule = AssignmentName | NamedFile


def file_rule(assignment_id: str, file_name: str = "") -> FileRule:
    """The course rule for an ``NN_n``/``NN_h`` id submitted under its own name; the
    manifest's name for every other id or name."""
    check_id(assignment_id, where="assignment_id")
    default = f"{assignment_id}.ipynb"
    if _ASSIGNMENT_ID.fullmatch(assignment_id) and file_name in ("", default):
        return AssignmentName.parse(assignment_id)
    return NamedFile(assignment_id, file_name or default)


@dataclass(frozen=True)
class Classified:
    file: SubmittedFile
    match: Match
    generation: int = 0      # copy generation (Copy of Copy of ... = 2)
    number: int = 0          # copy number: (2) -> 2
    other_id: str = ""       # for Match.OTHER: the assignment the name points to

    def sort_key(self) -> tuple[int, int, int, int, int, tuple[int, ...], str]:
        # an empty file is never chosen over one with something in it
        depth = self.file.relpath.count("/")
        return (self.file.size == 0, int(self.match), depth, -self.generation, -self.number,
                tuple(-x for x in self.file.date_time), self.file.relpath)


def normalise_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().lower()


def _strip_copy_marks(stem: str) -> tuple[str, int, int]:
    generation = number = 0
    changed = True
    while changed:
        changed = False
        for pattern, is_generation in _COPY_MARKS:
            found = pattern.search(stem)
            if found is None or found.end() - found.start() == 0:
                continue
            stem = (stem[:found.start()] + stem[found.end():]).strip()
            generation += is_generation
            if found.groupdict().get("n"):
                number = max(number, int(found["n"]))
            changed = True
    return stem, generation, number


def _token(lecture: str, level: str) -> str:
    return f"{int(lecture):02d}_{level}"


def classify(file: SubmittedFile, target: FileRule) -> Classified:
    """Where ``file`` stands for the assignment ``target`` (see the module docstring)."""
    base = PurePosixPath(file.relpath).name
    if base == target.file_name:
        return Classified(file, Match.EXACT)
    name = normalise_name(base)
    kind = "ipynb" if name.endswith(".ipynb") else "py" if name.endswith(".py") else ""
    if not kind:
        return Classified(file, Match.IGNORED)
    stem, generation, number = _strip_copy_marks(name[: -len(kind) - 1].strip())
    match, other_id = target.place(stem)
    if match in (Match.NEAR, Match.RENAMED):
        return Classified(file, Match.PY if kind == "py" else match, generation, number)
    if match is Match.OTHER:
        return Classified(file, Match.OTHER, generation, number, other_id=other_id)
    return Classified(file, Match.UNNAMED if kind == "ipynb" else Match.IGNORED)


@dataclass
class Decision:
    status: FileStatus
    chosen: Classified | None = None
    notices: list[Notice] = field(default_factory=list)


def decide(files: Sequence[SubmittedFile], *, assignment_id: str,
           file_name: str = "") -> Decision:
    """Choose the one file to grade for a participant, with the notices to show
    (``file_name``: the manifest's ``[assignment] file``, default ``<id>.ipynb``)."""
    target = file_rule(assignment_id, file_name)
    ranked = sorted((classify(f, target) for f in files), key=Classified.sort_key)
    named = [c for c in ranked if c.match <= Match.PY]
    unnamed = [c for c in ranked if c.match is Match.UNNAMED]
    others = [c for c in ranked if c.match is Match.OTHER]
    pool = named or ([] if others else unnamed)
    if pool:
        best = _newer_upload(pool)
        notices = _choice_notices(best, ranked, target)
        return Decision(FileStatus.OK, best, notices)
    if others:
        return Decision(FileStatus.WRONG_ASSIGNMENT, others[0],
                        [wrong_assignment_notice(others[0], target)])
    return Decision(FileStatus.MISSING, None, [missing_notice(files, target)])


# Uploads this far apart were made at different times (a zip's time stamps are the files'
# upload times, give or take the seconds it takes Moodle to write the zip)
_LATER_UPLOAD = datetime.timedelta(minutes=10)


def _newer_upload(pool: list[Classified]) -> Classified:
    """The first of ``pool`` (ranked by name), unless another file named for the assignment
    beside it was uploaded clearly later: ``14_n (1).ipynb`` uploaded on Thursday over the
    ``14_n.ipynb`` of Monday is the student's last version (a browser names a second
    download so). Only files with something in them, in the same folder."""
    best = pool[0]
    folder = best.file.relpath.rpartition("/")[0]
    close = [c for c in pool if c.match <= Match.RENAMED and c.file.size > 0
             and c.file.relpath.rpartition("/")[0] == folder]
    newest = max(close, key=lambda c: _when(c.file), default=best)
    return newest if _when(newest.file) - _when(best.file) >= _LATER_UPLOAD else best


def _when(file: SubmittedFile) -> datetime.datetime:
    try:
        return datetime.datetime(*file.date_time)
    except ValueError:  # a time stamp no calendar has: as if unknown
        return datetime.datetime(1980, 1, 1)


def _choice_notices(best: Classified, ranked: list[Classified],
                    target: FileRule) -> list[Notice]:
    notices: list[Notice] = []
    candidates = [c for c in ranked if c.match < Match.OTHER]
    if len(candidates) > 1:
        notices.append(several_files_notice(best, candidates))
    if best.match in (Match.NEAR, Match.RENAMED, Match.UNNAMED):
        notices.append(misnamed_notice(best, target))
    return notices


def _quoted(paths: Sequence[str], lang: str) -> str:
    if lang == "ja":
        return "、".join(f"「{p}」" for p in paths)
    return ", ".join(f"“{p}”" for p in paths)


def several_files_notice(best: Classified, candidates: Sequence[Classified]) -> Notice:
    chosen = best.file.relpath
    paths = [c.file.relpath for c in candidates]
    return Notice(
        "multiple_files",
        f"採点対象になりうるファイルが {len(candidates)} 個ありました ({_quoted(paths, 'ja')})。"
        f"「{chosen}」を採点しました (指定の名前に最も近く、最も新しいと思われるもの)。",
        f"{len(candidates)} files could be graded ({_quoted(paths, 'en')}); “{chosen}” was "
        "graded (the closest to the required name and the newest-looking).")


def misnamed_notice(best: Classified, target: FileRule) -> Notice:
    name, want = best.file.relpath, target.file_name
    if best.match is Match.UNNAMED:
        ja = (f"ファイル名「{name}」からはどの課題か分かりませんでしたが、ほかに候補がないため "
              f"{target.id} として採点しました。")
        en = (f"The name “{name}” does not say which assignment it is; as there was nothing "
              f"else, it was graded as {target.id}.")
    else:
        ja = (f"ファイル名「{name}」は指定の「{want}」と異なりますが、"
              f"{target.id} として採点しました。")
        en = f"The file “{name}” is not named “{want}” as required; it was graded as {target.id}."
    return Notice("misnamed", ja + f"次回は「{want}」という名前で提出してください。",
                  en + f" Please name it “{want}” next time.")


def converted_notice(name: str, target: FileRule) -> Notice:
    return Notice(
        "converted_py",
        f"「{name}」は Python スクリプト (.py) だったため、ノートブックに変換して採点しました。"
        f"セルの区切りやノートブック内のテストが失われている場合があります。次回は "
        f"「{target.file_name}」(ファイル ▸ ダウンロード ▸ .ipynb) を提出してください。",
        f"“{name}” is a Python script (.py); it was converted to a notebook and graded. Cell "
        f"boundaries and in-notebook tests may have been lost. Next time submit "
        f"“{target.file_name}” (File ▸ Download ▸ Download .ipynb).")


def wrong_assignment_notice(other: Classified, target: FileRule) -> Notice:
    name = other.file.relpath
    return Notice(
        "wrong_assignment",
        f"「{name}」は別の課題 ({other.other_id}) のファイルのようです。"
        f"{target.id} としては採点していません。提出先を間違えていないか確認してください。",
        f"“{name}” looks like another assignment's file ({other.other_id}); it was not graded "
        f"as {target.id}. Check that it was submitted to the right assignment.")


def missing_notice(files: Sequence[SubmittedFile], target: FileRule) -> Notice:
    if not files:
        return Notice("missing", f"{target.id} のノートブックが提出されていません。",
                      f"No {target.id} notebook was submitted.")
    paths = [f.relpath for f in files]
    return Notice(
        "missing",
        f"採点できるファイルがありません (提出されたファイル: {_quoted(paths, 'ja')})。"
        f"「{target.file_name}」を提出してください。",
        f"Nothing gradable was submitted (files: {_quoted(paths, 'en')}). "
        f"Please submit “{target.file_name}”.")
