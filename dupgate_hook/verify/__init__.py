"""Verification: a candidate pair blocks only once its pixels prove it is one picture.

The manifest's vectors only *retrieve* candidates. For each one, the verifier places one
decoded picture in the other (`align`: scale and shift, so crops, borders and letterboxes),
compares fine structure cell by cell over the overlap (`agree`: orientation fields that
recolours and light/dark variants leave alone), allows one overlay (a banner across the
width, or a small watermark or logo), and decides by the rule in `decide`. See
docs/verification.md for what each step checks and how its constants were chosen.
"""

from __future__ import annotations

from dupgate_hook.verify.evidence import Evidence, unavailable, verify_pictures

__all__ = ["Evidence", "unavailable", "verify_pictures"]
