"""Python rules, found by name: built-ins, entry points, or a ``module:attribute`` path.

A run input selects one with ``{"name": "...", "python": "<reference>", "options": {...}}``.
The reference is resolved in this order:

1. ``"module.path:attribute"`` (anything with a colon): imported as is; the attribute
   may be dotted (``"pkg.rules:Holder.rule"``).
2. A built-in name (``redrive.rules.builtin.BUILTIN_RULES``).
3. An entry point of that name in the group ``stream_redrive.rules``, from any
   installed package (pyproject: ``[project.entry-points."stream_redrive.rules"]``
   ``drop-heartbeats = "mypkg.rules:drop_heartbeats"``).

What the reference points at:
- a class: instantiated with ``options`` as keyword arguments; the instance needs a
  ``decide(document)`` method;
- a function ``(document) -> Decision | None``;
- an object with a ``decide(document)`` method (an instance already configured).

``options`` are only for classes. Given to a function or an instance they are refused
(InvalidRule) rather than ignored, because ignored configuration looks as if it worked.
The rule is reported under the spec's ``name``, which defaults to the reference.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata

from redrive.rules.base import Decision, InvalidRule, RuleDocument, UnknownRule
from redrive.rules.builtin import BUILTIN_RULES

ENTRY_POINT_GROUP = "stream_redrive.rules"

SPEC_FIELDS = ("name", "python", "options", "description")

RuleFunction = Callable[[RuleDocument], Decision | None]


@dataclass(frozen=True)
class PythonRule:
    """A Python rule under the name the run input gave it."""

    name: str
    implementation: RuleFunction
    reference: str

    def decide(self, document: RuleDocument) -> Decision | None:
        return self.implementation(document)


def _entry_points(name: str) -> list[metadata.EntryPoint]:
    return [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]


def registered_rule_names() -> list[str]:
    """Every name a rule can be selected by: built-ins and installed entry points."""
    names = set(BUILTIN_RULES)
    names.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def _import_path(reference: str) -> object:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise InvalidRule(f"field 'python' is {reference!r}; a path is written 'module.path:attribute'")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as err:
        raise UnknownRule(
            f"Python rule {reference!r}: module {module_name!r} does not import ({type(err).__name__}: {err}); "
            "check the spelling and that its package is installed with the functions"
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UnknownRule(f"Python rule {reference!r}: {module_name!r} has no attribute {attribute!r}") from None
    return target


def _load_entry_point(name: str) -> object:
    found = _entry_points(name)
    if not found:
        raise UnknownRule(
            f"no Python rule named {name!r}; known rules: {', '.join(registered_rule_names()) or 'none'}. "
            f"Use 'module.path:attribute', or install the package that registers {name!r} "
            f"in the entry point group {ENTRY_POINT_GROUP!r}"
        )
    targets = sorted({ep.value for ep in found})
    if len(targets) > 1:
        raise UnknownRule(
            f"Python rule name {name!r} is ambiguous: installed packages register it as {', '.join(targets)}; "
            "select one with 'module.path:attribute'"
        )
    try:
        loaded: object = found[0].load()
    except Exception as err:
        raise UnknownRule(
            f"Python rule {name!r} (entry point {found[0].value!r}) does not load: {type(err).__name__}: {err}"
        ) from None
    return loaded


def resolve_python_rule(reference: str) -> object:
    """The class, function or rule object a reference names; UnknownRule if there is none."""
    if ":" in reference:
        return _import_path(reference)
    if reference in BUILTIN_RULES:
        return BUILTIN_RULES[reference]
    return _load_entry_point(reference)


def _decide_method(target: object) -> RuleFunction | None:
    decide = getattr(target, "decide", None)
    return decide if callable(decide) else None


def python_rule(name: str, reference: str, options: Mapping[str, object] | None = None) -> PythonRule:
    """Resolve ``reference`` and make it a rule called ``name`` (see the module docstring)."""
    target = resolve_python_rule(reference)
    options = options or {}
    if inspect.isclass(target):
        try:
            instance = target(**options)
        except Exception as err:
            raise InvalidRule(
                f"{reference!r} cannot be created with options {dict(options)!r}: {type(err).__name__}: {err}"
            ) from None
        decide = _decide_method(instance)
        if decide is None:
            raise InvalidRule(f"{reference!r} is a class without a decide(document) method")
        return PythonRule(name, decide, reference)
    if options:
        raise InvalidRule(
            f"field 'options' is only for rule classes, and {reference!r} is not a class; remove 'options'"
        )
    decide = _decide_method(target)
    if decide is not None:
        return PythonRule(name, decide, reference)
    if callable(target):
        return PythonRule(name, target, reference)
    raise InvalidRule(f"{reference!r} is a {type(target).__name__}, not a rule class, function or object")


def python_rule_from_spec(spec: Mapping[str, object]) -> PythonRule:
    """A PythonRule from its run-input form; InvalidRule / UnknownRule say what is wrong."""
    unknown = sorted(str(key) for key in spec if key not in SPEC_FIELDS)
    if unknown:
        raise InvalidRule(
            f"unknown field(s) {', '.join(map(repr, unknown))}; a Python rule has {', '.join(SPEC_FIELDS)}"
        )
    reference = spec.get("python")
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidRule("field 'python' must be a rule name or 'module.path:attribute'")
    reference = reference.strip()
    name = spec.get("name", reference)
    if not isinstance(name, str) or not name:
        raise InvalidRule("field 'name' must be a non-empty string")
    options = spec.get("options")
    if options is not None and not (isinstance(options, Mapping) and all(isinstance(k, str) for k in options)):
        raise InvalidRule("field 'options' must be an object")
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidRule("field 'description' must be a string")
    return python_rule(name, reference, options)
