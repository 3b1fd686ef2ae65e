"""Ids of expanded cases keep the letters of any script, and never collide silently.

Before: `vars: {g: [женщина, мужчина]}` failed with "duplicate case id 'a[_]'", and accents
were dropped ("José" -> `jos`), so "José" and "Jose" were one id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate import SuiteError, load_suite
from tunegate.suite.case_ids import slug

from .conftest import write

pytest_plugins = ["pytester"]


def ids_of(tmp_path: Path, values: str) -> list[str]:
    text = f'name: demo\ncases:\n  - {{id: a, prompt: "{{g}}", vars: {{g: {values}}}}}\n'
    return [c.id for c in load_suite(write(tmp_path / "s.yaml", text)).cases]


def test_values_in_any_script_make_distinct_readable_ids(tmp_path: Path) -> None:
    assert ids_of(tmp_path, "[женщина, мужчина, 女性, 男性, महिला, امرأة, Ελένη]") == [
        "a[женщина]",
        "a[мужчина]",
        "a[女性]",
        "a[男性]",
        "a[महिला]",  # the vowel sign is a combining mark, kept with its letter
        "a[امرأة]",
        "a[ελένη]",
    ]


def test_accents_are_kept_so_similar_names_stay_apart(tmp_path: Path) -> None:
    assert ids_of(tmp_path, "[José, Jose, François, Zoë, Straße]") == [
        "a[josé]",
        "a[jose]",
        "a[françois]",
        "a[zoë]",
        "a[strasse]",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A young woman", "a-young-woman"),
        ("Jose\u0301", "josé"),  # decomposed é: NFC first, so it is the same id as "José"
        ("İstanbul", "i̇stanbul"),
        ("v1.2_beta", "v1.2_beta"),
        ("  --[x]/y-- ", "x-y"),
        ("!!!", "_"),
        ("", "_"),
    ],
)
def test_slug(value: str, expected: str) -> None:
    assert slug(value) == expected


def test_a_collision_names_both_values_and_the_fix(tmp_path: Path) -> None:
    text = """
    name: demo
    cases:
      - id: a
        prompt: "{g} {h}"
        vars:
          h: [x]
          g:
            - Jose
            - José
            - jose!
    """
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path / "s.yaml", text))
    assert str(info.value) == (
        "s.yaml:10:11: g='jose!' and g='Jose' (line 8) both give the case id 'a[x/jose]' (ids "
        "keep letters and digits, lowercased, and turn everything else into '-'); make the "
        "values differ in letters or digits, or give vars as a list of mappings with one more "
        "variable that tells them apart, e.g. - {g: 'jose!', variant: b}"
    )


def test_the_suggested_fix_works(tmp_path: Path) -> None:
    text = """
    name: demo
    cases:
      - id: a
        prompt: "{g}"
        vars:
          - {g: Jose, variant: a}
          - {g: "jose!", variant: b}
    """
    assert [c.id for c in load_suite(write(tmp_path / "s.yaml", text)).cases] == [
        "a[jose/a]",
        "a[jose/b]",
    ]


def test_a_value_given_twice_is_named(tmp_path: Path) -> None:
    text = 'name: demo\ncases:\n  - {id: a, prompt: "{g}", vars: [{g: x}, {g: x}]}\n'
    with pytest.raises(SuiteError, match=r"^s.yaml:3:47: vars give g='x' twice, .*delete the"):
        load_suite(write(tmp_path / "s.yaml", text))


def test_pytest_ids_and_k_work_with_unicode_ids(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        tunegate="""
suites: [suites]
base: base
candidate: cand
targets:
  base: {provider: replay, path: base.jsonl}
  cand: {provider: replay, path: cand.jsonl}
""",
    )
    outputs = {"ask[женщина]": "Да", "ask[мужчина]": "Да", "ask[josé]": "Sí", "ask[jose]": "Sí"}
    for name in ("base", "cand"):
        lines = [
            json.dumps({"case_id": k, "output": v}, ensure_ascii=False) for k, v in outputs.items()
        ]
        (pytester.path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "i18n.yaml").write_text(
        "name: i18n\ncases:\n"
        '  - {id: ask, prompt: "{g}?", vars: {g: [Женщина, Мужчина, José, Jose]}}\n',
        encoding="utf-8",
    )
    result = pytester.runpytest("suites/", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "suites/i18n.yaml::ask[женщина]",
            "suites/i18n.yaml::ask[мужчина]",
            "suites/i18n.yaml::ask[josé]",
            "suites/i18n.yaml::ask[jose]",
        ]
    )
    result = pytester.runpytest("suites/", "-k", "женщина", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=4)  # three cases and the gate item
    result = pytester.runpytest("suites/", "-k", "josé", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=4)
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_the_same_empty_vars_entry_twice_is_a_load_error_not_a_crash(tmp_path: Path) -> None:
    # Found by the loader fuzz test: two identical entries differ in no variable.
    path = write(
        tmp_path / "s.yaml",
        """
        name: d
        cases:
          - id: f
            prompt: hi
            vars: [{}, {}]
        """,
    )
    with pytest.raises(SuiteError, match=r"s\.yaml:5:\d+: vars lists the same values twice"):
        load_suite(path)
