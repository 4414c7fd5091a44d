"""Evaluate (both evaluators), the allocation steps, and the decision record."""
