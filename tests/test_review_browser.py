"""The review page end to end in a real browser: Debian's ``chromium`` driven by Playwright
(PyPI ``playwright``, launched with the system executable; ``playwright install`` is never
needed). Two 04_n submissions are graded for real; ``autograder review`` serves the page;
the browser grades two answers with the keyboard, reloads and finds them kept; ``adjust``
changes the other participant's total; the exported Moodle worksheet carries all of it.

Skipped where chromium, playwright or bubblewrap is missing (``make system-deps`` installs
chromium and bubblewrap, ``pip install -e '.[dev]'`` playwright). With
``AUTOGRADER_REVIEW_SCREENSHOT=/path.png`` the test also saves its screenshot there.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.engine.kernel.sandbox import bwrap_available

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = HERE / "assignments"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
          "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
          "Feedback comments"]
WHEN = "Monday, 23 November 2026, 10:00 AM"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium (make system-deps)"),
    pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (dev extras)")


def _submissions(path: Path) -> None:
    """Moodle's "Download all submissions" zip: 山田 太郎 (1001) answers in Japanese with
    a plot; 佐藤 花子 (1002) sends nbgrader's "changed" case."""
    changed = HERE / "notebooks" / "nbgrader_cases" / "changed.ipynb"
    nb = nbformat.read(changed, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    cells["baz"].source = ("a を 1 にしたのは、テストセル bar が `a == 1` を確かめるからです。"
                           "<b>太字</b>にはなりません。")
    cells["quux"].source = ("# YOUR CODE HERE\nimport matplotlib.pyplot as plt\nb = 2\n"
                            "plt.figure(figsize=(3, 2))\nplt.plot([0, 1, 2], [0, b, 2 * b])\n"
                            "plt.title('b = 2a')\nplt.show()\nprint('b =', b)")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("山田 太郎_1001_assignsubmission_file/04_n.ipynb", nbformat.writes(nb))
        zf.writestr("佐藤 花子_1002_assignsubmission_file/04_n.ipynb", changed.read_bytes())


def _worksheet(path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for pid, name in (("1001", "山田 太郎"), ("1002", "佐藤 花子")):
            writer.writerow([f"Participant {pid}", name, f"{pid}@example.ac.jp",
                             "Submitted for grading", "", "100.00", "Yes", WHEN, "-", ""])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder", "--lang", "ja", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from autograder.grading.batch import grade

    tmp = tmp_path_factory.mktemp("review")
    _submissions(tmp / "moodle.zip")
    _worksheet(tmp / "worksheet.csv")
    summary = grade(assignment_id="04_n", submissions=[tmp / "moodle.zip"], out=tmp / "out",
                    gradebook=tmp / "gb.sqlite", jobs=2, assignments_root=ASSIGNMENTS,
                    lang="ja")
    assert summary.provisional == 2
    return {"tmp": tmp, "gradebook": tmp / "gb.sqlite"}


class _ReviewCommand:
    """``autograder review`` in a child process, as an instructor runs it."""

    def __init__(self, gradebook: Path):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder", "--lang", "ja", "review", "04_n",
             "--gradebook", str(gradebook), "--assignments", str(ASSIGNMENTS), "--by", "先生"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if line.startswith("http://"):
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(120):
            self.stop()
            pytest.fail("autograder review printed no URL:\n" + "".join(self.lines))
        self.url = next(x.strip() for x in self.lines if x.startswith("http://"))

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        return " ".join("".join(self.lines).split())


def _grade_two_answers(page: Any) -> None:
    """Keyboard only: type, Tab, Enter; the page moves on to the next answer itself."""
    page.wait_for_function("document.activeElement.id === 'points-1'")  # first waiting
    page.keyboard.type("1.5")
    page.keyboard.press("Tab")
    page.keyboard.type("理由がよく書けています")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # in the comment: saves
    assert "保存しました: 山田 太郎 (1001) — baz: 1.5 点" in page.inner_text("[role=status]")
    page.wait_for_function("document.activeElement.id === 'points-2'")  # the next one
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    page.keyboard.type("図もあって分かりやすい")
    page.keyboard.press("Shift+Enter")  # a new line, not a save
    page.keyboard.type("二行目")
    page.keyboard.press("Tab")  # the save button
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _check_kept(page: Any) -> None:
    page.reload()
    items = page.locator("section.item")
    assert items.count() == 4
    assert "確認待ち 2 件 / 全 4 件" in page.inner_text(".bar")
    first, second = items.nth(0), items.nth(1)
    assert "採点済み: 1.5 / 2 · 先生" in first.locator(".badge").inner_text()
    assert first.locator("input[name=points]").input_value() == "1.5"
    assert first.locator("textarea").input_value() == "理由がよく書けています"
    assert "採点済み: 3 / 3" in second.locator(".badge").inner_text()
    assert second.locator("textarea").input_value() == "図もあって分かりやすい\n二行目"
    assert items.nth(2).get_attribute("class") == "item waiting"
    assert "Alt+↓" in page.inner_text(".bar")
    assert second.locator("img").count() == 1  # the student's plot, a verified PNG
    assert "<b>太字</b>" in first.locator("pre").first.inner_text()  # shown, not rendered
    page.locator("h1").click()
    page.keyboard.press("n")
    page.keyboard.press("Alt+ArrowDown")
    assert page.evaluate("document.activeElement.id") == "points-2"


def test_review_page_in_chromium_end_to_end(course: dict[str, Path], tmp_path: Path) -> None:
    server = _ReviewCommand(course["gradebook"])
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="ja-JP")
            page.goto(server.url)
            assert page.title().startswith("手動採点")
            _grade_two_answers(page)
            _check_kept(page)
            shot = tmp_path / "review-page.png"
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("AUTOGRADER_REVIEW_SCREENSHOT"):
                shutil.copy(shot, os.environ["AUTOGRADER_REVIEW_SCREENSHOT"])
            assert page.goto(server.url.split("?")[0]).status == 403  # no token
            browser.close()
    finally:
        said = server.stop()
    assert "確認待ち 4 件 / 全 4 件" in said and "確認待ちは残り 2 件です" in said
    _adjust_and_export(course)


def _adjust_and_export(course: dict[str, Path]) -> None:
    gb, tmp = str(course["gradebook"]), course["tmp"]
    adjusted = _cli("adjust", "04_n", "1002", "--points", "+1", "--comment", "口頭試問で補足",
                    "--by", "先生", "--gradebook", gb, "--assignments", str(ASSIGNMENTS))
    assert adjusted.returncode == 0, adjusted.stderr
    assert "1002: 2 → 3 / 7 点 (+1、先生、" in " ".join(adjusted.stdout.split())
    exported = _cli("export", "04_n", "--worksheet", str(tmp / "worksheet.csv"), "--out",
                    str(tmp / "export"), "--gradebook", gb, "--assignments", str(ASSIGNMENTS))
    assert exported.returncode == 0, exported.stderr
    assert "採点者の確認待ちの解答が 1 人分 2 件あります" in " ".join(exported.stdout.split())
    with (tmp / "export" / "worksheet.csv").open(encoding="utf-8-sig") as fh:
        rows = {r["Identifier"]: r for r in csv.DictReader(fh)}
    taro, hanako = rows["Participant 1001"], rows["Participant 1002"]
    assert taro["Grade"] == "92.86"  # (2 + 1.5 + 3) / 7, scaled to 100
    assert "理由がよく書けています" in taro["Feedback comments"]
    assert "図もあって分かりやすい" in taro["Feedback comments"]
    assert hanako["Grade"] == "42.86"  # (2 + 1) / 7
    assert "合計点の調整: +1 — 口頭試問で補足" in hanako["Feedback comments"]
    assert "採点者の確認待ち (暫定)" in hanako["Feedback comments"]
    feedback = (tmp / "export" / "feedback" / "1001" / "04_n.html").read_text()
    assert "理由がよく書けています" in feedback and "採点者が採点" in feedback
