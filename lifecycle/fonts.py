"""The Japanese font every PDF uses: an embedded TrueType font when one is installed."""
from __future__ import annotations

import logging
import os
from functools import lru_cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

#: Debian's IPAex Gothic first (fonts-ipaexfont); reportlab cannot embed CFF-based Noto CJK.
CANDIDATES = (
    ("IPAexGothic", "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    ("IPAexGothic", "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf"),
    ("IPAGothic", "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
    ("IPAGothic", "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),
)
FALLBACK_CID = "HeiseiKakuGo-W5"


@lru_cache(maxsize=1)
def japanese_font() -> str:
    """Registers and returns the font name; the CID fallback is readable but not embedded."""
    override = os.environ.get("LIFECYCLE_FONT_PATH")
    candidates = ((("Custom", override),) if override else ()) + CANDIDATES
    for name, path in candidates:
        if path and os.path.exists(path):
            try:
                pdfmetrics.registerFont(TTFont(name, path))
                return name
            except Exception as exc:  # a broken or unsupported font file: try the next one
                log.warning("font %s could not be used: %s", path, exc)
    log.warning(
        "no Japanese TrueType font found (install fonts-ipaexfont); "
        "falling back to the non-embedded CID font %s", FALLBACK_CID)
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_CID))
    return FALLBACK_CID
