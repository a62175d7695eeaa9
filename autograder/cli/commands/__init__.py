"""CLI sub-commands: each module registers its parser with ``cli.register``.

A module here only parses and presents; the work is done by the library function it calls.
Options shared by several commands come from ``common.py``.
"""

# Import order is the order of `autograder --help`.
from . import (  # noqa: F401, I001
    adjust_cmd,
    data_cmd,
    calibrate_cmd,
    demo_cmd,
    export_cmd,
    grade_cmd,
    new_cmd,
    release_cmd,
    review_cmd,
    serve_cmd,
    validate_cmd,
)
