"""A run's event loop: uvloop where installed, asyncio's own when told."""

from __future__ import annotations

import asyncio

import pytest

from peerreview import eventloop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_a_run_goes_through_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed (Windows)")
    assert eventloop.run(_loop_module()).startswith("uvloop")


def test_peerreview_uvloop_0_keeps_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERREVIEW_UVLOOP", "0")
    assert eventloop.run(_loop_module()).startswith("asyncio")


def test_the_result_and_the_exception_come_back() -> None:
    async def fails() -> None:
        raise KeyError("x")

    assert eventloop.run(asyncio.sleep(0, result=41)) == 41
    with pytest.raises(KeyError):
        eventloop.run(fails())
