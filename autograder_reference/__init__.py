"""Reference PyTorch solutions of the sample course, one module per topic.

The assignment checks compare students against these; they are device-agnostic
(``cuda`` when present).
"""
