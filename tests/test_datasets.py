"""The dataset cache: imports that torchvision loads offline, refusals that change nothing."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder import datasets
from autograder.cli import main
from autograder.core.errors import DatasetError
from autograder.datasets import catalog, importer, mnist
from autograder.datasets.cifar import CifarSpec
from autograder.datasets.safe_pickle import safe_load

RAW_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
BWRAP = shutil.which("bwrap")
needs_bwrap = pytest.mark.skipif(BWRAP is None, reason="bubblewrap (bwrap) is not installed: "
                                 "cannot prove the load runs without a network")


@pytest.fixture(autouse=True)
def _japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")  # also undoes `main(["--lang", ...])`


def run_offline(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in bubblewrap with no network namespace to speak of."""
    assert BWRAP is not None
    cmd = [BWRAP, "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--bind", "/tmp", "/tmp", sys.executable, "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


NO_NETWORK = """
import socket
try:
    socket.create_connection(("1.1.1.1", 443), timeout=5)
    raise SystemExit("the network is reachable")
except OSError:
    pass
"""


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


# ----------------------------------------------------------------------- real MNIST


def test_mnist_fixture_is_real_mnist(mnist_data_dir: Path) -> None:
    import torchvision

    train = torchvision.datasets.MNIST(root=mnist_data_dir, train=True, download=True)
    test = torchvision.datasets.MNIST(root=mnist_data_dir, train=False, download=True)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.targets[:10].tolist() == FIRST_TRAIN_LABELS
    assert test.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert str(train.data.dtype) == "torch.uint8"
    assert tuple(train.data.shape) == (60_000, 28, 28)
    assert int(train.data.max()) == 255
    # The well-known MNIST training mean, 0.1307 × 255: pixels were not rescaled.
    assert abs(float(train.data.float().mean()) - 33.318) < 0.01


@needs_bwrap
@pytest.mark.slow
def test_pickle_import_loads_in_torchvision_without_network(
        mnist_pkl_gz: Path, mnist_data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    [done] = datasets.import_archives(paths=[mnist_pkl_gz], cache=cache)
    assert (done.name, done.folder, done.path) == ("mnist", "MNIST", cache / "MNIST")
    assert done.splits == {"train": 60_000, "test": 10_000}
    for name in RAW_NAMES:  # deterministic: same bytes as the shared fixture's import
        assert (cache / "MNIST/raw" / name).read_bytes() == \
            (mnist_data_dir / "MNIST/raw" / name).read_bytes()
    code = NO_NETWORK + """
import json, sys, torchvision
tr = torchvision.datasets.MNIST(root=sys.argv[1], train=True, download=True)
te = torchvision.datasets.MNIST(root=sys.argv[1], train=False, download=True)
print(json.dumps([len(tr), len(te), tr.targets[:10].tolist(), str(tr.data.dtype)]))
"""
    proc = run_offline(code, str(cache))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == \
        [60_000, 10_000, FIRST_TRAIN_LABELS, "torch.uint8"]


@pytest.fixture(scope="module")
def idx_gz_dir(mnist_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four IDX files, gzipped under their usual names (no other file beside them)."""
    out = tmp_path_factory.mktemp("idx")
    for name in RAW_NAMES:
        data = (mnist_data_dir / "MNIST/raw" / name).read_bytes()
        (out / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=0))
    return out


@pytest.mark.parametrize("given", ["directory", "four .gz files", "four plain files"])
def test_idx_import(given: str, idx_gz_dir: Path, mnist_data_dir: Path, tmp_path: Path) -> None:
    raw = mnist_data_dir / "MNIST/raw"
    paths = {"directory": [idx_gz_dir],
             "four .gz files": sorted(idx_gz_dir.iterdir()),
             "four plain files": [raw / n for n in RAW_NAMES]}[given]
    [done] = datasets.import_archives(paths=paths, cache=tmp_path)
    assert (done.name, done.path) == ("mnist", tmp_path / "MNIST")
    for name in RAW_NAMES:
        assert (tmp_path / "MNIST/raw" / name).read_bytes() == (raw / name).read_bytes()
    assert not list(tmp_path.glob(".staging-*"))


def test_import_replaces_an_existing_entry(idx_gz_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "MNIST/raw"
    old.mkdir(parents=True)
    (old / "stale-file").write_text("old")
    datasets.import_archives(paths=[idx_gz_dir], cache=tmp_path)
    assert sorted(p.name for p in old.iterdir()) == sorted(RAW_NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "MNIST"]


def test_catalog_matches_torchvision() -> None:
    import torchvision.datasets as tvd

    cifar = dict(tvd.CIFAR10.train_list + tvd.CIFAR10.test_list)
    cifar[tvd.CIFAR10.meta["filename"]] = tvd.CIFAR10.meta["md5"]
    mnist_gz = {"MNIST": dict(tvd.MNIST.resources),
                "FashionMNIST": dict(tvd.FashionMNIST.resources)}
    raw = tuple(f"raw/{n.removesuffix('.gz')}" for n, _ in tvd.MNIST.resources)
    assert (cifar, mnist_gz, raw) == (catalog.CIFAR10_MD5, catalog.IDX_GZ_MD5, catalog.MNIST_RAW)
    assert tvd.CIFAR10.base_folder == "cifar-10-batches-py"


# ----------------------------------------------------------------------- refusals


def batch_pickle(rows: int, *, seed: int = 0, row_bytes: int = 3072,
                 labels: list[int] | None = None) -> bytes:
    """A CIFAR-10 batch file as the real ones are built (a protocol-2 dict)."""
    rng = np.random.default_rng(seed)
    return pickle.dumps({
        "batch_label": f"batch {seed}",
        "labels": labels if labels is not None else rng.integers(0, 10, rows).tolist(),
        "data": rng.integers(0, 256, (rows, row_bytes), dtype=np.uint8),
        "filenames": [f"img_{seed}_{i}.png" for i in range(rows)],
    }, protocol=2)


META = pickle.dumps({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"],
                     "num_cases_per_batch": 10_000, "num_vis": 3072}, protocol=2)


def cifar_members(rows: int) -> dict[str, bytes]:
    members = {f"data_batch_{i}": batch_pickle(rows, seed=i) for i in range(1, 6)}
    return {**members, "test_batch": batch_pickle(rows, seed=6), "batches.meta": META}


def write_tar(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{symlink}")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


class Evil:
    """Unpickling this runs ``touch MARKER`` — unless the unpickler refuses it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Src:
    tmp: Path
    idx: Path   # directory of the four IDX .gz files
    pkl: Path   # the real mnist.pkl.gz


def _idx_subset(src: Src, skip: str = "", extra: tuple[str, bytes] | None = None) -> list[Path]:
    files = [p for p in sorted(src.idx.iterdir()) if not p.name.startswith(skip or "\0")]
    if extra:
        (src.tmp / extra[0]).write_bytes(extra[1])
        files.append(src.tmp / extra[0])
    return files


def _truncated(src: Path, dest: Path, *, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def _put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _idx(magic: int, *dims: int, body: bytes) -> bytes:
    header = struct.pack(f">{1 + len(dims)}I", magic, *dims)
    return gzip.compress(header + body, compresslevel=1)


def _small_mnist_pickle(src: Src) -> Path:
    x, y = np.zeros((100, 784), np.float32), np.zeros(100, np.int64)
    return _put(src.tmp / "mnist.pkl.gz",
                gzip.compress(pickle.dumps(((x, y), (x, y), (x, y)), protocol=2)))


def _evil_pickle(src: Src, protocol: int) -> Path:
    return _put(src.tmp / "mnist.pkl.gz",
                gzip.compress(pickle.dumps(Evil(src.tmp / "PWNED"), protocol=protocol)))


def _empty_dir(src: Src) -> Path:
    (src.tmp / "empty").mkdir()
    (src.tmp / "empty" / "README.md").write_text("no datasets here")
    return src.tmp / "empty"


# Each case builds the bad input, names the file the error must mention and a phrase of
# the (Japanese) message.
CASES: dict[str, tuple[Callable[[Src], list[Path]], str, str]] = {
    "truncated IDX .gz": (
        lambda s: [*_idx_subset(s, skip="train-images"),
                   _truncated(s.idx / "train-images-idx3-ubyte.gz",
                              s.tmp / "train-images-idx3-ubyte.gz")],
        "train-images-idx3-ubyte.gz", "途中で切れて"),
    "one IDX file missing": (
        lambda s: _idx_subset(s, skip="t10k-labels"), "train-images-idx3-ubyte.gz", "足りません"),
    "two IDX files for one role": (
        lambda s: _idx_subset(s, extra=("copy-t10k-labels.gz",
                                        (s.idx / "t10k-labels-idx1-ubyte.gz").read_bytes())),
        "t10k-labels", "二つ"),
    "IDX with 100 images": (
        lambda s: [*_idx_subset(s, skip="t10k-images"),
                   _put(s.tmp / "t10k-images-idx3-ubyte.gz",
                        _idx(0x803, 100, 28, 28, body=bytes(100 * 784)))],
        "t10k-images-idx3-ubyte.gz", "IDX ファイルではありません"),
    "IDX images 27×27": (
        lambda s: [_put(s.tmp / "t10k-images-idx3-ubyte.gz",
                        _idx(0x803, 10_000, 27, 27, body=bytes(10_000 * 729)))],
        "t10k-images-idx3-ubyte.gz", "28×28 ではありません"),
    "IDX label 10": (
        lambda s: [_put(s.tmp / "t10k-labels-idx1-ubyte.gz",
                        _idx(0x801, 10_000, body=bytes([10]) * 10_000))],
        "t10k-labels-idx1-ubyte.gz", "0〜9"),
    "IDX gzip bomb": (
        lambda s: [_put(s.tmp / "train-images-idx3-ubyte.gz",
                        _idx(0x803, 60_000, 28, 28, body=bytes(60_000 * 784 + 4096)))],
        "train-images-idx3-ubyte.gz", "上限"),
    "unknown file": (
        lambda s: [_put(s.tmp / "notes.txt", b"hello\n")], "notes.txt", "知らない形式"),
    "directory without datasets": (
        lambda s: [_empty_dir(s)], "empty", "見つかりません"),
    "path that does not exist": (lambda s: [s.tmp / "nowhere.gz"], "nowhere.gz", "ありません"),
    "truncated mnist.pkl.gz": (
        lambda s: [_truncated(s.pkl, s.tmp / "mnist.pkl.gz")], "mnist.pkl.gz", "途中で切れて"),
    "mnist.pkl.gz of 100 images": (
        lambda s: [_small_mnist_pickle(s)], "mnist.pkl.gz", "(50000, 784)"),
    "malicious mnist.pkl.gz (protocol 2)": (
        lambda s: [_evil_pickle(s, 2)], "mnist.pkl.gz", "拒否"),
    "malicious mnist.pkl.gz (protocol 4)": (
        lambda s: [_evil_pickle(s, 4)], "mnist.pkl.gz", "拒否"),
    "IDX and mnist.pkl.gz both": (
        lambda s: [s.idx, s.pkl], "mnist.pkl.gz", "二度"),
    "CIFAR tar with 100-row batches": (
        lambda s: [write_tar(s.tmp / "cifar-10-python.tar.gz", cifar_members(100))],
        "data_batch_1", "(10000, 3072)"),
    "CIFAR tar without batches": (
        lambda s: [write_tar(s.tmp / "cifar-10-python.tar.gz", {"batches.meta": META})],
        "cifar-10-python.tar.gz", "data_batch_1, data_batch_2"),
    "CIFAR tar with a malicious batch": (
        lambda s: [write_tar(s.tmp / "cifar-10-python.tar.gz",
                             {"data_batch_1": pickle.dumps(Evil(s.tmp / "PWNED"), protocol=2)})],
        "data_batch_1", "拒否"),
    "CIFAR tar with a symlink member": (
        lambda s: [write_tar(s.tmp / "cifar-10-python.tar.gz", {}, symlink="data_batch_1")],
        "data_batch_1", "通常のファイルではありません"),
    "truncated CIFAR tar": (  # cut inside the first member
        lambda s: [_truncated(write_tar(s.tmp / "full.tar.gz", cifar_members(500)),
                              s.tmp / "cifar-10-python.tar.gz", keep=0.05)],
        "cifar-10-python.tar.gz", "途中で切れて"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_and_cache_unchanged(
        case: str, idx_gz_dir: Path, mnist_pkl_gz: Path, tmp_path: Path) -> None:
    build, culprit, says = CASES[case]
    src = Src(tmp=tmp_path / "in", idx=idx_gz_dir, pkl=mnist_pkl_gz)
    src.tmp.mkdir()
    paths = build(src)
    cache = tmp_path / "cache"
    for folder in ("MNIST/raw", "cifar-10-batches-py"):
        (cache / folder).mkdir(parents=True)
        (cache / folder / "keep-me").write_text("the cache before the import")
    before = snapshot(cache)
    with pytest.raises(DatasetError) as caught:
        datasets.import_archives(paths=paths, cache=cache)
    text = caught.value.render()
    assert culprit in text and says in text, text
    assert snapshot(cache) == before
    assert not (src.tmp / "PWNED").exists()


def test_errors_speak_english_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="unknown file format"):
        datasets.import_archives(paths=[tmp_path / "notes.txt"], cache=tmp_path / "cache")


# ----------------------------------------------------------------------- restricted unpickling


@pytest.mark.parametrize("module, name", [
    ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "getattr"),
    ("subprocess", "Popen"), ("numpy", "load"), ("numpy.core.multiarray", "scalar"),
    ("_codecs", "decode"), ("copyreg", "_reconstructor"),
])
def test_safe_load_refuses_other_globals(module: str, name: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil = f"c{module}\n{name}\n(V{marker}\ntR.".encode()
    with pytest.raises(DatasetError, match=f"拒否.*{module}.{name}"):
        safe_load(io.BytesIO(evil), where="evil.pkl")
    assert not marker.exists()


def test_safe_load_refuses_codecs_other_than_latin1() -> None:
    payload = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R."
    with pytest.raises(DatasetError, match="ピクルとして読めません"):
        safe_load(io.BytesIO(payload), where="x.pkl")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_load_reads_numpy_arrays(protocol: int) -> None:
    value: dict[str, Any] = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
                             "labels": [1, 2, 3], "name": b"bytes",
                             "x": np.linspace(0, 1, 5, dtype=np.float32)}
    loaded = safe_load(io.BytesIO(pickle.dumps(value, protocol=protocol)), where="ok.pkl")
    assert loaded.keys() == value.keys() and loaded["labels"] == [1, 2, 3]
    assert loaded["name"] == b"bytes"
    for key in ("data", "x"):
        assert loaded[key].dtype == value[key].dtype
        assert np.array_equal(loaded[key], value[key])


def test_pixels_must_be_exact_multiples_of_one_256th() -> None:
    k = np.array([[0, 1, 128, 255] * 196] * 3, dtype=np.float32)
    assert np.array_equal(mnist._pixels(k / 256, 3, Path("m.pkl.gz"), "train").reshape(3, -1), k)
    for bad in (k / 255, k / 256 + 0.5 / 256, np.full_like(k, np.nan), k):
        with pytest.raises(DatasetError, match="k/256"):
            mnist._pixels(bad, 3, Path("m.pkl.gz"), "train")


# ----------------------------------------------------------------------- CIFAR-10


ROWS = 20  # per batch: the real layout and pickles, with small counts (internal spec only)


def small_spec(members: dict[str, bytes]) -> CifarSpec:
    return CifarSpec(rows_per_batch=ROWS,
                     md5={n: hashlib.md5(d).hexdigest() for n, d in members.items()})


def test_cifar_archive_loads_in_torchvision(tmp_path: Path) -> None:
    import torchvision.datasets as tvd

    members = cifar_members(ROWS)
    archive = write_tar(tmp_path / "cifar-10-python.tar.gz", {**members, "readme.html": b"hi"})
    spec = small_spec(members)
    cache = tmp_path / "cache"
    [done] = importer.run_import([archive], cache, cifar_spec=spec)
    assert (done.name, done.path, done.splits) == \
        ("cifar10", cache / "cifar-10-batches-py", {"train": 5 * ROWS, "test": ROWS})
    assert sorted(p.name for p in done.path.iterdir()) == sorted(members)
    # torchvision itself, with only its checksums swapped for the small archive's.
    small = type("SmallCIFAR10", (tvd.CIFAR10,), {
        "train_list": [[n, spec.md5[n]] for n in catalog.CIFAR_TRAIN],
        "test_list": [["test_batch", spec.md5["test_batch"]]],
        "meta": {**tvd.CIFAR10.meta, "md5": spec.md5["batches.meta"]}})
    train, test = small(root=cache, train=True, download=True), small(root=cache, train=False)
    assert (len(train), len(test)) == (5 * ROWS, ROWS)
    first = pickle.loads(members["data_batch_1"])
    assert train.targets[:ROWS] == first["labels"]
    assert np.array_equal(train.data[0], first["data"][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert test.classes[0] == "airplane"
    assert datasets.seed_entries(cache=cache) == [("cifar-10-batches-py", done.path)]


@pytest.mark.parametrize("member, data, says", [
    ("data_batch_3", batch_pickle(ROWS, row_bytes=3000), "(20, 3072)"),
    ("data_batch_3", batch_pickle(ROWS + 1), "(20, 3072)"),
    ("data_batch_3", batch_pickle(ROWS, labels=[10] * ROWS), "0〜9"),
    ("data_batch_3", batch_pickle(ROWS, labels=[0] * (ROWS - 1)), "0〜9"),
    ("data_batch_3", pickle.dumps([1, 2, 3], protocol=2), "'data' と 'labels'"),
    ("test_batch", b"not a pickle", "ピクルとして読めません"),
    ("batches.meta", pickle.dumps({"label_names": ["a"]}, protocol=2), "label_names"),
])
def test_cifar_member_checks(member: str, data: bytes, says: str, tmp_path: Path) -> None:
    members = cifar_members(ROWS)
    spec = small_spec(members)
    archive = write_tar(tmp_path / "c.tar.gz", {**members, member: data})
    with pytest.raises(DatasetError) as caught:
        importer.run_import([archive], tmp_path / "cache", cifar_spec=spec)
    assert member in caught.value.render() and says in caught.value.render()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == []


def test_cifar_checksum_must_match(tmp_path: Path) -> None:
    members = cifar_members(ROWS)
    spec = small_spec({**members, "data_batch_2": b"different"})
    archive = write_tar(tmp_path / "c.tar.gz", members)
    with pytest.raises(DatasetError, match="チェックサム") as caught:
        importer.run_import([archive], tmp_path / "cache", cifar_spec=spec)
    assert "data_batch_2" in caught.value.render()


# ----------------------------------------------------------------------- list, seed, fetch


def test_list_and_seed(mnist_data_dir: Path) -> None:
    [row] = datasets.list_cache(cache=mnist_data_dir)
    assert (row.name, row.folder, row.path) == ("mnist", "MNIST", mnist_data_dir / "MNIST")
    assert dict(row.splits) == {"train": 60_000, "test": 10_000}
    assert row.complete and row.missing == ()
    assert row.size_bytes >= 16 + 70_000 * 785
    assert datasets.seed_entries(cache=mnist_data_dir) == [("MNIST", mnist_data_dir / "MNIST")]
    assert datasets.seed_entries(cache=mnist_data_dir, names=["mnist", "cifar10"]) == \
        [("MNIST", mnist_data_dir / "MNIST")]
    assert datasets.seed_entries(cache=mnist_data_dir, names=["cifar10"]) == []
    with pytest.raises(DatasetError, match="知らないデータセット名"):
        datasets.seed_entries(cache=mnist_data_dir, names=["imagenet"])


def test_incomplete_and_empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "FashionMNIST/raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(bytes.fromhex("00000803") + (7).to_bytes(4))
    [row] = datasets.list_cache(cache=tmp_path)
    assert (row.name, dict(row.splits), row.complete) == ("fashion-mnist", {"train": 7}, False)
    assert "raw/t10k-labels-idx1-ubyte" in row.missing
    assert datasets.seed_entries(cache=tmp_path) == []
    monkeypatch.setenv("AUTOGRADER_DATA", str(tmp_path / "nowhere"))
    assert datasets.list_cache() == [] and datasets.seed_entries() == []
    assert not (tmp_path / "nowhere").exists()


def test_import_does_not_load_torch_or_numpy(tmp_path: Path) -> None:
    code = ("import sys; from autograder import datasets; "
            "datasets.seed_entries(cache=sys.argv[1]); datasets.list_cache(cache=sys.argv[1]); "
            "print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_fetch_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="mnist, fashion-mnist, cifar10"):
        datasets.fetch(name="imagenet", cache=tmp_path)


@needs_bwrap
@pytest.mark.slow
def test_fetch_offline(mnist_data_dir: Path, tmp_path: Path) -> None:
    """With the data cached, fetch needs no network; without it, it says to import."""
    code = NO_NETWORK + """
import sys
from pathlib import Path
from autograder import datasets
from autograder.core.errors import DatasetError
print(datasets.fetch(name="mnist", cache=sys.argv[1]))
try:
    datasets.fetch(name="fashion-mnist", cache=sys.argv[2])
except DatasetError as exc:
    print(exc.exit_code, exc.hint)
print(sorted(p.name for p in Path(sys.argv[2]).iterdir()))
"""
    empty = tmp_path / "empty"
    proc = run_offline(code, str(mnist_data_dir), str(empty))
    assert proc.returncode == 0, proc.stderr
    fetched, failure, left = proc.stdout.splitlines()[-3:]
    assert fetched == str(mnist_data_dir / "MNIST")
    assert failure.startswith("3 ") and "autograder data import" in failure
    assert left == "[]"


# ----------------------------------------------------------------------- CLI


def test_cli_import_and_list(idx_gz_dir: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    cache = str(tmp_path / "cache")
    assert main(["data", "--cache", cache, "list"]) == 0
    assert "空です" in capsys.readouterr().out
    assert main(["data", "--cache", cache, "import", str(idx_gz_dir)]) == 0
    assert "mnist: 取り込みました" in capsys.readouterr().out
    assert main(["data", "--cache", cache, "list"]) == 0
    out = capsys.readouterr().out
    assert "MNIST" in out and "60,000" in out and "10,000" in out and "OK" in out
    assert main(["--lang", "en", "data", "--cache", cache, "list"]) == 0
    assert "samples" in capsys.readouterr().out


def test_cli_import_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code = main(["data", "--cache", str(tmp_path / "cache"), "import",
                 str(tmp_path / "notes.txt")])
    err = capsys.readouterr().err
    assert code == 3 and "エラー" in err and "notes.txt" in err and "知らない形式" in err


def test_relative_cache_paths_become_absolute(idx_gz_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    [done] = datasets.import_archives(paths=[idx_gz_dir], cache="rel")
    assert done.path == tmp_path / "rel" / "MNIST"
    monkeypatch.setenv("AUTOGRADER_DATA", "rel")
    assert datasets.seed_entries() == [("MNIST", tmp_path / "rel" / "MNIST")]
