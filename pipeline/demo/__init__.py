"""`ailoop demo`: the whole loop on the bundled example, on real git."""
