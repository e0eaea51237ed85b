"""The bounded YAML loader: hostile documents are refused with their line and the limit."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from kb.bounded_yaml import YamlError, YamlLimits, compose_yaml, load_yaml

LIMITS = YamlLimits(
    what="the test file",
    max_bytes=10_000,
    max_depth=8,
    max_values=200,
    max_chars=10_000,
    max_aliases=5,
)


def _refusal(text: str) -> YamlError:
    with pytest.raises(YamlError) as caught:
        load_yaml(text, "t.yaml", LIMITS)
    assert caught.value.source == "t.yaml"
    return caught.value


def test_plain_yaml_with_anchors_merges_and_dates_loads() -> None:
    text = "base: &b {x: 1, when: 2024-05-01}\ncopy: *b\nmerged: {<<: *b, y: [a, b]}\n"
    assert load_yaml(text, "t.yaml", LIMITS) == {
        "base": {"x": 1, "when": dt.date(2024, 5, 1)},
        "copy": {"x": 1, "when": dt.date(2024, 5, 1)},
        "merged": {"x": 1, "when": dt.date(2024, 5, 1), "y": ["a", "b"]},
    }
    assert load_yaml("", "t.yaml", LIMITS) is None
    assert load_yaml("# only a comment\n", "t.yaml", LIMITS) is None


def test_nodes_keep_their_lines() -> None:
    root = compose_yaml("a: 1\nb:\n  - x\n", "t.yaml", LIMITS)
    assert root is not None
    (_, _), (key_b, value_b) = root.value
    assert key_b.start_mark.line == 1 and value_b.value[0].start_mark.line == 2


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/name:os.system\n",
        "a: [!!python/object/apply:os.system [ls]]\n",
        "%TAG !p! tag:yaml.org,2002:python/\n---\na: !p!name:os.system\n",
        "a: !custom thing\n",
    ],
)
def test_python_and_unknown_tags_are_refused_with_their_line(text: str) -> None:
    error = _refusal(text)
    assert "is not allowed; the test file may hold only plain YAML" in error.reason
    assert error.line == text.count("\n")


def test_nesting_past_the_limit_is_refused_without_recursion() -> None:
    flow = _refusal("a: " + "[" * 1000 + "]" * 1000 + "\n")
    block = _refusal("a:\n" + "".join(" " * i + "- \n" for i in range(1, 20)))
    for error in (flow, block):
        assert error.reason == (
            "the test file nests lists and mappings over 8 levels deep (the limit); flatten it"
        )
    assert block.line == 9  # the ninth level opens on the YAML's ninth line
    assert load_yaml("a:\n" + "".join(" " * i + "- \n" for i in range(1, 7)), "t", LIMITS)


def test_self_referencing_alias_is_refused() -> None:
    error = _refusal("a: &a [*a]\n")
    assert (error.line, error.reason) == (1, "alias *a refers to a value that contains it")
    assert "contains it" in _refusal("m: &m {k: {j: *m}}\n").reason


def test_alias_bomb_is_refused_at_the_first_excess() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(YamlError) as caught:
        load_yaml("\n".join(lines), "t.yaml", replace(LIMITS, max_aliases=100))
    error = caught.value
    assert error.line == 3  # a0 and a1 hold 125 values in all; a2 alone expands to 1,111
    assert "over 200 values once aliases are expanded (the limit)" in error.reason


def test_aliases_of_a_long_string_count_its_characters() -> None:
    text = "s: &s " + "x" * 3_000 + "\nt: [*s, *s, *s, *s]\n"
    assert "over 10,000 characters once aliases are expanded" in _refusal(text).reason


def test_too_many_aliases_and_undefined_aliases_are_refused() -> None:
    assert "over 5 aliases" in _refusal("a: &a 1\nb: [*a, *a, *a, *a, *a, *a]\n").reason
    assert _refusal("a: *nowhere\n").reason == "alias *nowhere names no anchor (&nowhere)"


def test_size_is_checked_before_parsing() -> None:
    error = _refusal("k: " + "v" * 20_000)
    assert (error.line, error.reason) == (
        None,
        "the test file is 20,003 bytes; the limit is 10,000 bytes",
    )
    assert "is 10,002 bytes" in _refusal("k: " + "é" * 4_999 + "\n").reason  # bytes, not chars


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a: 1\nb: !!int abc\n", 2, "cannot read this value as int: invalid literal"),
        ("a: 2024-13-45\n", 1, "cannot read this value as timestamp: month must be in 1..12"),
        ("a: !!timestamp soon\n", 1, "cannot read this value as timestamp: 'soon'"),
        ("a: " + "9" * 4_400 + "\n", 1, "cannot read this value as int: Exceeds the limit"),
        ("? [a]\n: b\n", 1, "not valid YAML: found unhashable key"),
        ("a: 1\n---\nb: 2\n", 2, "the test file holds more than one YAML document (---); keep one"),
        ("a: [1, 2\n", 1, "not valid YAML: did not find expected ',' or ']'"),
    ],
)
def test_malformed_values_name_their_line(text: str, line: int, reason: str) -> None:
    error = _refusal(text)
    assert error.line == line
    assert error.reason.startswith(reason)
