"""The regular expression engine of JSONata rules: RE2, which matches in linear time.

jsonata-python compiles every regex literal (``/^(a+)+$/``, including those inside an
``$eval`` string) through one pluggable engine. Python's ``re`` backtracks: a nested
quantifier on a 30-character record held an evaluation for seconds, and the JSONata
timeout cannot interrupt a match in progress. RE2 never backtracks, so the time of a
match is bounded by the size of the pattern times the length of the text.

RE2 has no backreferences (``\\1``) and no lookaround (``(?=...)``, ``(?<!...)``); such
a pattern does not compile, and a rule that uses one is an InvalidRule when it is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import re2
from jsonata.regex_engine import RegexFlags

_GROUP_REFERENCE = re.compile(r"\\g<(\d+)>")


class UnsupportedRegex(ValueError):
    """A regex literal RE2 cannot compile (a backreference, lookaround, or a syntax error)."""


class Re2Pattern:
    """An RE2 pattern with the interface jsonata-python calls (search, finditer, sub, split)."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    @property
    def pattern(self) -> str:
        return str(self._compiled.pattern)

    def search(self, string: str) -> Any:
        return self._compiled.search(string)

    def finditer(self, string: str) -> Iterator[Any]:
        return iter(self._compiled.finditer(string))

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        return list(self._compiled.split(string, maxsplit))

    def sub(self, repl: str | Callable[[Any], str], string: str, count: int = 0) -> str:
        if isinstance(repl, str):
            # jsonata-python drops a reference to a group the pattern lacks ($2 with one
            # group) when told so in the words Python's re uses; RE2 only says "bad group index".
            for found in _GROUP_REFERENCE.finditer(repl):
                if int(found.group(1)) > self._compiled.groups:
                    raise IndexError(f"invalid group reference {found.group(1)} at position {found.start() + 1}")
        return str(self._compiled.sub(repl, string, count))


def re2_engine(pattern: str, flags: RegexFlags) -> Re2Pattern:
    """Compile a JSONata regex literal with RE2; UnsupportedRegex says why one cannot be."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not flags.case_insensitive
    source = f"(?m){pattern}" if flags.multiline else pattern
    try:
        return Re2Pattern(re2.compile(source, options))
    except re2.error as err:
        detail = err.args[0].decode("utf-8", "replace") if err.args and isinstance(err.args[0], bytes) else str(err)
        raise UnsupportedRegex(
            f"regular expression /{pattern}/ is not supported ({detail}); rules use RE2, which matches in "
            "linear time and has no backreferences or lookaround"
        ) from None
