"""The layers hold: the core talks to the world only through its ports.

``redrive.core`` imports no adapter, handler, boto3, botocore or ``os``; ``redrive.contracts``
imports nothing of the workflow but itself and the error names; adapters import no handler
and no core module but the ports and the run data they build. Checked on the source (AST),
so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "redrive"


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    parts = path.with_suffix("").parts
    module = ".".join(parts[parts.index("redrive") :])
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def offending(layer: str | list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in modules(layer) if isinstance(layer, str) else layer:
        bad = sorted(n for n in imports_of(path) if n == "os" or any(n.startswith(f) for f in forbidden))
        if bad:
            out[path.name] = bad
    return out


def test_the_core_imports_no_adapter_handler_boto3_or_os() -> None:
    assert offending("core", ("redrive.adapters", "redrive.handlers", "boto3", "botocore", "os.")) == {}


def test_rules_read_no_environment_and_no_settings() -> None:
    """Rules get their registry as an argument; the functions' settings decide what it holds."""
    forbidden = ("redrive.adapters", "redrive.handlers", "redrive.core", "redrive.settings", "boto3", "os.")
    assert offending("rules", forbidden) == {}


def test_contracts_import_no_other_layer() -> None:
    forbidden = ("redrive.adapters", "redrive.handlers", "redrive.core", "redrive.rules", "boto3", "redrive.settings")
    assert offending("contracts", forbidden) == {}


def test_adapters_import_no_handler_and_only_the_cores_ports() -> None:
    found = {}
    for path in modules("adapters"):
        names = imports_of(path)
        bad = [n for n in names if n.startswith("redrive.handlers")]
        bad += [
            n
            for n in names
            if n.startswith("redrive.core") and not n.startswith(("redrive.core.ports", "redrive.core.run_data"))
        ]
        if bad:
            found[path.name] = sorted(bad)
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "import os\n",
        "from os import environ\n",
        "import boto3\n",
        "from ..adapters import aws\n",
        "from ..handlers.x import y\n",
    ],
)
def test_the_check_catches_a_forbidden_import(source: str, tmp_path: Path) -> None:
    core = tmp_path / "redrive" / "core"
    core.mkdir(parents=True)
    probe = core / "probe.py"
    probe.write_text(source)
    found = offending([probe], ("redrive.adapters", "redrive.handlers", "boto3", "os."))
    assert list(found) == ["probe.py"]
