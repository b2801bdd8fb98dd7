"""Dry runs: evaluate a priority's workflow on its dataset and write evidence."""
