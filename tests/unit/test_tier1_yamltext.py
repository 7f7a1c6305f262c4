"""The workflow YAML writer: stable text that reads back as the data it was given."""

from __future__ import annotations

import pytest

from ci.tier1.yamltext import Commented, dump, scalar

yaml = pytest.importorskip("yaml")


@pytest.mark.parametrize("value", ["true", "on", "no", "null", "3.11", "1e5", "a: b", "x #y",
                                   "-dash", "*star", "&amp", "!tag", "", " lead", "trail ",
                                   "quote\"d", "%pct", "@at", "`tick", "{brace"])
def test_ambiguous_strings_stay_strings(value: str) -> None:
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}


@pytest.mark.parametrize("value", ["main", "services/x/**", "${{ secrets.AWS_ROLE_ARN }}",
                                   'nox -s "integration-${SERVICE}"', "always()"])
def test_readable_strings_are_plain(value: str) -> None:
    assert scalar(value) == value


def test_round_trip_of_nested_data() -> None:
    data = {"name": "x", "on": {"push": {"branches": ["main"]}, "workflow_dispatch": {}},
            "jobs": {"j": {"steps": [{"run": "echo 1\necho 2\n"}, {"uses": "a/b@c", "with":
                                                                  {"flag": False, "n": 3}}],
                           "list": [], "nested": [["a", "b"], {"k": "v"}]}}}
    text = dump(data)
    loaded = yaml.load(text, Loader=yaml.BaseLoader)  # YAML 1.2-ish: `on` stays a key
    assert loaded["on"]["push"]["branches"] == ["main"]
    assert loaded["jobs"]["j"]["steps"][0]["run"] == "echo 1\necho 2\n"
    assert yaml.safe_load(text)["jobs"] == data["jobs"]


def test_commented_scalar_keeps_value_and_comment() -> None:
    text = dump({"uses": Commented("actions/checkout@abc", "v1.2.3")})
    assert text == "uses: actions/checkout@abc  # v1.2.3\n"
    assert yaml.safe_load(text) == {"uses": "actions/checkout@abc"}


def test_header_and_output_are_deterministic() -> None:
    data = {"b": 1, "a": [1, 2]}
    assert dump(data, "line one\nline two") == dump(data, "line one\nline two")
    assert dump(data, "line one").startswith("# line one\nb: 1\n\na:\n  - 1\n")


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError):
        dump({"x": 1.5})
