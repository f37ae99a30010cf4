"""Grading: the pytest plugin that runs the graded tests, and the grader that isolates them."""
