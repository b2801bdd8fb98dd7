"""Workflow providers: how a dry run calls the workflow (python, OpenAI-compatible, replay)."""
