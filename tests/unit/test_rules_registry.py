"""Python rules: only registered ones (built-ins, listed modules, entry points); import paths are refused."""

from __future__ import annotations

import importlib
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
from redrive.rules.registry import ENTRY_POINT_GROUP, RuleRegistry, parse_module_list

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

    STREAM_REDRIVE_RULES = {
        "drop-heartbeats": drop_heartbeats,
        "drop-by-field": DropByField,
        "noise": configured,
        "nodecide": NoDecide,
        "not-a-rule": NOT_A_RULE,
    }
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
    (tmp_path / f"{name}_bare.py").write_text("RULES = {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    sys.modules.pop(f"{name}_broken", None)
    sys.modules.pop(f"{name}_bare", None)


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *pairs: tuple[str, str]) -> None:
    """Make ``importlib.metadata.entry_points`` report exactly these (name, value) pairs for our group."""
    found = [metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in pairs]

    def entry_points(*, group: str) -> list[metadata.EntryPoint]:
        return found if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)


class TestImportPathsAreRefused:
    """The run input selects registered rules; it never names code to import (the old hole)."""

    @pytest.mark.parametrize(
        "reference", ["subprocess:Popen", "os:system", "builtins:exec", "{plugin}:drop_heartbeats", ":rule", "module:"]
    )
    def test_a_module_attribute_path_is_an_invalid_rule(self, reference: str, plugin: str) -> None:
        reference = reference.format(plugin=plugin)
        with pytest.raises(InvalidRule) as raised:
            load_rules([{"name": "cmd", "python": reference, "options": {"args": ["touch", "/tmp/owned"]}}])
        message = str(raised.value)
        assert message.startswith(f"rules[0] ('cmd'): field 'python' is {reference!r}")
        assert "import paths are not accepted" in message
        assert "RuleModules" in message and "STREAM_REDRIVE_RULES" in message and ENTRY_POINT_GROUP in message

    def test_nothing_is_imported_or_called_for_a_path(self, plugin: str, monkeypatch: pytest.MonkeyPatch) -> None:
        imported: list[str] = []
        real_import = importlib.import_module
        monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real_import(name))
        with pytest.raises(InvalidRule):
            load_rules([{"python": f"{plugin}:drop_heartbeats"}], registry=RuleRegistry([plugin]))
        assert imported == []
        assert plugin not in sys.modules

    def test_a_path_is_refused_even_when_its_module_is_listed(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="import paths are not accepted"):
            load_rules([{"python": f"{plugin}:drop_heartbeats"}], registry=RuleRegistry([plugin]))

    def test_an_importable_name_that_is_not_registered_is_unknown(self, plugin: str) -> None:
        with pytest.raises(UnknownRule, match=r"no Python rule named 'subprocess\.Popen'"):
            load_rules([{"python": "subprocess.Popen"}], registry=RuleRegistry([plugin]))


class TestRuleModules:
    def test_function_from_a_listed_module(self, plugin: str) -> None:
        rules = load_rules([{"name": "hb", "python": "drop-heartbeats"}], registry=RuleRegistry([plugin]))
        assert apply_rules(rules, document({"kind": "heartbeat"})) == RuleOutcome(
            "discard", rule="hb", reason="heartbeat"
        )
        assert apply_rules(rules, document({"kind": "order"})) == RuleOutcome("redrive")

    def test_module_list_as_the_setting_writes_it(self, plugin: str) -> None:
        registry = RuleRegistry(f" {plugin} , ,{plugin}_other")
        assert registry.modules == (plugin, f"{plugin}_other")

    @pytest.mark.parametrize("value", ["a b", "pkg.", "pkg:rules", "1pkg"])
    def test_a_module_list_entry_that_is_no_module_name_is_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match="is not a module name"):
            parse_module_list(value)

    def test_class_gets_options_as_keyword_arguments(self, plugin: str) -> None:
        spec = {
            "name": "drop-pings",
            "python": "drop-by-field",
            "options": {"field": "kind", "value": "ping", "reason": "pings are noise"},
        }
        rules = load_rules([spec], registry=RuleRegistry([plugin]))
        assert apply_rules(rules, document({"kind": "ping"})) == RuleOutcome(
            "discard", rule="drop-pings", reason="pings are noise"
        )

    def test_configured_instance(self, plugin: str) -> None:
        rules = load_rules([{"python": "noise"}], registry=RuleRegistry([plugin]))
        assert apply_rules(rules, document({"kind": "noise"})).rule == "noise"

    def test_name_defaults_to_the_registered_name(self, plugin: str) -> None:
        (loaded,) = load_rules([{"python": "drop-heartbeats"}], registry=RuleRegistry([plugin]))
        assert loaded.name == "drop-heartbeats"

    def test_a_module_that_is_not_listed_offers_nothing(self, plugin: str) -> None:
        with pytest.raises(UnknownRule, match="no Python rule named 'drop-heartbeats'"):
            load_rules([{"python": "drop-heartbeats"}])

    def test_names_include_the_listed_modules(self, plugin: str, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_entry_points(monkeypatch)
        assert RuleRegistry([plugin]).names() == [
            "discard-unparseable",
            "drop-by-field",
            "drop-heartbeats",
            "nodecide",
            "noise",
            "not-a-rule",
        ]

    def test_options_for_a_function_are_refused_not_ignored(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="field 'options' is only for rule classes"):
            load_rules(
                [{"name": "hb", "python": "drop-heartbeats", "options": {"x": 1}}], registry=RuleRegistry([plugin])
            )

    def test_options_the_class_does_not_take_are_an_invalid_rule(self, plugin: str) -> None:
        with pytest.raises(InvalidRule) as raised:
            load_rules(
                [{"name": "d", "python": "drop-by-field", "options": {"feild": "kind"}}],
                registry=RuleRegistry([plugin]),
            )
        assert str(raised.value).startswith("rules[0] ('d'): 'drop-by-field' cannot be created with options")
        assert "TypeError" in str(raised.value)

    def test_options_must_be_an_object(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="field 'options' must be an object"):
            load_rules([{"name": "d", "python": "drop-by-field", "options": ["kind"]}], registry=RuleRegistry([plugin]))

    def test_class_without_decide_is_an_invalid_rule(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="is a class without a decide"):
            load_rules([{"name": "n", "python": "nodecide"}], registry=RuleRegistry([plugin]))

    def test_value_that_is_not_a_rule_is_an_invalid_rule(self, plugin: str) -> None:
        with pytest.raises(InvalidRule, match="is a int, not a rule class, function or object"):
            load_rules([{"name": "n", "python": "not-a-rule"}], registry=RuleRegistry([plugin]))

    def test_listed_module_that_does_not_exist_is_an_unknown_rule(self) -> None:
        with pytest.raises(UnknownRule) as raised:
            load_rules([{"name": "m", "python": "rule"}], registry=RuleRegistry(["redrive_no_such_module_xyz"]))
        assert str(raised.value).startswith(
            "rules[0] ('m'): rule module 'redrive_no_such_module_xyz' (template parameter RuleModules) "
            "does not import (ModuleNotFoundError"
        )

    def test_listed_module_that_fails_to_import_is_an_unknown_rule(self, plugin: str) -> None:
        with pytest.raises(UnknownRule, match="ImportError: needs the frobnicate package"):
            load_rules([{"name": "m", "python": "rule"}], registry=RuleRegistry([f"{plugin}_broken"]))

    def test_listed_module_without_the_mapping_is_an_unknown_rule(self, plugin: str) -> None:
        with pytest.raises(UnknownRule, match=f"'{plugin}_bare' .* must define STREAM_REDRIVE_RULES"):
            load_rules([{"python": "anything"}], registry=RuleRegistry([f"{plugin}_bare"]))

    def test_a_listed_module_is_only_imported_for_a_python_rule(self) -> None:
        registry = RuleRegistry(["redrive_no_such_module_xyz"])
        assert load_rules([{"name": "j", "when": "true", "action": "keep"}], registry=registry)[0].name == "j"
        assert load_rules([{"python": "discard-unparseable"}], registry=registry)[0].name == "discard-unparseable"

    def test_a_name_a_module_and_an_entry_point_both_register_is_ambiguous(
        self, plugin: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_entry_points(monkeypatch, ("drop-heartbeats", "elsewhere.rules:drop"))
        with pytest.raises(UnknownRule, match="'drop-heartbeats' is ambiguous"):
            load_rules([{"python": "drop-heartbeats"}], registry=RuleRegistry([plugin]))


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
        rules = load_rules([{"python": "drop-heartbeats"}], registry=RuleRegistry())
        assert apply_rules(rules, document({"kind": "heartbeat"})) == RuleOutcome(
            "discard", rule="drop-heartbeats", reason="heartbeat"
        )
        assert RuleRegistry().names() == ["discard-unparseable", "drop-heartbeats"]

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
        assert RuleRegistry().resolve("discard-unparseable") is discard_unparseable

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
