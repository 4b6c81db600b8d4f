"""The labelling page, served on 127.0.0.1 for one annotator.

A random token in the printed URL is required on every request and never written to
disk; a request naming another Host is refused (no page elsewhere can drive this
one). Model names never reach the page: it shows answers A (left) and B (right), in
the order the selection fixed, and the server keeps which model was where. Labels
are appended to ``labels/<annotator>.jsonl``; undo appends a retraction. Several
annotators may serve one folder at once: each is shown units nobody else holds (see
:mod:`peerreview.labels.store`). A request body that is not what the page sends is a
400, never a server error.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

import jinja2
import orjson
from aiohttp import web

from peerreview.errors import InputError
from peerreview.labels.store import CHOICES, RATINGS, LabelBook, allowed_choices

TOKEN = web.AppKey("token", str)
BOOK = web.AppKey("book", LabelBook)
HOSTS = web.AppKey("hosts", frozenset)
PAGE = web.AppKey("page", str)  # rendered once


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every request: the Host must be this server's, the token must be given."""
    if request.host not in request.app[HOSTS]:
        return web.json_response({"error": "foreign Host"}, status=403)
    given = request.query.get("token") or request.headers.get("X-Token") or ""
    if not hmac.compare_digest(given.encode(), request.app[TOKEN].encode()):
        return web.json_response({"error": "token required"}, status=403)
    response: web.StreamResponse = await handler(request)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = \
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " \
        "connect-src 'self'"
    return response


async def _page(request: web.Request) -> web.StreamResponse:
    return web.Response(text=request.app[PAGE], content_type="text/html")


async def _next(request: web.Request) -> web.StreamResponse:
    book = request.app[BOOK]
    state = book.state()
    body: dict[str, Any] = {"done": state.done, "total": state.total, "eta_s": state.eta_s}
    if (unit := state.unit) is not None:
        item = book.items.get(unit.item)
        body["unit"] = {"id": unit.id, "kind": unit.kind, "input": item.input if item else "",
                        "a": book.text(unit.item, unit.left),
                        "b": book.text(unit.item, unit.right) if unit.right else ""}
        book.shown(unit.id)
    return web.json_response(body, dumps=lambda x: orjson.dumps(x).decode())


async def _label(request: web.Request) -> web.StreamResponse:
    book = request.app[BOOK]
    try:
        body = await request.json()
    except ValueError:  # not JSON, not UTF-8
        return web.json_response({"error": "not JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "expected a JSON object"}, status=400)
    choice, unit_id = body.get("choice"), body.get("unit")
    unit = book.unit(unit_id) if isinstance(unit_id, str) else None
    if unit is None or not isinstance(choice, str) or choice not in allowed_choices(unit):
        return web.json_response({"error": "unknown unit or choice"}, status=400)
    rationale = body.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        return web.json_response({"error": "rationale must be text"}, status=400)
    try:
        book.label(unit.id, choice, (rationale or "")[:2000])
    except InputError as exc:  # labelled already (a second tab, a double click), or
        # leased to another annotator
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response({"ok": True})


async def _undo(request: web.Request) -> web.StreamResponse:
    return web.json_response({"undone": request.app[BOOK].undo()})


def make_app(book: LabelBook, token: str, port: int) -> web.Application:
    app = web.Application(middlewares=[_guard])
    app[TOKEN], app[BOOK] = token, book
    env = jinja2.Environment(loader=jinja2.PackageLoader("peerreview", "labels"),
                             autoescape=True)
    app[PAGE] = env.get_template("page.html.j2").render(annotator=book.annotator,
                                                         choices=CHOICES, ratings=RATINGS)
    app[HOSTS] = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})
    app.router.add_get("/", _page)
    app.router.add_get("/api/next", _next)
    app.router.add_post("/api/label", _label)
    app.router.add_post("/api/undo", _undo)
    return app


def serve(folder: str | Path, annotator: str, port: int = 0,
          announce: Any = print) -> None:
    """Serve the labelling page until interrupted; ``announce`` gets the URL."""
    import asyncio
    import socket

    book = LabelBook.open(Path(folder), annotator)
    token = secrets.token_urlsafe(24)
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]

    async def main() -> None:
        runner = web.AppRunner(make_app(book, token, port), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        announce(f"label at http://127.0.0.1:{port}/?token={token}  (Ctrl-C to stop; "
                 f"labels go to {book.path})")
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            await runner.cleanup()

    asyncio.run(main())


__all__ = ["CHOICES", "RATINGS", "make_app", "serve"]
