"""Figures of every stage (the only package that imports matplotlib): rhythm and alignment
plots, skeleton overlays and grids."""
