"""What `sam build` installs for the functions is what the tests ran with."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==(\S+)", line.strip())
        if match:
            name = re.sub(r"\[.*\]", "", match.group(1))
            found[re.sub(r"[-_.]+", "-", name).lower()] = match.group(2)
    return found


def test_the_functions_pin_what_the_lock_pins() -> None:
    functions = pins(ROOT / "functions" / "requirements.txt")
    lock = pins(ROOT / "requirements.lock")
    assert "google-re2" in functions, "JSONata rules compile regexes with RE2 on AWS too"
    assert {name: lock.get(name) for name in functions} == functions


def test_every_line_is_a_pin() -> None:
    """No ranges: a range lets `sam build` resolve another version than the tests used."""
    lines = [
        line.strip()
        for line in (ROOT / "functions" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [line for line in lines if "==" not in line] == []
    assert {"pydantic", "aws-xray-sdk"} <= set(pins(ROOT / "functions" / "requirements.txt"))


def _requirement_names(package: str) -> set[str]:
    """The installed ``package``'s unconditional dependencies (extras and other platforms' left out)."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    try:
        declared = requires(package) or []
    except PackageNotFoundError:
        return set()
    names = set()
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.add(re.sub(r"[-_.]+", "-", requirement.name).lower())
    return names


def test_the_pins_close_over_their_dependencies() -> None:
    """Every dependency of a pinned package is pinned too, so `sam build` cannot pick a
    newer one than the tests ran with."""
    functions = pins(ROOT / "functions" / "requirements.txt")
    missing = {
        f"{package} needs {dependency}"
        for package in functions
        for dependency in _requirement_names(package)
        if dependency not in functions
    }
    assert sorted(missing) == []
