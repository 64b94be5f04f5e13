"""Kernel routes: each turns a model into response kernels by its own method."""
