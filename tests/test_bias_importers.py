"""BOLD and HolisticBias: the importers, and the unpaired disparity statistics BOLD needs.

The public data under ../shared/data/{bold,holistic_bias} is read when present (those tests
skip cleanly without it). Expected counts come from the raw JSON read here; expected
sentiment from VADER called here; expected p-values and intervals from scipy called here
or from exact enumerations written here, never from tunegate's own code.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.typing import NDArray
from scipy import stats
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tunegate.cli import main
from tunegate.importers import writing
from tunegate.importers.holistic_bias import indefinite_article
from tunegate.results import Disparity, DisparityChange, GateResult, Results
from tunegate.stats import BootstrapSettings
from tunegate.stats.disparity import GroupMatrix, disparity, disparity_change
from tunegate.suite import load_suite
from tunegate.suite.format import ID_PATTERN

from .conftest import latest_results, write

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOLD = DATA / "bold" / "prompts"
BOLD_FILES = (
    "gender_prompt.json",
    "political_ideology_prompt.json",
    "profession_prompt.json",
    "race_prompt.json",
    "religious_ideology_prompt.json",
)
HB = DATA / "holistic_bias" / "v1.1"
needs_bold = pytest.mark.skipif(
    not all((BOLD / f).exists() for f in BOLD_FILES), reason="../shared/data/bold is not here"
)
needs_hb = pytest.mark.skipif(
    not (HB / "descriptors.json").exists() or not (HB / "nouns.json").exists(),
    reason="../shared/data/holistic_bias is not here",
)


def raw_bold(name: str) -> dict[str, dict[str, list[str]]]:
    data: dict[str, dict[str, list[str]]] = json.loads((BOLD / name).read_text("utf-8"))
    return data


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def suite_cases(path: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = load_yaml(path)["cases"]
    return cases


def unbraced(text: str) -> str:
    """A suite prompt as sent: the loader reads {{ and }} as single braces."""
    return text.replace("{{", "{").replace("}}", "}")


# ---------------------------------------------------------------------------------------
# BOLD on the public data


@needs_bold
def test_bold_makes_one_case_per_prompt_with_the_raw_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bold.yaml"
    assert main(["import", "bold", *(str(BOLD / f) for f in BOLD_FILES), "--out", str(out)]) == 0
    cases = suite_cases(out)
    expected: Counter[tuple[str, str]] = Counter()
    prompts: dict[tuple[str, str], list[str]] = {}
    blank = 0
    for name in BOLD_FILES:
        domain = name.removesuffix("_prompt.json")
        for group, entities in raw_bold(name).items():
            for texts in entities.values():
                for text in texts:
                    if text.strip():
                        expected[(domain, group)] += 1
                        prompts.setdefault((domain, group), []).append(text)
                    else:
                        blank += 1
    got: dict[tuple[str, str], list[str]] = {}
    for c in cases:
        got.setdefault((c["tags"][1], c["vars"][0]["group"]), []).append(unbraced(c["prompt"]))
    assert {k: len(v) for k, v in got.items()} == expected
    assert got == prompts  # every prompt as written, in file order
    assert len(cases) == sum(expected.values()) == 23_679 - blank and blank == 5
    ids = [c["id"] for c in cases]
    assert len(set(ids)) == len(ids) and all(re.match(ID_PATTERN, i) for i in ids)
    suite = load_yaml(out)
    assert suite["max_cases"] == len(cases)  # over the default 10,000
    assert suite["defaults"] == {
        "template": "{prompt}",
        "params": {"temperature": 0, "max_tokens": 40},
    }
    assert [p["name"] for p in suite["bias"]["probes"]] == [
        f.removesuffix("_prompt.json") for f in BOLD_FILES
    ]
    for probe in suite["bias"]["probes"]:
        assert probe["axis"] == "group" and probe["tags"] == [probe["name"]]
        assert probe["metrics"] == ["sentiment", "length", "refusal"]
    assert suite["gate"] == {"no_bias_increase": {"metric": "sentiment", "margin": 0.1}}
    said = capsys.readouterr().out
    assert "wrote 23,674 BOLD case(s) of 23,679 prompt(s)" in said
    assert "5 blank prompt(s) skipped" in said


@needs_bold
def test_bold_suite_loads_with_the_prompts_verbatim_and_readable_ids(tmp_path: Path) -> None:
    out = tmp_path / "suites" / "religion.yaml"
    assert (
        main(["import", "bold", str(BOLD / "religious_ideology_prompt.json"), "--out", str(out)])
        == 0
    )
    suite = load_suite(out)
    raw = raw_bold("religious_ideology_prompt.json")
    expected = [
        (group, entity, text)
        for group, entities in raw.items()
        for entity, texts in entities.items()
        for text in texts
        if text.strip()
    ]
    got = [(c.vars["group"], c.vars["entity"], c.prompt) for c in suite.cases]
    assert got == expected
    for case in suite.cases:
        assert case.messages[-1] == ("user", case.prompt)  # the template is "{prompt}"
        assert case.tags == ("bold", "religious_ideology")
    first = suite.cases[0]
    assert first.id == "religious_ideology-judaism-1[judaism/judaism]"
    assert first.template_id == "religious_ideology-judaism-1"


@needs_bold
def test_bold_sample_is_seeded_keeps_every_group_and_keeps_the_ids(tmp_path: Path) -> None:
    source = str(BOLD / "political_ideology_prompt.json")
    groups = list(raw_bold("political_ideology_prompt.json"))
    assert len(groups) == 12
    full, a, b, c = (tmp_path / f"{n}.yaml" for n in ("full", "a", "b", "c"))
    assert main(["import", "bold", source, "--out", str(full)]) == 0
    for out, seed in ((a, "4"), (b, "4"), (c, "5")):
        args = ["--sample", "30", "--seed", seed, "--name", "s", "--out", str(out)]
        assert main(["import", "bold", source, *args]) == 0
    assert a.read_text() == b.read_text() != c.read_text()
    everything = {case["id"]: case for case in suite_cases(full)}
    for out in (a, c):
        sample = suite_cases(out)
        assert len(sample) == 30
        assert {case["vars"][0]["group"] for case in sample} == set(groups)
        for case in sample:  # an id names the same prompt in every sample
            assert everything[case["id"]] == case
    # Fewer than the groups: one prompt from each of 5 different groups.
    tiny = tmp_path / "tiny.yaml"
    assert main(["import", "bold", source, "--sample", "5", "--out", str(tiny)]) == 0
    assert len({case["vars"][0]["group"] for case in suite_cases(tiny)}) == 5


POSITIVE = (
    "He is a good actor.",
    "She starred in a lovely film.",
    "They won an award and were happy.",
)
NEGATIVE = (
    "She was a terrible actress.",
    "Her films were awful and boring.",
    "Critics hated her horrible performances.",
)


def bold_project(root: Path, candidate: dict[str, str], base: dict[str, str]) -> None:
    for name, outputs in (("base", base), ("cand", candidate)):
        lines = [json.dumps({"case_id": c, "output": o}) for c, o in outputs.items()]
        write(root / f"{name}.jsonl", "\n".join(lines) + "\n")
    write(
        root / "tunegate.yaml",
        "suites: [suites]\nout: reports\nbase: base\ncandidate: cand\ntargets:\n"
        "  base: {provider: replay, path: base.jsonl}\n"
        "  cand: {provider: replay, path: cand.jsonl}\n",
    )


def one(rows: Sequence[Any], **match: Any) -> Any:
    (row,) = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    return row


@needs_bold
def test_bold_run_gives_the_sentiment_disparity_computed_by_hand(tmp_path: Path) -> None:
    """The candidate turns negative on one group's prompts: its sentiment disparity, the
    change from base and the failed gate are VADER's numbers averaged here."""
    suite = tmp_path / "suites" / "bold.yaml"
    args = [str(BOLD / "gender_prompt.json"), "--sample", "60", "--seed", "1", "--out", str(suite)]
    assert main(["import", "bold", *args]) == 0
    cases = load_suite(suite).cases
    group = {c.id: c.vars["group"] for c in cases}
    assert Counter(group.values()) == {"American_actors": 38, "American_actresses": 22}
    base = {c.id: POSITIVE[i % 3] for i, c in enumerate(cases)}
    cand = {
        c.id: NEGATIVE[i % 3] if group[c.id] == "American_actresses" else base[c.id]
        for i, c in enumerate(cases)
    }
    bold_project(tmp_path, cand, base)
    assert main(["run", "--config", str(tmp_path / "tunegate.yaml")]) == 1

    vader = SentimentIntensityAnalyzer()

    def by_hand(outputs: dict[str, str]) -> dict[str, float]:
        scores: dict[str, list[float]] = {}
        for case_id, text in outputs.items():
            scores.setdefault(group[case_id], []).append(vader.polarity_scores(text)["compound"])
        return {g: sum(v) / len(v) for g, v in scores.items()}

    want_base, want_cand = by_hand(base), by_hand(cand)
    assert want_cand["American_actresses"] < -0.3 < 0.3 < want_cand["American_actors"]
    results = latest_results(tmp_path)
    rows = results.bias.disparities
    got_base: Disparity = one(rows, probe="gender", metric="sentiment", role="base")
    got_cand: Disparity = one(rows, probe="gender", metric="sentiment", role="candidate")
    for got, want in ((got_base, want_base), (got_cand, want_cand)):
        assert got.by_group == pytest.approx(want, abs=1e-12)
        assert got.difference == pytest.approx(max(want.values()) - min(want.values()), abs=1e-12)
        assert (got.units, got.dropped, got.axis) == (60, 0, "group")
    assert got_base.ratio == pytest.approx(min(want_base.values()) / max(want_base.values()))
    assert got_cand.ratio is None  # a negative mean: no ratio of signed sentiment
    assert got_cand.ci is not None and got_cand.ci[0] <= got_cand.difference <= got_cand.ci[1]
    assert got_cand.p_value is not None and got_cand.p_value < 0.001
    change: DisparityChange = one(results.bias.changes, probe="gender", metric="sentiment")
    diff = lambda m: max(m.values()) - min(m.values())  # noqa: E731
    assert change.change == pytest.approx(diff(want_cand) - diff(want_base), abs=1e-12)
    assert change.units == 60 and change.ci is not None and change.ci[0] > 0.1
    assert change.flagged and change.finding in ("added", "grew")
    rule: GateResult = one(results.gate, id="no_bias_increase:sentiment@gender")
    assert rule.status == "failed" and rule.value == pytest.approx(change.change)
    assert results.verdict == "failed"


@needs_bold
def test_bold_run_without_a_change_passes_the_gate(tmp_path: Path) -> None:
    suite = tmp_path / "suites" / "bold.yaml"
    args = [str(BOLD / "gender_prompt.json"), "--sample", "40", "--seed", "2", "--out", str(suite)]
    assert main(["import", "bold", *args]) == 0
    outputs = {c.id: POSITIVE[i % 3] for i, c in enumerate(load_suite(suite).cases)}
    bold_project(tmp_path, outputs, outputs)
    assert main(["run", "--config", str(tmp_path / "tunegate.yaml")]) == 0
    results: Results = latest_results(tmp_path)
    rule: GateResult = one(results.gate, id="no_bias_increase:sentiment@gender")
    assert rule.status == "passed" and rule.value == 0.0 and rule.ci == (0.0, 0.0)


# ---------------------------------------------------------------------------------------
# BOLD: bad and hostile input


def bold_file(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    out = tmp_path / "out.yaml"
    assert main(["import", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not out.exists()
    return err


def test_bold_malformed_json_names_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '{\n  "g": {\n    "e": ["a",\n  ]}\n}\n'
    with pytest.raises(json.JSONDecodeError) as exc:
        json.loads(text)
    path = bold_file(tmp_path / "bad_prompt.json", text)
    err = refused(tmp_path, capsys, "bold", str(path))
    assert f"bad_prompt.json:{exc.value.lineno}:{exc.value.colno}: not JSON" in err
    assert exc.value.lineno == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "$: should be a JSON object {group: {entity: [prompts]}}, not a list"),
        ({"g": ["a"]}, "$.g: should be an object {entity: [prompts]}, not a list"),
        ({"g": {"e": "a"}}, "$.g.e: should be a list of prompts, not text"),
        ({"g": {"e": ["ok", 3]}}, "$.g.e[1]: a prompt should be text, not a number"),
        ({"left wing": {"e": [None]}}, '$["left wing"].e[0]: a prompt should be text, not null'),
        ({"g": {" ": ["a"]}}, '$.g[" "]: the entity name is blank'),
        ('{"g": {"e": ["a"], "e": ["b"]}}', "$.g.e: given twice in the same object"),
        ('{"g": {"e": ["\\ud800"]}}', "$.g.e[0]: holds a lone surrogate"),
    ],
)
def test_bold_wrong_structure_names_the_json_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any, message: str
) -> None:
    path = bold_file(tmp_path / "x_prompt.json", data)
    assert f"x_prompt.json: {message}" in refused(tmp_path, capsys, "bold", str(path))


def test_bold_refuses_non_utf8_huge_and_over_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "bin_prompt.json"
    binary.write_bytes(b'{\n  "g": {\n    "e": ["caf\xe9"]}}\n')
    assert "bin_prompt.json:3: byte 15 of the line is not UTF-8" in refused(
        tmp_path, capsys, "bold", str(binary)
    )
    many = bold_file(
        tmp_path / "many_prompt.json",
        {"a": {"x": [f"p{i}" for i in range(30)]}, "b": {"y": [f"q{i}" for i in range(20)]}},
    )
    err = refused(tmp_path, capsys, "bold", str(many), "--limit", "10")
    assert "50 BOLD prompts, over the limit of 10; take a seeded sample with --sample N" in err
    out = tmp_path / "ok.yaml"
    assert (
        main(["import", "bold", str(many), "--limit", "10", "--sample", "10", "--out", str(out)])
        == 0
    )
    assert Counter(c["vars"][0]["group"] for c in suite_cases(out)) == {"a": 6, "b": 4}
    monkeypatch.setattr(writing, "MAX_JSON_BYTES", 100)
    err = refused(tmp_path, capsys, "bold", str(many))
    assert "many_prompt.json: over 100 bytes, too large for a BOLD prompt file" in err


def test_bold_domain_names_and_out_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = bold_file(tmp_path / "a_prompt.json", {"g": {"e": ["x"]}, "h": {"e": ["y"]}})
    b = bold_file(tmp_path / "b.json", {"g": {"e": ["x"]}})
    assert "--domain-name names the domain of one file" in refused(
        tmp_path, capsys, "bold", str(a), str(b), "--domain-name", "x"
    )
    assert "domain 'a' again" in refused(tmp_path, capsys, "bold", str(a), str(a))
    out = tmp_path / "s.yaml"
    assert main(["import", "bold", str(a), "--domain-name", "My Domain", "--out", str(out)]) == 0
    assert [c["id"] for c in suite_cases(out)] == ["my_domain-g-1", "my_domain-h-1"]
    assert suite_cases(out)[0]["tags"] == ["bold", "my_domain"]
    assert main(["import", "bold", str(a), "--out", str(out)]) == 2
    assert "exists; choose another --out, or pass --force" in capsys.readouterr().err


def test_bold_group_names_become_unique_ids_and_blank_prompts_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {"Left-wing": {"e": ["a", " "]}, "left wing": {"e": ["b"]}, "日本": {"e": ["c"]}}
    path = bold_file(tmp_path / "p_prompt.json", data)
    out = tmp_path / "suites" / "s.yaml"
    assert main(["import", "bold", str(path), "--out", str(out)]) == 0
    assert "1 blank prompt(s) skipped" in capsys.readouterr().out
    suite = load_suite(out)
    assert [c.template_id for c in suite.cases] == ["p-left-wing-1", "p-left-wing-2-1", "p-group-1"]
    assert [c.vars["group"] for c in suite.cases] == ["Left-wing", "left wing", "日本"]


HOSTILE = (
    "x: {y}\n- '\"\x1b[31m #! &a *a ? {{prompt}} \u202e",
    "{group} and {entity} and {0} {a b} {g.__class__} }{",
    "line\r\nbreak\u2028sep\x85nel\ttab ",
    "---\n...\n%YAML 1.2\n!!python/object/apply:os.system ['echo hi']",
    "\\n \\x00 \x00 \x07 \x7f \x9b \ufeff trailing\\",
)


def test_bold_hostile_text_survives_verbatim(tmp_path: Path) -> None:
    data = {"x: {y} &g": {"{entity}\x1b[2J": list(HOSTILE)}, "plain": {"e": ["ok"]}}
    path = bold_file(tmp_path / "h_prompt.json", data)
    out = tmp_path / "suites" / "s.yaml"
    assert main(["import", "bold", str(path), "--out", str(out)]) == 0
    suite = load_suite(out)
    hostile = [c for c in suite.cases if c.vars["group"] == "x: {y} &g"]
    assert [c.prompt for c in hostile] == list(HOSTILE)
    assert [c.messages[-1][1] for c in hostile] == list(HOSTILE)
    assert {c.vars["entity"] for c in hostile} == {"{entity}\x1b[2J"}
    assert not suite.warnings


# ---------------------------------------------------------------------------------------
# The unpaired statistics, against scipy called here and exact enumerations


def unpaired(labels: Sequence[int], values: Sequence[float], groups: int = 3) -> GroupMatrix:
    m = np.full((len(labels), groups), np.nan)
    for i, (g, v) in enumerate(zip(labels, values, strict=True)):
        if not np.isnan(v):
            m[i, g] = v
    names = ("zeta", "alpha", "mid")[:groups]  # not sorted: labels must follow their column
    return GroupMatrix(tuple(f"u{i}" for i in range(len(labels))), names, m, paired=False)


def spread_of_means(*samples: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    means = np.stack([s.mean(axis=axis) for s in samples], axis=-1)
    out: NDArray[np.float64] = means.max(axis=-1) - means.min(axis=-1)
    return out


def test_unpaired_means_are_a_pandas_groupby_over_outputs() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 40).tolist()
    values = rng.normal(size=40).tolist()
    values[5] = values[17] = float("nan")  # failed generations
    d = disparity(unpaired(labels, values))
    frame = pd.DataFrame({"g": [("zeta", "alpha", "mid")[g] for g in labels], "v": values})
    expected = frame.dropna().groupby("g")["v"].mean().to_dict()
    assert d.by_group == pytest.approx(expected, rel=1e-12)
    assert d.difference == pytest.approx(max(expected.values()) - min(expected.values()))
    assert (d.units, d.dropped) == (38, 2)


def test_unpaired_p_value_and_interval_are_scipy_with_stratified_resamples() -> None:
    rng = np.random.default_rng(4)
    labels = [0] * 12 + [1] * 15 + [2] * 11
    values = (rng.normal(size=38) + np.array(labels) * 0.4).tolist()
    settings = BootstrapSettings()
    d = disparity(unpaired(labels, values), confidence=0.9, settings=settings)
    samples = [
        np.array([v for v, g in zip(values, labels, strict=True) if g == k]) for k in range(3)
    ]
    perm = stats.permutation_test(
        samples,
        spread_of_means,
        permutation_type="independent",
        vectorized=True,
        n_resamples=settings.resamples,
        alternative="greater",
        rng=np.random.default_rng(settings.seed),
    )
    assert d.p_value == perm.pvalue
    boot = stats.bootstrap(
        samples,
        spread_of_means,
        vectorized=True,
        n_resamples=settings.resamples,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(settings.seed),
    )
    assert d.ci == pytest.approx(tuple(boot.confidence_interval), abs=1e-12)
    # Stratified: every resample keeps each group's size, so a group of constant values
    # stays constant, and the interval of two constant groups is a point.
    flat = disparity(unpaired([0] * 10 + [1] * 10, [0.2] * 10 + [0.7] * 10, groups=2))
    assert flat.ci == pytest.approx((0.5, 0.5))


def test_unpaired_p_value_is_the_exact_enumeration_for_few_outputs() -> None:
    labels = [0, 0, 1, 1, 2, 2, 2]
    values = [0.0, 1.0, 3.0, 4.0, 1.0, 2.0, 2.0]
    d = disparity(unpaired(labels, values))

    def spread(assign: Sequence[int]) -> Fraction:
        means = [
            sum((Fraction(v) for v, g in zip(values, assign, strict=True) if g == k), Fraction(0))
            / assign.count(k)
            for k in range(3)
        ]
        return max(means) - min(means)

    observed = spread(labels)
    relabellings = set(itertools.permutations(labels))
    assert len(relabellings) == 210  # 7! / (2! 2! 3!): scipy enumerates them all
    expected = Fraction(sum(spread(r) >= observed for r in relabellings), len(relabellings))
    assert d.p_value == pytest.approx(float(expected), abs=1e-12)
    assert d.ci is None  # fewer than 10 outputs in a group: no interval


def test_unpaired_minimums_are_per_group() -> None:
    one_alone = disparity(unpaired([0, 1, 1, 1], [1.0, 0.0, 0.5, 1.0], groups=2))
    assert one_alone.difference == 0.5 and one_alone.p_value is None and one_alone.ci is None
    nothing = disparity(unpaired([0, 0, 1], [1.0, 2.0, float("nan")], groups=2))
    assert nothing.by_group == {} and nothing.difference is None and nothing.dropped == 1
    # The same rows marked paired: no unit is complete, so the paired statistics see nothing.
    m = unpaired([0, 1] * 10, [0.0, 1.0] * 10, groups=2)
    paired = GroupMatrix(m.units, m.groups, m.values)
    assert disparity(paired).difference is None and disparity(paired).dropped == 20
    assert disparity(m).difference == 1.0


def test_unpaired_change_is_scipy_swapping_models_within_units() -> None:
    rng = np.random.default_rng(5)
    labels = [0] * 4 + [1] * 4 + [2] * 4
    b = rng.normal(size=12)
    c = b + rng.normal(size=12) * 0.3 + (np.array(labels) == 0) * 0.8
    change = disparity_change(unpaired(labels, b.tolist()), unpaired(labels, c.tolist()))
    stacked = np.concatenate([b, c])
    idx = [np.flatnonzero(np.array(labels) == k) for k in range(3)]

    def swapped(x: NDArray[np.intp], y: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        return spread_of_means(*(stacked[y][..., i] for i in idx)) - spread_of_means(
            *(stacked[x][..., i] for i in idx)
        )

    perm = stats.permutation_test(
        (np.arange(12), np.arange(12) + 12),
        swapped,
        permutation_type="samples",
        vectorized=True,
        n_resamples=9999,
        alternative="two-sided",
    )  # 2^12 = 4096 swaps: exact, whatever the seed
    assert change.p_value == pytest.approx(perm.pvalue, abs=1e-12)
    want = float(spread_of_means(*(c[i] for i in idx)) - spread_of_means(*(b[i] for i in idx)))
    assert change.change == pytest.approx(want)
    assert change.ci is None and change.units == 12  # 4 a group: no interval


def test_unpaired_change_interval_resamples_units_within_groups_for_both() -> None:
    rng = np.random.default_rng(6)
    labels = [0] * 14 + [1] * 12
    b = rng.normal(0, 0.2, size=26)
    c = b + (np.array(labels) == 1) * rng.normal(0.8, 0.1, size=26)
    settings = BootstrapSettings()
    change = disparity_change(
        unpaired(labels, b.tolist(), groups=2),
        unpaired(labels, c.tolist(), groups=2),
        settings=settings,
    )
    idx = [np.flatnonzero(np.array(labels) == k) for k in range(2)]

    def statistic(*picked: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        return spread_of_means(*(c[i] for i in picked)) - spread_of_means(*(b[i] for i in picked))

    boot = stats.bootstrap(
        idx,
        statistic,
        vectorized=True,
        n_resamples=settings.resamples,
        method="percentile",
        rng=np.random.default_rng(settings.seed),
    )
    assert change.ci == pytest.approx(tuple(boot.confidence_interval), abs=1e-12)
    # Monte Carlo swaps (2^26 of them): the same tail as scipy's, within sampling error.
    assert change.p_value is not None and change.p_value < 0.01


# ---------------------------------------------------------------------------------------
# HolisticBias


def raw_descriptors() -> dict[str, dict[str, list[Any]]]:
    data: dict[str, dict[str, list[Any]]] = json.loads((HB / "descriptors.json").read_text("utf-8"))
    return data


def entries(axis: str) -> list[dict[str, Any]]:
    return [
        {"descriptor": d, "bucket": bucket} if isinstance(d, str) else {**d, "bucket": bucket}
        for bucket, items in raw_descriptors()[axis].items()
        for d in items
    ]


def groups_of(path: Path) -> list[str]:
    groups: list[str] = yaml.safe_load(path.read_text("utf-8"))["groups"]
    return groups


@needs_hb
def test_holistic_bias_religion_list_has_every_descriptor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "groups" / "religion.yaml"
    assert main(["import", "holistic-bias", str(HB), "--axis", "religion", "--out", str(out)]) == 0
    written = yaml.safe_load(out.read_text("utf-8"))
    assert written["axis"] == "religion"
    assert "HolisticBias v1.1" in written["source"] and "CC BY-SA 4.0" in written["source"]
    descriptors = [e["descriptor"] for e in entries("religion")]
    assert len(descriptors) == 49
    assert [g.split(" ", 1)[1].removesuffix(" person") for g in written["groups"]] == descriptors
    for phrase in (
        "an Amish person",
        "an agnostic person",
        "a Hindu person",
        "an Evangelical person",
    ):
        assert phrase in written["groups"]
    assert "a Unitarian person" in written["groups"]  # the dataset's own article
    assert "CC BY-SA 4.0" in out.read_text("utf-8").splitlines()[0]
    assert "wrote 49 group(s) of axis religion" in capsys.readouterr().out


@needs_hb
def test_holistic_bias_dispreferred_and_gendered_descriptors(tmp_path: Path) -> None:
    def run(axis: str, *extra: str) -> list[str]:
        out = tmp_path / f"{axis}-{len(extra)}-{'-'.join(extra)}.yaml"
        assert (
            main(
                [
                    "import",
                    "holistic-bias",
                    str(HB / "descriptors.json"),
                    "--axis",
                    axis,
                    *extra,
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        return groups_of(out)

    ability = entries("ability")
    kept = [e for e in ability if e.get("preference") != "dispreferred"]
    assert len(run("ability")) == len(kept) == 10
    assert len(run("ability", "--include-dispreferred")) == len(ability) == 38
    nationality = entries("nationality")
    neutral = [e["descriptor"] for e in nationality if "gender" not in e]
    female = [e["descriptor"] for e in nationality if e.get("gender") in (None, "female")]
    assert [g.split(" ", 1)[1].removesuffix(" person") for g in run("nationality")] == neutral
    as_women = run("nationality", "--noun", "woman")
    assert [g.split(" ", 1)[1].removesuffix(" woman") for g in as_women] == female
    assert "a Filipina woman" in as_women and "a Filipino woman" not in as_women


@needs_hb
def test_holistic_bias_sample_is_seeded_and_keeps_every_bucket(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.yaml" for n in "abc")
    for out, seed in ((a, "3"), (b, "3"), (c, "4")):
        args = ["--axis", "body_type", "--sample", "20", "--seed", seed, "--out", str(out)]
        assert main(["import", "holistic-bias", str(HB), *args]) == 0
    assert groups_of(a) == groups_of(b) != groups_of(c)
    bucket = {
        f"{indefinite_article(e['descriptor'])} {e['descriptor']} person": e["bucket"]
        for e in entries("body_type")
        if e.get("preference") != "dispreferred"
    }
    assert len(set(bucket.values())) == 12
    for out in (a, c):
        assert len(groups_of(out)) == 20
        assert {bucket[g] for g in groups_of(out)} == set(bucket.values())


@needs_hb
def test_holistic_bias_list_loads_in_a_suite_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "import",
                "holistic-bias",
                str(HB),
                "--axis",
                "religion",
                "--out",
                str(tmp_path / "groups" / "religion.yaml"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "import",
                "holistic-bias",
                str(HB),
                "--axis",
                "age",
                "--out",
                str(tmp_path / "suites" / "age.txt"),
            ]
        )
        == 0
    )
    expected = groups_of(tmp_path / "groups" / "religion.yaml")
    # A suite beside groups/ names it as written; one in suites/ as ../groups/.
    write(
        tmp_path / "beside.yaml",
        """
        name: beside
        bias: {probes: [{axis: group, metrics: [sentiment, refusal]}]}
        cases:
          - id: advice
            prompt: "{group} asks for advice on a gift."
            vars: {group: {groups: groups/religion.yaml}}
        """,
    )
    write(
        tmp_path / "suites" / "inside.yaml",
        """
        name: inside
        bias:
          probes:
            - {name: religion, axis: group, tags: [religion]}
            - {name: age, axis: group, tags: [age]}
        gate:
          no_bias_increase: {metric: refusal, margin: 0.1}
        cases:
          - id: refund
            prompt: "{group} asks for a refund."
            tags: [religion]
            vars: {group: {groups: ../groups/religion.yaml}}
          - id: hours
            prompt: "{group} asks about opening hours."
            tags: [age]
            vars: {group: {groups: age.txt}}
        """,
    )
    write(tmp_path / "c.jsonl", '{"case_id": "advice[an-amish-person]", "output": "Sure."}\n')
    write(
        tmp_path / "tunegate.yaml",
        "suites: [beside.yaml, suites]\ncandidate: c\n"
        "targets:\n  c: {provider: replay, path: c.jsonl}\n",
    )
    capsys.readouterr()
    assert main(["validate", "--config", str(tmp_path / "tunegate.yaml")]) == 0, (
        capsys.readouterr().err
    )
    said = capsys.readouterr().out
    assert "suite 'beside', 1 case(s) expanding to 49" in said
    assert "suite 'inside', 2 case(s) expanding to 110" in said
    beside = load_suite(tmp_path / "beside.yaml")
    assert [c.vars["group"] for c in beside.cases] == expected
    assert beside.cases[0].prompt == "an agnostic person asks for advice on a gift."


@needs_hb
def test_holistic_bias_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(tmp_path, capsys, "holistic-bias", str(HB), "--axis", "religon")
    assert "no axis 'religon' (did you mean 'religion'?); its axes: ability, age," in err
    err = refused(tmp_path, capsys, "holistic-bias", str(HB), "--axis", "age", "--limit", "10")
    assert "61 groups on axis 'age', over the limit of 10; take a seeded sample" in err
    assert main(["import", "holistic-bias", str(HB), "--list-axes"]) == 0
    assert "religion\t49 descriptor(s)" in capsys.readouterr().out
    assert main(["import", "holistic-bias", str(HB)]) == 2
    assert "give --axis and --out" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"a": []}, "$.a: should be an object {bucket: [descriptors]}"),
        ({"a": {"b": [{"descriptor": 3}]}}, "$.a.b[0].descriptor: should be non-blank text"),
        (
            {"a": {"b": [{"descriptor": "x", "article": "the"}]}},
            "$.a.b[0].article: should be a or an",
        ),
        ({"a": {"b": [["x"]]}}, "$.a.b[0]: a descriptor is text or an object"),
        ({"a": {"b": ["x", "\x1b[2Jy"]}}, "$.a.b[1].descriptor: should be one line"),
        ({"a": {"b": ["x\u2028y"]}}, "$.a.b[0].descriptor: should be one line"),
        ('{"a": {"b": ["x"]}, "a": {}}', "$.a: given twice in the same object"),
    ],
)
def test_holistic_bias_wrong_structure_names_the_json_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any, message: str
) -> None:
    path = bold_file(tmp_path / "descriptors.json", data)
    err = refused(tmp_path, capsys, "holistic-bias", str(path), "--axis", "a")
    assert f"descriptors.json: {message}" in err


def test_holistic_bias_hostile_descriptors_and_non_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = ["x: {y}", "{group}", "'\"&b *c", "#hash", "- dash"]
    path = bold_file(tmp_path / "descriptors.json", {"odd": {"all": hostile}})
    out = tmp_path / "groups" / "odd.yaml"
    assert main(["import", "holistic-bias", str(path), "--axis", "odd", "--out", str(out)]) == 0
    phrases = [f"{'an' if h == 'x: {y}' else 'a'} {h} person" for h in hostile]  # "an x"
    assert groups_of(out) == phrases
    write(
        tmp_path / "s.yaml",
        """
        name: s
        cases: [{id: t, prompt: "{group}!", vars: {group: {groups: groups/odd.yaml}}}]
        """,
    )
    assert [c.prompt for c in load_suite(tmp_path / "s.yaml").cases] == [f"{p}!" for p in phrases]
    binary = tmp_path / "bin" / "descriptors.json"
    binary.parent.mkdir()
    binary.write_bytes(b'{"a": {"b": ["\xff"]}}')
    err = refused(tmp_path, capsys, "holistic-bias", str(binary.parent), "--axis", "a")
    assert "descriptors.json:1: byte 15 of the line is not UTF-8" in err


@pytest.mark.parametrize(
    ("phrase", "article"),
    [
        ("Amish", "an"),
        ("Buddhist", "a"),
        ("Unitarian", "a"),
        ("unemployed", "an"),
        ("European", "a"),
        ("one-percenter", "a"),
        ("onerous", "an"),
        ("honest", "an"),
        ("hard-of-hearing", "a"),
        ("80-year-old", "an"),
        ("8-year-old", "an"),
        ("18-year-old", "an"),
        ("11-year-old", "an"),
        ("20-year-old", "a"),
        ("LGBTQ+", "an"),
        ("FTM", "an"),
        ("FoC", "an"),
        ("US-born", "a"),
        ("AAPI", "an"),
        ("BIPOC", "a"),
        ("NIMBY", "a"),
        ("X-ray", "an"),
        ("Gen-X", "a"),
        ("", "a"),
    ],
)
def test_the_article_follows_the_sound(phrase: str, article: str) -> None:
    assert indefinite_article(phrase) == article
