"""Training throughput of the reference AlexNet on CIFAR-shaped generated data.

Compares, in one run and per device, the naive path (torchvision-style per-image PIL
transforms through a ``DataLoader``, fp32, NCHW) with the reference's fast path (the
whole set on the device as uint8, crop/flip/normalise batched on the device,
channels-last, bf16 autocast on CUDA), and prints images/s per configuration.

    .venv/bin/python bench/alexnet_throughput.py                 # CPU, and CUDA if present
    .venv/bin/python bench/alexnet_throughput.py --device cpu --steps 3 --batch-size 32
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from autograder_reference.cifar import (
    AlexNet,
    device_batches,
    make_fake_cifar,
    to_device_data,
    train_step,
    train_transform,
)
from autograder_reference.device import amp_dtype, synchronize


@dataclass(frozen=True)
class Config:
    path: str  # "naive" or "fast"
    amp: torch.dtype | None
    channels_last: bool


@dataclass(frozen=True)
class Row:
    device: str
    config: Config
    batch_size: int
    images_per_s: float


def configs_for(device: str) -> list[Config]:
    """The naive baseline, then the fast path with each optimisation switched on in turn."""
    rows = [Config("naive", None, False), Config("fast", None, False), Config("fast", None, True)]
    bf16 = amp_dtype(device)
    if bf16 is not None:
        rows.append(Config("fast", bf16, True))
    return rows


def naive_batches(n: int, batch_size: int, workers: int, seed: int) -> Iterator[tuple]:
    data = make_fake_cifar(n, seed=seed, transform=train_transform)
    g = torch.Generator().manual_seed(seed)
    return iter(DataLoader(data, batch_size=batch_size, shuffle=True, generator=g,
                           num_workers=workers, drop_last=True))


def fast_batches(
    n: int, batch_size: int, device: str, channels_last: bool, seed: int
) -> Iterator[tuple]:
    data = to_device_data(make_fake_cifar(n, seed=seed), device)
    g = torch.Generator(device=device).manual_seed(seed)
    return device_batches(data, batch_size, augment=True, generator=g,
                          channels_last=channels_last)


def measure(
    device: str, cfg: Config, *, batch_size: int, warmup: int, steps: int, workers: int
) -> Row:
    """Images/s over ``steps`` training steps after ``warmup`` untimed ones (data included)."""
    torch.manual_seed(0)
    n = batch_size * (warmup + steps)
    model = AlexNet(10).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = (naive_batches(n, batch_size, workers, 0) if cfg.path == "naive"
               else fast_batches(n, batch_size, device, cfg.channels_last, 0))
    model.train()
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            synchronize(device)
            start = time.perf_counter()
        train_step(model, opt, x.to(device, non_blocking=True), y.to(device), amp=cfg.amp)
    synchronize(device)
    elapsed = time.perf_counter() - start
    return Row(device, cfg, batch_size, batch_size * steps / elapsed)


def print_table(rows: list[Row]) -> None:
    header = (f"{'device':<8}{'path':<7}{'batch':>6}  {'dtype':<14}{'channels_last':<15}"
              f"{'images/s':>10}  vs naive")
    print(header)
    print("-" * len(header))
    base: dict[str, float] = {}
    for r in rows:
        dtype = "autocast bf16" if r.config.amp is torch.bfloat16 else "fp32"
        if r.config.path == "naive":
            base[r.device] = r.images_per_s
        speedup = r.images_per_s / base[r.device] if r.device in base else float("nan")
        print(f"{r.device:<8}{r.config.path:<7}{r.batch_size:>6}  {dtype:<14}"
              f"{r.config.channels_last!s:<15}{r.images_per_s:>10.1f}  x{speedup:.2f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: the CPU, and CUDA when present")
    p.add_argument("--batch-size", type=int, help="default 64 on the CPU, 256 on CUDA")
    p.add_argument("--steps", type=int, help="timed steps; default 3 on the CPU, 50 on CUDA")
    p.add_argument("--warmup", type=int, help="untimed steps; default 1 on the CPU, 10 on CUDA")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the naive path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    rows = []
    for device in devices:
        gpu = device == "cuda"
        for cfg in configs_for(device):
            rows.append(measure(
                device, cfg,
                batch_size=args.batch_size or (256 if gpu else 64),
                warmup=args.warmup if args.warmup is not None else (10 if gpu else 1),
                steps=args.steps or (50 if gpu else 3),
                workers=args.workers,
            ))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
