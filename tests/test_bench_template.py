"""Synthetic line protocol for `bench`: template placeholders, errors, and writes in batches."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.bench_template import DEFAULT_TEMPLATE, LineTemplate, batches, file_batches
from engine.errors import BenchTemplateError
from engine.lineprotocol import parse


@pytest.mark.parametrize(("template", "lines"), [
    ("m v={i}i", ["m v=0i", "m v=1i", "m v=2i", "m v=3i"]),
    ("m,h=h{i%3} v=1", ["m,h=h0 v=1", "m,h=h1 v=1", "m,h=h2 v=1", "m,h=h0 v=1"]),
    ("m,b={i//2} v=1", ["m,b=0 v=1", "m,b=0 v=1", "m,b=1 v=1", "m,b=1 v=1"]),
    ("m v=1 {time}", ["m v=1 5000", "m v=1 6000", "m v=1 7000", "m v=1 8000"]),
    ("m s=\"{{x}}\",v={ i }i", ['m s="{x}",v=0i', 'm s="{x}",v=1i', 'm s="{x}",v=2i',
                                'm s="{x}",v=3i']),
], ids=["counter", "modulo", "floor-division", "time", "literal-braces-and-spaces"])
def test_deterministic_placeholders(template: str, lines: list[str]) -> None:
    assert list(LineTemplate.parse(template, start_ns=5000).lines(4)) == lines


def test_random_placeholders_stay_in_range_and_repeat_for_a_seed() -> None:
    template = LineTemplate.parse("m,c={choice:a|b|c} f={rand},g={rand:50},n={randint:7}i")
    first = list(template.lines(300, seed=3))
    assert first == list(template.lines(300, seed=3))
    assert first != list(template.lines(300, seed=4))
    points = parse("\n".join(first), precision="ns", default_time=0).points
    assert len(points) == 300
    for point in points:
        fields = {name: value for name, _, value in point.fields}
        assert dict(point.tags)["c"] in {"a", "b", "c"}
        assert 0 <= fields["f"] < 1 and 0 <= fields["g"] < 50 and 0 <= fields["n"] < 7
    assert {dict(p.tags)["c"] for p in points} == {"a", "b", "c"}


def test_the_default_template_is_valid_line_protocol_with_distinct_times() -> None:
    lines = list(LineTemplate.parse(DEFAULT_TEMPLATE, start_ns=10**18).lines(1000))
    result = parse("\n".join(lines), precision="ns")
    assert not result.errors
    assert len({p.time for p in result.points}) == 1000
    assert len({dict(p.tags)["host"] for p in result.points}) == 100


@pytest.mark.parametrize(("template", "problem"), [
    ("m v={x}", "unknown placeholder {x}"),
    ("m v={i%0}", "{i%0} needs a whole number >= 1, got '0'"),
    ("m v={randint:-2}", "{randint:-2} needs a whole number >= 1"),
    ("m v={rand:abc}", "{rand:abc} needs a whole number >= 1"),
    ("m v={choice:}", "unknown placeholder {choice:}"),
    ("m v={i", "unbalanced '{' at column 5"),
    ("m v=i}", "unbalanced '}' at column 6"),
    ("", "a template is one non-empty line"),
    ("m v=1\nm v=2", "a template is one non-empty line"),
], ids=["unknown", "modulo-zero", "negative", "not-a-number", "empty-choice", "open-brace",
        "close-brace", "empty", "two-lines"])
def test_bad_templates_are_refused_with_the_accepted_placeholders(template: str,
                                                                  problem: str) -> None:
    with pytest.raises(BenchTemplateError) as caught:
        LineTemplate.parse(template)
    assert problem in str(caught.value)
    assert "{randint:N}" in str(caught.value) and isinstance(caught.value, ValueError)


def test_batches_drop_blank_lines_and_comments_and_keep_the_rest_whole(tmp_path: Path) -> None:
    path = tmp_path / "in.lp"
    path.write_text("# header\nm v=1 1\n\nm v=2 2\r\n  \nm,t=a\\ b v=3 3\nm v=4 4")
    assert file_batches(path, 2) == ["m v=1 1\nm v=2 2\n", "m,t=a\\ b v=3 3\nm v=4 4\n"]
    assert batches(["a v=1", "b v=2"], 5) == ["a v=1\nb v=2\n"]
    with pytest.raises(ValueError, match="batch_lines must be at least 1, got 0"):
        batches([], 0)


def test_render_draws_from_the_given_generator() -> None:
    template = LineTemplate.parse("m v={randint:1000000}i")
    assert template.render(0, random.Random(1)) == template.render(0, random.Random(1))
