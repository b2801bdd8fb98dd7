"""`ailoop init` and `ailoop new`: repositories, customers and priorities from templates."""
