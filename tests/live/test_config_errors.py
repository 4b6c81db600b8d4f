"""Config errors that show everything: every problem with its YAML path and line, keys
given twice, URLs that are no URLs, and task prompts (syntax and resource bombs)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.live.config import ConfigErrors, load_config
from peerreview.prompts import task_template
from tests.live.test_config import GOOD, write


def test_several_problems_are_listed_each_with_its_line(tmp_path: Path) -> None:
    text = (GOOD.replace("concurrency: 16", "concurrency: 0")
            .replace("provider: local", "provider: locale")
            .replace("  gold: gold/exam.jsonl", "  gold: x\n  threshold: 1.5"))
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    found = [(p.line, p.field) for p in caught.value.problems]
    assert found == [(8, "models.big.concurrency"), (10, "models.tiny.provider"),
                     (15, "exam.threshold")]
    err = caught.value
    assert (err.path, err.line, err.field) == (str(path), 8, "models.big.concurrency")
    lines = str(err).splitlines()
    assert len(lines) == 3 and "more problems" not in str(err)
    assert lines[1] == (f"  also {path}:10: field 'models.tiny.provider': "
                        + caught.value.problems[1].message)
    assert lines[2].startswith(f"  also {path}:15: field 'exam.threshold': ")


def test_the_cli_prints_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    path = write(tmp_path, GOOD.replace("concurrency: 16", "concurrency: 0")
                 .replace("reviewers: [big]", "reviewers: [big]\nseed: many"))
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8: field 'models.big.concurrency'" in err
    assert f"{path}:13: field 'seed'" in err
    assert not (tmp_path / "o").exists()


def test_a_key_given_twice_is_an_error_not_last_wins(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    concurrency: 16",
                                        "    concurrency: 16\n    concurrency: 2"))
    with pytest.raises(InputError) as caught:
        load_config(path)
    err = caught.value
    assert (err.line, err.field) == (9, "models.big.concurrency")
    assert "first at line 8" in err.message


def test_a_key_given_twice_at_the_top_and_another_problem(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("reviewers: [big]", "reviewers: [big]\nseed: x\n"
                                        "reviewers: [tiny]"))
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    assert [(p.line, p.field) for p in caught.value.problems] == [(13, "seed"),
                                                                  (14, "reviewers")]


@pytest.mark.parametrize("url", ["notaurl", "ftp://host/v1", "http://", "http://h:port/v1",
                                 "127.0.0.1:8000/v1"])
def test_base_url_must_be_an_http_url_with_a_host(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, GOOD.replace("    model: gpt-4o", f"    model: gpt-4o\n"
                                        f"    base_url: {json.dumps(url)}"))
    with pytest.raises(InputError) as caught:
        load_config(path)
    err = caught.value
    assert (err.line, err.field) == (8, "models.big.base_url")
    assert repr(url) in err.message and "http:// or https://" in err.message


def test_base_url_replicas_are_checked_each(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    model: gpt-4o", "    model: gpt-4o\n    base_url:"
                                        " [http://a:1/v1, notaurl]"))
    with pytest.raises(InputError, match=r"replica 2: .*'notaurl'"):
        load_config(path)
    good = write(tmp_path, GOOD.replace("    model: gpt-4o", "    model: gpt-4o\n    base_url:"
                                        " [http://a:1/v1, 'https://[::1]:8/v1']"))
    assert load_config(good).models["big"].urls == ["http://a:1/v1", "https://[::1]:8/v1"]


def test_a_template_syntax_error_names_the_config_line_and_the_template_line(
        tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('  prompt: "Summarize: {{ input }}"',
                                        '  prompt: |\n    Summarize:\n    {{ input }\n'))
    with pytest.raises(InputError) as caught:
        load_config(path)
    err = caught.value
    assert (err.path, err.line, err.field) == (str(path), 3, "task.prompt")
    assert "(template line 2)" in err.message


BOMBS = [
    "{{ 'x' * 10**10 }}",
    "{{ [1] * 10**9 }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(90000) %}{% for j in range(90000) %}{% endfor %}{% endfor %}",
    "{% for i in range(1000) %}{{ 'x' * 5000 }}{% endfor %}",
    "{{ 10 ** 100000 }}",
    "{{ 'x'|center(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ('x' * 900000).replace('', 'yy') }}",
    "{{ input|indent(999999) }}",
]


@pytest.mark.parametrize("source", BOMBS)
def test_resource_bombs_are_refused_by_the_sandbox(source: str) -> None:
    with pytest.raises(jinja2.exceptions.SecurityError):
        task_template(source).render(input="a\nb")


def test_ordinary_templates_still_render() -> None:
    source = ("{{ input|upper }} {{ range(3)|list }} {{ '%5d' % 3 }} {{ '{:>4}'.format(1) }} "
              "{{ 2 ** 8 }} {{ 'ab' * 3 }} {{ input|replace('a', 'z') }}")
    assert task_template(source).render(input="ab") == "AB [0, 1, 2]     3    1 256 ababab zb"


def test_a_bomb_in_a_config_is_exit_2_naming_the_prompts_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "items.jsonl").write_text('{"item": "q1", "input": "hi"}\n'
                                          '{"item": "q2", "input": "ho"}\n')
    (tmp_path / "s.jsonl").write_text("".join(
        json.dumps({"item": i, "model": m, "output": "o"}) + "\n"
        for i in ("q1", "q2") for m in ("A", "B")))
    path = write(tmp_path, "task:\n  items: items.jsonl\n  submissions: s.jsonl\n"
                 "  prompt: \"{{ 'x' * 10**10 }}\"\nmodels:\n  r:\n    provider: python\n"
                 "    function: m:f\nreviewers: [r]\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: field 'task.prompt'" in err
    assert "10,000,000,000" in err
