"""Safe extraction of an untrusted zip archive.

Nothing is ever written outside the extraction root. An entry is refused (and the rest
still extracted) when its name is absolute, climbs with ``..``, holds control characters,
is a symlink or other special file, is encrypted, duplicates another entry, is larger than
``ZipLimits.max_file_bytes`` (a notebook: ``max_notebook_bytes``, the cap loose files have
too) or compresses suspiciously well. Sizes are checked on the declared size first and
again on the bytes really written, since headers can lie. The whole archive is refused
(``UnsafeArchive``) when it has too many entries or its total size is above the limit:
those are zip bombs as a whole, and extracting part of one would only hide the problem.

Entry names: with the UTF-8 flag (bit 0x800) they are UTF-8. Without it, ``zipfile``
decodes them as CP437; we take the raw bytes back and read them as UTF-8 when they are
valid UTF-8 (macOS and 7-Zip write unflagged UTF-8), else as CP932 (what Japanese Windows
and Moodle's Japanese sites produce), else keep CP437. An Info-ZIP Unicode Path extra
field (0x7075) wins when its CRC matches the raw name. Names are NFC-normalised (macOS
writes NFD). ``zipfile`` cuts a name at its first NUL byte; we read the whole name
(``orig_filename``), so such a name is refused for its control character instead of
silently becoming another one.

Messages quote names with ``safetext.visible``: an escape sequence in a refused name is
shown (``\x1b[2J``), never sent to the instructor's terminal.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.errors import IntakeError, UnsafeArchive
from ..core.i18n import tr
from ..core.results import Notice
from ..core.safetext import visible
from ..core.sizecap import MAX_NOTEBOOK_BYTES, is_notebook_name, too_large

UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_UNICODE_PATH_EXTRA = 0x7075
_CHUNK = 1 << 20
# A name in the zip may be longer than the file system allows one (255 bytes): Moodle's
# flat layout puts the student's name, the id and a file name of up to 255 characters
# into one. Such a segment is written to disk under a shortened name (``_disk_name``);
# only an absurd one is refused.
_MAX_SEGMENT_BYTES = 2048
_DISK_SEGMENT_BYTES = 255


@dataclass(frozen=True)
class ZipLimits:
    """Upper bounds for one archive; defaults fit a class of a few hundred notebooks."""

    max_entries: int = 20_000
    max_total_bytes: int = 8 << 30
    max_file_bytes: int = 1 << 30
    max_notebook_bytes: int = MAX_NOTEBOOK_BYTES  # .ipynb / .py: what could be graded
    max_ratio: float = 200.0          # uncompressed / compressed, checked above ratio_floor
    ratio_floor_bytes: int = 4 << 20  # small files may compress as well as they like


@dataclass(frozen=True)
class ExtractedFile:
    name: str        # the entry's decoded, normalised POSIX path inside the archive
    path: Path       # where it was written
    size: int
    date_time: tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class RefusedEntry:
    name: str        # decoded name (as far as it could be decoded)
    reason: str      # machine-readable: traversal, absolute, symlink, special, bomb, ...
    detail: str = ""
    why: Notice | None = None  # the words for it when they are more than the reason's

    @property
    def shown_name(self) -> str:
        return visible(self.name)

    @property
    def why_ja(self) -> str:
        return self.why.message_ja if self.why else f"{_REASONS[self.reason][0]}{self._suffix}"

    @property
    def why_en(self) -> str:
        return self.why.message_en if self.why else f"{_REASONS[self.reason][1]}{self._suffix}"

    @property
    def message_ja(self) -> str:
        return f"{self.shown_name}: {self.why_ja}"

    @property
    def message_en(self) -> str:
        return f"{self.shown_name}: {self.why_en}"

    @property
    def message(self) -> str:
        return tr(ja=self.message_ja, en=self.message_en)

    @property
    def _suffix(self) -> str:
        return f" ({visible(self.detail)})" if self.detail else ""


@dataclass(frozen=True)
class Extraction:
    root: Path
    files: tuple[ExtractedFile, ...]
    refused: tuple[RefusedEntry, ...]
    folders: tuple[str, ...] = ()  # names of accepted folder entries (maybe empty folders)


def decode_entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as the archive's author meant it (see module docstring)."""
    whole = info.orig_filename  # ``filename`` stops at a NUL byte
    if info.flag_bits & UTF8_FLAG:
        name = whole
    else:
        raw = whole.encode("cp437")
        name = _unicode_path_extra(info, raw) or _decode_unflagged(raw)
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


def _decode_unflagged(raw: bytes) -> str:
    for encoding in ("utf-8", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("cp437")


def _unicode_path_extra(info: zipfile.ZipInfo, raw: bytes) -> str | None:
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4:pos + 4 + size]
        pos += 4 + size
        if tag != _UNICODE_PATH_EXTRA or len(body) < 5 or body[0] != 1:
            continue
        (crc,) = struct.unpack_from("<L", body, 1)
        if crc == zlib.crc32(raw):
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def open_archive(zip_path: Path) -> zipfile.ZipFile:
    """Open ``zip_path`` or raise ``IntakeError`` saying what the file really is."""
    if not zip_path.is_file():
        raise IntakeError(tr(ja="ファイルが見つかりません", en="file not found"),
                          where=str(zip_path), hint=_moodle_zip_hint())
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise IntakeError(tr(ja=f"zip として読めません ({_what_is(zip_path)}): {exc}",
                             en=f"not a readable zip ({_what_is(zip_path)}): {exc}"),
                          where=str(zip_path), hint=_hint_for(zip_path)) from exc


_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"Rar!", "RAR"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"\x1f\x8b", "gzip/tar.gz"),
    (b"<!DOCTYPE html", "HTML"), (b"<html", "HTML"), (b"{", "JSON"), (b"PK\x03\x04", "zip"),
)


def _what_is(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(64)
    if not head:
        return tr(ja="空のファイル", en="empty file")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for magic, kind in _MAGICS:
        if stripped.startswith(magic.lower()):
            return kind
    return tr(ja="形式不明", en="unknown format")


def _hint_for(path: Path) -> str:
    kind = _what_is(path)
    if kind == "HTML":
        return tr(ja="Moodle のログイン画面などが保存されています。"
                     "ログインし直してもう一度ダウンロードしてください",
                  en="this is a web page (a Moodle login page?): log in again and re-download")
    if kind == "zip":
        return tr(ja="zip が壊れているか途中までしかありません。もう一度ダウンロードしてください",
                  en="the zip is truncated or corrupt: download it again")
    return _moodle_zip_hint()


def _moodle_zip_hint() -> str:
    return tr(ja="Moodle の「すべての提出をダウンロードする」で得た zip を"
                 "そのまま指定してください",
              en="pass the zip exactly as downloaded from Moodle's “Download all submissions”")


def extract_safely(archive: zipfile.ZipFile, *, root: Path,
                   limits: ZipLimits | None = None, where: str = "") -> Extraction:
    """Extract every acceptable entry of ``archive`` below ``root`` (created, must be empty)."""
    limits = limits or ZipLimits()
    infos = archive.infolist()
    _check_archive_limits(infos, limits, where)
    _check_methods(infos, where)
    _prepare_root(root)
    files: list[ExtractedFile] = []
    refused: list[RefusedEntry] = []
    folders: list[str] = []
    duplicates = _duplicate_names(infos)
    budget = _Budget(limits)
    for info in infos:
        name = decode_entry_name(info)
        duplicate = name.rstrip("/") in duplicates
        problem = refusal(name, "duplicate") if duplicate else _entry_problem(info, name, limits)
        if problem is not None:
            refused.append(problem)
        elif info.is_dir():
            folders.append("/".join(safe_parts(name)))
        else:
            written = _write_entry(archive, info, name, root, budget)
            if isinstance(written, RefusedEntry):
                refused.append(written)
            else:
                files.append(written)
    return Extraction(root=root, files=tuple(files), refused=tuple(refused),
                      folders=tuple(folders))


def _check_archive_limits(infos: list[zipfile.ZipInfo], limits: ZipLimits, where: str) -> None:
    hint = tr(ja="正しい Moodle の zip か確認してください。"
                 "本当に大きい場合は ZipLimits を緩めてください",
              en="check that this is the Moodle zip; if it really is this large, raise ZipLimits")
    if len(infos) > limits.max_entries:
        raise UnsafeArchive(tr(ja=f"エントリ数 {len(infos)} が上限 {limits.max_entries} "
                                  "を超えています",
                               en=f"{len(infos)} entries, above the limit of {limits.max_entries}"),
                            where=where, hint=hint)
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise UnsafeArchive(tr(ja=f"展開後の合計 {total} バイトが上限 "
                                  f"{limits.max_total_bytes} を超えています (zip 爆弾の疑い)",
                               en=f"{total} bytes uncompressed, above the limit of "
                                  f"{limits.max_total_bytes} (zip bomb?)"),
                            where=where, hint=hint)


_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_METHOD_NAMES = {9: "Deflate64", 93: "Zstandard", 95: "XZ", 98: "PPMd", 99: "AES"}


def _check_methods(infos: list[zipfile.ZipInfo], where: str) -> None:
    """Moodle writes its zips with Deflate; another method (Windows Explorer's Deflate64
    for a large folder, 7-Zip's PPMd...) means someone re-made the zip, so every
    student's file would be refused alike: say so once, before anything is graded."""
    other = sorted({i.compress_type for i in infos} - _METHODS)
    if other:
        names = ", ".join(_METHOD_NAMES.get(m, f"method {m}") for m in other)
        raise IntakeError(
            tr(ja=f"zip が対応していない圧縮形式 ({names}) で作られています。Moodle の zip を"
                  "展開して作り直したもののようです",
               en=f"the zip uses a compression method this reader lacks ({names}): it looks"
                  " re-made, not Moodle's own"),
            where=where,
            hint=tr(ja="Moodle からダウンロードした zip をそのまま渡してください (作り直す"
                       "なら通常の Deflate で: `zip -r`、macOS の「圧縮」など)",
                    en="pass the zip as downloaded from Moodle (to re-make one, use plain"
                       " Deflate: `zip -r`, macOS's Compress...)"))


def _prepare_root(root: Path) -> None:
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise IntakeError(tr(ja="展開先がディレクトリではありません", en="not a directory"),
                          where=str(root), hint=tr(ja="別の作業ディレクトリを指定してください",
                                                   en="choose another work directory"))
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise IntakeError(tr(ja="展開先が空ではありません",
                             en="the extraction directory is not empty"),
                          where=str(root),
                          hint=tr(ja="新しい作業ディレクトリを指定するか、中身を消してください",
                                  en="use a new work directory or empty this one"))


def _duplicate_names(infos: list[zipfile.ZipInfo]) -> set[str]:
    """Names that occur more than once: every copy is refused, since none can be trusted."""
    seen: dict[str, int] = {}
    for info in infos:
        key = decode_entry_name(info).rstrip("/")
        seen[key] = seen.get(key, 0) + 1
    return {key for key, count in seen.items() if count > 1}


class _Refused(Exception):
    def __init__(self, reason: str, detail: str = "", why: Notice | None = None):
        super().__init__(reason)
        self.reason, self.detail, self.why = reason, detail, why


class _Budget:
    """What has really been written so far, against the archive-wide limit."""

    def __init__(self, limits: ZipLimits):
        self.limits, self.used = limits, 0


def safe_parts(name: str) -> tuple[str, ...]:
    """Path segments of an archive name; raises ``_Refused`` when the name is unsafe."""
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise _Refused("control")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _Refused("absolute")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise _Refused("traversal")
    if not parts or any(len(p.encode("utf-8")) > _MAX_SEGMENT_BYTES for p in parts):
        raise _Refused("bad_name")
    return parts


_REASONS = {
    "control": ("名前に制御文字が含まれています", "the name contains control characters"),
    "absolute": ("絶対パスです", "absolute path"),
    "traversal": ("「..」で展開先の外に出ようとしています", "path traversal with “..”"),
    "bad_name": ("名前が空か長すぎます", "empty or over-long name"),
    "symlink": ("シンボリックリンクは展開しません", "symbolic links are not extracted"),
    "special": ("通常のファイルではありません (デバイス・FIFO など)",
                "not a regular file (device, FIFO...)"),
    "encrypted": ("パスワード付きのエントリは展開できません",
                  "password-protected entries cannot be extracted"),
    "too_large": ("ファイルが大きすぎます", "the file is too large"),
    "notebook_too_large": ("ノートブックが大きすぎます", "the notebook is too large"),
    "bomb": ("圧縮率が異常に高く、zip 爆弾の疑いがあります",
             "suspicious compression ratio (zip bomb?)"),
    "corrupt": ("データが壊れています", "the data is corrupt"),
    "unsupported": ("対応していない圧縮形式です", "unsupported compression method"),
    "conflict": ("同じ場所に別のファイルやフォルダがあります",
                 "clashes with another file or folder"),
    "duplicate": ("同じ名前のエントリが複数あります。"
                  "どれが正しいか分からないため、どれも展開しません",
                  "several entries have this name; none was extracted, as none can be trusted"),
}


def reason_text(reason: str) -> tuple[str, str]:
    """(ja, en) words for a reason of refusal, without any one entry's details."""
    return _REASONS[reason]


def refusal(name: str, reason: str, detail: str = "", why: Notice | None = None
            ) -> RefusedEntry:
    return RefusedEntry(name, reason, detail, why)


def _entry_problem(info: zipfile.ZipInfo, name: str, limits: ZipLimits) -> RefusedEntry | None:
    try:
        safe_parts(name)
        _check_kind(info)
        _check_size(info.file_size, info, name, limits, declared=True)
    except _Refused as exc:
        return refusal(name, exc.reason, exc.detail, exc.why)
    return None


def _check_kind(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode) if info.create_system == 3 else 0
    if kind == stat.S_IFLNK:
        raise _Refused("symlink")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _Refused("special")
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise _Refused("encrypted")


def _check_size(size: int, info: zipfile.ZipInfo, name: str, limits: ZipLimits, *,
                declared: bool) -> None:
    """Refuse ``size`` bytes of ``info`` (declared, or written so far) when over a limit."""
    if not info.is_dir() and is_notebook_name(name) and size > limits.max_notebook_bytes:
        raise _Refused("notebook_too_large", why=too_large(
            size, limit=limits.max_notebook_bytes, at_least=not declared))
    if size > limits.max_file_bytes:
        raise _Refused("too_large")
    if _ratio_too_high(size, info.compress_size, limits):
        raise _Refused("bomb")


def _ratio_too_high(size: int, compressed: int, limits: ZipLimits) -> bool:
    return size > limits.ratio_floor_bytes and size > limits.max_ratio * max(compressed, 1)


def _write_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, root: Path,
                 budget: _Budget) -> ExtractedFile | RefusedEntry:
    parts = safe_parts(name)
    try:
        target = _make_dirs(root, parts[:-1]) / _disk_name(parts[-1])
        size = _copy_bounded(archive, info, target, budget)
    except _Refused as exc:
        return refusal(name, exc.reason, exc.detail, exc.why)
    except OSError as exc:
        return refusal(name, "conflict", exc.strerror or str(exc))
    return ExtractedFile(name="/".join(parts), path=target, size=size, date_time=info.date_time)


def _make_dirs(root: Path, parts: tuple[str, ...]) -> Path:
    """Create ``parts`` below ``root`` one level at a time, never following a link."""
    current = root
    for part in parts:
        current = current / _disk_name(part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise _Refused("conflict") from None
    return current


def _disk_name(part: str) -> str:
    """``part`` as a file or folder name on disk: itself, or, when longer than a file
    system allows, a digest of it with its extension (the same for every entry below it;
    the zip's own name is what intake reads)."""
    if len(part.encode("utf-8")) <= _DISK_SEGMENT_BYTES:
        return part
    suffix = PurePosixPath(part).suffix
    suffix = suffix if 1 < len(suffix.encode("utf-8")) <= 32 else ""
    return hashlib.sha256(part.encode("utf-8")).hexdigest() + suffix


def _copy_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path,
                  budget: _Budget) -> int:
    limits = budget.limits
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o644)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                # Headers can lie about sizes; count what really comes out.
                _check_size(written, info, target.name, limits, declared=False)
                if budget.used + written > limits.max_total_bytes:
                    raise _Refused("bomb")
                out.write(chunk)
    except NotImplementedError as exc:
        target.unlink(missing_ok=True)
        raise _Refused("unsupported", str(exc)) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as exc:
        target.unlink(missing_ok=True)
        raise _Refused("corrupt", str(exc)) from exc
    except _Refused:
        target.unlink(missing_ok=True)
        raise
    budget.used += written
    return written
