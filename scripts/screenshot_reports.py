#!/usr/bin/env python3
"""Render HTML reports to PNG in headless Chromium (Debian ``chromium``), to look at them.

    python scripts/screenshot_reports.py demo-out/report.html demo-out/feedback/*.html \
        --out demo-out/screenshots [--width 1000] [--mobile]

Needs ``apt-get install chromium fonts-noto-cjk`` (the font makes Japanese text visible).
Chromium is started with no network use of its own and a throw-away profile.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("chromium not found: apt-get install chromium fonts-noto-cjk")


def has_japanese_font() -> bool:
    fc = shutil.which("fc-list")
    if not fc:
        return False
    out = subprocess.run([fc, ":lang=ja"], capture_output=True, text=True).stdout
    return bool(out.strip())


def shoot(html: Path, png: Path, *, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ag-chromium-") as profile:
        cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}",
               f"--window-size={width},{height}", f"--screenshot={png}",
               html.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--mobile", action="store_true", help="a 390-px wide phone viewport")
    args = parser.parse_args()
    if not has_japanese_font():
        print("warning: no Japanese font (fonts-noto-cjk): Japanese text will show as boxes")
    args.out.mkdir(parents=True, exist_ok=True)
    width = 390 if args.mobile else args.width
    for html in args.html:
        png = args.out / f"{html.stem}{'-mobile' if args.mobile else ''}.png"
        shoot(html, png, width=width, height=args.height)
        print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
