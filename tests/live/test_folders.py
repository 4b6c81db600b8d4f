"""Folders, not the current directory: run.json records the config's folder and the
config's paths absolute, so that report, label-select, label and status DIR work from
any folder."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.labels.store import LabelBook
from tests.conftest import write_jsonl
from tests.spawned import run_cli, start_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run of cfg/run.yaml (relative paths in it) started from tmp_path, as
    ``peerreview run cfg/run.yaml --out runs/one``; then the current folder moves to
    tmp_path/elsewhere. Returns the run's folder."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    write_jsonl(cfg / "items.jsonl", [{"item": f"t{i}", "input": f"q{i}",
                                       "meta": {"category": "c"}} for i in range(3)])
    write_jsonl(cfg / "subs.jsonl", [{"item": f"t{i}", "model": m, "output": f"{m} {i}"}
                                     for i in range(3) for m in ("good", "bad")])
    (cfg / "judges_here.py").write_text(
        "def prefer(item, first, second):\n"
        "    return 'first' if first.startswith('good') else 'second'\n")
    (cfg / "run.yaml").write_text(
        "task: {items: items.jsonl, submissions: subs.jsonl}\n"
        "models:\n  judge: {provider: python, function: 'judges_here:prefer'}\n"
        "evaluatees: [good, bad]\nreviewers: [judge]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(cfg))  # as PYTHONPATH did before: only folders differ
    assert main(["run", "cfg/run.yaml", "--out", "runs/one", "--quiet"]) == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "runs" / "one"


def test_run_json_records_the_config_folder_and_absolute_paths(run_dir: Path) -> None:
    facts = json.loads((run_dir / "run.json").read_text())
    cfg = run_dir.parents[1] / "cfg"
    assert facts["config_dir"] == str(cfg)
    assert facts["config"]["task"] == {"items": str(cfg / "items.jsonl"),
                                       "submissions": str(cfg / "subs.jsonl")}


def test_report_works_from_another_folder(run_dir: Path, capsys) -> None:
    # Before: "items.jsonl: file not found" unless run from where the run started.
    before = (run_dir / "summary.md").read_text()
    (run_dir / "summary.md").unlink()
    assert main(["report", str(run_dir)]) == 0, capsys.readouterr().err
    assert (run_dir / "summary.md").read_text() == before


def test_label_select_and_label_work_from_another_folder(run_dir: Path, capsys) -> None:
    assert main(["label-select", str(run_dir), "--n", "2"]) == 0, capsys.readouterr().err
    book = LabelBook.open(run_dir, "ann")  # what `peerreview label DIR` opens
    assert set(book.items) == {"t0", "t1", "t2"}
    assert book.items["t0"].meta == {"category": "c"}


def test_label_and_status_commands_from_another_folder(run_dir: Path) -> None:
    assert main(["label-select", str(run_dir), "--n", "2"]) == 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300",
           "PYTHONPATH": str(ROOT)}
    status = run_cli(["status", str(run_dir)], env=env, timeout=60)
    assert status.returncode == 0, status.stderr
    assert re.search(r"judge\s+│\s+python\s+│\s+6\s", status.stdout)
    proc = start_cli(["label", str(run_dir), "--annotator", "ann"], env=env)
    try:
        line = proc.first_line()  # the URL once it serves; nothing if it failed
        assert re.search(r"http://127\.0\.0\.1:\d+/\?token=", line), proc.stderr \
            if proc.poll() is not None else line
    finally:
        proc.terminate()
        proc.wait(timeout=10)
