"""``autograder data fetch|import|list``: the dataset cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...core.i18n import tr
from .common import add_data, command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ... import datasets
    from ...core.console import plain

    if args.data_command == "fetch":
        for name in args.names:
            path = datasets.fetch(name=name, cache=args.data)
            plain(tr(ja=f"{name}: 取得しました → {path}", en=f"{name}: fetched → {path}"))
    elif args.data_command == "import":
        for found in datasets.import_archives(paths=args.paths, cache=args.data):
            plain(tr(ja=f"{found.name}: 取り込みました → {found.path}",
                     en=f"{found.name}: imported → {found.path}"))
    else:
        datasets.print_listing(datasets.list_cache(cache=args.data), cache=args.data)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "data", ja="データセットのキャッシュ: 取得・取り込み・一覧",
                en="dataset cache: fetch, import, list")
    add_data(p)
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="{fetch,import,list}")
    f = command(dsub, "fetch", ja="torchvision でダウンロードします(インターネットが必要)",
                en="download with torchvision (needs the internet)")
    f.add_argument("names", nargs="+", choices=["mnist", "fashion-mnist", "cifar10"])
    i = command(dsub, "import", ja="MNIST の .gz・mnist.pkl.gz・cifar-10-python.tar.gz を"
                                   "取り込みます(オフライン)",
                en="import MNIST .gz / mnist.pkl.gz / cifar-10-python.tar.gz (offline)")
    i.add_argument("paths", nargs="+", type=Path)
    listing = command(dsub, "list", ja="キャッシュの中身を表示します",
                      en="show what the cache holds")
    for leaf in (f, i, listing):
        add_data(leaf, keep_given=True)  # `data list --data DIR` as well as `data --data DIR list`
    p.set_defaults(handler=_run)


register(add_parser)
