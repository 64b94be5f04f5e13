"""Every module or file the package's docstrings/comments and the docs name exists (no stale references).

Scans volterra_sym/**/*.py, tests/*.py, benchmarks/*.py, docs/*.md and README.md for
* dotted names (the package name, then modules, then attributes): the longest prefix must be a module of
  the package and the rest a name defined at the top of it (a class's members are not followed);
* paths under the package, tests, docs, benchmarks, scripts, examples (from the repository root) and
  under a subpackage (routes, checks, numerics, ...; from the package): the file or folder must exist
  (``path.name`` may name something defined in ``path.py``; ``NAME`` is a placeholder).

Trusts: the file system and regular expressions.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "volterra_sym"
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
TOP = ("volterra_sym", "tests", "docs", "benchmarks", "scripts", "examples", "derivations")

DOTTED = re.compile(r"\bvolterra_sym(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP + tuple(SUBPACKAGES)) + r")/[A-Za-z0-9_./*-]*[A-Za-z0-9_*/])")


def _sources() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    return files + [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]


#: named on purpose although absent, with the reason
ALLOWED = {
    "examples/bad.toml": "docs/model_files.md shows the error messages of a hypothetical bad file",
}


_DEFINITION = re.compile(
    r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)"  # functions and classes
    r"|^\s*(\w+)\s*(?::[^=\n]*)?=[^=]"  # assignments (annotated or not)
    r"|\bimport\s+([\w., ]+)"  # imported names (also ``from x import a, b``)
    r"|\bas\s+(\w+)"  # aliases
    r"|[\"'](\w+)[\"']",  # string keys: lazy-export tables, __all__
    re.MULTILINE,
)


@functools.cache
def _defined(path: Path) -> frozenset[str]:
    """Names a module defines or imports (a superset is fine: the test looks for names that are absent)."""
    names: set[str] = set()
    for match in _DEFINITION.finditer(path.read_text(encoding="utf-8")):
        for group in match.groups():
            if group:
                names.update(x.strip().split(".")[0] for x in group.split(","))
    return frozenset(names)


def _module_file(rel: Path) -> Path | None:
    for candidate in ((ROOT / rel).with_suffix(".py"), ROOT / rel / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _dotted_exists(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = _module_file(Path(*parts[:cut]))
        if module is None:
            continue
        rest = parts[cut:]
        return not rest or rest[0] in _defined(module) or (ROOT / Path(*parts[:cut]) / rest[0]).exists()
    return False


def _path_exists(text: str) -> bool:
    text = text.rstrip(".").replace("NAME", "*")
    if text in ALLOWED:
        return True
    base = ROOT if text.split("/")[0] in TOP else PACKAGE
    if "*" in text:
        return bool(list(base.glob(text)))
    if (base / text).exists():
        return True
    stem, _, attr = text.rpartition(".")  # algebra/linear_gaussian.affine_parts
    module = base / (stem + ".py")
    return bool(stem) and module.exists() and attr in _defined(module)


def test_named_modules_and_files_exist():
    bad = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        for m in DOTTED.finditer(text):
            name = m.group(0).rstrip(".")
            if not _dotted_exists(name):
                bad.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {name}")
        for m in PATH.finditer(text):
            if not _path_exists(m.group(1)):
                bad.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(1)}")
    assert not bad, "references to modules or files that do not exist:\n" + "\n".join(sorted(set(bad)))
