"""Python rules: module paths, built-ins, entry points, classes with options, and their errors."""

from __future__ import annotations

import re
import sys
import textwrap
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from redrive.rules import Decision, InvalidRule, RuleDocument, RuleOutcome, UnknownRule, apply_rules, load_rules
from redrive.rules.builtin import discard_unparseable
from redrive.rules.registry import ENTRY_POINT_GROUP, registered_rule_names, resolve_python_rule

PLUGIN_SOURCE = textwrap.dedent(
    """
    from redrive.rules.base import Decision

    def drop_heartbeats(document):
        data = document["data"]
        if isinstance(data, dict) and data.get("kind") == "heartbeat":
            return Decision.discard("heartbeat")
        return None

    class DropByField:
        def __init__(self, field, value, reason="matched a field"):
            self.field, self.value, self.reason = field, value, reason

        def decide(self, document):
            data = document["data"]
            if isinstance(data, dict) and data.get(self.field) == self.value:
                return Decision.discard(self.reason)
            return None

    class Holder:
        rule = staticmethod(drop_heartbeats)

    configured = DropByField("kind", "noise", reason="noise")

    class NoDecide:
        pass

    NOT_A_RULE = 42
    """
)


def document(data: Any) -> RuleDocument:
    return {
        "data": data,
        "text": None,
        "partitionKey": "k",
        "sequenceNumber": "1",
        "shardId": "shardId-000000000000",
        "source": "kinesis",
        "eventName": None,
        "failure": {"condition": None, "functionError": None, "approximateInvokeCount": None},
    }


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a freshly written, importable module holding rules (removed afterwards)."""
    name = f"redrive_rules_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(PLUGIN_SOURCE)
    (tmp_path / f"{name}_broken.py").write_text("raise ImportError('needs the frobnicate package')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    sys.modules.pop(f"{name}_broken", None)


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *pairs: tuple[str, str]) -> None:
    """Make ``importlib.metadata.entry_points`` report exactly these (name, value) pairs for our group."""
    found = [metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in pairs]

    def entry_points(*, group: str) -> list[metadata.EntryPoint]:
        return found if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)


class TestModulePath:
    def test_function_by_module_path(self, plugin: str) -> None:
        rules = load_rules([{"name": "hb", "python": f"{plugin}:drop_heartbeats"}])
        assert apply_rules(rules, document({"kind": "heartbeat"})) == RuleOutcome(
            "discard", rule="hb", reason="heartbeat"
        )
        assert apply_rules(rules, document({"kind": "order"})) == RuleOutcome("redrive")

    def test_class_gets_options_as_keyword_arguments(self, plugin: str) -> None:
        spec = {
            "name": "drop-pings",
            "python": f"{plugin}:DropByField",
            "options": {"field": "kind", "value": "ping", "reason": "pings are noise"},
        }
        rules = load_rules([spec])
        assert apply_rules(rules, document({"kind": "ping"})) == RuleOutcome(
            "discard", rule="drop-pings", reason="pings are noise"
        )

    def test_configured_instance_and_dotted_attribute(self, plugin: str) -> None:
        rules = load_rules(
            [{"name": "noise", "python": f"{plugin}:configured"}, {"name": "hb", "python": f"{plugin}:Holder.rule"}]
        )
        assert apply_rules(rules, document({"kind": "noise"})).rule == "noise"
        assert apply_rules(rules, document({"kind": "heartbeat"})).rule == "hb"

    def test_name_defaults_to_the_reference(self, plugin: str) -> None:
        (loaded,) = load_rules([{"python": f"{plugin}:drop_heartbeats"}])
        assert loaded.name == f"{plugin}:drop_heartbeats"

    def test_options_for_a_function_are_refused_not_ignored(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="field 'options' is only for rule classes"):
            load_rules([{"name": "hb", "python": f"{plugin}:drop_heartbeats", "options": {"x": 1}}])

    def test_options_the_class_does_not_take_are_an_invalid_rule(self, plugin: str) -> None:
        with pytest.raises(InvalidRule) as raised:
            load_rules([{"name": "d", "python": f"{plugin}:DropByField", "options": {"feild": "kind"}}])
        assert str(raised.value).startswith(f"rules[0] ('d'): '{plugin}:DropByField' cannot be created with options")
        assert "TypeError" in str(raised.value)

    def test_options_must_be_an_object(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="field 'options' must be an object"):
            load_rules([{"name": "d", "python": f"{plugin}:DropByField", "options": ["kind"]}])

    def test_class_without_decide_is_an_invalid_rule(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="is a class without a decide"):
            load_rules([{"name": "n", "python": f"{plugin}:NoDecide"}])

    def test_attribute_that_is_not_a_rule_is_an_invalid_rule(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="is a int, not a rule class, function or object"):
            load_rules([{"name": "n", "python": f"{plugin}:NOT_A_RULE"}])

    def test_module_that_does_not_exist_is_an_unknown_rule(self) -> None:
        with pytest.raises(UnknownRule) as raised:
            load_rules([{"name": "m", "python": "redrive_no_such_module_xyz:rule"}])
        assert str(raised.value).startswith(
            "rules[0] ('m'): Python rule 'redrive_no_such_module_xyz:rule': module 'redrive_no_such_module_xyz' "
            "does not import (ModuleNotFoundError"
        )

    def test_module_that_fails_to_import_is_an_unknown_rule(self, plugin: str) -> None:
        with pytest.raises(UnknownRule, match="ImportError: needs the frobnicate package"):
            load_rules([{"name": "m", "python": f"{plugin}_broken:rule"}])

    def test_missing_attribute_is_an_unknown_rule(self, plugin: str) -> None:
        with pytest.raises(UnknownRule, match=f"'{plugin}' has no attribute 'drop_heartbeat'"):
            load_rules([{"name": "m", "python": f"{plugin}:drop_heartbeat"}])

    @pytest.mark.parametrize("reference", [":rule", "module:"])
    def test_malformed_path_is_an_invalid_rule(self, reference: str) -> None:
        with pytest.raises(InvalidRule, match=re.escape("a path is written 'module.path:attribute'")):
            load_rules([{"name": "m", "python": reference}])


class TestBuiltins:
    def test_discard_unparseable_by_name(self) -> None:
        rules = load_rules([{"python": "discard-unparseable"}])
        assert apply_rules(rules, document(None)) == RuleOutcome(
            "discard", rule="discard-unparseable", reason="payload is not JSON"
        )

    def test_discard_unparseable_takes_no_options(self) -> None:
        with pytest.raises(InvalidRule, match="field 'options' is only for rule classes"):
            load_rules([{"python": "discard-unparseable", "options": {"strict": True}}])

    @pytest.mark.parametrize(
        ("text", "decided"), [(None, True), ("not json", True), ("null", False), (" null\n", False)]
    )
    def test_discard_unparseable_on_kinesis(self, text: str | None, decided: bool) -> None:
        doc = document(None)
        doc["text"] = text
        assert (discard_unparseable(doc) == Decision.discard("payload is not JSON")) is decided
        assert (discard_unparseable(doc) is None) is not decided

    def test_discard_unparseable_leaves_json_and_dynamodb_records_alone(self) -> None:
        assert discard_unparseable(document({"a": 1})) is None
        assert discard_unparseable(document([])) is None
        remove_event = document(None)
        remove_event["source"] = "dynamodb"
        remove_event["eventName"] = "REMOVE"
        assert discard_unparseable(remove_event) is None


class TestEntryPoints:
    def test_rule_registered_by_an_entry_point(self, plugin: str, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch, ("drop-heartbeats", f"{plugin}:drop_heartbeats"))
        rules = load_rules([{"python": "drop-heartbeats"}])
        assert apply_rules(rules, document({"kind": "heartbeat"})) == RuleOutcome(
            "discard", rule="drop-heartbeats", reason="heartbeat"
        )
        assert registered_rule_names() == ["discard-unparseable", "drop-heartbeats"]

    def test_class_from_an_entry_point_gets_options(self, plugin: str, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch, ("drop-by-field", f"{plugin}:DropByField"))
        rules = load_rules([{"name": "x", "python": "drop-by-field", "options": {"field": "k", "value": 1}}])
        assert apply_rules(rules, document({"k": 1})) == RuleOutcome("discard", rule="x", reason="matched a field")

    def test_unknown_name_lists_what_is_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch, ("drop-heartbeats", "somewhere:else"))
        with pytest.raises(UnknownRule) as raised:
            load_rules([{"python": "drop-heartbeat"}])
        message = str(raised.value)
        assert message.startswith("rules[0] ('drop-heartbeat'): no Python rule named 'drop-heartbeat'")
        assert "known rules: discard-unparseable, drop-heartbeats" in message
        assert ENTRY_POINT_GROUP in message

    def test_name_two_packages_register_differently_is_ambiguous(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch, ("dup", "pkg_a.rules:dup"), ("dup", "pkg_b.rules:dup"))
        with pytest.raises(UnknownRule, match=r"'dup' is ambiguous: .*pkg_a\.rules:dup, pkg_b\.rules:dup"):
            load_rules([{"python": "dup"}])

    def test_same_entry_point_seen_twice_is_not_ambiguous(self, plugin: str, monkeypatch: pytest.MonkeyPatch) -> None:
        value = f"{plugin}:drop_heartbeats"
        fake_entry_points(monkeypatch, ("hb", value), ("hb", value))
        assert load_rules([{"python": "hb"}])[0].name == "hb"

    def test_entry_point_that_does_not_load_is_an_unknown_rule(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch, ("gone", "redrive_no_such_module_xyz:rule"))
        with pytest.raises(
            UnknownRule, match="'gone' \\(entry point 'redrive_no_such_module_xyz:rule'\\) does not load"
        ):
            load_rules([{"python": "gone"}])

    def test_builtin_wins_over_an_entry_point_of_the_same_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch, ("discard-unparseable", "redrive_no_such_module_xyz:rule"))
        assert resolve_python_rule("discard-unparseable") is discard_unparseable

    def test_entry_point_from_an_installed_distribution(self, plugin: str, tmp_path: Path) -> None:
        """No monkeypatching: a real dist-info on sys.path, found by importlib.metadata."""
        dist_info = tmp_path / f"{plugin}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {plugin}\nVersion: 1.0\n")
        (dist_info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n{plugin}-heartbeats = {plugin}:drop_heartbeats\n"
        )
        rules = load_rules([{"python": f"{plugin}-heartbeats"}])
        assert apply_rules(rules, document({"kind": "heartbeat"})).rule == f"{plugin}-heartbeats"
