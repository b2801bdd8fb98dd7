"""Telling people: customer updates, charts, the dashboard and the PR comment."""
