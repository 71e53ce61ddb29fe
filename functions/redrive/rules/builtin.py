"""Built-in Python rules, usable by name: ``{"python": "discard-unparseable"}``."""

from __future__ import annotations

from collections.abc import Mapping

from redrive.rules.base import Decision, RuleDocument

_JSON_WHITESPACE = " \t\n\r"


def discard_unparseable(document: RuleDocument) -> Decision | None:
    """Discard Kinesis records whose payload is not JSON (or not UTF-8 text).

    A payload that is literally ``null`` is JSON and is left alone. DynamoDB records are
    never discarded by this rule: their ``data`` is null only when there is no NewImage
    (REMOVE events, KEYS_ONLY streams), which is not a parse failure.
    """
    if document["source"] != "kinesis" or document["data"] is not None:
        return None
    text = document["text"]
    if text is not None and text.strip(_JSON_WHITESPACE) == "null":
        return None
    return Decision.discard("payload is not JSON")


BUILTIN_RULES: Mapping[str, object] = {
    "discard-unparseable": discard_unparseable,
}
"""Built-in rule name -> rule function or class. Built-ins win over entry points of the same name."""
