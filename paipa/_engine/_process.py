"""Workers in processes: a threaded stage whose work on each batch runs in a child process.

Each worker of a process stage is a thread of the run, as with threads, and
owns one child process. The thread does everything the threaded engine
does (takes batches from the channel, keeps order, applies retries and
``on_error``, counts, hands results on, obeys the run's one cancel); only
``f(item)`` for each item of a batch happens in the child. Up to two batches
are in flight per worker, so the child never waits for the parent.

The child ignores Ctrl-C (the parent handles it and ends the child), ends
on SIGTERM after running ``teardown()``, and ends at once if the parent
process dies, so no worker outlives its run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn, cast

from .._backends import ProcessBackend
from .._plan import Stage
from .._step import Processor, Skip, Step
from ._blame import Site, add_note, describe, note
from ._channel import Cancelled, Channel, Inbox
from ._forkserver import ensure_forkserver
from ._policy import ErrorCounts, Policies, decide
from ._pump import BatchSize
from ._recorder import WorkerFigures, collect_tallies_in_this_process, take_tallies
from ._wire import (
    Failure,
    decode_error,
    dump_batch,
    encode_error,
    load,
    note_remote_traceback,
)

__all__ = ["ProcessStage", "run_stream_worker", "run_worker", "worker_main"]

BATCH_SECONDS = 0.2
"""Work per batch a process worker aims at. Each batch wakes threads of the parent, and
each wake-up takes a core from a worker process: at 50 ms per batch a CPU-bound stage
on two cores lost 3% to them, at 200 ms nothing measurable. Batches start at one item
and grow to this (`BatchSize`); once the input has ended they shrink again (`_tail_share`)."""
STREAM_BATCH = 64
"""Outputs of an iterator step a worker process sends back at once (fewer when it waits)."""
PIPELINED_BYTES = 32 * 1024
"""A batch is sent while the reply to the one before is on its way only below this size:
a pipe holds 64 KiB, so such a send never waits for the process to read."""
STOP = b""

_REAPING = threading.Lock()
"""Held while starting or reaping worker processes. ``Process.start()`` reaps every
ended child of this process (``multiprocessing``'s cleanup), and one racing with another
thread's ``join()`` leaves that process's exit status unknown."""
"""The message that tells a worker process to tear down and end."""
GRACE = 1.0
"""Seconds a worker process has to end after it is told to, before it is killed."""


# -- the child -----------------------------------------------------------------------------


def _end_on_sigterm(number: int, frame: object) -> None:
    raise SystemExit(0)


def _watch_parent() -> None:
    """End this process at once when its parent dies (no orphan outlives a killed run)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="paipa parent watch", daemon=True).start()


def _call_for(kind: str, function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if kind == "flat_map":
        return lambda item: list(function(item))
    if kind == "filter":
        return lambda item: bool(function(item))
    return function


def worker_main(connection: Connection, payload: bytes) -> None:
    """Run one worker process: batches in, outcomes out, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    _watch_parent()
    collect_tallies_in_this_process()
    kind, function, _ = load(payload)
    if kind == "iterator":
        _serve_stream(connection, function)
        return
    processor: Processor[Any, Any] | None = None
    call: Callable[[Any], Any]
    try:
        if kind == "process":
            made: Processor[Any, Any] = function()
            processor = made
            made.setup()
            call = made.process
        else:
            call = _call_for(kind, function)
    except BaseException as error:
        connection.send(("setup failed", encode_error(error)))
        return
    try:
        _serve(connection, call)
    finally:
        if processor is not None:
            failure = None
            try:
                processor.teardown()
            except BaseException as error:
                failure = encode_error(error)
            with contextlib.suppress(OSError, ValueError):  # the parent may be gone
                connection.send(("teardown", failure))


def _serve_stream(connection: Connection, function: Callable[[Any], Any]) -> None:
    """Run an iterator step: its generator pulls batches from the parent, outputs go back."""
    outputs: list[Any] = []
    used = [time.process_time()]

    def flush() -> None:
        if outputs:
            now = time.process_time()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            connection.send(("out", outputs[:], take_tallies(), now - used[0], rss))
            used[0] = now
            outputs.clear()

    def inputs() -> Iterator[Any]:
        while True:
            flush()  # before waiting for input, pass on what is done
            connection.send(("more",))
            message = connection.recv_bytes()
            if message == STOP:
                return
            yield from load(message)

    try:
        for output in function(inputs()):
            outputs.append(output)
            if len(outputs) >= STREAM_BATCH:
                flush()
        flush()
    except Exception as error:
        connection.send(("failed", encode_error(error)))
        return
    connection.send(("end",))


def _serve(connection: Connection, call: Callable[[Any], Any]) -> None:
    clock, cpu = time.perf_counter, time.process_time
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            return
        if message == STOP:
            return
        items: list[Any] = load(message)
        values: list[Any] = []
        skips: list[int] = []
        failures: dict[int, Failure] = {}
        began, cpu_began = clock(), cpu()
        for index, item in enumerate(items):
            try:
                values.append(call(item))
            except Skip:
                values.append(None)
                skips.append(index)
            except Exception as error:
                values.append(None)
                failures[index] = encode_error(error)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        figures = (clock() - began, cpu() - cpu_began, usage.ru_maxrss * 1024, take_tallies())
        try:
            connection.send(("done", values, skips, failures, figures))
        except Exception:
            connection.send(("done", *_sendable(values, skips, failures), figures))


def _sendable(
    values: list[Any], skips: list[int], failures: dict[int, Failure]
) -> tuple[list[Any], list[int], dict[int, Failure]]:
    """Replace each result that cannot be pickled by a failure naming the pickling error."""
    for index, value in enumerate(values):
        try:
            pickle.dumps(value)
        except Exception as error:
            values[index] = None
            error.add_note(f"paipa: the result for this item cannot be sent back: {value!r:.80}")
            failures[index] = encode_error(error)
    return values, skips, failures


# -- the parent ----------------------------------------------------------------------------


class ProcessStage:
    """The worker processes of one stage: started by its threads, ended by the run."""

    def __init__(self, stage: Stage, backend: ProcessBackend, payload: bytes) -> None:
        """Run `stage`'s workers in processes started with `backend`'s start method."""
        self.stage = stage
        self.payload = payload
        self.context: Any = multiprocessing.get_context(backend.method)
        self.processes: list[BaseProcess] = []
        self.cancelled = False
        self._lock = threading.Lock()

    def start(self, worker: tuple[int, int]) -> tuple[BaseProcess, Connection]:
        """Start the process of `worker`; return it and the parent's end of its pipe."""
        ours, theirs = self.context.Pipe()
        name = f"paipa {self.stage.step.name} {worker[0]}/{worker[1]}"
        process: BaseProcess = self.context.Process(
            target=worker_main, args=(theirs, self.payload), name=name, daemon=True
        )
        with self._lock, _REAPING:
            if self.cancelled:
                raise Cancelled
            # The process inherits this thread's signal mask: with SIGINT blocked, a
            # Ctrl-C while it starts up cannot print a traceback from it.
            blocked = threading.current_thread() is not threading.main_thread()
            if blocked:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                if self.context.get_start_method() == "forkserver":
                    ensure_forkserver()
                process.start()
            finally:
                if blocked:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            self.processes.append(process)
        theirs.close()
        return process, ours

    def forget(self, process: BaseProcess) -> None:
        """Stop tracking `process`: it has ended."""
        with self._lock:
            self.processes.remove(process)

    def cancel(self) -> int:
        """End every worker process now (its thread notices and winds down)."""
        with self._lock:
            self.cancelled = True
            processes = list(self.processes)
        for process in processes:
            with contextlib.suppress(ValueError):  # closed meanwhile: it has ended
                process.terminate()  # SIGTERM: the child runs teardown() and ends
        return 0


def _end(pool: ProcessStage, process: BaseProcess, connection: Connection) -> None:
    """End a worker process: wait a moment for it to end, then kill it."""
    if not wait([process.sentinel], GRACE):
        process.kill()
        wait([process.sentinel])
    with _REAPING:  # never held while taking a pool's lock (start takes them the other way)
        process.join()  # it has ended: this only collects its exit status
    pool.forget(process)
    process.close()
    connection.close()


def _exit_code(process: BaseProcess) -> int | None:
    """Return how `process` ended, waiting a moment for it if it has not yet."""
    wait([process.sentinel], GRACE)
    with _REAPING:
        return process.exitcode


class _Worker:
    """One worker process, seen from its thread: requests out, replies back in order."""

    def __init__(self, pool: ProcessStage, worker: tuple[int, int], site: Site) -> None:
        self.pool = pool
        self.site = site
        self.process, self.connection = pool.start(worker)
        self.sent = 0
        self.received = 0
        self.stash: dict[int, tuple[Any, ...]] = {}
        self.first_items: deque[tuple[int, int]] = deque()  # (first item, count) per request

    def request(self, items: list[Any], start: int, data: bytes | None = None) -> int:
        """Send `items` (numbered from `start`); return the ticket of their reply.

        The caller makes sure this cannot block while the process blocks sending a
        reply: with a reply outstanding, only what fits the pipe's buffer is sent.
        """
        if data is None:
            data = dump_batch(items, self.site.name, start)
        try:
            self.connection.send_bytes(data)
        except OSError:
            held = self.first_items[0] if self.first_items else (start, len(items))
            self._died(*held)
        self.first_items.append((start, len(items)))
        self.sent += 1
        return self.sent - 1

    def drain(self) -> None:
        """Receive every outstanding reply (kept for its asker): the process is then idle."""
        if self.received < self.sent:
            last = self.sent - 1
            self.stash[last] = self.reply(last)

    def reply(self, ticket: int) -> tuple[Any, ...]:
        """Return the reply for `ticket`, keeping any earlier ones for their askers."""
        while ticket not in self.stash:
            start, count = self.first_items[0]
            try:
                ready = wait([self.connection, self.process.sentinel])
                if self.connection not in ready:
                    self._died(start, count)
                message = self.connection.recv()
            except (EOFError, OSError):
                self._died(start, count)
            if message[0] != "done":
                raise _setup_failure(message, self.site)
            self.first_items.popleft()
            self.stash[self.received] = message
            self.received += 1
        return self.stash.pop(ticket)

    def next_message(self, taken: int) -> tuple[Any, ...]:
        """Return the next message of an iterator step's process (`taken`: items sent)."""
        try:
            ready = wait([self.connection, self.process.sentinel])
            if self.connection not in ready:
                self._died(max(0, taken - 1), 1)
            message: tuple[Any, ...] = self.connection.recv()
        except (EOFError, OSError):
            self._died(max(0, taken - 1), 1)
        return message

    def send_stream(self, items: list[Any], start: int) -> None:
        """Send the next items to an iterator step's process; none ends its input."""
        data = dump_batch(items, self.site.name, start) if items else STOP
        try:
            self.connection.send_bytes(data)
        except OSError:
            self._died(max(0, start - 1), 1)

    @property
    def _worker_text(self) -> str:
        index, count = self.site.worker or (1, 1)
        return f"{index} of {count}"

    def _died(self, start: int, count: int) -> NoReturn:
        if self.pool.cancelled:
            raise Cancelled
        code = _exit_code(self.process)
        how = f"exit code {code}"
        if code is not None and code < 0:
            how = f"signal {signal.Signals(-code).name}"
        held = (
            f"input item #{start}"
            if count == 1
            else f"input items #{start} to #{start + count - 1}"
        )
        raise RuntimeError(
            f"the worker process of step {self.site.name!r} (worker {self._worker_text}) died "
            f"({how}) while it held {held}"
        ) from None

    def end(self, at_once: bool = False) -> None:
        """Tell the process to stop (it runs ``teardown()``), wait a moment, end it.

        `at_once` (the run is failing) interrupts the batch it may be running;
        otherwise it finishes what it was sent first. Raise the teardown error the
        process reported, if any. After a cancel the process was told already.
        """
        failure: Failure | None = None
        if not self.pool.cancelled:
            deadline = time.monotonic() + GRACE
            try:
                if at_once:
                    self.process.terminate()  # SIGTERM: SystemExit in the child, teardown
                else:
                    self.connection.send_bytes(STOP)
                while True:
                    left = max(0.0, deadline - time.monotonic())
                    ready = wait([self.connection, self.process.sentinel], left)
                    if self.connection not in ready:
                        break  # it has ended (with fork, a pipe may never say so), or too slow
                    message = self.connection.recv()
                    if message[0] == "teardown":
                        failure = message[1]
                        break  # anything else answers a batch still in flight: not wanted
            except (EOFError, OSError):
                pass
        _end(self.pool, self.process, self.connection)
        if failure is not None:
            error = decode_error(failure)
            add_note(error, self.site.at_phase("teardown"))
            note_remote_traceback(error, failure)
            raise error


def _setup_failure(message: tuple[Any, ...], site: Site) -> BaseException:
    error = decode_error(message[1])
    add_note(error, site.at_phase("setup"))
    note_remote_traceback(error, message[1])
    return error


def run_worker(
    pool: ProcessStage,
    total: int,
    inbox: Inbox,
    emit: Callable[[int, int, list[Any]], None],
    policies: Policies,
    worker: tuple[int, int],
    figures: WorkerFigures | None,
    tallied: Callable[[str, int], None] | None = None,
) -> None:
    """Run one worker of a process stage (the body of its thread in the parent).

    The worker's `figures` and its `tallied` counts go to the debugger, if on.
    """
    member: Step[Any, Any] = pool.stage.step
    site = Site(member.name, pool.stage.segments[0].first, total, member.kind, worker=worker)
    counts = policies.counts.setdefault(site.position, ErrorCounts())
    size = BatchSize(max(1, inbox.capacity // 2), BATCH_SECONDS)  # 2 in flight: queue_size
    child = _Worker(pool, worker, site)
    in_flight: deque[tuple[int, list[Any], int]] = deque()
    held: tuple[int, list[Any], bytes] | None = None  # taken, not sent yet
    ended = False
    try:
        while True:
            while len(in_flight) < 2 and not ended:
                if held is None:
                    limit = size.limit if inbox.open else _tail_share(size.limit, inbox, worker)
                    taken = inbox.get(limit) if not in_flight else inbox.get_within(limit, 0.0)
                    if taken is None:
                        break
                    start, batch = taken
                    if not batch:
                        ended = True
                        break
                    held = (start, batch, dump_batch(batch, site.name, start))
                if in_flight and len(held[2]) > PIPELINED_BYTES:
                    break  # sent while a reply is on its way, it could block both sides
                start, batch, data = held
                held = None
                in_flight.append((start, batch, child.request(batch, start, data)))
            if not in_flight:
                break
            start, batch, ticket = in_flight.popleft()
            if figures is not None:
                figures.busy = True
            _, values, skips, failures, (seconds, cpu, rss, tallies) = child.reply(ticket)
            results = _outcomes(
                member, child, counts, policies, batch, start, values, skips, failures
            )
            if figures is not None:
                figures.stop_remote(seconds, len(batch), len(results), cpu, rss)
            if tallied is not None:
                for name, amount in tallies.items():
                    tallied(name, amount)
            size.measured(seconds, len(batch))
            emit(start, len(batch), results)
    except BaseException as error:
        try:
            child.end(at_once=True)
        except BaseException as failure:
            note(error, f"paipa: teardown() of step {site.name!r} also failed: {describe(failure)}")
        raise
    child.end()


def _tail_share(limit: int, inbox: Inbox, worker: tuple[int, int]) -> int:
    """Items to take once the input has ended: a share of what is left, so workers end together.

    Each take leaves enough for the others; the batches shrink towards one item,
    and no worker is left holding a long batch while the others have nothing.
    """
    return max(1, min(limit, len(inbox) // (2 * worker[1])))


def _outcomes(
    member: Step[Any, Any],
    child: _Worker,
    counts: ErrorCounts,
    policies: Policies,
    batch: list[Any],
    start: int,
    values: list[Any],
    skips: list[int],
    failures: dict[int, Failure],
) -> list[Any]:
    """Turn a batch's outcomes into its results: retries and ``on_error`` decided here."""
    kind = member.kind
    if not skips and not failures:
        if kind == "filter":
            return [item for item, keep in zip(batch, values, strict=True) if keep]
        if kind == "flat_map":
            return [result for produced in values for result in produced]
        return values
    skipped = set(skips)
    results: list[Any] = []
    for index, item in enumerate(batch):
        if index in skipped:
            continue
        value = values[index]
        failure = failures.get(index)
        attempt = 0
        while failure is not None:
            error = decode_error(failure)
            attempt += 1
            verdict = decide(member, counts, policies.pause, item, cast(Exception, error), attempt)
            if verdict == "raise":
                add_note(error, replace(child.site, item=start + index))
                note_remote_traceback(error, failure)
                raise error
            if verdict == "drop":
                break
            child.drain()  # the process is idle: the item can be sent whatever its size
            _, again, again_skips, again_failures, _ = child.reply(
                child.request([item], start + index)
            )
            if again_skips:
                break
            failure = again_failures.get(0)
            value = again[0]
        else:
            if kind == "filter":
                if value:
                    results.append(item)
            elif kind == "flat_map":
                results.extend(value)
            else:
                results.append(value)
    return results


def run_stream_worker(
    pool: ProcessStage,
    total: int,
    inbox: Inbox,
    outbox: Channel,
    worker: tuple[int, int],
    figures: WorkerFigures | None = None,
    tallied: Callable[[str, int], None] | None = None,
) -> None:
    """Run one worker of an iterator step in a process: feed its generator, pass on its outputs.

    The worker's `figures` (items in and out, CPU) and its `tallied` counts go to the
    debugger, if it is on.
    """
    member: Step[Any, Any] = pool.stage.step
    site = Site(member.name, pool.stage.segments[0].first, total, member.kind, worker=worker)
    limit = max(1, min(STREAM_BATCH, inbox.capacity // 2))
    child = _Worker(pool, worker, site)
    taken = 0
    try:
        while True:
            message = child.next_message(taken)
            if message[0] == "out":
                if figures is not None:
                    figures.stop_remote(0.0, 0, len(message[1]), message[3], message[4])
                outbox.put(message[1])
                if tallied is not None:
                    for name, amount in message[2].items():
                        tallied(name, amount)
            elif message[0] == "more":
                start, batch = inbox.get(limit)
                taken = start + len(batch)
                if figures is not None:
                    figures.stop_remote(0.0, len(batch), 0, 0.0, 0)
                child.send_stream(batch, start)
            elif message[0] == "failed":
                error = decode_error(message[1])
                add_note(error, site)
                note_remote_traceback(error, message[1])
                raise error
            else:  # "end": the generator has finished
                break
    finally:
        _end(pool, child.process, child.connection)
