"""autograder_reference.cifar: split, AlexNet, the device-resident training path, confusion matrix.

Real CIFAR-10 is not reachable here: everything runs on the generated CIFAR-shaped data
of ``make_fake_cifar`` (the same generator as 14_n's offline ``FakeCIFAR10``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import transforms

from autograder_reference import cifar as ref
from autograder_reference.device import amp_dtype, default_device


@pytest.fixture(scope="module")
def fake_train() -> ref.SyntheticCIFAR10:
    return ref.make_fake_cifar(1000, seed=1)


@pytest.fixture(scope="module")
def fake_test() -> ref.SyntheticCIFAR10:
    return ref.make_fake_cifar(500, seed=2)


@pytest.fixture(scope="module")
def trained(fake_train, fake_test) -> tuple[nn.Module, dict[str, list[float]]]:
    """SmallCNN, 3 epochs on 1,000 generated images (a few seconds on 2 idle cores)."""
    torch.manual_seed(0)
    model = ref.SmallCNN()
    history = ref.train_with_history(model, fake_train, fake_test, epochs=3, batch_size=32,
                                     lr=0.02, device="cpu")
    return model, history


# ------------------------------------------------------------------------------ split

@pytest.fixture(scope="module")
def fifty_thousand() -> TensorDataset:
    return TensorDataset(torch.arange(50_000))


def test_split_sizes_disjoint_complete(fifty_thousand):
    train, val = ref.split_dataset(fifty_thousand)
    assert (len(train), len(val)) == (40_000, 10_000)
    a, b = set(train.indices), set(val.indices)
    assert not a & b and len(a | b) == 50_000
    assert int(val[0][0]) == val.indices[0]


def test_split_is_reproducible_and_seeded(fifty_thousand):
    train, _ = ref.split_dataset(fifty_thousand, seed=0)
    again, _ = ref.split_dataset(fifty_thousand, seed=0)
    other, _ = ref.split_dataset(fifty_thousand, seed=1)
    assert list(train.indices) == list(again.indices)
    assert list(train.indices) != list(other.indices)


def test_split_rejects_bad_sizes():
    with pytest.raises(ValueError, match="val_size"):
        ref.split_dataset(TensorDataset(torch.arange(100)), val_size=100)


# --------------------------------------------------------------------------- models

def test_alexnet_is_the_lecture_net():
    net = ref.AlexNet(10)
    assert sum(p.numel() for p in net.parameters()) == 36_051_786
    convs = [(m.in_channels, m.out_channels, m.kernel_size, m.padding)
             for m in net.features if isinstance(m, nn.Conv2d)]
    assert convs == [(3, 64, (3, 3), (1, 1)), (64, 192, (5, 5), (2, 2)),
                     (192, 384, (3, 3), (1, 1)), (384, 256, (3, 3), (1, 1)),
                     (256, 256, (3, 3), (1, 1))]
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.features) == 3
    linears = [(m.in_features, m.out_features) for m in net.classifier if isinstance(m, nn.Linear)]
    assert linears == [(4096, 4096), (4096, 4096), (4096, 10)]
    assert sum(isinstance(m, nn.Dropout) for m in net.classifier) == 2
    assert sum(p.numel() for p in ref.AlexNet(100).parameters()) == 36_051_786 + 90 * 4097


def test_alexnet_channels_last_gives_the_same_output():
    torch.manual_seed(0)
    net = ref.AlexNet(10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = net(x)
        got = net.to(memory_format=torch.channels_last)(x.contiguous(
            memory_format=torch.channels_last))
    assert want.shape == (2, 10)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_alexnet_learns_a_tiny_batch(fake_train):
    """Forward and backward through all 36M parameters: four Adam steps on 8 images
    lower the loss on them (eval mode, no dropout)."""
    torch.manual_seed(0)
    net = ref.AlexNet(10)
    data = ref.to_device_data(Subset(fake_train, range(8)), "cpu")
    x, y = ref.normalize_batch(data.images), data.labels
    net.eval()
    with torch.no_grad():
        before = float(F.cross_entropy(net(x), y))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()
    for _ in range(4):
        loss_sum, correct = ref.train_step(net, opt, x, y)
        assert torch.isfinite(loss_sum) and 0 <= int(correct) <= 8
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    net.eval()
    with torch.no_grad():
        after = float(F.cross_entropy(net(x), y))
    assert after < before - 0.01, (before, after)


def test_small_cnn_shape():
    assert ref.SmallCNN()(torch.zeros(3, 3, 32, 32)).shape == (3, 10)
    assert ref.SmallCNN(num_classes=4, width=8)(torch.zeros(1, 3, 32, 32)).shape == (1, 4)


# ------------------------------------------------------------------ generated data

def test_fake_cifar_shape_and_determinism(fake_test):
    assert fake_test.data.shape == (500, 32, 32, 3) and fake_test.data.dtype.name == "uint8"
    assert len(fake_test) == 500 and set(fake_test.targets) == set(range(10))
    again = ref.make_fake_cifar(500, seed=2)
    assert (again.data == fake_test.data).all() and again.targets == fake_test.targets
    assert not (ref.make_fake_cifar(500, seed=3).data == fake_test.data).all()


def test_fake_cifar_pixels_are_the_notebook_values(fake_test):
    images, labels = ref.fake_cifar_tensors(20, train=False)
    assert images.shape == (20, 3, 32, 32) and labels.tolist() == fake_test.targets[:20]
    assert float(images.min()) >= -1.0 and float(images.max()) <= 1.0
    item = ref.make_fake_cifar(20, seed=2, transform=ref.test_transform)
    for i in range(20):
        torch.testing.assert_close(item[i][0], images[i], atol=1 / 255 + 1e-6, rtol=0)


def test_transforms():
    assert any(isinstance(t, transforms.RandomHorizontalFlip)
               for t in ref.train_transform.transforms)
    assert not any(isinstance(t, transforms.RandomHorizontalFlip | transforms.RandomCrop)
                   for t in ref.test_transform.transforms)


# ----------------------------------------------------------------- fast data path

def test_to_device_data_follows_subsets(fake_train):
    part = Subset(fake_train, [5, 3, 900])
    data = ref.to_device_data(part, "cpu")
    assert data.images.shape == (3, 3, 32, 32) and data.images.dtype == torch.uint8
    want = torch.as_tensor(fake_train.data[[5, 3, 900]]).permute(0, 3, 1, 2)
    assert torch.equal(data.images, want)
    assert data.labels.tolist() == [fake_train.targets[i] for i in (5, 3, 900)]
    nested = ref.to_device_data(Subset(part, [2]), "cpu")
    assert torch.equal(nested.images[0], want[2])
    with pytest.raises(TypeError, match="to_device_data"):
        ref.to_device_data(TensorDataset(torch.zeros(2, 3, 32, 32)), "cpu")


def test_normalize_batch_equals_test_transform(fake_test):
    data = ref.to_device_data(fake_test, "cpu")
    x = ref.normalize_batch(data.images[:10])
    items = ref.make_fake_cifar(10, seed=2, transform=ref.test_transform)
    want = torch.stack([items[i][0] for i in range(10)])
    assert torch.equal(x, want)
    assert ref.normalize_batch(data.images[:2], channels_last=True).is_contiguous(
        memory_format=torch.channels_last)


def _crops(image: torch.Tensor) -> list[torch.Tensor]:
    padded = F.pad(image, (4, 4, 4, 4))
    crops = [padded[:, y : y + 32, x : x + 32] for y in range(9) for x in range(9)]
    return crops + [c.flip(-1) for c in crops]


def test_augment_batch_is_crop_and_flip(fake_test):
    images = ref.to_device_data(Subset(fake_test, range(6)), "cpu").images
    g = torch.Generator().manual_seed(0)
    out = ref.augment_batch(images, g)
    assert out.shape == images.shape and out.dtype == torch.uint8
    for i in range(6):
        assert any(torch.equal(out[i], c) for c in _crops(images[i]))
    # over many draws every offset and both flips occur
    many = ref.augment_batch(images[:1].expand(400, -1, -1, -1), g)
    kinds = {next(k for k, c in enumerate(_crops(images[0])) if torch.equal(m, c)) for m in many}
    assert len(kinds) > 100


def test_device_batches_cover_the_data(fake_test):
    data = ref.to_device_data(fake_test, "cpu")
    ordered = list(ref.device_batches(data, 128))
    assert [len(y) for _, y in ordered] == [128, 128, 128, 116]
    assert torch.cat([y for _, y in ordered]).tolist() == fake_test.targets
    g = torch.Generator().manual_seed(0)
    shuffled = torch.cat([y for _, y in ref.device_batches(data, 128, augment=True, generator=g)])
    assert shuffled.tolist() != fake_test.targets
    assert sorted(shuffled.tolist()) == sorted(fake_test.targets)


# ------------------------------------------------------------- training and results

def test_default_device_and_precision():
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    assert amp_dtype("cpu") is None


@pytest.mark.slow
def test_train_with_history_learns(trained):
    _, history = trained
    assert set(history) == {"train_loss", "val_loss", "train_acc", "val_acc"}
    assert all(len(v) == 3 for v in history.values())
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["val_acc"][-1] >= 0.5, history  # chance is 0.1


@pytest.mark.slow
def test_confusion_matrix_is_consistent(trained, fake_test):
    model, _ = trained
    cm = ref.confusion_matrix(model, fake_test)
    assert cm.dtype == torch.int64 and cm.shape == (10, 10)
    assert int(cm.sum()) == len(fake_test)
    assert cm.sum(dim=1).tolist() == torch.bincount(torch.tensor(fake_test.targets),
                                                    minlength=10).tolist()
    assert int(cm.trace()) / len(fake_test) == pytest.approx(ref.evaluate(model, fake_test))
    # a torchvision-style loader of the same images gives the same matrix
    loader = DataLoader(ref.make_fake_cifar(500, seed=2, transform=ref.test_transform),
                        batch_size=100)
    assert torch.equal(ref.confusion_matrix(model, loader), cm)


def test_train_with_history_accepts_loaders(fake_train, fake_test):
    """The slow path (per-image transforms in a DataLoader) trains through the same loop."""
    torch.manual_seed(0)
    model = ref.SmallCNN(width=8)
    loader = DataLoader(Subset(ref.make_fake_cifar(256, seed=1, transform=ref.train_transform),
                               range(256)), batch_size=64, shuffle=True)
    history = ref.train_with_history(model, loader, Subset(fake_test, range(100)), epochs=1,
                                     device="cpu")
    assert all(len(v) == 1 for v in history.values())
    assert 0.0 <= history["val_acc"][0] <= 1.0


def test_gpu_settings_run_on_the_cpu(fake_train, fake_test):
    """The CUDA configuration (bf16 autocast, channels-last) forced on the CPU: the same
    loop trains and evaluates, so the GPU path is exercised where no GPU is."""
    torch.manual_seed(0)
    model = ref.SmallCNN(width=8)
    history = ref.train_with_history(model, Subset(fake_train, range(128)),
                                     Subset(fake_test, range(100)), epochs=1, batch_size=64,
                                     lr=0.02, device="cpu", amp=torch.bfloat16,
                                     channels_last=True)
    assert all(len(v) == 1 for v in history.values())
    assert all(torch.isfinite(torch.tensor(v)).all() for v in history.values())
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert int(ref.confusion_matrix(model, Subset(fake_test, range(100))).sum()) == 100
