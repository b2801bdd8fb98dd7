"""`ailoop validate`: per-file checks, cross-references and the findings reporters."""
