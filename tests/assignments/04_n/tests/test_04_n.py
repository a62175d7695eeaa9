"""04_n has no pytest checks: its points are all in the notebook (test cells, hand grading)."""
