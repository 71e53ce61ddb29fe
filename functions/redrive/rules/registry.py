"""Python rules, found by name in a registry that is fixed when the stack is deployed.

The run input can only *select* a Python rule: ``{"name": "...", "python": "<rule name>",
"options": {...}}``. It can never name code to import: a ``module:attribute`` path is
refused, because whoever may start an execution would otherwise run any importable
callable inside the functions.

A :class:`RuleRegistry` holds, in this order of precedence:

1. The built-ins (``redrive.rules.builtin.BUILTIN_RULES``); they win over any other
   rule of the same name.
2. Rule modules listed at deploy time (template parameter ``RuleModules``, env var
   ``RULE_MODULES``). A listed module registers its rules with a module-level mapping::

       STREAM_REDRIVE_RULES = {"drop-heartbeats": drop_heartbeats, "drop-by-field": DropByField}

3. Entry points in the group ``stream_redrive.rules`` of the installed packages
   (pyproject: ``[project.entry-points."stream_redrive.rules"]``
   ``drop-heartbeats = "mypkg.rules:drop_heartbeats"``).

A name that a listed module and an entry point (or two of either) register as different
things is ambiguous and refused. Listed modules are imported the first time a Python
rule is looked up, so a run without Python rules never depends on them.

What a registered name stands for:
- a class: instantiated with ``options`` as keyword arguments; the instance needs a
  ``decide(document)`` method;
- a function ``(document) -> Decision | None``;
- an object with a ``decide(document)`` method (an instance already configured).

``options`` are only for classes. Given to a function or an instance they are refused
(InvalidRule) rather than ignored, because ignored configuration looks as if it worked.
The rule is reported under the spec's ``name``, which defaults to the registered name.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata

from redrive.rules.base import Decision, InvalidRule, RuleDocument, UnknownRule
from redrive.rules.builtin import BUILTIN_RULES

ENTRY_POINT_GROUP = "stream_redrive.rules"

MODULE_ATTRIBUTE = "STREAM_REDRIVE_RULES"
"""The mapping a listed rule module exposes: rule name -> function, class or rule object."""

SPEC_FIELDS = ("name", "python", "options", "description")

HOW_TO_REGISTER = (
    f"list its module in the template parameter RuleModules "
    f"(the module exposes {MODULE_ATTRIBUTE} = {{'rule-name': rule}}) or install a package with an entry "
    f'point in the group {ENTRY_POINT_GROUP!r}, then select it by name: {{"python": "rule-name"}}'
)

RuleFunction = Callable[[RuleDocument], Decision | None]


@dataclass(frozen=True)
class PythonRule:
    """A Python rule under the name the run input gave it."""

    name: str
    implementation: RuleFunction
    reference: str

    def decide(self, document: RuleDocument) -> Decision | None:
        return self.implementation(document)


def parse_module_list(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"a.rules, b"`` -> ``("a.rules", "b")``; ValueError for a name that is no module path."""
    names = value.split(",") if isinstance(value, str) else list(value)
    modules: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"{name!r} is not a module name (dotted Python identifiers, comma-separated)")
        if name not in modules:
            modules.append(name)
    return tuple(modules)


@dataclass(frozen=True)
class _Candidate:
    target: Callable[[], object]
    origin: str


def _constant(value: object) -> Callable[[], object]:
    def get() -> object:
        return value

    return get


class RuleRegistry:
    """The Python rules one deployment offers: built-ins, listed modules, entry points."""

    def __init__(self, modules: str | Iterable[str] = ()) -> None:
        self.modules = parse_module_list(modules)
        self._module_rules: dict[str, Mapping[str, object]] = {}

    def _rules_of(self, module_name: str) -> Mapping[str, object]:
        if module_name in self._module_rules:
            return self._module_rules[module_name]
        try:
            module = importlib.import_module(module_name)
        except Exception as err:
            raise UnknownRule(
                f"rule module {module_name!r} (template parameter RuleModules) does not import "
                f"({type(err).__name__}: {err}); it must be packaged with the functions"
            ) from None
        rules = getattr(module, MODULE_ATTRIBUTE, None)
        if not isinstance(rules, Mapping) or not all(isinstance(key, str) and key for key in rules):
            raise UnknownRule(
                f"rule module {module_name!r} (template parameter RuleModules) must define {MODULE_ATTRIBUTE}, "
                "a mapping of rule names to rule functions, classes or objects"
            )
        self._module_rules[module_name] = rules
        return rules

    def _candidates(self, name: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        for module_name in self.modules:
            rules = self._rules_of(module_name)
            if name in rules:
                found.append(_Candidate(_constant(rules[name]), f"{module_name}.{MODULE_ATTRIBUTE}"))
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name == name and entry_point.value not in {c.origin for c in found}:
                found.append(_Candidate(self._entry_point_loader(name, entry_point), entry_point.value))
        return found

    @staticmethod
    def _entry_point_loader(name: str, entry_point: metadata.EntryPoint) -> Callable[[], object]:
        def load() -> object:
            try:
                loaded: object = entry_point.load()
            except Exception as err:
                raise UnknownRule(
                    f"Python rule {name!r} (entry point {entry_point.value!r}) does not load: "
                    f"{type(err).__name__}: {err}"
                ) from None
            return loaded

        return load

    def names(self) -> list[str]:
        """Every name a rule can be selected by."""
        names = set(BUILTIN_RULES)
        for module_name in self.modules:
            names.update(self._rules_of(module_name))
        names.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
        return sorted(names)

    def resolve(self, name: str) -> object:
        """The class, function or rule object registered as ``name``; UnknownRule if there is none."""
        if name in BUILTIN_RULES:
            return BUILTIN_RULES[name]
        found = self._candidates(name)
        if not found:
            raise UnknownRule(
                f"no Python rule named {name!r}; known rules: {', '.join(self.names()) or 'none'}. "
                f"To add one, {HOW_TO_REGISTER}"
            )
        if len(found) > 1:
            raise UnknownRule(
                f"Python rule name {name!r} is ambiguous: it is registered by "
                f"{', '.join(sorted(c.origin for c in found))}; give one of them another name"
            )
        return found[0].target()


def _decide_method(target: object) -> RuleFunction | None:
    decide = getattr(target, "decide", None)
    return decide if callable(decide) else None


def python_rule(name: str, reference: str, options: Mapping[str, object] | None, registry: RuleRegistry) -> PythonRule:
    """Look ``reference`` up in ``registry`` and make it a rule called ``name`` (see the module docstring)."""
    target = registry.resolve(reference)
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


def python_rule_from_spec(spec: Mapping[str, object], registry: RuleRegistry) -> PythonRule:
    """A PythonRule from its run-input form; InvalidRule / UnknownRule say what is wrong."""
    unknown = sorted(str(key) for key in spec if key not in SPEC_FIELDS)
    if unknown:
        raise InvalidRule(
            f"unknown field(s) {', '.join(map(repr, unknown))}; a Python rule has {', '.join(SPEC_FIELDS)}"
        )
    reference = spec.get("python")
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidRule("field 'python' must be the name of a registered rule")
    reference = reference.strip()
    if ":" in reference:
        raise InvalidRule(
            f"field 'python' is {reference!r}: import paths are not accepted in the run input; "
            f"register the rule at deploy time instead: {HOW_TO_REGISTER}"
        )
    name = spec.get("name", reference)
    if not isinstance(name, str) or not name:
        raise InvalidRule("field 'name' must be a non-empty string")
    options = spec.get("options")
    if options is not None and not (isinstance(options, Mapping) and all(isinstance(k, str) for k in options)):
        raise InvalidRule("field 'options' must be an object")
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidRule("field 'description' must be a string")
    return python_rule(name, reference, options, registry)
