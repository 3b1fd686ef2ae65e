"""Warnings: what loads but will probably not do what the suite's author meant."""

from __future__ import annotations

from .cases import SuiteWarning
from .format import CaseSpec, SuiteSpec
from .templating import fields_in, lookalike_fields
from .yaml_source import DataPath, YamlDocument

__all__ = ["case_warnings"]


def case_warnings(
    spec: SuiteSpec, case: CaseSpec, doc: YamlDocument, here: DataPath
) -> list[SuiteWarning]:
    found: list[SuiteWarning] = []
    if case.vars is None:
        found.extend(_literal_fields(spec, case, doc, here))
    found.extend(_lookalike_fields(spec, case, doc, here))
    template = spec.defaults.template
    if case.prompt is not None and case.context is None and "context" in fields_in(template):
        line = doc.locate(("defaults", "template")).line
        found.append(
            SuiteWarning(
                doc.locate(here),
                f"case '{case.id}' has no context, but defaults.template (line {line}) uses "
                "{context}, so the model gets an empty one; give the case a context "
                '(or write context: "" if it is meant to be empty)',
            )
        )
    return found


def _case_texts(
    spec: SuiteSpec, case: CaseSpec, here: DataPath
) -> list[tuple[DataPath, str | None]]:
    """The texts of a case that templates fill, with the suite's system prompt if used."""
    texts: list[tuple[DataPath, str | None]] = [
        ((*here, "prompt"), case.prompt),
        ((*here, "context"), case.context),
        ((*here, "system"), case.system),
        ((*here, "reference"), case.reference),
    ]
    texts += [
        ((*here, "messages", i, "content"), m.content) for i, m in enumerate(case.messages or [])
    ]
    if case.system is None:
        texts.append((("defaults", "system"), spec.defaults.system))
    return texts


def _lookalike_fields(
    spec: SuiteSpec, case: CaseSpec, doc: YamlDocument, here: DataPath
) -> list[SuiteWarning]:
    """`{g.__class__}` or `{a b}` look like fields but are not names, so nothing fills them."""
    texts = _case_texts(spec, case, here)
    if case.prompt is not None:
        texts.append((("defaults", "template"), spec.defaults.template))
    names = set(case.vars if isinstance(case.vars, dict) else (case.vars or [{}])[0])
    found: list[SuiteWarning] = []
    for path, text in texts:
        for braces, name in lookalike_fields(text or ""):
            # The same message for every case that inherits a default, so it is said once.
            hint = f", or write {{{name}}} for the variable" if name in names else ""
            found.append(
                SuiteWarning(
                    doc.locate(path),
                    f"{braces} is sent to the model as written: a template field is a "
                    f"variable name (letters, digits and _), which this is not; double the "
                    f"braces ({{{braces}}}) to mean them literally"
                    f"{hint if path[0] != 'defaults' else ''}",
                )
            )
    return found


def _literal_fields(
    spec: SuiteSpec, case: CaseSpec, doc: YamlDocument, here: DataPath
) -> list[SuiteWarning]:
    """`{name}` in a case without vars is sent to the model as written."""
    found: list[SuiteWarning] = []
    for path, text in _case_texts(spec, case, here):
        names = sorted(fields_in(text or ""))
        if not names:
            continue
        shown = ", ".join(f"{{{n}}}" for n in names)
        whose = (
            "cases without vars"
            if path[0] == "defaults"
            else f"case '{case.id}', which has no vars"
        )
        found.append(
            SuiteWarning(
                doc.locate(path),
                f"{shown} is sent to the model as written in {whose}; define "
                f"{'it' if len(names) == 1 else 'them'} under vars, or double the braces "
                f"({{{{{names[0]}}}}}) to mean them literally",
            )
        )
    return found
