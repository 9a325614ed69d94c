"""paipa 0.3's Tornado glue: a web application that feeds a threaded pipeline.

Needs Tornado (``pip install 'paipa[tornado]'``). Request handlers put items
into ``application.in_queue``; the pipeline (a `paipa.threaded.Pipeline`)
runs in the background while the server does. SIGTERM and SIGINT stop the
server, then the pipeline finishes what it was given, and `start` exits the
program (status 1 if the pipeline failed). New code can do the same with a
fed `paipa.Pipeline`: ``run = pipeline.start()``, ``run.put(...)`` from the
handlers, ``run.finish(); run.join()`` at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import signal
import sys
from typing import Any

try:
    import tornado.httpserver
    import tornado.web
except ImportError as _missing:
    raise ImportError(
        "paipa.glue needs Tornado: pip install tornado (or 'paipa[tornado]')"
    ) from _missing

from . import threaded

__all__ = ["PipelineApplication"]

logger: logging.Logger = logging.getLogger(__name__)


class _Loop:
    """Stops the application's `start` from any thread (0.3 code calls ``app._ioloop.stop()``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stopped: asyncio.Event) -> None:
        self._loop = loop
        self._stopped = stopped

    def stop(self) -> None:
        """Ask the server to stop; safe from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: stopped already
            self._loop.call_soon_threadsafe(self._stopped.set)


class PipelineApplication(tornado.web.Application):
    """A Tornado application running a 0.3 threaded pipeline alongside.

    ``PipelineApplication(routes, pipeline=[(Step, 4), ...], **settings)``;
    `start` serves on a port until SIGTERM or SIGINT (or the pipeline fails),
    then finishes the pipeline and exits.
    """

    def __init__(
        self, *args: Any, pipeline: list[Any], routes: Any = None, **settings: Any
    ) -> None:
        """Take the routes (first argument, or ``routes=``) and the pipeline's steps."""
        if args:
            routes, args = args[0], args[1:]
        threaded.Pipeline(pipeline)  # checks the steps now
        self.in_queue: queue.Queue[Any] | None = None
        """Where handlers put the pipeline's items, once `start` has begun."""
        self._pipeline: threaded.Pipeline | None = None
        self._pipeline_steps = pipeline
        self._ioloop: _Loop | None = None
        super().__init__(routes, *args, **settings)

    def alive(self) -> bool:
        """Whether the pipeline is healthy."""
        return self._pipeline is not None and self._pipeline.alive

    def start(self, port: int) -> None:
        """Serve on `port` until stopped; then finish the pipeline and exit the program."""
        feed: queue.Queue[Any] = queue.Queue()
        self.in_queue = feed
        previous = {number: signal.getsignal(number) for number in _SIGNALS}
        try:
            asyncio.run(self._serve(port, feed))
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        pipeline = self._pipeline
        assert pipeline is not None  # _serve made it
        logger.info("paipa.glue: finishing the pipeline")
        try:
            pipeline.stop()
        except Exception:
            logger.exception("paipa.glue: the pipeline failed")
        sys.exit(int(not pipeline.ok))

    async def _serve(self, port: int, feed: queue.Queue[Any]) -> None:
        """Run the pipeline and the server until a signal, a failure or ``_ioloop.stop()``."""
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        self._ioloop = stopper = _Loop(loop, stopped)

        def on_signal(number: int) -> None:
            logger.warning("paipa.glue: caught %s", signal.Signals(number).name)
            stopped.set()

        for number in _SIGNALS:
            loop.add_signal_handler(number, on_signal, number)
        self._pipeline = pipeline = threaded.Pipeline(
            self._pipeline_steps, quiet=True, in_queue=feed, fail_callback=stopper.stop
        )
        pipeline.run_forever(background=True)
        server = tornado.httpserver.HTTPServer(self)
        server.listen(port)
        logger.info("paipa.glue: HTTP server listening on port %d", port)
        try:
            await stopped.wait()
        finally:
            logger.info("paipa.glue: stopping the HTTP server")
            server.stop()


_SIGNALS = (signal.SIGTERM, signal.SIGINT)
