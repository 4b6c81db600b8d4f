"""A run's given submissions must be about the task's items: one for an unknown item
is exit 2 naming the file and line, not silently dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.live.config import load_config
from peerreview.live.inputs import load_run_inputs


def _folder(tmp_path: Path, items: list[str]) -> Path:
    (tmp_path / "items.jsonl").write_text("".join(
        json.dumps({"item": i, "input": i}) + "\n" for i in ("q1", "q2")))
    (tmp_path / "s.jsonl").write_text("".join(
        json.dumps({"item": i, "model": m, "output": "o"}) + "\n"
        for i in items for m in ("A", "B")))
    (tmp_path / "m.py").write_text("def f(request):\n    return 'first'\n")
    path = tmp_path / "run.yaml"
    path.write_text("task:\n  items: items.jsonl\n  submissions: s.jsonl\nmodels:\n  r:\n"
                    "    provider: python\n    function: m:f\nreviewers: [r]\n")
    return path


def test_a_submission_for_an_unknown_item_names_its_line(tmp_path: Path) -> None:
    config = load_config(_folder(tmp_path, ["q1", "q9", "q2", "q8"]))
    with pytest.raises(InputError) as caught:
        load_run_inputs(config)
    err = caught.value
    assert (err.path, err.line, err.field) == (str(tmp_path / "s.jsonl"), 3, "item")
    assert err.message.startswith("item 'q9' is not in the task's items")
    assert "4 submission(s) name items it lacks" in err.message


def test_the_cli_says_it_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    path = _folder(tmp_path, ["q1", "q2", "q7"])
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert f"{tmp_path / 's.jsonl'}:5: field 'item': item 'q7'" in capsys.readouterr().err


def test_submissions_on_the_tasks_items_load(tmp_path: Path) -> None:
    inputs = load_run_inputs(load_config(_folder(tmp_path, ["q1", "q2"])))
    assert inputs.given is not None and len(inputs.given) == 4
    assert inputs.evaluatees == ["A", "B"]
