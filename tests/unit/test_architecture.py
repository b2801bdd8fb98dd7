"""The tree, ARCHITECTURE.md and the import rules agree (the rules themselves are checked by
`lint-imports` in `make lint`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"


def _top_level() -> set[str]:
    names = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    return names


def _layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    return {name.strip().removeprefix("pipeline.") for layer in layers
            for name in layer.split("|")}


def test_every_package_and_top_level_module_has_a_layer() -> None:
    assert _top_level() == _layered()


def test_architecture_md_names_every_package() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [name for name in sorted(_top_level())
               if f"`{name}/`" not in text and f"`{name}.py`" not in text]
    assert not missing, f"ARCHITECTURE.md does not describe: {missing}"


def test_no_package_is_a_namespace_package() -> None:
    """Every folder of Python code has an __init__.py, so the import rules see it."""
    for folder in PACKAGE.rglob("*"):
        if folder.is_dir() and any(folder.glob("*.py")):
            assert (folder / "__init__.py").exists(), folder


def _contract(contract_id: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, object] = next(c for c in config["tool"]["importlinter"]["contracts"]
                                    if c["id"] == contract_id)
    return found


def test_every_part_of_the_cache_has_a_layer() -> None:
    """pipeline/cache/ is split into named parts under its façade; a new part needs a
    place in the `cache-parts` contract."""
    parts = {p.stem for p in (PACKAGE / "cache").glob("*.py") if p.stem != "__init__"}
    layers = _contract("cache-parts")["layers"]
    assert isinstance(layers, list)
    assert parts == {name.strip() for layer in layers for name in layer.split("|")}
    assert parts >= {"fingerprint", "stat_index", "walk", "results", "store"}
