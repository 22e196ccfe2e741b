"""Imports every module of this package so that each metric registers itself."""
from __future__ import annotations

from models.registry import import_submodules

import_submodules(__name__, __path__)
