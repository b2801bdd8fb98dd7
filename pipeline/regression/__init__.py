"""Regression cases: production failures (an incident, a runtime trace) turned into
critical dataset cases, opened as a change for review."""
