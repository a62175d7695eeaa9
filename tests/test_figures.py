"""``ag_figures``: the kernel's one-drawing inline PNG against IPython's own.

Each figure goes through IPython's ``print_figure`` (matplotlib's two passes) and through
``ag_figures.print_figure``: the same PNG size and the same picture up to anti-aliasing
within a pixel, or (where the tight box leaves the figure, or an option this module does
not copy is set) IPython's very bytes.
"""

from __future__ import annotations

import base64
import importlib.util
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

matplotlib.use("agg")

import matplotlib.pyplot as plt
from IPython.core import pylabtools
from PIL import Image

HERE = Path(__file__).parent
STANDARD = pylabtools.print_figure


@pytest.fixture(scope="module")
def figures() -> Iterator[Any]:
    path = HERE.parent / "autograder" / "engine" / "kernel" / "sandbox_files" / "ag_figures.py"
    spec = importlib.util.spec_from_file_location("ag_figures_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._ORIGINAL = STANDARD
    yield module


def activations() -> Any:
    """Lecture 13's plot: four activation functions side by side."""
    z = np.linspace(-5, 5, 201)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3))
    for ax, y, name in zip(axes, [z > 0, np.tanh(z), 1 / (1 + np.exp(-z)), np.maximum(z, 0)],
                           ["step", "tanh", "sigmoid", "ReLU"], strict=True):
        ax.plot(z, y)
        ax.set_title(name)
        ax.grid(True)
    return fig


def loss_curve() -> Any:
    fig = plt.figure()
    plt.plot([0.9, 0.5, 0.3, 0.25], label="train")
    plt.plot([1.0, 0.6, 0.45, 0.44], label="test")
    plt.xlabel("epoch")
    plt.ylabel("loss")
    plt.legend()
    return fig


def digit_grid() -> Any:
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(3, 3, figsize=(4, 4))
    for ax in axes.flat:
        ax.imshow(rng.random((28, 28)), cmap="gray")
        ax.set_title("pred 7")
        ax.axis("off")
    fig.tight_layout()
    return fig


def constrained_colorbar() -> Any:
    fig, axes = plt.subplots(1, 2, layout="constrained")
    image = None
    for ax in axes:
        image = ax.imshow(np.eye(6))
    fig.colorbar(image, ax=axes)
    return fig


def see_through() -> Any:
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [1, 0])
    fig.patch.set_alpha(0.0)
    return fig


def legend_outside() -> Any:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.legend(bbox_to_anchor=(1.05, 1), loc="upper left")
    return fig


def title_above() -> Any:
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.suptitle("above the figure", y=1.1)
    return fig


def label_past_the_edge() -> Any:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1])
    ax.set_ylabel("a label far larger\nthan its margin", fontsize=18)
    return fig


def note_beyond_the_right_edge() -> Any:
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.text(1.02, 0.5, "a note right of the figure")
    return fig


def annotation_beyond_the_top() -> Any:
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.annotate("peak", xy=(1, 1), xytext=(0.5, 1.3), textcoords="axes fraction",
                arrowprops={"arrowstyle": "->"})
    return fig


def axes_beyond_the_figure() -> Any:
    fig = plt.figure()
    fig.add_axes((0.1, 0.1, 0.6, 0.8)).plot([0, 1])
    fig.add_axes((1.05, 0.1, 0.4, 0.8)).plot([1, 0])
    return fig


def titled_and_annotated_inside() -> Any:
    fig, ax = plt.subplots()
    ax.plot([0, 1, 0])
    ax.annotate("top", xy=(1, 1), xytext=(1.3, 0.8), arrowprops={"arrowstyle": "->"})
    fig.suptitle("learning curve")
    return fig


def pixels(png: bytes) -> Any:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)


def both(make: Callable[[], Any], figures: Any, **kwargs: Any) -> tuple[Any, Any]:
    fig = make()
    try:
        ours = figures.print_figure(fig, **kwargs)
    finally:
        plt.close(fig)
    fig = make()
    try:
        theirs = STANDARD(fig, **kwargs)
    finally:
        plt.close(fig)
    return ours, theirs


def ink(image: Any) -> Any:
    """The part of an image that differs from its corner (the background)."""
    drawn = (image != image[0, 0]).any(axis=2)
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    return image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@pytest.mark.parametrize("make", [activations, loss_curve, digit_grid, constrained_colorbar,
                                  see_through, titled_and_annotated_inside])
def test_one_drawing_gives_matplotlibs_tight_png(make: Callable[[], Any], figures: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def not_this_way(*args: Any, **kwargs: Any) -> None:
        pytest.fail("took matplotlib's own two passes")

    monkeypatch.setattr(figures, "_ORIGINAL", not_this_way)
    ours, theirs = both(make, figures)
    assert ours.startswith(b"\x89PNG\r\n\x1a\n")
    mine, reference = pixels(ours), pixels(theirs)
    # the margins: matplotlib's box holds each text's line height, ours the ink
    assert np.abs(np.subtract(mine.shape, reference.shape)).max() <= 8
    drawn, expected = ink(mine), ink(reference)
    assert np.abs(np.subtract(drawn.shape, expected.shape)).max() <= 1
    rows, cols = min(drawn.shape[0], expected.shape[0]), min(drawn.shape[1], expected.shape[1])
    differs = np.abs(drawn[:rows, :cols] - expected[:rows, :cols]).max(axis=2) > 96
    # the same picture: only edge pixels of lines and glyphs, moved by under one pixel
    assert differs.mean() < 0.06
    assert abs(drawn.mean() - expected.mean()) < 1.5


@pytest.mark.parametrize("make", [activations, see_through])
def test_the_png_holds_the_very_pixels_drawn_and_matplotlibs_notes(make: Callable[[], Any],
                                                                   figures: Any) -> None:
    """Opaque figures lose their alpha channel (every pixel 255) and are written with
    zlib's fastest level: lossless all the same, with the dpi and the "Software" note
    of matplotlib's own PNG; a see-through figure keeps its alpha channel."""
    fig = make()
    try:
        fig.canvas.draw()
        drawn = np.asarray(fig.canvas.get_renderer().buffer_rgba()).copy()
        png = figures._encode(drawn, fig.dpi)
        theirs = STANDARD(fig, bbox_inches=None)
    finally:
        plt.close(fig)
    image, reference = Image.open(io.BytesIO(png)), Image.open(io.BytesIO(theirs))
    assert image.mode == ("RGB" if (drawn[..., 3] == 255).all() else "RGBA")
    assert (np.asarray(image.convert("RGBA")) == drawn).all()
    assert image.info["Software"] == reference.info["Software"]
    assert image.info["dpi"] == pytest.approx(reference.info["dpi"])
    assert len(png) < 1.25 * len(theirs)


@pytest.mark.parametrize("make", [legend_outside, title_above, label_past_the_edge,
                                  note_beyond_the_right_edge, annotation_beyond_the_top,
                                  axes_beyond_the_figure])
def test_a_box_beyond_the_figure_takes_matplotlibs_own_path(make: Callable[[], Any],
                                                            figures: Any) -> None:
    ours, theirs = both(make, figures)
    assert ours == theirs


@pytest.mark.parametrize("kwargs", [
    {"fmt": "svg"}, {"fmt": "retina"}, {"fmt": "png", "bbox_inches": None},
    {"fmt": "png", "pil_kwargs": {"compress_level": 1}}, {"fmt": "jpeg"},
])
def test_other_formats_and_options_are_left_to_ipython(kwargs: dict[str, Any],
                                                       figures: Any) -> None:
    ours, theirs = both(loss_curve, figures, **kwargs)
    if kwargs["fmt"] == "svg":  # SVG carries the time it was made: compare its drawing
        assert isinstance(ours, str) and ours.count("<path") == theirs.count("<path")
    else:
        assert ours == theirs


def test_base64_and_empty_figures_as_ipython_returns_them(figures: Any) -> None:
    ours, theirs = both(loss_curve, figures, base64=True)
    assert isinstance(ours, str) and isinstance(theirs, str)
    mine, reference = (pixels(base64.b64decode(text)) for text in (ours, theirs))
    assert np.abs(np.subtract(mine.shape, reference.shape)).max() <= 8
    assert both(plt.figure, figures) == (None, None)


def test_changed_savefig_settings_take_matplotlibs_own_path(figures: Any) -> None:
    with matplotlib.rc_context({"savefig.facecolor": "yellow", "savefig.pad_inches": 0.5}):
        ours, theirs = both(loss_curve, figures)
    assert ours == theirs


def test_install_routes_the_inline_formatter(figures: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pylabtools, "print_figure", STANDARD)
    monkeypatch.setattr(figures, "_ORIGINAL", None)
    figures.install()
    assert pylabtools.print_figure is figures.print_figure
    assert figures._ORIGINAL is STANDARD
    figures.install()  # twice (a second extension load): still IPython's own underneath
    assert figures._ORIGINAL is STANDARD
