"""The review page's server, without a browser: who may ask, what the page shows of the
student's notebook, and what a save records (real SQLite, real HTTP on 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from autograder.core.config import load_assignment
from autograder.core.results import CheckResult, Status, SubmissionResult
from autograder.engine.cells.scores import answer_hash
from autograder.review.server import ReviewServer
from autograder.store.gradebook import Gradebook

HERE = Path(__file__).resolve().parent
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAFElEQVR4nGM8ISfHAANMDEgAhQMAJtoBCkAA"
       "Ow8AAAAASUVORK5CYII=")
GIF = "R0lGODdhBAADAIEAAMgeHgAAAAAAAAAAACwAAAAABAADAAAICAABCBxIUGBAADs="
BAZ = "<script>alert('baz')</script> a は 1 です"
QUUX = "b = 2\nprint('hi')"


def _cell(kind: str, gid: str, source: str, outputs: list[dict[str, object]] | None = None
          ) -> dict[str, object]:
    cell: dict[str, object] = {"cell_type": kind, "source": source, "id": gid,
                               "metadata": {"nbgrader": {"grade_id": gid}}}
    if kind == "code":
        cell.update(outputs=outputs or [], execution_count=1)
    return cell


def _executed() -> str:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "hi\x1b[2J\n"},
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": "<script>evil()</script>", "text/plain": "<Figure size>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": GIF}},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad <b>", "traceback": []},
    ]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        _cell("markdown", "baz", BAZ), _cell("code", "quux", QUUX, outputs)]})


def _result(baz: str = BAZ) -> SubmissionResult:
    return SubmissionResult("1001", "04_n.ipynb", "sha-1", Status.GRADED, checks=[
        CheckResult("cell:foo", 1, 1, True, kind="cell"),
        CheckResult("manual:baz", 0, 2, False, kind="manual", review_state="pending",
                    answer_sha256=answer_hash(baz)),
        CheckResult("manual:quux", 0, 3, False, kind="manual", review_state="pending",
                    answer_sha256=answer_hash(QUUX))], executed_notebook=_executed())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReviewServer]:
    gb_path = tmp_path / "gb.sqlite"
    with Gradebook(gb_path) as gb:
        sid = gb.add_submission(assignment="04_n", participant="1001", file="04_n.ipynb",
                                sha256="sha-1", content=b"{}", participant_name="山田 太郎")
        gb.save_result(sid, _result())
    app = ReviewServer(assignment=load_assignment("04_n", HERE / "assignments"),
                       gradebook=gb_path, lang="ja", reviewer="先生")
    thread = threading.Thread(target=app.serve_forever, daemon=True)
    thread.start()
    yield app
    app.shutdown()
    thread.join(10)


def _ask(app: ReviewServer, method: str, path: str, body: dict[str, str] | None = None,
         host: str | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{app.port}"}
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, text


def _page(app: ReviewServer) -> str:
    status, headers, text = _ask(app, "GET", f"/?token={app.token}")
    assert status == 200
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    return text


def test_only_the_token_and_a_local_host_get_in(server: ReviewServer) -> None:
    assert urlsplit(server.url).hostname == "127.0.0.1"
    assert server.httpd.server_address[0] == "127.0.0.1"
    for path in ("/", "/?token=", f"/?token={server.token[:-1]}x", "/save"):
        assert _ask(server, "GET", path)[0] == 403
    assert _ask(server, "GET", f"/?token={server.token}", host="evil.example")[0] == 403
    assert _ask(server, "POST", "/save", {"points": "1"})[0] == 403
    assert _ask(server, "GET", f"/other?token={server.token}")[0] == 404


def test_the_page_shows_answers_escaped_and_only_verified_pngs(server: ReviewServer) -> None:
    page = _page(server)
    assert "&lt;script&gt;alert(&#39;baz&#39;)&lt;/script&gt; a は 1 です" in page
    assert "<script>alert" not in page and "evil()" not in page  # text/html never shown
    assert "&lt;Figure size&gt;" in page and "ValueError: bad &lt;b&gt;" in page
    assert "\x1b" not in page
    assert page.count("<img ") == 1 and f"data:image/png;base64,{PNG}" in page
    assert "採点基準: a を 1 にした理由" in page  # the rubric: the source notebook's cell
    assert "山田 太郎 (1001)" in page and "確認待ち 2 件 / 全 2 件" in page


def _save(app: ReviewServer, grade_id: str, points: str, *, answer: str | None = None,
          position: int = 1) -> tuple[int, dict[str, str], str]:
    with Gradebook(app.gradebook) as gb:
        sid = gb.latest_submissions("04_n")[0].id
    form = {"submission": str(sid), "grade_id": grade_id, "points": points,
            "answer": answer if answer is not None else answer_hash(BAZ if grade_id == "baz"
                                                                    else QUUX),
            "position": str(position), "comment": "よく書けています"}
    return _ask(app, "POST", f"/save?token={app.token}", form)


def _reviews(app: ReviewServer) -> int:
    with Gradebook(app.gradebook) as gb:
        return len(gb.reviews("04_n", "1001"))


@pytest.mark.parametrize("points", ["3", "-1", "abc", "", "nan", "inf"])
def test_a_save_out_of_range_is_refused_and_nothing_recorded(server: ReviewServer,
                                                             points: str) -> None:
    status, _, page = _save(server, "baz", points)
    assert status == 400 and "点数は 0〜2 の数で入力してください" in page
    assert _reviews(server) == 0


def test_a_save_for_another_answer_is_refused(server: ReviewServer) -> None:
    status, _, page = _save(server, "baz", "1", answer="0" * 64)
    assert status == 400 and "ページを読み込み直してください" in page
    assert _ask(server, "POST", f"/save?token={server.token}", None)[0] == 400  # no form
    assert _reviews(server) == 0


def test_a_save_is_recorded_and_leads_to_the_next_answer(server: ReviewServer) -> None:
    status, headers, _ = _save(server, "baz", "1.5")
    assert status == 303 and "focus=2" in headers["location"]
    with Gradebook(server.gradebook) as gb:
        (review,) = gb.reviews("04_n", "1001")
        res = gb.result(gb.latest_submissions("04_n")[0].id)
    assert (review.points, review.comment, review.by) == (1.5, "よく書けています", "先生")
    assert res is not None and res.score == 2.5 and res.provisional  # quux still waits
    page = _page(server)
    assert "確認待ち 1 件 / 全 2 件" in page and 'value="1.5"' in page
