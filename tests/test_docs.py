"""Every ```python block of README.md and docs/*.md runs (so the examples cannot rot).

Blocks of one file run in order in one namespace, with the working directory a
fresh temporary folder (``examples/`` is linked into it, so the documented
relative paths work and nothing is written into the repository).  A block
fenced as ```python no-run is shown but not executed.  No block may issue a
volterra_sym warning (the documented settings apply its remedy), except one fenced
as ```python warns, whose text must explain the warning.
Trusts: nothing; the blocks' own asserts are the checks.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: pages whose examples need an optional extra: skipped without it locally, required on CI (CI=true)
NEEDS = {
    "learn.md": ("sklearn", "learn"),
    "distributed.md": ("distributed", "dask"),
    "frequency.md": ("matplotlib", "plot"),
}
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python([^\n`]*)\n(.*?)^```\s*$", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line number, code, runs) for every ```python block, in order."""
    out = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        runs = "no-run" not in match.group(1).split()
        out.append((line, match.group(2), runs))
    return out


def warning_blocks(text: str) -> set[int]:
    """Line numbers of the blocks fenced ```python warns (their text explains the warning)."""
    return {text.count("\n", 0, m.start()) + 1 for m in FENCE.finditer(text) if "warns" in m.group(1).split()}


def test_fence_parser():
    text = "x\n```python\na = 1\n```\n\n```python no-run\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "a = 1\n", True), (6, "b = 2\n", False)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(doc, tmp_path, monkeypatch):
    text = doc.read_text(encoding="utf-8")
    blocks = [b for b in python_blocks(text) if b[2]]
    warned = warning_blocks(text)
    if not blocks:
        pytest.skip(f"{doc.name}: no python blocks")
    if doc.name in NEEDS:
        module, extra = NEEDS[doc.name]
        try:
            __import__(module)
        except ImportError:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"{doc.name} needs {module}: .ci/run should install the '{extra}' extra")
            pytest.skip(f"{doc.name}: needs pip install 'volterra_sym[{extra}]'")
    if (ROOT / "examples").is_dir():
        os.symlink(ROOT / "examples", tmp_path / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # headless, should a block plot

    namespace: dict = {"__name__": f"doc_{doc.stem}"}
    from volterra_sym.errors import VolterraWarning

    for line, code, _ in blocks:
        name = f"{doc.relative_to(ROOT)}:{line}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", VolterraWarning)
            try:
                exec(compile(code, name, "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"the python block at {name} failed: {type(exc).__name__}: {exc}") from exc
        ours = [str(w.message) for w in caught if issubclass(w.category, VolterraWarning)]
        assert not ours or line in warned, f"the python block at {name} warns (apply the remedy): {ours}"
