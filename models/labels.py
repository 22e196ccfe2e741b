"""Text on image grids, in PIL's built-in bitmap font: nothing to download, the same pixels everywhere."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

FONT = ImageFont.load_default_imagefont()
LINE_HEIGHT = 12  # the bitmap font's glyphs are 11 px high
MARGIN = 4


def printable(text: str) -> str:
    """The bitmap font encodes latin-1 only; anything else is drawn as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def text_width(text: str) -> int:
    return int(FONT.getbbox(printable(text))[2]) if text else 0


def draw_text(image: Image.Image, xy: tuple[int, int], text: str, fill: str) -> None:
    ImageDraw.Draw(image).text(xy, printable(text), font=FONT, fill=fill)
