"""Default locations shared by every command.

- dataset cache: ``$AUTOGRADER_DATA`` or ``<user cache dir>/dl-autograder/data``
- gradebook:     ``$AUTOGRADER_GRADEBOOK`` or ``./.autograder/gradebook.sqlite``
- assignments:   ``$AUTOGRADER_ASSIGNMENTS``, else ``./assignments`` when present,
                 else the ``assignments/`` folder beside this package (the sample course)
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

PACKAGE_DIR = Path(__file__).resolve().parent
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
    return local if local.is_dir() else PROJECT_DIR / "assignments"


def templates_dir() -> Path:
    return PROJECT_DIR / "templates"
