"""Documents: the derivation record (ordered steps with the real intermediate results), LaTeX and
Markdown rendering, and the derivations/ gallery."""
