"""``autograder review ID``: grade by hand what waits for a person, in a local page.

Serves the page (``review_server``) until interrupted; each grade is saved to the
gradebook as it is entered. The library function blocks; ``on_ready`` receives the
running server (its ``url`` carries the token) before it starts serving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.config import load_assignment
from ..core.i18n import Lang, default_lang
from ..core.paths import assignments_dir, default_gradebook
from ..core.safetext import clean
from ..store.gradebook import Gradebook
from ..store.hand_grades import os_user
from .server import ReviewServer


@dataclass(frozen=True)
class ReviewCounts:
    waiting: int
    total: int


def review(*, assignment_id: str, gradebook: Path | None = None, port: int = 0,
           reviewer: str | None = None, lang: Lang | None = None,
           assignments_root: Path | None = None,
           on_ready: Callable[[ReviewServer, ReviewCounts], None] | None = None
           ) -> ReviewCounts:
    """Serve the review page on 127.0.0.1 until Ctrl+C; return what still waits then."""
    assignment = load_assignment(assignment_id, assignments_root or assignments_dir())
    gb_path = gradebook or default_gradebook()
    with Gradebook(gb_path):  # a clear GradebookError now rather than on the first request
        pass
    server = ReviewServer(assignment=assignment, gradebook=gb_path, lang=lang or default_lang(),
                          reviewer=clean(reviewer or os_user()), port=port)
    try:
        if on_ready is not None:
            on_ready(server, counts(server))
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # the way to stop it: every grade is already saved
    finally:
        server.httpd.server_close()
    return counts(server)


def counts(server: ReviewServer) -> ReviewCounts:
    items = server.items()
    return ReviewCounts(sum(1 for i in items if i.pending), len(items))
