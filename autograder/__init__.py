"""dl-autograder: release, grade and return deep-learning notebook assignments via Moodle.

The public commands are plain keyword-only functions; the CLI (``autograder``) is a thin
layer over them. Importing this package stays cheap: torch is imported only where needed.
"""

from .errors import AutograderError

__all__ = ["AutograderError", "__version__"]
__version__ = "0.1.0"
