"""Independent checks: the exact Gaussian oracle, the Monte Carlo simulator and verification reports.

Layer rule (enforced by tests/test_architecture.py): nothing here imports the kernel code
(algebra, numerics, documents, routes, response, derive); only the model, errors and validation.
"""
