"""CLI sub-commands beyond ``data``: each module registers its parser with ``cli.register``.

A module here only parses and presents; the work is done by the library function it calls.
"""

# Import order is the order of `autograder --help`.
from . import grade_cmd  # noqa: F401
from . import new_cmd, release_cmd  # noqa: F401
