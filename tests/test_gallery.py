"""The derivations gallery (volterra_sym.gallery) is up to date and reproducible.

Trusts: nothing beyond the stored files in derivations/ (golden files) and the
export module's determinism; the documents' mathematics is checked in
test_export and test_kernels_exact.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from volterra_sym import gallery

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "derivations"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("derivations")
    gallery.regenerate(out)
    return out


def test_gallery_matches_the_stored_derivations(fresh):
    produced = sorted(p.name for p in fresh.iterdir())
    stored = sorted(p.name for p in STORED.iterdir() if p.suffix in (".tex", ".md"))
    hint = f"derivations/ is out of date: run `{gallery.COMMAND}` and commit the result"
    assert produced == stored, f"{hint} (files differ: {sorted(set(produced) ^ set(stored))})"
    changed = [name for name in produced if (fresh / name).read_bytes() != (STORED / name).read_bytes()]
    assert not changed, f"{hint} (changed: {changed})"


def test_every_example_has_a_document_or_is_listed_as_skipped(fresh):
    index = (fresh / "README.md").read_text(encoding="utf-8")
    assert gallery.COMMAND in index
    for toml in sorted((ROOT / "examples").glob("*.toml")):
        has_docs = (fresh / f"{toml.stem}.tex").exists() and (fresh / f"{toml.stem}.md").exists()
        assert has_docs or f"examples/{toml.name}" in index.split("Skipped")[-1], toml.name
        if has_docs:
            assert f"({toml.stem}.md)" in index


@pytest.mark.slow  # measured ~2.8s of the default run (issue 18: default run <= 90 s); the byte-identical check stays
def test_check_mode_reports_changed_missing_and_stale_files(fresh, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for path in fresh.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    # the cheap built-in gallery is enough to exercise --check
    assert gallery.regenerate(fresh, check=True) == []
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".tex")
    (out / names[0]).write_text("edited by hand\n")
    (out / names[1]).unlink()
    (out / "old_model.md").write_text("stale\n")
    reported = {Path(p).name for p in gallery.regenerate(out, check=True)}
    assert reported == {names[0], names[1], "old_model.md"}


def test_builtin_gallery_renders_every_document():
    files = gallery.render(gallery.builtin_entries())
    assert "README.md" in files
    stems = {name.rsplit(".", 1)[0] for name in files if name != "README.md"}
    assert {"ou1d_symbolic", "ou2d_pointmass", "srnn2d_quadratic_two_inputs"} <= stems
    for stem in stems:
        assert files[f"{stem}.tex"].startswith(r"\documentclass") and files[f"{stem}.md"].startswith("# ")


def test_script_is_a_thin_wrapper(tmp_path):
    script = ROOT / "scripts" / "regenerate_derivations.py"
    text = script.read_text(encoding="utf-8")
    assert "from volterra_sym.gallery import main" in text
    proc = subprocess.run(
        [sys.executable, "-m", "volterra_sym.gallery", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "--check" in proc.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in STORED.glob("*.tex")))
def test_stored_documents_compile(name, tmp_path):
    from test_export import MAX_OVERFULL_PT, compile_latex, overfull

    log = compile_latex((STORED / f"{name}.tex").read_text(encoding="utf-8"), tmp_path, name)
    assert max(overfull(log), default=0.0) <= MAX_OVERFULL_PT
