"""LaTeX / Markdown export of derivations (volterra_sym.documents.export).

Trusts: pdflatex (a real TeX engine decides whether documents compile and
whether lines overflow), sympy.latex (the kernels' reference printing).
The kernels themselves are checked elsewhere (test_kernels_exact); here only
that every one of them reaches the documents, and that the documents are sound.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym.documents.export import math_width, split_expr, to_latex, to_markdown, write_text

R = sp.Rational
MAX_OVERFULL_PT = 20.0


def _models() -> dict[str, vs.Diffusion]:
    a, c, c0, s = sp.symbols("a c c0 s", positive=True)
    b, d, c1, c2 = sp.symbols("b d c1 c2", positive=True)
    return {
        "symbolic_1d": vs.OU(a, c, s, c=c0, readout="h1**3", name="symbolic_1d"),
        "symbolic_2d": vs.OU([[a, b], [0, d]], [[c1], [c2]], s, readout="h1**2 + h1*h2", name="symbolic_2d"),
        "complex_2d": vs.OU([[1, -2], [2, 1]], [[1], [0]], R(1, 2), readout="h1**2 + h2", name="complex_2d"),
        "jordan_2d": vs.OU([[1, 1], [0, 1]], [[0], [1]], 1, readout="h1**2", name="jordan_2d"),
        "point_mass": vs.OU(
            [[2, 1], [0, 1]], [[1], [1]], R(1, 2), c=[1, 0], readout="h1*h2", initial=vs.PointMass([1, -1]), name="pm"
        ),
        "gaussian_start": vs.OU(
            [[2, 0], [1, 3]], [[1], [0]], R(1, 2), readout="h1**2", initial=vs.Gaussian([1, 0], [[1, 0], [0, 2]])
        ),
        "vector_readout": vs.OU([[2, 0], [1, 3]], [[1], [0]], R(1, 2), readout=["h1**2", "h2"], name="vec"),
        "two_inputs": vs.SRNN(
            Gamma=1,
            W=[[0, R(3, 2)], [0, R(-1, 2)]],
            b=[R(1, 10), 0],
            C=[[1, 0], [R(1, 2), 1]],
            sigma=R(1, 2),
            readout="h1**2 + h1*h2",
            name="two_inputs",
        ),
    }


MODELS = _models()


@pytest.fixture(scope="module")
def responses() -> dict[str, vs.Response]:
    return {key: vs.derive(model) for key, model in MODELS.items()}


def _pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing on CI: install texlive-latex-base and texlive-latex-recommended")
        pytest.skip("pdflatex not installed (install texlive-latex-base texlive-latex-recommended)")
    return exe


def compile_latex(text: str, folder: Path, name: str = "doc") -> str:
    """Run pdflatex on ``text`` in ``folder``; fail with the log's errors; return the log."""
    tex = folder / f"{name}.tex"
    tex.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log_path = folder / f"{name}.log"
    log = log_path.read_text(encoding="latin-1") if log_path.exists() else proc.stdout
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert proc.returncode == 0, f"pdflatex failed: {errors[:5]}\n{proc.stdout[-2000:]}"
    assert (folder / f"{name}.pdf").exists()
    return log


def overfull(log: str) -> list[float]:
    """Widths (pt) of every overfull hbox reported in a pdflatex log."""
    return [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def kernel_in(doc: str, expr: sp.Expr) -> bool:
    """The kernel's sympy.latex is in the document, whole or (when broken over lines) term by term."""
    if sp.latex(expr) in doc:
        return True
    terms = sp.Add.make_args(expr)
    return len(terms) > 1 and all(sp.latex(-t if t.could_extract_minus_sign() else t) in doc for t in terms)


def all_kernels(resp: vs.Response):
    for comp in range(resp.model.p):
        yield from resp.kernels(component=comp)


# --------------------------------------------------------------------------- LaTeX


@pytest.mark.parametrize("key", list(MODELS))
def test_latex_document_compiles_without_overfull_lines(key, responses, tmp_path):
    resp = responses[key]
    doc = to_latex(resp)
    log = compile_latex(doc, tmp_path)
    wide = [w for w in overfull(log) if w > MAX_OVERFULL_PT]
    assert not wide, f"{key}: overfull lines {wide} pt (limit {MAX_OVERFULL_PT} pt)"
    for n, ks, expr in all_kernels(resp):
        if expr != 0:
            assert kernel_in(doc, expr), f"{key}: kernel {n}{ks} missing from the LaTeX document"
    assert sp.latex(resp.mean0) in doc or resp.model.vector_readout


@pytest.mark.parametrize("key", ["symbolic_1d", "two_inputs", "point_mass"])
def test_latex_body_only_compiles_inside_a_document(key, responses, tmp_path):
    body = to_latex(responses[key], body_only=True)
    assert r"\documentclass" not in body and r"\section" not in body
    assert body.count(r"\begin{align*}") == body.count(r"\end{align*}") > 0
    wrapper = (
        "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + body + "\\end{document}\n"
    )
    compile_latex(wrapper, tmp_path, "body")
    for _, _, expr in all_kernels(responses[key]):
        if expr != 0:
            assert kernel_in(body, expr)


def test_latex_covers_every_step_of_the_exact_derivation(responses):
    doc = to_latex(responses["symbolic_1d"])
    for needle in [
        r"\section{The model}",
        r"\section{Generators and Fokker-Planck operators}",
        r"\section{Perturbation hierarchy}",
        r"\section{Volterra series and the generator recursion}",
        r"\section{The Ornstein-Uhlenbeck semigroup in closed form}",
        r"\section{The recursion, step by step}",
        r"\section{The kernels}",
        r"\section{First order: the fluctuation-dissipation form}",
        r"\mathcal{L}_0 g",
        r"\mathcal{L}_1^{1} g",
        r"\mathcal{L}_0^* p",
        "Duhamel",
        r"\tau_1 = t - s_1",
        r"G_j = P_{T_j}[g_j]",
        "Lyapunov",
        "vanishes identically",
        f"volterra\\_sym {vs.__version__}",
    ]:
        assert needle in doc, needle
    # the worked check of MATH.md section 5 appears in the kernels section
    a, c, c0, s = sp.symbols("a c c0 s", positive=True)
    tau1 = responses["symbolic_1d"].taus[0]
    k1 = 3 * c * (a * s**2 + 2 * c0**2) / (2 * a**2) * sp.exp(-a * tau1)
    assert sp.latex(k1) in doc


def test_latex_is_deterministic_and_undated(responses):
    resp = responses["two_inputs"]
    first = to_latex(resp)
    again = to_latex(vs.derive(MODELS["two_inputs"]))
    assert first == again
    assert r"\today" not in first and r"\date{}" in first


def test_zero_orders_are_listed_with_their_reason():
    model = MODELS["jordan_2d"]
    resp = vs.derive(model, order=3)
    doc = to_latex(resp)
    assert resp.zero_orders == {3: resp.zero_orders[3]}
    assert "K^{(3)} &= 0" in doc
    assert "vanishes identically" in doc


def test_gaussian_and_point_mass_documents_show_the_transient_law(responses):
    doc = to_latex(responses["gaussian_start"])
    assert r"\operatorname{Cov} h_0" in doc and r"\operatorname{Cov} h^0_t" in doc
    assert "fluctuation-dissipation" not in doc  # FDT form needs the stationary start
    assert r"s_{n}" in to_latex(responses["point_mass"])


# --------------------------------------------------------------------------- Markdown


def _math_blocks(md: str) -> list[str]:
    parts = md.split("$$")
    assert len(parts) % 2 == 1, "unbalanced $$ delimiters"
    return parts[1::2]


@pytest.mark.parametrize("key", ["symbolic_1d", "complex_2d", "vector_readout", "two_inputs"])
def test_markdown_document(key, responses):
    resp = responses[key]
    md = to_markdown(resp)
    blocks = _math_blocks(md)
    assert blocks
    for block in blocks:
        assert block.count(r"\begin{aligned}") == block.count(r"\end{aligned}") <= 1
        assert block.count("{") == block.count("}"), block
        for bad in (r"\begin{align*}", r"\begin{align}", r"\tag", r"\intertext", r"\begin{multline", r"\label"):
            assert bad not in block
        for line in block.strip().splitlines():  # no line a Markdown parser could take for a list or rule
            assert not re.match(r"\s*([-+*]\s|#|=+\s*$|-{3,})", line), line
    assert md.startswith("# ")
    for n, ks, expr in all_kernels(resp):
        if expr != 0:
            assert kernel_in(md, expr), f"{key}: kernel {n}{ks} missing from the Markdown"
    # inline math stays inline: balanced single dollars outside the display blocks
    prose = "".join(md.split("$$")[0::2])
    assert prose.count("$") % 2 == 0


def test_markdown_body_only(responses):
    body = to_markdown(responses["two_inputs"], body_only=True)
    assert "#" not in body
    blocks = _math_blocks(body)
    assert len(blocks) >= 5
    assert body.strip().startswith("$$") and body.strip().endswith("$$")


# --------------------------------------------------------------------------- helpers


def test_write_text_and_response_writers(responses, tmp_path):
    path = write_text(tmp_path / "a" / "b" / "x.txt", "hello\n")
    assert isinstance(path, str) and Path(path).read_text() == "hello\n"
    resp = responses["symbolic_1d"]
    tex = resp.write_latex(tmp_path / "deep" / "d.tex")
    md = resp.write_markdown(tmp_path / "deep" / "d.md")
    assert Path(tex).read_text(encoding="utf-8") == resp.to_latex()
    assert Path(md).read_text(encoding="utf-8") == resp.to_markdown()


def test_split_expr_breaks_long_sums_between_terms():
    x = sp.symbols("x1:30")
    expr = sum((i + 1) * xi**2 for i, xi in enumerate(x))
    pieces = split_expr(expr, width=30)
    assert len(pieces) > 3
    assert " ".join(pieces) == sp.latex(expr)
    assert all(math_width(p) <= 30 for p in pieces)
    assert all(p.startswith(("+ ", "- ")) for p in pieces[1:])


def test_split_expr_breaks_inside_a_product_and_an_exponential():
    x = sp.symbols("x1:20")
    inner = sum(x)
    pieces = split_expr(sp.Rational(3, 7) * inner * sp.exp(-sum(2 * xi for xi in x)), width=30)
    assert len(pieces) > 2
    joined = " ".join(pieces)
    assert joined.count(r"\Bigl(") == joined.count(r"\Bigr)") >= 1
    assert split_expr(sp.Symbol("y"), width=1) == ["y"]


def test_math_width_estimates():
    assert math_width("x") == pytest.approx(1.0)
    assert math_width(r"\frac{a}{b}") < math_width("a b")  # stacked, not side by side
    assert math_width(r"\left( x \right)") == pytest.approx(3.0)  # the delimiters count
    assert math_width(r"\text{hello world}") > 10
    assert math_width("x + y") > math_width("x y")


# --------------------------------------------------------------------------- the printer


def test_printer_is_a_latex_printer_subclass_that_prints_like_sympy_latex(responses):
    from sympy.printing.latex import LatexPrinter

    from volterra_sym.documents.export import PRINTER, DerivationLatexPrinter, latex

    assert issubclass(DerivationLatexPrinter, LatexPrinter) and isinstance(PRINTER, DerivationLatexPrinter)
    assert "_print_Add" in vars(DerivationLatexPrinter)  # sums are printed by the subclass, not by SymPy's helpers
    x, y, z = sp.symbols("x y z")
    exprs = [
        x - y + 3 * z**2 - sp.Rational(1, 2),
        -x - y,
        sp.exp(-x - 2 * y) * (x - 1) ** 2 - sp.sqrt(z) + sp.I * y,
        sp.Mod(x, 3) + y,
        sp.Eq(x, y - z),
        sp.Matrix([[x - y, 1], [0, -z + x**2]]),
        sp.Poly(x**2 - 3 * x * y + 1, x, y),
        sp.Integral(sp.exp(-x) * (x - y), (x, 0, sp.oo)) - z,
    ]
    for resp in responses.values():
        exprs += [expr for _, _, expr in all_kernels(resp)] + [resp.mean0]
    for expr in exprs:
        assert latex(expr) == sp.latex(expr), expr
    # an explicit order setting keeps SymPy's own rule
    assert DerivationLatexPrinter({"order": "lex"}).doprint(x**2 + y + x) == sp.latex(x**2 + y + x, order="lex")


def test_export_uses_no_private_sympy_name_outside_the_printer_subclass():
    """SymPy's underscore names are not API (they may change in a minor release): export.py may use them only
    inside the methods of its LatexPrinter subclass, and there only ``_print`` and the ``_print_<Class>`` hooks."""
    import ast

    import volterra_sym.documents.export as export

    tree = ast.parse(Path(export.__file__).read_text(encoding="utf-8"))
    (printer,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DerivationLatexPrinter"]
    inside = {id(node) for node in ast.walk(printer)}

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    outside, hooks = [], []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sympy"):
            names = [alias.name for alias in node.names]
        for name in filter(private, names):
            (hooks if id(node) in inside else outside).append((name, node.lineno))
    assert not outside, f"private names used outside DerivationLatexPrinter: {outside}"
    assert all(name == "_print" or name.startswith("_print_") for name, _ in hooks), hooks
    methods = [n.name for n in printer.body if isinstance(n, ast.FunctionDef)]
    assert methods and all(name.startswith("_print_") or not private(name) for name in methods), methods


# --------------------------------------------------------------------------- the document's layout (issue 19 item 8)


def test_structured_adjoint_shown_equals_the_fokker_planck_operator():
    # the document writes L0* p = -phi.grad p - (div phi) p + 1/2 D : grad^2 p with div phi computed
    from volterra_sym.model.operators import L0_adjoint

    model = vs.SRNN([[1, 0], [0, 1]], [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], [1, 0.5], 0.6, activation="tanh",
                    readout="h1")  # fmt: skip
    h = model.state
    p = sp.Function("p")(*h)
    div = sum(sp.diff(model.drift[i], x) for i, x in enumerate(h))
    shown = (
        -sum(model.drift[i] * sp.diff(p, x) for i, x in enumerate(h))
        - div * p
        + sp.Rational(1, 2) * sum(model.D[i, j] * sp.diff(p, h[i], h[j]) for i in range(2) for j in range(2))
    )
    assert sp.expand(shown - L0_adjoint(model, p)) == 0


@pytest.mark.filterwarnings("ignore::volterra_sym.errors.ConvergenceWarning")
def test_galerkin_document_reads_like_a_paper(tmp_path):
    model = vs.SRNN([[1, 0], [0, 1]], [[0.5, -1.2], [1.2, 0.3]], [0.2, -0.1], [1, 0.5], 0.6, activation="tanh",
                    readout="h1", name="rot")  # fmt: skip
    resp = vs.derive(model, 2, method="galerkin", degree=8)
    doc = to_latex(resp)
    hierarchy = doc[doc.index(r"\section{Perturbation hierarchy}") : doc.index(r"\section{Volterra series")]
    assert r"\tanh" not in hierarchy  # operators written once and referenced, one line per order
    assert hierarchy.count("(order ") == 3
    assert r"\nabla\cdot\phi" in doc and "Itô" in doc and r"ds_1\cdots ds_n" in doc
    assert r"\title{Response kernels of the model rot}" in doc
    assert r"-\lambda_{1}" in doc and r"_{11}" not in doc
    assert doc.count(r"\begin{tabular}") == 2 and r"\tau = 0.5" in doc
    md = to_markdown(resp)
    assert "| $p$ |" in md and "---:" in md
    log = compile_latex(doc, tmp_path)
    assert not [w for w in overfull(log) if w > MAX_OVERFULL_PT]
