"""JianYing (剪映) drafts: what a draft task asks for, its materials, the draft and its zip."""

from __future__ import annotations

from .builder import Material, build_draft, zip_draft
from .spec import DraftConfig, DraftSpec, MaterialRef, folder_name, parse_spec

__all__ = [
    "DraftConfig",
    "DraftSpec",
    "Material",
    "MaterialRef",
    "build_draft",
    "folder_name",
    "parse_spec",
    "zip_draft",
]
