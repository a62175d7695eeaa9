"""Default locations shared by every command.

- dataset cache: ``$AUTOGRADER_DATA`` or ``<user cache dir>/dl-autograder/data``
- gradebook:     ``$AUTOGRADER_GRADEBOOK`` or ``./.autograder/gradebook.sqlite``
- assignments:   ``$AUTOGRADER_ASSIGNMENTS``, else ``./assignments`` when present,
                 else the ``assignments/`` folder beside this package in a checkout (the
                 sample course), else ``./assignments`` (created by ``autograder new``)
- templates:     inside the package when installed, else the checkout's ``templates/``
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # autograder/ (this file: core/paths.py)
PROJECT_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    env = os.environ.get("AUTOGRADER_DATA")
    return Path(env).expanduser() if env else Path(user_cache_dir("dl-autograder")) / "data"


def default_gradebook() -> Path:
    env = os.environ.get("AUTOGRADER_GRADEBOOK")
    return Path(env).expanduser() if env else Path.cwd() / ".autograder" / "gradebook.sqlite"


def assignments_dir() -> Path:
    env = os.environ.get("AUTOGRADER_ASSIGNMENTS")
    if env:
        return Path(env).expanduser()
    local = Path.cwd() / "assignments"
    if local.is_dir():
        return local
    # A checkout's sample course; an installed package has none beside it (that would be
    # site-packages/assignments), so `autograder new` starts ./assignments there.
    sample = PROJECT_DIR / "assignments"
    return sample if sample.is_dir() else local


def templates_dir() -> Path:
    """jinja2 templates: ``autograder/templates`` in an installed wheel (pyproject maps
    the top-level folder there), else the checkout's top-level ``templates/``."""
    installed = PACKAGE_DIR / "templates"
    return installed if installed.is_dir() else PROJECT_DIR / "templates"
