"""The words of the Moodle intake: archive-level messages summed per kind, and the notices
each participant gets about their own files.

A hostile or broken zip can hold tens of thousands of stray or refused entries; the
instructor gets one line per kind (unmatched files, each reason of refusal) with the
first few names, never one line per entry. Every name is quoted with
``safetext.visible``, so nothing in it reaches a terminal as a control sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.results import Notice
from ..core.safetext import visible
from ..core.sizecap import refused_file
from .safezip import RefusedEntry, reason_text

SAMPLE = 3        # names quoted in a summed line
NAME_LIMIT = 120  # characters of one quoted name


def sample(names: Sequence[str], lang: str) -> str:
    """The first ``SAMPLE`` names, quoted, and how many more there are."""
    shown = [visible(n, limit=NAME_LIMIT) for n in names[:SAMPLE]]
    more = len(names) - len(shown)
    if lang == "ja":
        text = "、".join(f"「{n}」" for n in shown)
        return f"{text} ほか {more} 個" if more else text
    text = ", ".join(f"“{n}”" for n in shown)
    return f"{text} and {more} more" if more else text


def unmatched_notice(names: Sequence[str]) -> Notice:
    """Files in no participant's folder, summed into one line."""
    n = len(names)
    return Notice("unmatched",
                  f"どの参加者のフォルダにも入っていないファイル {n} 個を無視しました: "
                  f"{sample(names, 'ja')}",
                  f"{n} file{'s' if n > 1 else ''} in no participant's folder "
                  f"{'were' if n > 1 else 'was'} ignored: {sample(names, 'en')}")


def refused_notices(refused: Sequence[RefusedEntry]) -> list[Notice]:
    """One line per reason of refusal (in order of first appearance)."""
    by_reason: dict[str, list[RefusedEntry]] = {}
    for entry in refused:
        by_reason.setdefault(entry.reason, []).append(entry)
    return [_refused_line(reason, entries) for reason, entries in by_reason.items()]


def _refused_line(reason: str, entries: list[RefusedEntry]) -> Notice:
    if len(entries) == 1:
        return Notice(f"refused_{reason}", entries[0].message_ja, entries[0].message_en)
    ja, en = reason_text(reason)
    names = [e.name for e in entries]
    return Notice(f"refused_{reason}",
                  f"{len(entries)} 個のエントリを安全のため展開しませんでした ({ja}): "
                  f"{sample(names, 'ja')}",
                  f"{len(entries)} entries were not extracted, for safety ({en}): "
                  f"{sample(names, 'en')}")


def junk_notice(names: Sequence[str]) -> Notice:
    n = len(names)
    return Notice("junk_ignored",
                  f"OS やアーカイバが作るファイル {n} 個を無視しました: {sample(names, 'ja')}",
                  f"{n} files made by the OS or archiver were ignored: {sample(names, 'en')}")


def refused_file_notice(entry: RefusedEntry) -> Notice:
    """What a participant is told about one of their entries that was refused."""
    return refused_file(visible(entry.name, limit=NAME_LIMIT), entry.why_ja, entry.why_en)


def online_text_notice() -> Notice:
    return Notice("online_text_ignored",
                  "オンラインテキストの提出は採点対象外のため無視しました",
                  "the online text submission is not graded and was ignored")


def internal_error_notice(exc: BaseException) -> Notice:
    """A participant whose files made the intake fail: said, and the batch goes on."""
    what = visible(f"{type(exc).__name__}: {exc}", limit=200)
    return Notice("internal_error",
                  f"この提出の読み込み中に予期しないエラーが起きました ({what})。"
                  "採点できなかったため、担当教員に知らせてください",
                  f"an unexpected error occurred while reading this submission ({what}); it "
                  "could not be graded. Please tell your instructor")
