"""Plain scalars are read by YAML 1.2's core schema, as the docs promise, not YAML 1.1.

Before: `max_tokens: 010` was silently 8 (octal) and `temperature: 1:30` was 90 (base 60).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from tunegate import SuiteError, load_suite
from tunegate.suite import load_yaml, yaml_source

from .conftest import write

LOADERS = [
    pytest.param(getattr(yaml, "CSafeLoader", yaml.SafeLoader), id="libyaml"),
    pytest.param(yaml.SafeLoader, id="pure-python"),
]

READ = [
    ("10", 10),
    ("-3", -3),
    ("+5", 5),
    ("0", 0),
    ("0o17", 15),
    ("0x1F", 31),
    ("1.5", 1.5),
    (".5", 0.5),
    ("1e3", 1000.0),
    ("-2.5E-1", -0.25),
    ("true", True),
    ("False", False),
    ("null", None),
    ("~", None),
    # Text in YAML 1.2, whatever YAML 1.1 made of them:
    ("1:30", "1:30"),  # 1.1: 90 (sexagesimal)
    ("1_000", "1_000"),  # 1.1: 1000
    ("0b101", "0b101"),  # 1.1: 5
    ("2024-01-01", "2024-01-01"),  # 1.1: a date
    ("yes", "yes"),
    ("Off", "Off"),
    ("0o8", "0o8"),
    ("0x", "0x"),
    # Quoted is always text.
    ('"010"', "010"),
    ("'1:30'", "1:30"),
]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(("written", "expected"), READ, ids=[w for w, _ in READ])
def test_plain_scalars_follow_the_core_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: type[Any], written: str, expected: Any
) -> None:
    monkeypatch.setattr(yaml_source, "_SAFE_LOADER", loader)
    doc = load_yaml(write(tmp_path / "s.yaml", f"key: {written}\n"))
    value = doc.data["key"]
    assert value == expected and type(value) is type(expected)
    assert doc.value_marks[("key",)] == (1, 6)  # positions are kept


def test_special_floats_are_read_and_then_refused_where_numbers_are_used(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path / "s.yaml", "a: .inf\nb: -.Inf\nc: .NaN\n"))
    assert doc.data["a"] == math.inf and doc.data["b"] == -math.inf and math.isnan(doc.data["c"])


REFUSED = [
    (
        "010",
        "010 has a leading zero, which YAML 1.1 reads as octal and YAML 1.2 as decimal; write "
        '10 for the number, "010" in quotes for text, or 0o10 for octal',
    ),
    ("-007", 'write -7 for the number, "-007" in quotes for text'),
    ("08", '08 has a leading zero; write 8 for the number, "08" in quotes for text'),
    ("01.5", '01.5 has a leading zero; write 1.5 for the number, "01.5" in quotes for text'),
    ("1e999", "1e999 is too large for a number (the largest is about 1.8e308)"),
    ("9" * 5000, "a number 5,000 characters long is more than a suite can use"),
    ("!!int 1:30", "'1:30' is not a valid !!int"),
    ("!!int 0b11", "'0b11' is not a valid !!int"),
    ("!!int 1_000", "'1_000' is not a valid !!int"),
]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(("written", "message"), REFUSED, ids=[w[:10] for w, _ in REFUSED])
def test_ambiguous_numbers_are_refused_at_their_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: type[Any], written: str, message: str
) -> None:
    monkeypatch.setattr(yaml_source, "_SAFE_LOADER", loader)
    with pytest.raises(SuiteError) as info:
        load_yaml(write(tmp_path / "s.yaml", f"a: 1\nkey: {written}\n"))
    assert str(info.value).startswith("s.yaml:2:6: ")
    assert message in str(info.value)


def test_the_reported_defects(tmp_path: Path) -> None:
    def load(params: str) -> str:
        text = f"name: demo\ndefaults:\n  params: {params}\ncases: [{{id: a, prompt: p}}]\n"
        with pytest.raises(SuiteError) as info:
            load_suite(write(tmp_path / "s.yaml", text))
        return str(info.value)

    assert load("{max_tokens: 010}").startswith("s.yaml:3:24: 010 has a leading zero")
    assert load("{temperature: 1:30}") == (
        "s.yaml:3:25: defaults.params.temperature: Input should be a valid number (got '1:30'); "
        "write a number (YAML 1.2 reads 1:30 as text, not as 90 sexagesimal)"
    )
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            "name: demo\ndefaults:\n  params: {max_tokens: 0x40, seed: 0o17, temperature: 7e-1}\n"
            "cases: [{id: a, prompt: p}]\n",
        )
    )
    params = suite.cases[0].params
    assert (params.max_tokens, params.seed, params.temperature) == (64, 15, 0.7)


def test_leading_zeros_in_vars_are_not_lost(tmp_path: Path) -> None:
    # Read as 7 (or 8), a zip code or an order number would silently lose its zeros.
    text = 'name: demo\ncases:\n  - {id: a, prompt: "{zip}", vars: {zip: [02134, "02139"]}}\n'
    with pytest.raises(
        SuiteError, match=r'^s.yaml:3:43: 02134 has a leading zero, .*"02134" in quotes for text'
    ):
        load_suite(write(tmp_path / "s.yaml", text))
    quoted = text.replace("[02134,", '["02134",')
    assert [c.prompt for c in load_suite(write(tmp_path / "s.yaml", quoted)).cases] == [
        "02134",
        "02139",
    ]


def test_merge_keys_and_anchors_still_work(tmp_path: Path) -> None:
    text = """
    name: demo
    cases:
      - &base {id: a, prompt: "010 is text here", repeats: 2}
      - {<<: *base, id: b}
    """
    suite = load_suite(write(tmp_path / "s.yaml", text))
    assert [(c.id, c.prompt, c.repeats) for c in suite.cases] == [
        ("a", "010 is text here", 2),
        ("b", "010 is text here", 2),
    ]
