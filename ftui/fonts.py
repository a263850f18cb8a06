"""Fonts for the pictures ftui draws (matplotlib): label names in Chinese, Japanese or Korean too.

matplotlib's own font (DejaVu Sans) has no CJK glyphs: a confusion matrix of 正面/负面 drew empty boxes
("Glyph ... missing from font"). PyPI's `manimgx-fonts-cjk` (OFL-1.1) ships Noto Sans CJK; it is
registered once and put after DejaVu Sans in the family list, and matplotlib (>= 3.6) takes each glyph
from the first family that has it, so Latin text looks as before and CJK text gets Noto.

    with text_fonts():
        fig = Figure(...); ...; fig.savefig(...)   # draw inside: fonts are looked up at draw time

No pyplot and no global rcParams change: the family list holds only inside the `with`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.resources
import logging
import threading
from pathlib import Path

FONT_PACKAGE = "manimgx_fonts_cjk"
FONT_FILE = "NotoSansCJK-VF.otf.ttc"
LATIN_FAMILY = "DejaVu Sans"  # matplotlib's default, shipped with it
CJK_FAMILY = "Noto Sans CJK SC"  # simplified Chinese forms; the same file covers Japanese and Korean
NORMAL = 400

log = logging.getLogger(__name__)


def cjk_font_file() -> Path | None:
    """Noto Sans CJK inside its PyPI package, or None when the package is missing."""
    try:
        path = Path(str(importlib.resources.files(FONT_PACKAGE) / FONT_FILE))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def families() -> tuple[str, ...]:
    """The font families to draw with, first choice first (CJK last, when its font is there)."""
    from matplotlib import font_manager

    path = cjk_font_file()
    if path is None:
        log.warning("the package %s is missing: CJK labels in pictures will show as empty boxes", FONT_PACKAGE)
        return (LATIN_FAMILY,)
    manager = font_manager.fontManager
    if not any(entry.fname == str(path) for entry in manager.ttflist):
        manager.addfont(str(path))
        # The variable font's entries say weight 100 (its default instance); register it as regular too, so
        # asking for normal text finds it without a "Failed to find font weight" warning on every lookup.
        manager.ttflist += [dataclasses.replace(entry, weight=NORMAL) for entry in manager.ttflist
                            if entry.fname == str(path) and entry.name == CJK_FAMILY]
        manager._findfont_cached.cache_clear()  # lookups made before the font was added are stale
    return (LATIN_FAMILY, CJK_FAMILY)


# rc_context saves the global rcParams on entry and puts them back on exit: two threads inside at once (the
# server draws comparison charts and confusion matrices for several users) would leave one's list behind.
_ONE_AT_A_TIME = threading.RLock()


@contextlib.contextmanager
def text_fonts():
    """A context in which matplotlib draws with `families()` (a fallback list); one thread at a time."""
    import matplotlib

    with _ONE_AT_A_TIME, matplotlib.rc_context({"font.family": list(families())}):
        yield
