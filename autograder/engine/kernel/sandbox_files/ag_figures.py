"""Inline figures drawn once instead of twice.

IPython shows a figure as a PNG cropped to its "tight" box (``bbox_inches="tight"``, the
inline backend's default). matplotlib finds that box by laying the whole figure out in a
first pass that draws nothing, then draws it again, moved, for the PNG: on the 4-panel
plot of lecture 13, 0.23 s of the kernel's 0.38 s per submission.

``install()`` replaces ``IPython.core.pylabtools.print_figure`` (what the inline
backend's PNG formatter calls) with ``print_figure``: it draws the figure once and cuts
the padded tight box out of the pixels already drawn. The box is read from the pixels
(around everything drawn) where every axes, text and legend lies inside the figure and
nothing drawn touches its edge; else it is matplotlib's own (``get_tightbbox``, which
lays every tick out again). The picture is the same; the margins can differ from
matplotlib's by a few pixels (its box holds each text's whole line height, the pixels
only the ink) and edges by anti-aliasing within a pixel (the cut is on whole pixels,
matplotlib moves the figure by a fraction). Where the box reaches outside the figure (a
legend placed outside the axes, a title above the figure), nothing drawn holds it, and
matplotlib's own two passes run, as they do for any other format or option (SVG,
``retina``, ``pil_kwargs``, another ``bbox_inches``, changed ``savefig`` settings).

Figures are never graded: this changes the speed of the feedback's pictures, nothing a
score depends on. It runs inside the student's kernel: a student's code can undo it and
only slows its own grading.
"""

import io
from typing import Any

_ORIGINAL: Any = None  # IPython's own print_figure, once install() has run
_EDGE = 1e-6  # inches: a box on the figure's edge is inside


def print_figure(fig, fmt="png", bbox_inches="tight", base64=False, **kwargs):
    """``IPython.core.pylabtools.print_figure``, one drawing for a tight PNG."""
    if fmt == "png" and bbox_inches == "tight" and not kwargs:
        data = _tight_png(fig)
        if data is not None:
            if base64:
                from binascii import b2a_base64

                return b2a_base64(data, newline=False).decode("ascii")
            return data
    return _ORIGINAL(fig, fmt, bbox_inches, base64, **kwargs)


def _tight_png(fig):
    """The PNG of ``fig`` cropped to its tight box, or None where the box is not all
    inside the figure (or anything here is not as expected)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        return None
    if not fig.axes and not fig.lines:
        return None  # IPython shows nothing for an empty figure: let it say so
    canvas = fig.canvas
    if type(canvas) is not FigureCanvasAgg or not _plain_rc():
        return None
    try:
        canvas.draw()
        renderer = canvas.get_renderer()
        box = _ink_box(fig, renderer) or fig.get_tightbbox(renderer)
    except Exception:
        return None  # matplotlib's own path will raise it where the student sees it
    if box is None or not _inside(box, fig.bbox_inches):
        return None
    return _encode(_crop(fig, renderer, box), fig.dpi)


def _ink_box(fig, renderer):
    """The box (inches) around what was drawn, read from the pixels; None where
    something drawn could lie outside the figure, and only matplotlib's own box
    (``get_tightbbox``, which lays out every tick again: a third of the time saved)
    finds it. Its box holds each text's whole line height, so it is a few pixels larger
    than the ink; the picture inside is the same."""
    import numpy as np
    from matplotlib.transforms import Bbox

    if not _all_inside(fig, renderer):
        return None
    drawn = np.asarray(renderer.buffer_rgba())
    height, width = drawn.shape[:2]
    # one 32-bit word a pixel: a pixel differs from the corner where its word does
    words = np.ascontiguousarray(drawn).view(np.uint32).reshape(height, width)
    corners = words[[0, 0, -1, -1], [0, -1, 0, -1]]
    if height < 3 or width < 3 or not (corners == corners[0]).all():
        return None
    ink = words != corners[0]
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0 or rows[0] == 0 or cols[0] == 0 or rows[-1] == height - 1 \
            or cols[-1] == width - 1:
        return None  # nothing drawn, or drawn up to the edge: maybe cut off there
    dpi, top = fig.dpi, fig.bbox.height
    return Bbox([[cols[0] / dpi, (top - rows[-1] - 1) / dpi],
                 [(cols[-1] + 1) / dpi, (top - rows[0]) / dpi]])


def _all_inside(fig, renderer):
    """True where every axes, text and legend lies inside the figure, and the figure
    holds nothing else that is placed freely (lines, patches, images, subfigures)."""
    if fig.lines or fig.patches or fig.images or fig.artists or fig.subfigs:
        return False
    free = [*fig.texts, *fig.legends]
    for ax in fig.axes:
        position = ax.get_position()
        if position.x0 < 0 or position.y0 < 0 or position.x1 > 1 or position.y1 > 1:
            return False
        free += [*ax.texts, *([ax.legend_] if ax.legend_ is not None else [])]
    return all(_inside(artist.get_window_extent(renderer), fig.bbox) for artist in free)


def _plain_rc():
    """True where the savefig settings are the ones this module copies."""
    import matplotlib

    rc = matplotlib.rcParams
    return (isinstance(rc["savefig.pad_inches"], (int, float))
            and rc["savefig.dpi"] == "figure"
            and str(rc["savefig.facecolor"]) == "auto"
            and str(rc["savefig.edgecolor"]) == "auto"
            and rc["savefig.bbox"] in (None, "standard", "tight"))


def _inside(box, figure_box):
    return (box.x0 >= figure_box.x0 - _EDGE and box.y0 >= figure_box.y0 - _EDGE
            and box.x1 <= figure_box.x1 + _EDGE and box.y1 <= figure_box.y1 + _EDGE)


def _crop(fig, renderer, box):
    """The pixels of the padded tight box; padding beyond the figure takes the figure's
    background, as matplotlib's own tight PNG does."""
    import matplotlib
    import numpy as np

    dpi = fig.dpi
    padded = box.padded(matplotlib.rcParams["savefig.pad_inches"])
    width, height = int(padded.width * dpi), int(padded.height * dpi)
    left = int(np.rint(padded.x0 * dpi))
    top = int(np.rint(fig.bbox.height - padded.y1 * dpi))
    drawn = np.asarray(renderer.buffer_rgba())
    if top >= 0 and left >= 0 and top + height <= drawn.shape[0] \
            and left + width <= drawn.shape[1]:
        return np.ascontiguousarray(drawn[top:top + height, left:left + width])
    out = np.empty((height, width, 4), dtype=np.uint8)
    out[...] = _background(fig)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom = min(top + height, drawn.shape[0])
    src_right = min(left + width, drawn.shape[1])
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top:src_bottom - top, src_left - left:src_right - left] = (
            drawn[src_top:src_bottom, src_left:src_right])
    return out


def _background(fig):
    import numpy as np
    from matplotlib.colors import to_rgba

    if not fig.patch.get_visible():
        return (0, 0, 0, 0)
    return tuple(int(v) for v in np.rint(np.array(to_rgba(fig.get_facecolor())) * 255))


def _encode(pixels, dpi):
    """The PNG of ``pixels`` with what matplotlib writes into its own (the dpi, the
    "Software" note). Without the alpha channel where every pixel is opaque, and with
    zlib's fastest level: the same pixels, as large a file, in half the time (10 of
    the 20 ms the 4-panel plot of lecture 13 took to encode)."""
    import matplotlib
    from PIL import Image, PngImagePlugin

    opaque = bool((pixels[..., 3] == 255).all())
    image = Image.fromarray(pixels[..., :3] if opaque else pixels, "RGB" if opaque else "RGBA")
    info = PngImagePlugin.PngInfo()
    info.add_text("Software",
                  f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    buffer = io.BytesIO()
    image.save(buffer, format="png", dpi=(dpi, dpi), pnginfo=info, compress_level=1)
    return buffer.getvalue()


def install():
    """Route the inline backend's PNGs through ``print_figure`` (and any formatter
    already registered for matplotlib figures)."""
    global _ORIGINAL
    from IPython.core import pylabtools

    if _ORIGINAL is None:
        _ORIGINAL = pylabtools.print_figure
    pylabtools.print_figure = print_figure
