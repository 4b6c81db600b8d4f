"""Python functions found where the config is: ``function: mod:fn`` is looked for in
the config file's folder first, then on sys.path; ``--dry-run`` imports every function
before any call."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.models.python import load_function


def task(folder: Path, function: str, scorer: str | None = None) -> Path:
    """Two models' given submissions, one python reviewer; ``scorer`` written beside."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_text("".join(
        json.dumps({"item": f"t{i}", "input": f"q{i}"}) + "\n" for i in range(2)))
    (folder / "subs.jsonl").write_text("".join(
        json.dumps({"item": f"t{i}", "model": m, "output": f"{m} {i}"}) + "\n"
        for i in range(2) for m in ("good", "bad")))
    if scorer is not None:
        (folder / "judge_beside.py").write_text(scorer)
    (folder / "run.yaml").write_text(
        "task: {items: items.jsonl, submissions: subs.jsonl}\n"
        "models:\n"
        f"  judge: {{provider: python, function: '{function}'}}\n"
        "evaluatees: [good, bad]\n"
        "reviewers: [judge]\n")
    return folder / "run.yaml"


PREFERS = '''
from judge_helper import PREFERRED  # a sibling module, imported at the top

def prefer(item, first, second):
    return "first" if first.startswith(PREFERRED) else "second"
'''


def board(out: Path) -> list[str]:
    return [r["model"] for r in json.loads((out / "leaderboard.json").read_text())]


def test_a_module_beside_the_config_is_found_from_another_folder(tmp_path: Path,
                                                                 monkeypatch) -> None:
    # Before: "cannot import module 'judge_beside'" (exit 2) without PYTHONPATH.
    config = task(tmp_path / "cfg", "judge_beside:prefer", PREFERS)
    (tmp_path / "cfg" / "judge_helper.py").write_text('PREFERRED = "good"\n')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    path_before = list(sys.path)
    assert main(["run", str(config), "--out", "out", "--quiet"]) == 0
    assert board(tmp_path / "elsewhere" / "out") == ["good", "bad"]
    assert sys.path == path_before  # the config's folder was on it only while importing


def test_two_configs_with_a_module_of_the_same_name_each_get_their_own(tmp_path: Path
                                                                       ) -> None:
    for name, preferred in (("one", "good"), ("two", "bad")):
        config = task(tmp_path / name, "judge_beside:prefer", PREFERS)
        (tmp_path / name / "judge_helper.py").write_text(f'PREFERRED = "{preferred}"\n')
        sys.modules.pop("judge_helper", None)  # siblings are the user's own affair
        assert main(["run", str(config), "--out", str(tmp_path / name / "out"),
                     "--quiet"]) == 0
    assert board(tmp_path / "one" / "out") == ["good", "bad"]
    assert board(tmp_path / "two" / "out") == ["bad", "good"]


def test_the_folder_comes_first_then_sys_path(tmp_path: Path) -> None:
    (tmp_path / "json_scorer_x.py").write_text("def f(**kw):\n    return 'tie'\n")
    assert load_function("json_scorer_x:f", "models.m.function", tmp_path)(item={}) == "tie"
    # A module not in the folder comes from sys.path, as before.
    assert load_function("json:dumps", "models.m.function", tmp_path) is json.dumps


def test_a_module_that_shadows_one_in_use_is_refused_naming_both(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("def dumps(x):\n    return 'mine'\n")
    with pytest.raises(InputError) as caught:
        load_function("json:dumps", "models.m.function", tmp_path)
    message = str(caught.value)
    assert message.startswith("field 'models.m.function': module 'json' in ")
    assert "already imported from" in message and "rename the file" in message


@pytest.mark.parametrize(("function", "scorer", "said"), [
    ("nowhere_to_be_found:judge", None, "cannot import module 'nowhere_to_be_found'"),
    ("judge_beside:missing", "def judge(**kw):\n    return 'tie'\n",
     "module 'judge_beside' has no function 'missing'"),
    ("judge_beside:judge", "def judge(:\n", "cannot import module 'judge_beside': "
                                            "SyntaxError"),
])
def test_dry_run_imports_every_function_and_names_the_field(tmp_path: Path, capsys,
                                                            function: str,
                                                            scorer: str | None,
                                                            said: str) -> None:
    # Before: --dry-run printed its plan and exited 0; the run failed later.
    sys.modules.pop("judge_beside", None)
    config = task(tmp_path, function, scorer)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{config}:3: field 'models.judge.function': {said}" in err
    assert not (tmp_path / "out").exists()


def test_dry_run_passes_a_function_beside_the_config(tmp_path: Path, capsys) -> None:
    sys.modules.pop("judge_beside", None)
    config = task(tmp_path, "judge_beside:judge", "def judge(**kw):\n    return 'tie'\n")
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert "judge" in capsys.readouterr().out
