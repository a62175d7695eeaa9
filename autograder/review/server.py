"""The review page's local web server (stdlib ``http.server``, no framework).

It listens on 127.0.0.1 only, on a port the OS picks unless told, and answers only
requests that carry its random token (``?token=``, 256 bits, compared in constant time)
and a ``Host`` of 127.0.0.1 or localhost on its port (a page elsewhere in the browser
cannot find the token, and DNS rebinding cannot pass the host check). Each save is one
form POST, validated against the gradebook as it is now (the answer must still be the
one shown, points within 0..max) and recorded in one transaction; the browser is then
sent back to the page at the next answer waiting for review (POST, then redirect).

Every page is sent with a ``Content-Security-Policy`` that allows only ``data:`` images
and the page's own nonce'd style and script, ``Referrer-Policy: no-referrer`` (the token
is in the URL) and ``Cache-Control: no-store``. Requests are not logged: their lines
carry the token.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..core.config import Assignment
from ..core.i18n import Lang, tr
from ..core.results import Review
from ..core.safetext import clean
from ..store.gradebook import Gradebook
from .items import ReviewItem, collect_items, find_item
from .page import FormError, fmt, render_page

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024
MAX_COMMENT = 4000


@dataclass(frozen=True)
class Response:
    status: int
    html: str = ""
    location: str = ""
    nonce: str = ""      # of the page's own style and script (the CSP allows only these)


class ReviewServer:
    """One assignment's review page for one person; ``serve_forever`` until ``shutdown``."""

    def __init__(self, *, assignment: Assignment, gradebook: Path, lang: Lang,
                 reviewer: str, port: int = 0):
        self.assignment, self.gradebook, self.lang = assignment, gradebook, lang
        self.reviewer = reviewer
        self.token = secrets.token_urlsafe(32)
        self.httpd = _Server((HOST, port), _Handler)
        self.httpd.app = self

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (from another thread) and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def items(self) -> list[ReviewItem]:
        with Gradebook(self.gradebook) as gb:
            return collect_items(gb, self.assignment)

    # --- the two requests --------------------------------------------------------
    def allowed(self, host: str | None, query: dict[str, list[str]]) -> bool:
        given = (query.get("token") or [""])[0]
        hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        return hmac.compare_digest(given.encode(), self.token.encode()) and host in hosts

    def page(self, query: dict[str, list[str]], error: FormError | None = None,
             status: int = HTTPStatus.OK) -> Response:
        items = self.items()
        focus = error.position if error else _int(query.get("focus"))
        saved = _int(query.get("saved"))
        note = self._saved_text(items[saved - 1]) if saved and 0 < saved <= len(items) else ""
        nonce = secrets.token_urlsafe(16)
        return Response(status, render_page(
            items=items, assignment_title=self.assignment.title(self.lang), token=self.token,
            nonce=nonce, lang=self.lang, focus=focus, saved=note, error=error), nonce=nonce)

    def save(self, form: dict[str, list[str]]) -> Response:
        field = {k: (v or [""])[0] for k, v in form.items()}
        position = _int([field.get("position", "")]) or 0
        points_text, comment = field.get("points", ""), field.get("comment", "")
        with Gradebook(self.gradebook) as gb:
            items = collect_items(gb, self.assignment)
            item = find_item(items, _int([field.get("submission", "")]) or -1,
                             field.get("grade_id", ""))
            problem = self._problem(item, field.get("answer", ""), points_text, comment)
            if problem or item is None:
                return self.page({}, FormError(position, problem or "?", points_text,
                                               comment), HTTPStatus.BAD_REQUEST)
            gb.save_review(assignment=self.assignment.id, participant=item.participant,
                           review=Review(item.grade_id, item.answer_sha256,
                                         float(points_text), item.max_points,
                                         clean(comment), self.reviewer, time.time()))
        nxt = _next_pending(items, position)
        query = urlencode({"token": self.token, "focus": nxt, "saved": position})
        # no #fragment: Chromium skips ``autofocus`` on a page opened at a fragment
        return Response(HTTPStatus.SEE_OTHER, location=f"/?{query}")

    def _problem(self, item: ReviewItem | None, answer: str, points: str,
                 comment: str) -> str:
        """Why a save is refused ("" when it is fine)."""
        if item is None or item.answer_sha256 != answer:
            return tr(self.lang, ja="この解答は採点し直されて変わりました。ページを読み込み直して"
                                    "ください", en="this answer changed since the page was"
                                                   " loaded: reload the page")
        value = _float(points)
        if value is None or not 0.0 <= value <= item.max_points:
            return tr(self.lang, ja=f"点数は 0〜{fmt(item.max_points)} の数で入力してください",
                      en=f"points must be a number from 0 to {fmt(item.max_points)}")
        if len(comment) > MAX_COMMENT:
            return tr(self.lang, ja=f"コメントは {MAX_COMMENT} 文字までです",
                      en=f"a comment has at most {MAX_COMMENT} characters")
        return ""

    def _saved_text(self, item: ReviewItem) -> str:
        if item.pending:
            return ""
        return tr(self.lang,
                  ja=f"保存しました: {item.label} — {item.grade_id}: {fmt(item.points)} 点",
                  en=f"saved: {item.label} — {item.grade_id}: {fmt(item.points)} points")


def _next_pending(items: list[ReviewItem], position: int) -> int:
    """The 1-based position of the next answer still waiting after ``position`` (wrapping
    round), or the next one at all when none waits."""
    n = len(items)
    for step in range(1, n + 1):
        at = (position - 1 + step) % n
        if items[at].pending and at != position - 1:
            return at + 1
    return min(position + 1, n) if n else 1


def _int(values: list[str] | None) -> int | None:
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _Server(ThreadingHTTPServer):
    # Chromium opens spare connections it may never use: each request has its own thread
    # (and its own gradebook connection), so an idle one never holds up the page.
    daemon_threads = True
    app: ReviewServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "autograder-review"
    sys_version = ""
    timeout = 30

    def do_GET(self) -> None:  # http.server names them
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        app = self.server.app
        if not app.allowed(self.headers.get("Host"), query):
            return self._send(Response(HTTPStatus.FORBIDDEN, _forbidden(app.lang)))
        if url.path != "/":
            return self._send(Response(HTTPStatus.NOT_FOUND, "not found"))
        self._send(app.page(query))

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        app = self.server.app
        if not app.allowed(self.headers.get("Host"), parse_qs(url.query)):
            return self._send(Response(HTTPStatus.FORBIDDEN, _forbidden(app.lang)))
        if url.path != "/save":
            return self._send(Response(HTTPStatus.NOT_FOUND, "not found"))
        form = self._form()
        if form is None:
            return self._send(Response(HTTPStatus.BAD_REQUEST, "bad form"))
        self._send(app.save(form))

    def _form(self) -> dict[str, list[str]] | None:
        kind = self.headers.get("Content-Type", "").split(";")[0].strip()
        length = _int([self.headers.get("Content-Length", "")])
        if kind != "application/x-www-form-urlencoded" or length is None or \
                not 0 <= length <= MAX_BODY:
            return None
        try:
            return parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True,
                            max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            return None

    def _send(self, response: Response) -> None:
        body = response.html.encode("utf-8")
        self.send_response(response.status)
        if response.location:
            self.send_header("Location", response.location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _csp(response.nonce))
        for name, value in _HEADERS:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request line carries the token."""


_HEADERS = (("Referrer-Policy", "no-referrer"), ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"), ("X-Frame-Options", "DENY"))


def _csp(nonce: str) -> str:
    own = f"'nonce-{nonce}'" if nonce else "'none'"
    return (f"default-src 'none'; img-src data:; style-src {own}; script-src {own};"
            " form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _forbidden(lang: Lang) -> str:
    return tr(lang, ja="このページを開くには autograder review が表示した URL (token 付き)"
                       " を使ってください", en="open the URL autograder review printed (with"
                                               " its token)")
