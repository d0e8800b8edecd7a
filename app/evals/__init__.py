"""Offline evals: suites that score the AI layer, their runners and reports."""
