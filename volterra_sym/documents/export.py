"""Render a derivation record as a standalone LaTeX document or as GitHub Markdown.

:func:`to_latex` and :func:`to_markdown` walk ``resp.derivation`` (see
:mod:`volterra_sym.documents.derivation`): each :class:`~volterra_sym.documents.derivation.Step`
becomes a section with its prose and one display of its equations.  Both
formats share one layout pass, :func:`display_rows`, which turns equations
into rows of an ``align*`` (LaTeX) or ``aligned`` (Markdown) block:

* SymPy sides are printed by :class:`DerivationLatexPrinter` (a subclass of
  SymPy's ``LatexPrinter``, the documented extension point; its output equals
  :func:`sympy.latex`'s); string sides are LaTeX as is;
* a right-hand side wider than the line is broken between the terms of a sum
  (recursively inside a product's widest factor or an exponential's argument),
  each continuation row starting with its ``+``/``-``;
* a matrix that does not fit is shown entry by entry.

Widths are estimated in "character units" by :func:`math_width` (roughly the
width of an italic letter at 11pt); :data:`LINE_WIDTH` units fit the text
width of the LaTeX document.  Output is deterministic (no dates), so documents
can be diffed byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..model.diffusion import Diffusion
from ..validate import write_text_file
from .derivation import Derivation

__all__ = [
    "LINE_WIDTH",
    "PRINTER",
    "DerivationLatexPrinter",
    "display_rows",
    "latex",
    "math_width",
    "ordered_terms",
    "signed_terms",
    "split_expr",
    "to_latex",
    "to_markdown",
    "write_text",
]

#: Usable width of one display line, in :func:`math_width` units.
LINE_WIDTH = 68
#: A left-hand side wider than this fraction of a line gets a row of its own.
_WIDE_LHS = 0.4
_CONT = r"\quad "  # indentation of continuation rows

# --------------------------------------------------------------------------- widths

_TOKEN = re.compile(r"\\[a-zA-Z]+|\\.|\S")
_SPACES = {r"\,": 0.3, r"\:": 0.4, r"\;": 0.5, r"\ ": 0.5, r"\!": -0.3, r"\quad": 2.0, r"\qquad": 4.0}
_INVISIBLE = {r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\biggl", r"\biggr", r"\displaystyle"}
_WORDS = {r"\exp": 3.0, r"\sin": 3.0, r"\cos": 3.0, r"\log": 3.0, r"\tan": 3.0, r"\tanh": 4.0, r"\det": 3.0}
_GROUPED = {r"\operatorname", r"\mathrm", r"\mathbb", r"\mathcal", r"\mathbf", r"\text", r"\textrm", r"\boldsymbol"}
_BINARY = set("+-=<>") | {r"\approx", r"\le", r"\ge", r"\leq", r"\geq", r"\cdot", r"\times", r"\to", r"\sim"}


def math_width(tex: str) -> float:
    """Estimated printed width of math-mode LaTeX, in units of one italic letter.

    Scripts count 0.7, fractions the wider of numerator and denominator,
    binary operators and relations include their spacing, ``\\left``/``\\right``
    nothing.  Deliberately a little generous, so estimated lines are not too long.
    """
    toks = _TOKEN.findall(tex)
    pos = 0

    def atom() -> float:
        nonlocal pos
        if pos >= len(toks):
            return 0.0
        tok = toks[pos]
        pos += 1
        if tok == "{":
            return seq()
        if tok in ("^", "_"):
            return 0.7 * atom()
        if tok == r"\frac" or tok == r"\tfrac" or tok == r"\dfrac":
            num, den = atom(), atom()
            return max(num, den) * (0.75 if tok == r"\tfrac" else 1.0) + 0.6
        if tok in _INVISIBLE:
            return 0.0
        if tok in _SPACES:
            return _SPACES[tok]
        if tok in _WORDS:
            return _WORDS[tok]
        if tok in (r"\text", r"\textrm"):
            return text()
        if tok in _GROUPED:
            return atom() * (1.1 if tok in (r"\operatorname", r"\mathrm") else 1.0)
        if tok in (r"\begin", r"\end"):
            atom()
            return 0.0
        if tok in _BINARY:
            return 2.2
        if tok in ("&", r"\\", "}"):
            return 0.0
        if tok in (",", ";", ".", ":"):
            return 0.7
        if tok.isdigit():
            return 1.1
        if tok in (r"\sum", r"\int", r"\prod"):
            return 1.8
        if tok in (r"\dots", r"\cdots", r"\ldots"):
            return 2.0
        if tok.startswith("\\"):
            return 1.2
        return 1.0

    def text() -> float:  # a text-mode group: every character counts, spaces included; $...$ as math
        nonlocal pos
        if pos >= len(toks) or toks[pos] != "{":
            return atom()
        depth, start = 0, pos
        while pos < len(toks):
            depth += {"{": 1, "}": -1}.get(toks[pos], 0)
            pos += 1
            if depth == 0:
                break
        inner = " ".join(toks[start + 1 : pos - 1])
        return 1.05 * sum(1.0 if not ch.isspace() else 0.0 for ch in inner) + 0.5 * inner.count(" ")

    def seq() -> float:
        nonlocal pos
        total = 0.0
        while pos < len(toks) and toks[pos] != "}":
            total += atom()
        pos += 1  # the closing brace (or past the end)
        return total

    total = 0.0
    while pos < len(toks):
        total += atom()
    return total


# --------------------------------------------------------------------------- the printer


def ordered_terms(expr: sp.Expr) -> list[sp.Expr]:
    """The terms of a sum in printing order: SymPy's default (``Expr.as_ordered_terms``).

    :class:`DerivationLatexPrinter` prints sums in this order and :func:`split_expr`
    breaks them in this order, so a broken sum reads exactly like the unbroken one.
    """
    return list(expr.as_ordered_terms())


def signed_terms(expr: sp.Expr) -> list[tuple[str, sp.Expr]]:
    """The terms of a sum in printing order, each with the sign printed before it (the first always ``+``)."""
    out = []
    for i, term in enumerate(ordered_terms(expr)):
        if i > 0 and term.could_extract_minus_sign():
            out.append(("-", -term))
        else:
            out.append(("+", term))
    return out


def needs_brackets_in_sum(term: sp.Expr) -> bool:
    """Whether a term of a sum is printed inside ``\\left( ... \\right)``: relations, sums and anything with ``Mod``."""
    return bool(term.is_Relational or term.is_Add or term.has(sp.Mod))


class DerivationLatexPrinter(LatexPrinter):
    """The LaTeX printer of the derivation documents: SymPy's :class:`~sympy.printing.latex.LatexPrinter`
    with the printing of sums owned here.

    Extended the documented way (a subclass overriding ``_print_<Class>``
    methods, used through :meth:`doprint`), so the documents depend on no
    private SymPy helper.  Sums print term by term in :func:`signed_terms`
    order, which is what lets :func:`split_expr` break a long sum between its
    terms and still produce exactly this printer's text.  With default
    settings the output equals :func:`sympy.latex`'s.
    """

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        if order is not None or self.order is not None:  # an explicit order setting: SymPy's own rule
            return super()._print_Add(expr, order=order)
        pieces = []
        for i, (sign, term) in enumerate(signed_terms(expr)):
            tex = self._print(term)
            if needs_brackets_in_sum(term):
                tex = r"\left(" + tex + r"\right)"
            pieces.append(tex if i == 0 else f"{sign} {tex}")
        return " ".join(pieces)


#: The one printer instance of the documents.
PRINTER = DerivationLatexPrinter()


def latex(expr: Any) -> str:
    """LaTeX of a SymPy object as the documents print it (:class:`DerivationLatexPrinter`)."""
    return PRINTER.doprint(expr)


# --------------------------------------------------------------------------- breaking expressions


def _wrap(pieces: list[str], left: str, right: str) -> list[str]:
    pieces = list(pieces)
    pieces[0] = left + pieces[0]
    pieces[-1] = pieces[-1] + right
    return pieces


def split_expr(expr: Any, width: float = LINE_WIDTH) -> list[str]:
    """LaTeX pieces of ``expr``: joined with spaces they read as one line, and a line may break between any two.

    A sum splits into its terms (each continuation piece starts with ``+`` or
    ``-``).  A product too wide for ``width`` splits inside its widest factor
    when that factor is a sum, a power of a sum or ``exp`` of a sum, shown
    between ``\\Bigl(`` and ``\\Bigr)``.  Anything else is one piece.
    """
    tex = latex(expr)
    if not isinstance(expr, sp.Basic) or math_width(tex) <= width:
        return [tex]
    if isinstance(expr, sp.Add):
        out: list[str] = []
        for i, (sign, term) in enumerate(signed_terms(expr)):
            sub = split_expr(term, width - 3)
            if needs_brackets_in_sum(term) and len(sub) == 1:
                sub = [r"\left(" + sub[0] + r"\right)"]
            if i > 0:
                sub[0] = f"{sign} {sub[0]}"
            out.extend(sub)
        return out
    if isinstance(expr, sp.exp) and isinstance(expr.args[0], sp.Add):
        return _wrap(split_expr(expr.args[0], width - 4), r"\exp\Bigl(", r"\Bigr)")
    if isinstance(expr, sp.Pow) and isinstance(expr.base, sp.Add) and expr.exp.is_Integer and expr.exp > 0:
        return _wrap(split_expr(expr.base, width - 4), r"\Bigl(", r"\Bigr)^{" + latex(expr.exp) + "}")
    if isinstance(expr, sp.Mul):
        return _split_mul(expr, width, tex)
    return [tex]


def _split_mul(expr: sp.Mul, width: float, tex: str) -> list[str]:
    num, den = sp.fraction(expr)
    factors = list(sp.Mul.make_args(num))
    breakable = [
        f
        for f in factors
        if isinstance(f, sp.Add)
        or (isinstance(f, sp.exp) and isinstance(f.args[0], sp.Add))
        or (isinstance(f, sp.Pow) and isinstance(f.base, sp.Add) and f.exp.is_Integer and f.exp > 0)
    ]
    if not breakable:
        return [tex]
    big = max(breakable, key=lambda f: math_width(latex(f)))
    rest = sp.Mul(*[f for f in factors if f is not big]) / den
    prefix = "" if rest == 1 else "-" if rest == -1 else latex(rest) + " "
    room = width - math_width(prefix) - 4
    if isinstance(big, sp.Add):
        return _wrap(split_expr(big, room), prefix + r"\Bigl(", r"\Bigr)")
    return _wrap(split_expr(big, room), prefix, "")


def _pack(pieces: Iterable[str], first: float, rest: float) -> list[str]:
    """Greedily pack pieces into lines: the first line at most ``first`` wide, later ones ``rest``."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        limit = first if not lines else rest
        if current and math_width(trial) > limit:
            lines.append(current)
            current = piece
        else:
            current = trial
    if current or not lines:
        lines.append(current)
    return lines


def _split_raw(tex: str, width: float) -> list[str]:
    """Split a LaTeX string at top-level ``+``, ``-`` and ``=`` (outside braces) when it is too wide."""
    if math_width(tex) <= width:
        return [tex]
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(tex):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and ch in "+-=" and i > 0 and tex[i - 1] == " " and i + 1 < len(tex) and tex[i + 1] == " ":
            pieces.append(tex[start:i].strip())
            start = i
    pieces.append(tex[start:].strip())
    return [p for p in pieces if p]


# --------------------------------------------------------------------------- display rows


def _side(value: Any) -> str:
    """LaTeX of one side of an Equation: strings and label symbols as written, the rest via :func:`latex`."""
    if isinstance(value, str):
        return value
    if isinstance(value, sp.Symbol):
        return value.name
    return latex(value)


def _note_tex(note: str) -> str:
    """A note (text with ``$...$`` math) as math-mode LaTeX: ``\\text{...}`` around the text parts."""
    parts = f"({note})".split("$")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
        elif part:
            out.append(r"\text{" + _escape_text(part) + "}")
    return "".join(out)


def _entry_label(lhs: str, i: int, j: int | None) -> str:
    base = lhs if re.fullmatch(r"[A-Za-z]|\\[a-zA-Z]+", lhs) else r"\bigl(" + lhs + r"\bigr)"
    idx = f"{i + 1}" if j is None else f"{i + 1}{j + 1}" if max(i, j) < 9 else f"{i + 1},{j + 1}"
    return f"{base}_{{{idx}}}"


def _matrix_tex(M: sp.MatrixBase) -> str:
    rows = [" & ".join(latex(x) for x in M.row(i)) for i in range(M.rows)]
    return r"\begin{pmatrix} " + r" \\ ".join(rows) + r" \end{pmatrix}"


def _matrix_width(M: sp.MatrixBase) -> float:
    cols = [max(math_width(latex(M[i, j])) for i in range(M.rows)) for j in range(M.cols)]
    return sum(cols) + 2.0 * (len(cols) - 1) + 2.0


def _rows_for(lhs: str, rel: str, rhs: Any, note: str, width: float, lhs_col: float) -> list[tuple[str, str]]:
    """Rows (left, right) for ``lhs rel rhs``; ``lhs_col`` is the width reserved for left-hand sides."""
    note_tex = _note_tex(note) if note else ""
    if rel == "" and (rhs == "" or rhs is None):
        lines = _pack(_split_raw(lhs, width), width, width - 2)
        rows = [("", lines[0])] + [("", _CONT + line) for line in lines[1:]]
        return _append_note(rows, note_tex, width)
    budget = width - lhs_col - math_width(rel) - 1
    if isinstance(rhs, sp.MatrixBase) and rhs.shape == (1, 1):
        rhs = rhs[0, 0]
    if isinstance(rhs, sp.MatrixBase):
        if _matrix_width(rhs) <= budget:
            return _append_note([(lhs, f"{rel} {_matrix_tex(rhs)}")], note_tex, width - lhs_col)
        rows = []
        column = rhs.cols == 1
        for i in range(rhs.rows):
            for j in range(rhs.cols):
                label = _entry_label(lhs, i, None if column else j)
                rows += _rows_for(label, rel, rhs[i, j], "", width, lhs_col)
        return _append_note(rows, note_tex, width - lhs_col)
    pieces = _split_raw(rhs, budget) if isinstance(rhs, str) else split_expr(rhs, budget)
    lines = _pack(pieces, budget, budget - 2)
    rows = [(lhs, f"{rel} {lines[0]}")] + [("", _CONT + line) for line in lines[1:]]
    return _append_note(rows, note_tex, width - lhs_col)


def _append_note(rows: list[tuple[str, str]], note_tex: str, width: float) -> list[tuple[str, str]]:
    if not note_tex:
        return rows
    left, right = rows[-1]
    if math_width(right) + 4 + math_width(note_tex) <= width:
        rows[-1] = (left, right + r" \qquad " + note_tex)
    else:
        rows.append(("", r"\qquad " + note_tex))
    return rows


def display_rows(equations: Iterable[Any], width: float = LINE_WIDTH) -> list[list[tuple[str, str]]]:
    """Lay out equations as displays; each display is a list of rows (left of ``&``, right of ``&``).

    Consecutive equations share a display aligned at their relations; an
    equation with a left-hand side wider than ``0.4 * width``, or without a
    relation, gets a display of its own with the left-hand side on the first row.
    """
    displays: list[list[tuple[str, str]]] = []
    group: list[Any] = []

    def flush() -> None:
        if group:
            lhs_col = max(math_width(_side(e.lhs)) for e in group)
            rows: list[tuple[str, str]] = []
            for e in group:
                rows += _rows_for(_side(e.lhs), e.rel, e.rhs, e.note, width, lhs_col)
            displays.append(rows)
            group.clear()

    for eq in equations:
        lhs = _side(eq.lhs)
        if eq.rel == "" or math_width(lhs) > _WIDE_LHS * width:
            flush()
            if eq.rel == "":
                displays.append(_rows_for(lhs, "", eq.rhs, eq.note, width, 0.0))
            else:
                rows = _rows_for("", eq.rel, eq.rhs, eq.note, width - 2, 0.0)
                displays.append([("", lhs)] + [("", _CONT + right) for _, right in rows])
        else:
            group.append(eq)
    flush()
    return displays


# --------------------------------------------------------------------------- documents


def _escape_text(text: str) -> str:
    """Escape LaTeX's special characters in plain text (no math inside)."""
    repl = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(repl.get(ch, ch) for ch in text)


def _prose_tex(text: str) -> str:
    """Prose with ``$...$`` math: escape the text parts, keep the math."""
    parts = text.split("$")
    return "$".join(part if i % 2 else _escape_text(part) for i, part in enumerate(parts))


def _align(rows: list[tuple[str, str]], env: str) -> str:
    if len(rows) == 1 and env == "aligned":
        left, right = rows[0]
        return f"{left} {right}".strip()
    body = " \\\\\n".join(f"{left} &{right}".strip() if left else f"&{right}" for left, right in rows)
    return f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}"


class Documented(Protocol):
    """What the documents need of a Response (structural type: the documents sit below the routes)."""

    model: Diffusion
    order: int

    @property
    def method(self) -> str: ...

    @property
    def derivation(self) -> Derivation: ...


_STARTS = {"Stationary": "stationary start", "PointMass": "point-mass start", "Gaussian": "Gaussian start"}


def _header_facts(resp: Documented) -> list[str]:
    """One line about the document: generator version, method, order, start (no dates: reproducible)."""
    from .._version import __version__

    start = _STARTS.get(type(resp.model.initial).__name__, "initial law " + type(resp.model.initial).__name__)
    return [
        f"Generated by volterra_sym {__version__}",
        f"method '{resp.method}'",
        f"kernels up to order {resp.order}",
        start,
    ]


def _sections(resp: Documented) -> Iterable[tuple[str, str, list[list[tuple[str, str]]], list[Any]]]:
    for step in resp.derivation.steps:
        yield step.title, step.text, display_rows(step.equations), list(step.tables)


def _latex_table(table: Any) -> str:
    """A numeric table: caption line, then a booktabs-free tabular (first column left, numbers right)."""
    cols = "l" + "r" * (len(table.header) - 1)
    lines = [
        r"\begin{center}",
        _prose_tex(table.caption) + r"\\[0.3\baselineskip]",
        r"\begin{tabular}{" + cols + "}",
        r"\hline",
        " & ".join(f"${h}$" for h in table.header) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(f"${c}$" for c in row) + r" \\" for row in table.rows]
    lines += [r"\hline", r"\end{tabular}", r"\end{center}"]
    return "\n".join(lines)


def _md_table(table: Any) -> str:
    lines = [f"*{table.caption}*", "", "| " + " | ".join(f"${h}$" for h in table.header) + " |"]
    lines.append("|" + "|".join([" --- "] + [" ---: "] * (len(table.header) - 1)) + "|")
    lines += ["| " + " | ".join(f"${c}$" for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def to_latex(resp: Documented, body_only: bool = False) -> str:
    """The derivation of ``resp`` as a standalone LaTeX document (pdflatex; article, amsmath, amssymb, geometry).

    With ``body_only=True`` only the ``align*`` environments, each preceded by
    a ``%`` comment naming its step, for pasting into a paper.
    """
    deriv = resp.derivation
    out: list[str] = []
    if body_only:
        for title, _, displays, _tables in _sections(resp):
            out.append(f"% {title}")
            out += [_align(rows, "align*") for rows in displays]
        return "\n".join(out) + "\n"
    facts = _header_facts(resp)
    facts_tex = _escape_text(", ".join(facts))
    out += [
        r"\documentclass[11pt]{article}",
        r"\usepackage[a4paper,margin=2.5cm]{geometry}",
        r"\usepackage{amsmath,amssymb}",
        r"\allowdisplaybreaks",
        # a page break before a section rather than after its title when less than ~8 lines are left
        r"\newcommand{\sectionbreak}{\par\vskip 0pt plus 8\baselineskip\penalty-200\vskip 0pt plus -8\baselineskip}",
        r"\setlength{\parindent}{0pt}",
        r"\setlength{\parskip}{0.5\baselineskip}",
        r"\title{" + _escape_text(deriv.title) + "}",
        r"\author{}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        facts_tex + ".",
        "",
    ]
    for title, text, displays, tables in _sections(resp):
        out.append(r"\sectionbreak")  # a section title never ends a page
        out.append(r"\section{" + _prose_tex(title) + "}")
        out.append(_prose_tex(text))
        out += [_align(rows, "align*") for rows in displays]
        out += [_latex_table(table) for table in tables]
        out.append("")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _md_display(rows: list[tuple[str, str]]) -> str:
    return "$$\n" + _align(rows, "aligned") + "\n$$"


def to_markdown(resp: Documented, body_only: bool = False) -> str:
    """The derivation of ``resp`` as GitHub Markdown: ``$$`` display math (``aligned`` for several rows).

    With ``body_only=True`` only the ``$$`` blocks.
    """
    deriv = resp.derivation
    out: list[str] = []
    if body_only:
        for _, _, displays, _tables in _sections(resp):
            out += [_md_display(rows) + "\n" for rows in displays]
        return "\n".join(out)
    out += [f"# {deriv.title}", "", ", ".join(_header_facts(resp)) + ".", ""]
    for title, text, displays, tables in _sections(resp):
        out += [f"## {title}", "", text, ""]
        for rows in displays:
            out += [_md_display(rows), ""]
        for table in tables:
            out += [_md_table(table), ""]
    return "\n".join(out)


def write_text(path: str | Path, text: str) -> str:
    """Write ``text`` to ``path`` (UTF-8, ``\\n`` line ends), creating parent directories; return the path.
    A path that cannot be written raises :class:`~volterra_sym.errors.OutputError` naming it."""
    return write_text_file(path, text, "document")
