"""What ailoop uses from the machine it runs on besides its own code: Node.js and flagd's
validator package (a stage's segment is checked by them), the time zone database (a
project's timeZone is checked against it), and the Python and libraries it runs on.

`identity()` digests all of it. Cached answers are kept under it (pipeline.cache's
fingerprint), so an answer checked on one machine never stands on another that would
answer otherwise: one where flagd's validator is gone, say, and a segment cannot be
checked (an error).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from pipeline.fsio import stamp

# `make` installs the validator package here (and Node.js beside it, on the PATH of the
# environment's scripts).
FLAGD_CORE_PACKAGE = ("node", "node_modules", "@openfeature", "flagd-core")


def flagd_core_dir() -> Path:
    """Where flagd's validator package is: $AILOOP_FLAGD_CORE_DIR, else the environment's
    node/ folder."""
    found = os.environ.get("AILOOP_FLAGD_CORE_DIR")
    if found:
        return Path(found)
    return Path(sys.prefix).joinpath(*FLAGD_CORE_PACKAGE)


def node() -> str | None:
    return shutil.which("node")


def identity() -> str:
    """A digest of everything above: the Python version, the installed distributions
    (names and versions), where Node.js and flagd's package are and their stats,
    and the time zone database's folders. About a millisecond."""
    parts = [sys.version, *_distributions(), *_tools(), *_time_zones()]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()


def _distributions() -> list[str]:
    """The site-packages folders' only: the rest of sys.path is the standard library (the
    version says which) and the folder ailoop runs from, which must not change the key."""
    out: list[str] = []
    for folder in sys.path:
        if not folder.endswith(("site-packages", "dist-packages")):
            continue
        try:
            with os.scandir(folder) as entries:
                out.extend(e.name for e in entries if e.name.endswith((".dist-info",
                                                                      ".egg-info")))
        except OSError:
            continue
    return sorted(out)


def _tools() -> list[str]:
    """Node.js by what it is, not by the PATH entry it was found through (/bin and
    /usr/bin are one folder on many systems); flagd's package by its package.json, its
    folder and the node_modules folder beside it, which holds what it loads (a package
    removed, as `npm prune` or a broken install leaves it, changes that folder)."""
    found = node()
    real = os.path.realpath(found) if found else "-"
    package = flagd_core_dir()
    stamps = "\0".join(stamp(str(path)) for path in (package / "package.json", package,
                                                      package.parent.parent))
    return [f"node\0{real}\0{stamp(real)}", f"flagd\0{package}\0{stamps}"]


def _time_zones() -> list[str]:
    import zoneinfo  # a few milliseconds: only a run that keeps a cache pays them

    return [f"tz\0{folder}\0{stamp(folder)}" for folder in zoneinfo.TZPATH]
