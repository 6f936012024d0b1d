"""Analysis worker processes that the thread needing an answer talks to directly.

`concurrent.futures.ProcessPoolExecutor` passes every task through two threads of its own in
the parent (a queue manager and a pipe feeder), and each of them must take the GIL. In a
server whose call threads already contend for the GIL, those handoffs cost: measured on unary
`Add`, ~8% more of the server process's CPU per article, and 1.13-1.21x fewer articles a
second in one set of alternations (see benchmarks/RESULTS.md, Service, session 23). Here the
thread that submits a task writes it to an idle worker's socket itself and reads the answer
from that socket when it asks for the result; no other thread is involved. A socket carries
one message each way at a time (a task, then its answer).

A worker is held from `submit` until its answer is read. A thread that submits more tasks
than there are idle workers first collects the answer of its own oldest task (so one thread
can keep every worker busy, as a batch or a stream does); a thread that holds no task waits
for an idle worker. A result that is never asked for is collected when its worker is next
needed. A worker that dies (killed, or crashed by its input) fails only the task it held, and
is replaced.
"""
from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Executor
from multiprocessing import get_context
from multiprocessing.connection import Connection

from dedup.config import Config

log = logging.getLogger("dedup.workers")

# How long `shutdown` waits for a worker still held by a caller before stopping it anyway.
SHUTDOWN_WAIT = 10.0
# A message on a worker's socket: its length, then the pickle. Read first in one piece of up
# to `_FIRST_READ` bytes, which holds the whole of nearly every message.
_LENGTH = struct.Struct("!Q")
_FIRST_READ = 1 << 16


class WorkerLost(RuntimeError):
    """The worker process analysing a task ended before answering (it has been replaced)."""


class _Worker:
    def __init__(self, process, connection: Connection) -> None:
        self.process = process
        self.connection = connection


class Task:
    """A submitted task: `result()` reads its answer from the worker's socket the first time
    (one thread at a time: the submitting thread, or one it hands the task to)."""

    def __init__(self, pool: "AnalysisWorkers", worker: _Worker) -> None:
        self._pool = pool
        self._worker: _Worker | None = worker
        self._answer: tuple[bool, object] | None = None

    def done(self) -> bool:
        return self._answer is not None

    def result(self, timeout: float | None = None):
        """The task's return value; raises what the task raised, or `WorkerLost`."""
        if self._answer is None:
            self._answer = self._pool._collect(self)
        ok, value = self._answer
        if not ok:
            raise value
        return value

    def __del__(self) -> None:
        if self._answer is None and self._worker is not None:
            self._pool._abandon(self._worker)  # its answer is read when the worker is next needed


class AnalysisWorkers(Executor):
    """`processes` worker processes, each with the analyser for `config` loaded before the
    constructor returns, so the first requests do not wait for one to start."""

    def __init__(self, config: Config, processes: int, mp_context=None) -> None:
        if processes < 1:
            raise ValueError("analysis workers: processes must be at least 1")
        self._config = config
        # spawn, not fork, by default: a gRPC server's threads do not survive a fork.
        self._context = mp_context or get_context("spawn")
        self._lock = threading.RLock()  # a task's finaliser may run while this thread holds it
        self._available = threading.Condition(self._lock)
        self._idle: list[_Worker] = []
        self._abandoned: list[_Worker] = []  # held by tasks whose result nobody asked for
        self._workers: list[_Worker] = []
        self._mine = threading.local()  # weak references to each thread's tasks not yet collected, oldest first
        self._closed = False
        starting = [self._start() for _ in range(processes)]
        for worker in starting:
            self._await_ready(worker)
        self._idle.extend(starting)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers]

    # -- the Executor interface -----------------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs) -> Task:
        """Send `fn(*args, **kwargs)` to an idle worker; `fn` and its arguments must pickle."""
        for _ in range(len(self._workers) + 1):
            worker = self._take()
            try:
                _send(worker.connection, (fn, args, kwargs))
                break
            except (OSError, EOFError):  # it ended while idle: the task goes to another
                self._replace(worker)
            except BaseException:  # the task did not pickle: nothing was written
                self._give_back(worker)
                raise
        else:
            raise WorkerLost("every analysis worker this task was sent to ended while taking it")
        task = Task(self, worker)
        self._oldest_pending()  # drops this thread's collected and dropped tasks from the front
        self._pending().append(weakref.ref(task))  # weak: a task dropped uncollected frees its worker
        return task

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers: each idle one is told to leave; one still held by a caller after
        `SHUTDOWN_WAIT` seconds (or at once when not `wait`) is terminated."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._available.notify_all()
        deadline = time.monotonic() + (SHUTDOWN_WAIT if wait else 0.0)
        with self._lock:
            while len(self._idle) + len(self._abandoned) < len(self._workers) and time.monotonic() < deadline:
                self._available.wait(max(0.0, deadline - time.monotonic()))
            workers, idle = list(self._workers), {id(w) for w in self._idle + self._abandoned}
        for worker in workers:
            if id(worker) in idle:
                try:
                    _send(worker.connection, None)
                except (OSError, EOFError):
                    pass
            else:
                worker.process.terminate()
        for worker in workers:
            worker.process.join(5.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()

    # -- holding and releasing workers --------------------------------------------------------------

    def _pending(self) -> deque:
        pending = getattr(self._mine, "tasks", None)
        if pending is None:
            pending = self._mine.tasks = deque()
        return pending

    def _take(self) -> _Worker:
        """An idle worker. Without one, this thread's oldest task is collected and its worker
        reused; a thread holding no task waits for another thread to give one back."""
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the analysis workers have been shut down")
                if self._idle:
                    return self._idle.pop()
                abandoned = self._abandoned.pop() if self._abandoned else None
                oldest = None
                if abandoned is None:
                    oldest = self._oldest_pending()
                    if oldest is None:
                        self._available.wait()
                        continue
            if abandoned is not None:
                worker = self._drained(abandoned)
                if worker is not None:
                    return worker
                continue
            try:
                oldest.result()  # gives its worker back
            except Exception:  # noqa: BLE001 - kept in the task for whoever asks for its result
                pass

    def _oldest_pending(self) -> Task | None:
        """This thread's oldest task whose answer has not been read, if any."""
        pending = self._pending()
        while pending:
            task = pending[0]()
            if task is not None and not task.done():
                return task
            pending.popleft()
        return None

    def _drained(self, worker: _Worker) -> _Worker | None:
        """`worker` once the answer nobody asked for is read from its socket (or its replacement)."""
        try:
            _receive(worker.connection)
        except (OSError, EOFError):
            return self._replace(worker, give_back=False)
        return worker

    def _collect(self, task: Task) -> tuple[bool, object]:
        """Read `task`'s answer from its worker, then give the worker back."""
        worker, task._worker = task._worker, None
        try:
            answer = _receive(worker.connection)
        except (OSError, EOFError):
            self._replace(worker)
            answer = (False, WorkerLost(
                f"analysis worker {worker.process.pid} ended (exit code {_exit_code(worker)}) before answering; "
                "it has been replaced"))
        else:
            self._give_back(worker)
        return answer  # this thread's list of pending tasks drops it when it reaches the front

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)
            self._available.notify()

    def _abandon(self, worker: _Worker) -> None:
        with self._lock:
            self._abandoned.append(worker)
            self._available.notify()

    # -- processes -----------------------------------------------------------------------------

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_work, args=(theirs, self._config), daemon=True,
                                        name="dedup-analysis")
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        with self._lock:
            self._workers.append(worker)
        return worker

    def _await_ready(self, worker: _Worker) -> None:
        try:
            _receive(worker.connection)  # sent once the analyser is loaded
        except (OSError, EOFError):
            raise WorkerLost(f"an analysis worker failed to start (exit code {_exit_code(worker)})") from None

    def _replace(self, worker: _Worker, give_back: bool = True) -> _Worker | None:
        """Start a worker in place of `worker`, which has ended; give it back, or return it."""
        worker.connection.close()
        worker.process.join(1.0)
        with self._lock:
            self._workers.remove(worker)
            closed = self._closed
        if closed:
            return None
        fresh = self._start()
        self._await_ready(fresh)
        log.warning("analysis worker %d ended (exit code %s); worker %d replaces it", worker.process.pid,
                    worker.process.exitcode, fresh.process.pid)
        if not give_back:
            return fresh
        self._give_back(fresh)
        return None


def _work(connection: Connection, config: Config) -> None:
    """A worker's loop: answer each task with (True, value) or (False, exception)."""
    from dedup.batch import _load_analyzer

    # Ctrl-C reaches the whole process group; the server decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _load_analyzer(config)
    _send(connection, os.getpid())
    while True:
        try:
            task = _receive(connection)
        except (OSError, EOFError):
            return  # the parent is gone
        except Exception as exc:  # noqa: BLE001 - a task that does not unpickle here
            _send(connection, (False, RuntimeError(f"the analysis worker could not read its task: {exc!r}")))
            continue
        if task is None:
            return
        fn, args, kwargs = task
        try:
            answer = (True, fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - the caller re-raises it
            answer = (False, exc)
        try:
            _send(connection, answer)
        except (OSError, EOFError):
            return
        except Exception as exc:  # noqa: BLE001 - the answer did not pickle: nothing was written
            _send(connection, (False, RuntimeError(f"the task's answer could not be sent back: {exc!r}")))


def _send(connection: Connection, message) -> None:
    """`message` with its length in one write where the socket takes it: each system call
    lets another thread take the GIL, which this one must then wait to get back (a
    `Connection` makes two writes of a large message and two reads of every one)."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # before anything is written
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    fd = connection.fileno()
    while view:
        view = view[os.write(fd, view):]


def _receive(connection: Connection):
    """The next message from `connection`; `EOFError` when the other end has closed it."""
    fd = connection.fileno()
    data = b""
    while len(data) < _LENGTH.size:
        chunk = os.read(fd, _FIRST_READ)
        if not chunk:
            raise EOFError("the other end closed the connection")
        data += chunk
    (size,) = _LENGTH.unpack_from(data)
    end = _LENGTH.size + size
    if len(data) < end:  # a large message: the rest into one buffer
        buffer = bytearray(end)
        buffer[:len(data)] = data
        got = len(data)
        while got < end:
            read = os.readv(fd, [memoryview(buffer)[got:]])
            if not read:
                raise EOFError("the other end closed the connection mid-message")
            got += read
        data = buffer
    return pickle.loads(memoryview(data)[_LENGTH.size:end])


def _exit_code(worker: _Worker):
    worker.process.join(0.5)
    return worker.process.exitcode
