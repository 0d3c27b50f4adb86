"""Figures of the stages (the only package that imports matplotlib).

Rhythm and alignment plots, skeleton overlays and grids.
"""
