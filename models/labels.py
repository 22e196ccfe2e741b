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


def label_rows(grid: Image.Image, names: list[str], row_height: int, top: int = 0, max_chars: int = 32) -> Image.Image:
    """`grid` with a column on its left naming each row, in the grid's mode; names longer than max_chars are cut."""
    names = [name if len(name) <= max_chars else name[:max_chars - 3] + "..." for name in names]
    label_width = 2 * MARGIN + max(text_width(name) for name in names)
    canvas = Image.new(grid.mode, (label_width + grid.width, grid.height))
    canvas.paste(grid, (label_width, 0))
    for row, name in enumerate(names):
        draw_text(canvas, (MARGIN, top + row * row_height + (row_height - LINE_HEIGHT) // 2), name, "white")
    return canvas
