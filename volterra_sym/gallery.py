"""The derivations gallery: one LaTeX and one Markdown derivation per example model.

    python -m volterra_sym.gallery            # rewrite derivations/
    python -m volterra_sym.gallery --check    # list files that are out of date (exit status 1)

Every ``examples/*.toml`` model file is loaded with
:func:`volterra_sym.modelfile.load_run` and derived with the settings of its
``[derive]`` table; ``derivations/NAME.tex`` and ``derivations/NAME.md`` hold
the documents of ``examples/NAME.toml`` and ``derivations/README.md`` indexes
them.  Without an ``examples/`` directory (an installed package) a few models
built in code are used instead.  The output is byte-for-byte reproducible, so
``tests/test_gallery.py`` compares a fresh run with the stored files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import sympy as sp

from .documents.export import to_latex, to_markdown
from .model.diffusion import Diffusion
from .modelfile import RunSpec
from .response import Response

__all__ = ["GalleryEntry", "builtin_entries", "example_entries", "main", "regenerate", "render"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COMMAND = "python -m volterra_sym.gallery"
#: Exceptions meaning "this route is not available here": the example is skipped and listed as such.
_UNAVAILABLE = (NotImplementedError, ImportError)


@dataclass
class GalleryEntry:
    """One gallery document: a file stem, a one-line description and how to derive the Response."""

    name: str
    description: str
    derive: Callable[[], Response]
    source: str = ""


def _derive_run(run: RunSpec) -> Response:
    from .derive import derive
    from .routes import get_route

    route = get_route(run.method or "exact")
    order = run.order if run.order is not None else (None if route.default_order else 2)
    options: dict[str, Any] = {k: v for k, v in run.options.items() if route.accepts(k)}
    if route.accepts("lag_degree"):
        options["lag_degree"] = run.lag_degree if run.lag_degree is not None else 4
    if route.accepts("degree"):
        options["degree"] = run.degree if run.degree is not None else 10
    return derive(run.model, order, method=route.name, **options)


def _description(path: Path) -> str:
    """The first paragraph of a model file's leading comment, on one line."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("#").strip()
        if not line.startswith("#") or not text:
            if words or not line.startswith("#"):
                break
            continue
        words.append(text)
    text = " ".join(words).replace("|", "/")
    return text[:-1] + "." if text.endswith(":") else text


def example_entries(examples: str | Path = EXAMPLES) -> list[GalleryEntry]:
    """One entry per ``*.toml`` file in ``examples`` (sorted by name)."""
    from .modelfile import load_run

    entries = []
    for path in sorted(Path(examples).glob("*.toml")):
        run = load_run(path)
        entries.append(GalleryEntry(path.stem, _description(path), partial(_derive_run, run), f"examples/{path.name}"))
    return entries


def builtin_entries() -> list[GalleryEntry]:
    """Models built in code, used when there is no ``examples/`` directory."""
    import volterra_sym as vs

    from .derive import derive

    a, c, c0, s = sp.symbols("a c c0 s", positive=True)
    half, tenth = sp.Rational(1, 2), sp.Rational(1, 10)
    models = [
        ("ou1d_symbolic", "1-D OU, symbolic parameters, cubic readout", vs.OU(a, c, s, c=c0, readout="h1**3")),
        (
            "ou1d_cubic",
            "1-D OU, numeric parameters, cubic readout",
            vs.OU(1, half, sp.Rational(7, 10), c=3 * tenth, readout="h1**3"),
        ),
        (
            "srnn2d_quadratic_two_inputs",
            "2-D linear SRNN, non-normal, quadratic readout, two inputs",
            vs.SRNN(
                Gamma=[[1, 0], [0, sp.Rational(3, 2)]],
                W=[[0, 2], [0, 0]],
                b=[tenth, -2 * tenth],
                C=[[1, 0], [half, 1]],
                sigma=half,
                readout="h1**2 + h1*h2",
            ),
        ),
        (
            "ou2d_pointmass",
            "2-D OU started at a point",
            vs.OU([[1, half], [0, 2]], [1, 1], half, readout="h1 + h2**2", initial=vs.PointMass([1, -half])),
        ),
    ]
    return [
        GalleryEntry(name, text, _deriver(derive, model.replace(name=name)), "built in") for name, text, model in models
    ]


def _deriver(derive: Callable[..., Response], model: Diffusion) -> Callable[[], Response]:
    return lambda: derive(model)


def entries(examples: str | Path | None = None) -> list[GalleryEntry]:
    """The gallery's entries: the example files when there are any, else :func:`builtin_entries`."""
    folder = Path(examples) if examples is not None else EXAMPLES
    if folder.is_dir() and any(folder.glob("*.toml")):
        return example_entries(folder)
    return builtin_entries()


def render(items: Sequence[GalleryEntry]) -> dict[str, str]:
    """File name -> content for every document of the gallery plus its ``README.md``."""
    files: dict[str, str] = {}
    rows: list[tuple[GalleryEntry, Response]] = []
    skipped: list[tuple[GalleryEntry, str]] = []
    for entry in items:
        try:
            resp = entry.derive()
        except _UNAVAILABLE as exc:
            skipped.append((entry, f"{type(exc).__name__}: {exc}"))
            continue
        files[f"{entry.name}.tex"] = to_latex(resp)
        files[f"{entry.name}.md"] = to_markdown(resp)
        rows.append((entry, resp))
    files["README.md"] = _index(rows, skipped)
    return files


def _index(rows: list[tuple[GalleryEntry, Response]], skipped: list[tuple[GalleryEntry, str]]) -> str:
    from ._version import __version__

    lines = [
        "# Derivations gallery",
        "",
        "Step-by-step derivations of the response kernels of the example models, generated by",
        f"volterra_sym {__version__}. Do not edit these files by hand; regenerate them with",
        "",
        "```bash",
        COMMAND,
        "```",
        "",
        f"(`{COMMAND} --check` lists the files that are out of date; `tests/test_gallery.py` runs that check.)",
        "Each model has a Markdown version (renders on GitHub) and a standalone LaTeX document",
        "(`pdflatex NAME.tex`). The figures (kernels, Bode plot, |H2|; stationary starts whose kernels have a",
        f"transform) are drawn by `{COMMAND} --figures` (needs matplotlib) into `figures/`.",
        "",
        "| model | source | method | order | start | documents | figures |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry, resp in rows:
        start = type(resp.model.initial).__name__
        figs = ", ".join(f"[{kind}](figures/{entry.name}_{kind}.png)" for kind in figure_kinds(resp)) or "-"
        lines.append(
            f"| {entry.description or entry.name} | `{entry.source}` | {resp.method} | {resp.order} | {start} "
            f"| [{entry.name}.md]({entry.name}.md), [{entry.name}.tex]({entry.name}.tex) | {figs} |"
        )
    if skipped:
        lines += ["", "Skipped (the route they need is not available in this build):", ""]
        lines += [f"- `{entry.source or entry.name}`: {why}" for entry, why in skipped]
    return "\n".join(lines) + "\n"


def figure_kinds(resp: Response) -> list[str]:
    """The gallery figures of a response: k1 and bode (stationary start, kernels with a transform), k2 and h2 from
    order 2 (see :mod:`volterra_sym.plots`)."""
    from .errors import ArgumentError

    if not resp.stationary:
        return []
    try:
        resp.transfer(1, 0 if resp.model.m > 1 else None)
    except ArgumentError:  # e.g. Taylor kernels: no transform
        return []
    return ["k1", "bode"] + (["k2", "h2"] if resp.order >= 2 and 2 not in resp.zero_orders else [])


def write_figures(out_dir: str | Path = "derivations", examples: str | Path | None = None) -> list[str]:
    """Draw the figures of :func:`figure_kinds` for every entry into ``out_dir/figures`` (PNG); returns the paths."""
    from . import plots

    draw: dict[str, Any] = {
        "k1": plots.plot_kernel1, "k2": plots.plot_kernel2, "bode": plots.plot_bode, "h2": plots.plot_transfer2
    }
    written = []
    for entry in entries(examples):
        try:
            resp = entry.derive()
        except _UNAVAILABLE:
            continue
        k = 0 if resp.model.m > 1 else None
        for kind in figure_kinds(resp):
            fig = draw[kind](resp, (k,) * (2 if kind in ("k2", "h2") else 1) if k is not None else None)
            written.append(plots.save_figure(fig, Path(out_dir) / "figures" / f"{entry.name}_{kind}.png", dpi=90))
    return written


def regenerate(
    out_dir: str | Path = "derivations", check: bool = False, examples: str | Path | None = None
) -> list[str]:
    """Write the gallery into ``out_dir``; return the paths written.

    With ``check=True`` nothing is written: the return value lists the files
    of ``out_dir`` that differ from a fresh rendering, are missing, or are
    stale (``.tex``/``.md`` files the gallery no longer produces).
    """
    out = Path(out_dir)
    files = render(entries(examples))
    if check:
        differ = []
        for name, text in sorted(files.items()):
            path = out / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                differ.append(str(path))
        if out.is_dir():
            for path in sorted(out.iterdir()):
                if path.suffix in (".tex", ".md") and path.name not in files:
                    differ.append(str(path))
        return differ
    from .documents.export import write_text

    written = [write_text(out / name, text) for name, text in sorted(files.items())]
    for path in sorted(out.iterdir()):
        if path.suffix in (".tex", ".md") and path.name not in files:
            path.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate the gallery, or with ``--check`` report what is out of date."""
    parser = argparse.ArgumentParser(prog="python -m volterra_sym.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "derivations"), help="output directory (default: derivations/)")
    parser.add_argument("--examples", default=None, help="folder of model files (default: examples/)")
    parser.add_argument("--check", action="store_true", help="write nothing; list out-of-date files, exit 1 if any")
    parser.add_argument("--figures", action="store_true", help="also draw the figures into OUT/figures (matplotlib)")
    args = parser.parse_args(argv)
    result = regenerate(args.out, check=args.check, examples=args.examples)
    if args.check:
        for path in result:
            print(f"out of date: {path}")
        if result:
            print(f"run `{COMMAND}` to regenerate")
        return 1 if result else 0
    if args.figures:
        result += write_figures(args.out, examples=args.examples)
    for path in result:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
