"""How a check ends other than by passing, and the text the student reads about it.

Checks fail with ``assert cond, "message"`` or ``fail(ja=..., en=...)``, award part of
their points with ``partial(fraction, ja=..., en=...)``, and record a measured value
(the accuracy the grader computed) with ``record_metric``. ``student_message`` turns
whatever a check raised into one short line: never the check's source or a traceback.
"""

from __future__ import annotations

import contextvars
import logging
from typing import NoReturn

from ..core.errors import BridgeError
from ..core.i18n import Lang, tr

log = logging.getLogger(__name__)

_MAX_MESSAGE = 500


class CheckFailed(AssertionError):
    """A failed check with a message in both languages."""

    def __init__(self, *, ja: str, en: str | None = None):
        self.ja, self.en = ja, en if en is not None else ja
        super().__init__(self.ja)

    def text(self, lang: Lang | None = None) -> str:
        return tr(lang, ja=self.ja, en=self.en)


class Partial(Exception):
    """Ends a check with ``fraction`` (0..1) of its points."""

    def __init__(self, fraction: float, *, ja: str = "", en: str | None = None):
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"partial credit must be within [0, 1], got {fraction!r}")
        self.fraction = float(fraction)
        self.ja, self.en = ja, en if en is not None else ja
        super().__init__(self.ja)

    def text(self, lang: Lang | None = None) -> str:
        return tr(lang, ja=self.ja, en=self.en)


class CheckTimeout(BaseException):
    """The check ran past its time limit (a BaseException, so ``except Exception`` in a
    check cannot swallow it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"check exceeded {seconds:g} s")


def fail(*, ja: str, en: str | None = None) -> NoReturn:
    """Fail the running check with this message (Japanese, English)."""
    raise CheckFailed(ja=ja, en=en)


def partial(fraction: float, *, ja: str = "", en: str | None = None) -> NoReturn:
    """End the running check with ``fraction`` of its points and this message."""
    raise Partial(fraction, ja=ja, en=en)


_metric: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "autograder_check_metric", default=None)


def record_metric(value: float) -> None:
    """Store a measured value (e.g. accuracy) with the running check's result."""
    slot = _metric.get()
    if slot is not None:
        slot[:] = [float(value)]


def metric_slot() -> tuple[list[float], contextvars.Token[list[float] | None]]:
    slot: list[float] = []
    return slot, _metric.set(slot)


def reset_metric(token: contextvars.Token[list[float] | None]) -> None:
    _metric.reset(token)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def student_message(exc: BaseException, *, lang: Lang | None = None) -> str:
    """One line for the student about why a check did not pass."""
    if isinstance(exc, CheckTimeout):
        return tr(lang, ja=f"時間制限 ({exc.seconds:g} 秒) を超えました",
                  en=f"the check ran past its time limit ({exc.seconds:g} s)")
    if isinstance(exc, CheckFailed | Partial):
        return _clip(exc.text(lang))
    describe = getattr(exc, "student_message", None)
    if callable(describe):
        return _clip(str(describe(lang)))
    if isinstance(exc, BridgeError):
        log.warning("bridge failure in a check: %s", exc)
        return tr(lang, ja="提出物のカーネルから正しい応答が得られませんでした",
                  en="the submission's kernel did not answer properly")
    if isinstance(exc, AssertionError):
        text = str(exc.args[0]) if exc.args else ""
        return _clip(text) or tr(lang, ja="チェックに合格しませんでした",
                                 en="the check did not pass")
    msg = getattr(exc, "msg", None)  # pytest.fail / pytest.skip outcomes
    if isinstance(msg, str) and msg:
        return _clip(msg)
    log.warning("check raised %s", type(exc).__name__, exc_info=exc)
    return tr(lang, ja=f"チェックを完了できませんでした ({type(exc).__name__})",
              en=f"the check could not complete ({type(exc).__name__})")
