"""``python -m autograder`` runs the CLI (same as the ``autograder`` command)."""

import sys

from .cli import main

sys.exit(main())
