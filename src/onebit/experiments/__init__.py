"""Experiments that train many runs and write a report (Markdown table + PNG plot)."""
