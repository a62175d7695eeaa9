"""The grading service: a grader kept running between batches (``autograder serve``).

A batch started from the command line pays for its processes before its first
submission: the workers import torch and pytest, each worker's kernel template imports
what the assignment's kernels need. For a class of 200 that is a few percent; for the
eight late submissions graded after a deadline it is most of the wait. ``serve`` keeps
the workers, their templates and their next kernels running (``engine.pool.WarmPool``);
``grade --service`` hands the batch to it over a Unix socket and shows its progress as
if it ran here. Nothing else changes: every submission still gets its own fresh,
sandboxed kernel, the same gradebook rows and results files are written, and the
service refuses a batch when its code or its sandbox settings differ from the client's.

- ``protocol.py``: where the socket lives, the frames, what must match.
- ``server.py``: ``serve``, the loop that grades one batch at a time.
- ``client.py``: ``grade_via_service``, what ``grade --service`` calls.
"""
