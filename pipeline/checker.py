"""A worker forked at the start of a small validate run, to import the heavy modules early.

Checking even one changed document needs pydantic, the models and the policy modules:
about 0.2 s of imports and validator building before its first field. A run over a few
files (`--changed-since`, or named paths) starts this worker first thing, so that work
happens on the other core while the run itself reads the results cache, walks the tree
and waits for git. The run then hands the worker the documents it must check and gets
back what a worker of the parallel pool sends (see pipeline.validate).

When a warm standby answers (see pipeline.standby), the checker is a handler the standby
forks for this run instead, ready at once; else the early worker, once warm, leaves such a
standby behind for the next run.

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
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket
    from datetime import datetime

    from pipeline.checks import FileResult
    from pipeline.validate import Checked, Work

# The kinds a small run checks or judges with: built in the worker before it is asked.
_WARM_KINDS = ("Priority", "Customer", "Project", "Policy")
# A standby's handler is waited for this long (it checks a few files in well under a
# second); past it the run checks them itself.
_STANDBY_REPLY_SECONDS = 60.0


_early: Checker | None = None  # started by the console script, taken by validate


class Checker:
    """The parent's handle on a forked worker: `prepare`, then `check` once; or `close`."""

    def __init__(self, pid: int | None, outgoing: IO[bytes], incoming: IO[bytes],
                 connection: socket.socket | None = None) -> None:
        # pid: the forked worker's, None for a standby's handler (the standby reaps it).
        self.pid, self.outgoing, self.incoming = pid, outgoing, incoming
        self.connection = connection  # to a standby's handler, instead of two pipes
        self.prepared = False  # the run's context is sent
        self.done = False  # asked, or closed

    @classmethod
    def start_early(cls) -> Checker | None:
        """The checker for a validate command that will `take` it: a warm standby's handler
        when one answers, else a worker forked now (which leaves a standby behind)."""
        global _early
        _early = cls.from_standby() or cls.start(leave_standby=True)
        return _early

    @classmethod
    def from_standby(cls) -> Checker | None:
        from pipeline import standby

        connection = standby.connect()
        if connection is None:
            return None
        connection.settimeout(_STANDBY_REPLY_SECONDS)  # file objects of it keep the timeout
        return cls(None, connection.makefile("wb"), connection.makefile("rb"), connection)

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
    def start(cls, leave_standby: bool = False) -> Checker | None:
        """Fork the worker; None where forking is unsafe or impossible. `leave_standby`:
        the worker, once warm, leaves a standby for later runs (when they are enabled)."""
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
            _serve(requests_r, replies_w, leave_standby)
        os.close(requests_r)
        os.close(replies_w)
        return cls(pid, os.fdopen(requests_w, "wb"), os.fdopen(replies_r, "rb"))

    def prepare(self, root: str, hashing: bool, documents: list[str] | None,
                now: datetime | None) -> None:
        """Send now what every check needs (judged when `documents` and `now` are given,
        as by the run's Judge) to a standby's handler: it reads the project file and
        compiles the rules while the run waits for git. A worker still importing is sent
        it with the documents to check instead: it would not read it yet, and a pipe
        holds too little of it for the run to go on meanwhile."""
        if self.done or self.prepared or self.connection is None:
            return
        self.prepared = True
        try:
            self._send((root, hashing, documents, now))
        except (OSError, ValueError, pickle.PickleError):
            self._fail()

    def check(self, root: str, rels: Sequence[str], hashing: bool,
              documents: list[str] | None, now: datetime | None,
              customers: Mapping[str, FileResult] | None = None) -> list[Checked] | None:
        """What checking `rels` gives (see `prepare` for the other arguments, which are
        sent here unless they were), or None when the worker failed: the caller then
        checks them. `customers`: results of customer files the run has (by path), which
        the judge then need not read."""
        if self.done:
            return None
        self.done = True
        reply: Any = None
        try:
            if not self.prepared:
                self._send((root, hashing, documents, now))
            self._send((list(rels), dict(customers or {})))
            self.outgoing.close()
            reply = pickle.load(self.incoming)
        except (OSError, EOFError, ValueError, TypeError, pickle.PickleError):
            pass  # the worker died, failed or timed out: the caller checks them itself
        self._close_streams()
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
        self._fail()

    def _send(self, message: object) -> None:
        pickle.dump(message, self.outgoing, protocol=pickle.HIGHEST_PROTOCOL)
        self.outgoing.flush()

    def _fail(self) -> None:
        self.done = True
        self._close_streams()  # a standby's handler sees the end of them and exits
        self._kill()
        self._reap()

    def _close_streams(self) -> None:
        for stream in (self.outgoing, self.incoming):
            try:
                stream.close()
            except OSError:
                pass
        if self.connection is not None:
            self.connection.close()

    def _kill(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def _reap(self) -> None:
        if self.pid is None:
            return
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _serve(requests: int, replies: int,
           leave_standby: bool = False) -> None:  # pragma: no cover - runs in the worker
    """The worker's life: warm up, answer one request, exit without running the parent's
    exit handlers or flushing its copies of the parent's buffers. A standby's handler
    lives it too, already warm."""
    reply: tuple[str, Any]
    try:
        _warm_up()
        if leave_standby:
            _leave_standby()
        with os.fdopen(requests, "rb") as incoming:
            work = _prepare(*pickle.load(incoming))
            rels, customers = pickle.load(incoming)
        reply = ("ok", _answer(work, rels, customers))
    except BaseException as e:  # any failure: the parent checks instead
        reply = ("error", f"{type(e).__name__}: {e}")
    try:
        with os.fdopen(replies, "wb") as out:
            pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # the parent is gone: nothing to tell
        pass
    os._exit(0)


def _leave_standby() -> None:  # pragma: no cover - runs in the worker
    from pipeline import standby

    try:
        standby.spawn(_serve)
    except Exception:  # only later runs would have gained from it
        pass


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


def _prepare(root: str, hashing: bool, documents: list[str] | None,
             now: datetime | None) -> Work:  # pragma: no cover - in the worker
    from pipeline.policy.repo import Judge
    from pipeline.validate import Work

    judge = None
    if documents is not None and now is not None:
        judge = Judge(root, documents, now)
        judge.prepare()
    return Work(root, hashing, judge)


def _answer(work: Work, rels: list[str],
            customers: Mapping[str, FileResult]) -> list[Checked]:  # pragma: no cover
    from pipeline.validate import check_as_worker

    if work.judge is not None:
        work.judge.customers.results = customers
    return check_as_worker(work, rels)
