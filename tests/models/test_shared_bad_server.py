"""Live runs against the outside misbehaving server (../shared/fakes/bad_server.py),
written apart from ours: one that answers 401 echoing the request's headers (the key
among them), one whose every 5th chat call is a 200 with no choices."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.testing.stub import StubServer
from tests.livetask import EVALUATEES, write_config, write_task
from tests.models.test_endpoints_real import ROOT, shared_fake, stats

BAD_SERVER = ROOT.parent / "shared" / "fakes" / "bad_server.py"
KEY = "sk-outside-fake-0123456789abcdefSECRET"

pytestmark = pytest.mark.skipif(not BAD_SERVER.exists(), reason="../shared/fakes is absent")


def bad_server(mode: str) -> AbstractContextManager[str]:
    return shared_fake(BAD_SERVER, mode)


def requests_seen(url: str) -> int:
    return stats(url)["posts"]


def test_a_server_that_echoes_the_key_in_a_401_stops_its_models_and_leaks_nothing(
        tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.setenv("BAD_SERVER_KEY", KEY)
    write_task(tmp_path, n_items=3)
    with StubServer() as stub, bad_server("echo401") as bad:
        extra = {"base_url": bad, "api_key_env": "BAD_SERVER_KEY", "max_retries": 2}
        config = write_config(tmp_path, stub.url, reviewers={"judge-1": extra,
                                                             "judge-2": extra})
        code = main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"])
        seen = requests_seen(bad)
    out, err = capfd.readouterr()
    assert code == 1  # every reviewer refused: nothing ranked
    assert seen == 2  # one model-list look each, then stopped: no completion was sent
    assert "refused the credentials (HTTP 401)" in err
    assert KEY not in out + err
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path.name
    reviewers = json.loads((tmp_path / "out" / "reviewers.json").read_text())
    assert sorted(r["reviewer"] for r in reviewers) == ["judge-1", "judge-2"]


def test_a_200_without_choices_is_a_failed_attempt_retried_not_an_abstention(
        tmp_path: Path) -> None:
    n_items = 3
    write_task(tmp_path, n_items=n_items)
    with StubServer() as stub, bad_server("empty5") as bad:
        extra = {"base_url": bad, "max_retries": 3}
        # No exam: a judge that always says "A" would not pass one.
        config = write_config(tmp_path, stub.url, reviewers={"judge-1": extra}, exam=False)
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        seen = requests_seen(bad)
    judgments = [json.loads(line) for line in
                 (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()]
    pairs = len(EVALUATEES) * (len(EVALUATEES) - 1)  # ordered pairs an item
    assert len(judgments) == n_items * pairs
    assert {j["winner"] for j in judgments} == {"first"}  # the server always says "A"
    # Every 5th request (the model list counts) was empty and sent again: the answered
    # calls plus one more request for each empty answer, plus the model-list look.
    calls = n_items * pairs
    assert seen == 1 + calls + (seen // 5)
