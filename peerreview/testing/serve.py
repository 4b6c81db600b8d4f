"""An aiohttp app served on 127.0.0.1 by a background thread of this process: what the
stub and the tests' misbehaving fakes share, so each says only what it answers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

from aiohttp import web


class AppThread:
    """Serve :meth:`make_app` on 127.0.0.1 (port 0: a free one) while in a ``with``.

    Subclasses say what the app answers (:meth:`make_app`), and may prepare what must be
    made on the server's own event loop (:meth:`on_loop`) or let waiting requests go
    before it stops (:meth:`before_stop`).
    """

    # Cancel a request's handler when its client goes away (a fake that hangs on purpose).
    cancel_handlers: ClassVar[bool] = False

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        """The app to serve."""
        raise NotImplementedError

    def on_loop(self) -> None:
        """Called on the server's event loop before the app is made."""

    def before_stop(self) -> None:
        """Called when the ``with`` ends, before the server stops."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.on_loop()
        self._runner = web.AppRunner(self.make_app(), access_log=None,
                                     handler_cancellation=self.cancel_handlers)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> Any:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start within 10 s")
        return self

    def stop_listening(self) -> None:
        """Go away as a crashed server does: connections are refused from now on."""
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        self.before_stop()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
