"""Documents: the YAML tree read into typed, positioned documents; datasets and the
evidence contract."""
