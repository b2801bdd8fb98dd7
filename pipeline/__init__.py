"""ailoop: a git-native pipeline for customer AI priorities."""

import sys
import types

__version__ = "0.1.0"


def _no_pydantic_plugins() -> None:
    """pydantic runs every plugin an installed package declares (entry point group
    `pydantic`) on each validation, with its input: one would see every document ailoop
    reads, customer people's names and addresses included, and could change the answer.
    ailoop's validators are its own, so pydantic's plugin loader is replaced before pydantic
    first asks it (it asks when it builds a validator, see
    pydantic.plugin._schema_validator). Not scanning the installed packages' entry points
    also spares importlib.metadata and what it imports, 12 ms of a changed-files run."""
    loader = types.ModuleType("pydantic.plugin._loader", "ailoop: no pydantic plugin runs")
    loader.get_plugins = tuple  # type: ignore[attr-defined]  # returns (): no plugins
    sys.modules.setdefault(loader.__name__, loader)


_no_pydantic_plugins()
