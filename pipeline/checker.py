"""A worker forked at the start of a small validate run, to import the heavy modules early.

Checking even one changed document needs pydantic, the models and the policy modules:
about 0.2 s of imports and validator building before its first field. A run over a few
files (`--changed-since`, or named paths) starts this worker first thing, so that work
happens on the other core while the run itself reads the results cache, walks the tree
and waits for git. The run then hands the worker the documents it must check and gets
back what a worker of the parallel pool sends (see pipeline.validate).

The worker is an optimisation only: when it cannot be started (no fork, other threads
running), fails or dies, the run checks the documents itself, with the same results. It
never writes anything, and a run that needs it for nothing kills it.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from pipeline.validate import Checked

# The kinds a small run checks or judges with: built in the worker before it is asked.
_WARM_KINDS = ("Priority", "Customer", "Project", "Policy")


_early: Checker | None = None  # started by the console script, taken by validate


class Checker:
    """The parent's handle on a forked worker: `check` once, or `close`."""

    def __init__(self, pid: int, requests: int, replies: int) -> None:
        self.pid, self.requests, self.replies = pid, requests, replies
        self.done = False  # asked, or closed

    @classmethod
    def start_early(cls) -> Checker | None:
        """Start the worker for a validate command that will `take` it."""
        global _early
        _early = cls.start()
        return _early

    @classmethod
    def take(cls, wanted: bool = True) -> Checker | None:
        """The worker started early, or a new one; when not `wanted`, stop the early one
        at once (its imports would only compete with the run for the cores)."""
        global _early
        early, _early = _early, None
        if not wanted:
            if early is not None:
                early.close()
            return None
        return early if early is not None and not early.done else cls.start()

    @classmethod
    def start(cls) -> Checker | None:
        """Fork the worker; None where forking is unsafe or impossible."""
        # fork() copies only the calling thread: a lock another thread holds (an import,
        # logging, the allocator) would stay held forever in the worker.
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return None
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (requests_r, requests_w, replies_r, replies_w):
                os.close(fd)
            return None
        if pid == 0:  # pragma: no cover - the worker (its coverage is not collected)
            # It lives for one request of a few files: collecting garbage would only slow
            # down its imports (by about 7%).
            gc.disable()
            os.close(requests_w)
            os.close(replies_r)
            _serve(requests_r, replies_w)
        os.close(requests_r)
        os.close(replies_w)
        return cls(pid, requests_w, replies_r)

    def check(self, root: str, rels: Sequence[str], hashing: bool,
              documents: list[str] | None, now: datetime | None) -> list[Checked] | None:
        """What checking `rels` gives (judged when `documents` and `now` are given, as by
        the run's Judge), or None when the worker failed: the caller then checks them."""
        if self.done:
            return None
        self.done = True
        reply: Any = None
        incoming = os.fdopen(self.replies, "rb")  # owns the descriptor from here on
        try:
            with os.fdopen(self.requests, "wb") as out:
                pickle.dump((root, list(rels), hashing, documents, now), out,
                            protocol=pickle.HIGHEST_PROTOCOL)
            reply = pickle.load(incoming)
        except (OSError, EOFError, ValueError, TypeError, pickle.PickleError):
            pass  # the worker died or failed: the caller checks the documents itself
        finally:
            incoming.close()
        ok = isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "ok" \
            and isinstance(reply[1], list)
        if not ok:
            self._kill()
        self._reap()
        return reply[1] if ok else None

    def close(self) -> None:
        """Stop the worker unless it has served its request."""
        if self.done:
            return
        self.done = True
        _close(self.requests)
        _close(self.replies)
        self._kill()
        self._reap()

    def _kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def _reap(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _serve(requests: int, replies: int) -> None:  # pragma: no cover - runs in the worker
    """The worker's life: warm up, answer one request, exit without running the parent's
    exit handlers or flushing its copies of the parent's buffers."""
    reply: tuple[str, Any]
    try:
        _warm_up()
        with os.fdopen(requests, "rb") as incoming:
            request = pickle.load(incoming)
        reply = ("ok", _answer(*request))
    except BaseException as e:  # any failure: the parent checks instead
        reply = ("error", f"{type(e).__name__}: {e}")
    try:
        with os.fdopen(replies, "wb") as out:
            pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # the parent is gone: nothing to tell
        pass
    os._exit(0)


def _warm_up() -> None:  # pragma: no cover - runs in the worker
    import pipeline.checks
    import pipeline.load
    import pipeline.policy.engine
    import pipeline.policy.facts
    import pipeline.policy.repo
    import pipeline.validate  # noqa: F401
    from pipeline.model import KINDS

    for kind in _WARM_KINDS:
        KINDS[kind].model_rebuild()


def _answer(root: str, rels: list[str], hashing: bool, documents: list[str] | None,
            now: datetime | None) -> list[Checked]:  # pragma: no cover - in the worker
    from pipeline.policy.repo import Judge
    from pipeline.validate import check_as_worker

    judge = Judge(root, documents, now) if documents is not None and now is not None else None
    return check_as_worker(root, rels, hashing, judge)
