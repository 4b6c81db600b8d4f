"""The run config: validation errors name the YAML path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerreview.errors import InputError
from peerreview.live.config import load_config

GOOD = """\
task:
  items: items.jsonl
  prompt: "Summarize: {{ input }}"
models:
  big:
    provider: openai
    model: gpt-4o
    concurrency: 16
  tiny:
    provider: local
evaluatees: [big, tiny]
reviewers: [big]
exam:
  gold: gold/exam.jsonl
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.task.items == tmp_path / "items.jsonl"
    assert config.exam is not None and config.exam.gold == tmp_path / "gold" / "exam.jsonl"
    assert config.models["big"].concurrency == 16 and config.models["tiny"].concurrency == 8
    assert config.review.mode == "pairwise" and config.exam.threshold == 0.6


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), [
    ("concurrency: 16", "concurrency: 0", 8, "models.big.concurrency", "greater than or equal"),
    ("concurrency: 16", "concurency: 16", 8, "models.big.concurency", "unknown key"),
    ("provider: openai", "provider: gemini", 6, "models.big.provider", "'anthropic'"),
    ("reviewers: [big]", "reviewers: [huge]", 12, "reviewers", "not defined under 'models'"),
    ("  gold: gold/exam.jsonl", "  gold: x\n  threshold: 1.5", 15, "exam.threshold",
     "less than or equal"),
    ("reviewers: [big]", "reviewers: [big]\nreview:\n  mode: bogus", 14, "review.mode",
     "Input should be 'pairwise', '5-level' or '100-level'"),
    ("reviewers: [big]", "reviewers: [big]\nchair:\n  shrink: ebb\n  control: [size]", 14,
     "chair.shrink", "Input should be 'none', 'eb' or 'cv'"),
])
def test_bad_keys_name_their_path_and_line(tmp_path: Path, old: str, new: str, line: int,
                                           field: str | None, words: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(InputError) as caught:
        load_config(path)
    err = caught.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert words in str(err)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid YAML") as caught:
        load_config(write(tmp_path, "task: [unclosed\n"))
    assert caught.value.line is not None
    with pytest.raises(InputError, match="must be a YAML mapping"):
        load_config(write(tmp_path, "- a list\n"))
    with pytest.raises(InputError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_openai_model_needs_its_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs 'model'"):
        load_config(write(tmp_path, GOOD.replace("    model: gpt-4o\n", "")))


def test_a_missing_key_variable_names_the_config_line(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from peerreview.live.pipeline import Pipeline

    monkeypatch.delenv("PEERREVIEW_NO_SUCH_KEY", raising=False)
    text = GOOD.replace("    concurrency: 16\n",
                        "    concurrency: 16\n    api_key_env: PEERREVIEW_NO_SUCH_KEY\n")
    config = load_config(write(tmp_path, text))
    with pytest.raises(InputError) as caught:
        Pipeline(config, tmp_path / "out")._backends()
    err = caught.value
    assert (err.path, err.line, err.field) == (str(tmp_path / "run.yaml"), 9,
                                               "models.big.api_key_env")
    assert "$PEERREVIEW_NO_SUCH_KEY, which is not set" in err.message
    assert not (tmp_path / "out").exists()


def test_openai_key_variable_defaults_only_on_openais_own_api(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from peerreview.models.config import ModelConfig

    hosted = ModelConfig(provider="openai", model="gpt-4o")
    assert hosted.key_variable == "OPENAI_API_KEY"
    # A key meant for OpenAI is never sent to another server unless named.
    local = ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:8000/v1")
    assert local.key_variable is None
    named = local.model_copy(update={"api_key_env": "VLLM_KEY"})
    assert named.key_variable == "VLLM_KEY"
