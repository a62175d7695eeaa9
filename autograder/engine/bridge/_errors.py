"""The bridge's limits and the errors it raises (a student's or the kernel's fault)."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass

from ...core.errors import AutograderError, BridgeError
from ...core.i18n import Lang, tr

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class BridgeLimits:
    """Bounds on one answer from the kernel (and on batches sent to it)."""

    max_answer_bytes: int = 16 << 20   # the JSON file
    max_bytes: int = 512 << 20         # arrays + strings in one answer
    max_depth: int = 32
    max_nodes: int = 200_000
    inline: int = 64                   # arrays up to this many elements travel inside JSON
    max_batch_bytes: int = 32 << 20    # model inputs sent per forward request

    def for_kernel(self) -> dict[str, int]:
        return {"max_bytes": self.max_bytes, "max_depth": self.max_depth,
                "max_nodes": self.max_nodes, "inline": self.inline}


def clip(text: str, limit: int = 300) -> str:
    """Untrusted text made safe to show: no control characters, bounded length."""
    text = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text.replace("\n", " ").strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _builtin_names(kind: type) -> frozenset[str]:

    return frozenset(n for n, v in vars(builtins).items()
                     if isinstance(v, type) and issubclass(v, kind))


# Names the kernel may report that carry nothing of the student's choosing: an exception
# or type name outside these shows as a generic word (a student-made class name could
# spell out a hidden input the student's code captured).
_BUILTIN_ERRORS = _builtin_names(BaseException)
_KNOWN_TYPES = _builtin_names(object) | frozenset({
    "Tensor", "Parameter", "ndarray", "Module", "Sequential", "ModuleList", "ModuleDict",
    "DataLoader", "Dataset", "Subset", "TensorDataset", "Figure", "Axes", "OrderedDict",
    "defaultdict", "Counter", "deque", "function", "method", "builtin_function_or_method",
    "generator", "NoneType", "module", "dtype", "device", "Size", "Generator",
    "Compose", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomCrop"})


def error_name(name: str) -> str:
    """A built-in exception name as reported by the kernel, or ``Exception``."""
    return name if name in _BUILTIN_ERRORS else "Exception"


def type_label(name: str) -> str:
    """A type name as reported by the kernel when it is a well-known one, else ``object``."""
    return name if name in _KNOWN_TYPES else "object"


# ---------------------------------------------------------------- errors

class StudentError(AutograderError):
    """Student code raised (or the notebook lacks what a check needs): a failed check."""

    context = "function"

    def __init__(self, *, what: str, error_name: str = "", error_message: str = "",
                 context: str | None = None):
        self.what = clip(what, 120)
        # Only the built-in exception type reaches the student: the text of an exception
        # raised by student code during a grader call could carry the grader's inputs.
        self.error_name = clip(error_name, 120)
        self.error_message = clip(error_message)
        self.context = context or self.context
        super().__init__(self.student_message("en"), where=self.what)

    def detail(self) -> str:
        return error_name(self.error_name)

    def student_message(self, lang: Lang | None = None) -> str:
        what, detail = self.what, self.detail()
        texts = {
            "function": (f"関数 {what} の実行中にエラー: {detail}",
                         f"error while running function {what}: {detail}"),
            "value": (f"{what} の取得中にエラー: {detail}",
                      f"error while reading {what}: {detail}"),
            "expression": (f"式 {what} の評価中にエラー: {detail}",
                           f"error while evaluating {what}: {detail}"),
            "model": (f"モデル {what} の実行中にエラー: {detail}",
                      f"error while running model {what}: {detail}"),
        }
        ja, en = texts.get(self.context, texts["function"])
        return tr(lang, ja=ja, en=en)


class MissingName(StudentError):
    """The notebook does not define a name a check needs."""

    def student_message(self, lang: Lang | None = None) -> str:
        return tr(lang, ja=f"`{self.what}` が定義されていません",
                  en=f"`{self.what}` is not defined")


class NotCallable(StudentError):
    def student_message(self, lang: Lang | None = None) -> str:
        kind = type_label(self.error_name)
        return tr(lang, ja=f"`{self.what}` は関数ではありません (型: {kind})",
                  en=f"`{self.what}` is not a function (type: {kind})")


class NotAModel(StudentError):
    def student_message(self, lang: Lang | None = None) -> str:
        kind = type_label(self.error_name)
        return tr(lang, ja=f"`{self.what}` は torch.nn.Module ではありません (型: {kind})",
                  en=f"`{self.what}` is not a torch.nn.Module (type: {kind})")


class ModelOutputError(StudentError):
    """The model's output is not one tensor with a row per input."""

    def __init__(self, *, what: str, got: str, batch: int | None = None):
        self.got, self.batch = clip(got, 120), batch
        super().__init__(what=what, context="model")

    def student_message(self, lang: Lang | None = None) -> str:
        if self.batch is None:
            return tr(lang, ja=f"モデル {self.what} の出力がテンソルではありません ({self.got})",
                      en=f"the output of model {self.what} is not a tensor ({self.got})")
        return tr(lang, ja=f"モデル {self.what} に {self.batch} 件の入力を与えると出力が "
                           f"{self.got} になりました (1 件につき 1 行のテンソルが必要です)",
                  en=f"model {self.what} returned {self.got} for a batch of {self.batch} "
                     f"(one row per input is needed)")


class _StudentFacing(BridgeError):
    """A bridge failure with a message meant for the student's feedback."""

    ja = en = ""

    def __init__(self, message: str, *, what: str = "", type_name: str = "",
                 hint: str | None = None):
        self.what, self.type_name = clip(what, 120), clip(type_name, 120)
        super().__init__(message, where=self.what or None, hint=hint)

    def student_message(self, lang: Lang | None = None) -> str:
        fields = {"what": self.what, "type": type_label(self.type_name)}
        return tr(lang, ja=self.ja.format(**fields), en=self.en.format(**fields))


class NotPlainData(_StudentFacing):
    ja = ("{what} の値 (型: {type}) は採点に使える形式 "
          "(数値・文字列・リスト・タプル・辞書・テンソル) ではありません")
    en = ("the value of {what} (type: {type}) is not plain data "
          "(numbers, strings, lists, tuples, dicts, tensors)")


class ValueTooLarge(_StudentFacing):
    ja = "{what} の値が大きすぎて受け取れません"
    en = "the value of {what} is too large to receive"


class SourceUnavailable(_StudentFacing):
    ja = "{what} のソースコードを取得できませんでした"
    en = "the source code of {what} is not available"


class AutogradOn(_StudentFacing):
    """A call the check wanted run with autograd switched off, which the kernel could not
    do (torch's inference mode tampered with, a torch mode active)."""

    ja = ("{what} を自動微分なしで実行できませんでした（実行中に推論モードを抜けたか、"
          "torch の推論モード・モード・フックが書き換えられています）")
    en = ("could not run {what} with autograd switched off (it left inference mode while "
          "it ran, or torch's inference mode, a torch mode or a hook was tampered with)")


class BridgeTimeout(_StudentFacing):
    ja = "{what} が時間内に終わりませんでした"
    en = "{what} did not finish in time"


class KernelDead(_StudentFacing):
    ja = "カーネルが停止しているため実行できませんでした"
    en = "the kernel is no longer running"


# ---------------------------------------------------------------- handles and proxies
