"""Validation errors name the user's path, never pydantic's names for union members."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from tunegate.suite import YamlDocument, load_yaml, suite_error_from

from .conftest import write


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cat(_Model):
    kind: Literal["cat"]
    lives: int


class Dog(_Model):
    kind: Literal["dog"]
    tricks: list[str]


def _checked(value: str) -> str:
    if value == "bad":
        raise ValueError("must not be 'bad'")
    return value


class Shapes(_Model):
    text: str | list[str] | None = None
    number: int | float | None = None
    flag: bool | None = None
    table: dict[str, list[str]] | list[dict[str, str]] | None = None
    checked: Annotated[str, AfterValidator(_checked)] | int | None = None
    pet: Annotated[Cat | Dog, Field(discriminator="kind")] | None = None
    animal: Cat | Dog | None = None
    # user keys that look like pydantic's labels must survive
    labels: dict[str, int | list[int]] | None = None


CASES = [
    ("text: 45", "t.yaml:1:7: text: Input should be a valid string or a valid list (got 45)"),
    ("text: [a, 3]", "t.yaml:1:11: text[1]: Input should be a valid string (got 3)"),
    ("number: many", "t.yaml:1:9: number: Input should be a valid integer"),
    ("flag: [x]", "t.yaml:1:7: flag: Input should be a valid boolean"),
    ("table: {a: x}", "t.yaml:1:12: table.a: Input should be a valid list (got 'x')"),
    ("table: 5", "t.yaml:1:8: table: Input should be a valid dictionary or a valid list (got 5)"),
    ("table: [{a: [1]}]", "t.yaml:1:13: table[0].a: Input should be a valid string"),
    ("checked: bad", "t.yaml:1:10: checked: must not be 'bad'"),
    ("pet: {kind: cat, lives: x}", "t.yaml:1:25: pet.lives: Input should be a valid integer"),
    ("pet: {kind: dog, tricks: [1]}", "t.yaml:1:27: pet.tricks[0]: Input should be a valid string"),
    ("pet: {kind: cat}", "t.yaml:1:6: missing required key 'lives' in pet"),
    ("pet: {kind: cat, lives: 1, fur: x}", "t.yaml:1:28: unknown key 'fur'"),
    ("animal: {kind: dog, tricks: 5}", "t.yaml:1:29: animal.tricks: Input should be a valid list"),
    (
        "labels: {str: x}",
        "t.yaml:1:15: labels.str: Input should be a valid integer or a valid list",
    ),
    ("labels: {int: [1, y]}", "t.yaml:1:19: labels.int[1]: Input should be a valid integer"),
    ("labels: {none: [z]}", "t.yaml:1:17: labels.none[0]: Input should be a valid integer"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[t for t, _ in CASES])
def test_error_paths_keep_the_users_keys(tmp_path: Path, text: str, expected: str) -> None:
    doc = load_yaml(write(tmp_path / "t.yaml", text + "\n"))
    with pytest.raises(ValidationError) as info:
        Shapes.model_validate(doc.data)
    message = str(suite_error_from(info.value, doc, Shapes))
    assert message.startswith(expected), message


def test_without_the_input_the_labels_are_dropped_by_name(tmp_path: Path) -> None:
    # pyproject.toml gives data but no positions; a document may also lack the data.
    doc = YamlDocument(path=tmp_path / "pyproject.toml", data=None)
    with pytest.raises(ValidationError) as info:
        Shapes.model_validate({"text": 45, "checked": [1]})
    assert str(suite_error_from(info.value, doc, Shapes)).startswith(
        "pyproject.toml:1:1: text: Input should be a valid string or a valid list"
    )


def test_nested_prefix_walks_the_validated_part(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path / "t.yaml", "outer:\n  - inner: {text: 4.5}\n"))
    data: Any = doc.data
    with pytest.raises(ValidationError) as info:
        Shapes.model_validate(data["outer"][0]["inner"])
    err = suite_error_from(info.value, doc, Shapes, prefix=("outer", 0, "inner"))
    assert str(err).startswith("t.yaml:2:19: outer[0].inner.text: Input should be a valid string")
