"""Grading submissions outside the student's kernel (issue 19)."""
