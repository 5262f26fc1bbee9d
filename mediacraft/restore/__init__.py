"""Watermark removal that recovers the picture where the video holds it.

``pipeline`` runs the passes and chooses per rectangle; ``motion`` tracks the
camera; ``overlay`` estimates and inverts a semi-transparent logo; ``fill``
rebuilds a rectangle from other frames or spatially; ``stream`` decodes with
PyAV and encodes through the bundled ffmpeg; ``detect`` suggests logo
rectangles; ``preview`` restores one frame. Importing the package itself
loads neither numpy nor OpenCV (``methods`` names the methods).
"""

from __future__ import annotations

from .methods import METHODS, validate_method

__all__ = ["METHODS", "validate_method"]
