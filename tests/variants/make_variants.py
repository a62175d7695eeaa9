"""Generate the course assignments' variant notebooks (test data for test_assignment_variants).

For each assignment: ``<id>_alt.ipynb`` is the released student notebook answered with a
correct solution written differently from the reference (other names, loops where the
reference vectorises and the other way round, helpers in cells of their own, functions in
another order); every ``<id>_bug_<what>.ipynb`` is that alternative with one realistic
mistake, made by replacing one exact piece of text in one cell.

Run from the repository root: ``.venv/bin/python tests/variants/make_variants.py [ID ...]``
(no ID: every assignment below). The output is deterministic, so rerunning it on an
unchanged assignment changes nothing.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ASSIGNMENTS = REPO / "assignments"
VARIANT_TAG = "variant"   # marks every cell this script writes (the test compares them)


@dataclass(frozen=True)
class Insert:
    """A cell of the student's own (cell id ``variant-<name>``), put right before the cell
    with grade id ``before``."""

    name: str
    before: str
    source: str


@dataclass(frozen=True)
class Edit:
    """``old`` (found exactly once in ``cell``: a grade id or an inserted cell's name)
    becomes ``new``."""

    cell: str
    old: str
    new: str


@dataclass(frozen=True)
class Plan:
    answers: dict[str, str]             # grade_id of a solution cell -> the whole cell text
    inserts: tuple[Insert, ...]
    # "bug_<what>" (one mistake) or "alt_<what>" (another correct form) -> edits of the alt
    variants: dict[str, tuple[Edit, ...]]


COMMENT = ("講義で扱った式を自分なりに書き直してみて、理解が深まりました。"
           "ベクトル化とループの速さの違いも試してみたいです。")

# ---------------------------------------------------------------------------- 13_n

N13_AS_FLOAT = '''\
def as_float64(v):
    """Lists, numbers and tensors alike as a float64 tensor."""
    return torch.as_tensor(v, dtype=torch.float64)
'''

N13_STEP = '''\
def step(u):
    if torch.is_tensor(u):
        ones = torch.ones(u.shape, dtype=torch.long)
        return torch.where(u > 0, ones, torch.zeros_like(ones))
    return int(u > 0)
'''

N13_PERCEPTRON = '''\
def weighted_sum(inputs, weights):
    total = 0.0
    for a, b in zip(inputs.tolist(), weights.tolist()):
        total += a * b
    return total


def perceptron(x, w, threshold):
    xs, ws = as_float64(x), as_float64(w)
    if xs.dim() == 1:
        return step(weighted_sum(xs, ws) - threshold)
    outputs = [step(weighted_sum(row, ws) - threshold) for row in xs]
    return torch.tensor(outputs, dtype=torch.long)
'''

N13_GATES = '''\
def NAND(a, b):
    return perceptron(x=[a, b], w=[-1.0, -1.0], threshold=-1.5)


def OR(a, b):
    return perceptron(x=[a, b], w=[1.0, 1.0], threshold=0.5)


def AND(a, b):
    return perceptron(x=[a, b], w=[1.0, 1.0], threshold=1.5)
'''

N13_XOR = '''\
def XOR(a, b):
    return AND(NAND(a, b), OR(a, b))
'''

N13_ACTIVATIONS = '''\
def relu(u):
    return torch.maximum(u, torch.zeros_like(u))


def sigmoid(u):
    # e^{-|u|} never overflows; each branch of where is then the stable form for its sign
    small = torch.exp(-torch.abs(u))
    return torch.where(u >= 0, 1 / (1 + small), small / (1 + small))


def tanh(u):
    return 2 * sigmoid(2 * u) - 1
'''

N13_SOFTMAX_1D = '''\
def softmax_1d(v):
    shifted = v - v.max()
    e = shifted.exp()
    return e / e.sum()
'''

N13_SOFTMAX = '''\
def softmax(a):
    a = torch.as_tensor(a)
    if not a.is_floating_point():
        a = a.double()
    if a.dim() == 1:
        return softmax_1d(a)
    return torch.stack([softmax_1d(row) for row in a])
'''

N13_CROSS_ENTROPY = '''\
def cross_entropy(y, t):
    ys = torch.atleast_2d(as_float64(y))
    ts = torch.atleast_2d(as_float64(t))
    total = torch.zeros((), dtype=torch.float64)
    for y_row, t_row in zip(ys, ts):
        total = total - (t_row * y_row.log()).sum()
    return total / len(ys)
'''

PLAN_13_N = Plan(
    answers={
        "sol_step": N13_STEP,
        "sol_perceptron": N13_PERCEPTRON,
        "sol_gates": N13_GATES,
        "sol_xor": N13_XOR,
        "sol_activations": N13_ACTIVATIONS,
        "sol_softmax": N13_SOFTMAX,
        "sol_cross_entropy": N13_CROSS_ENTROPY,
        "comments": COMMENT,
    },
    inserts=(Insert("as-float64", before="sol_step", source=N13_AS_FLOAT),
             Insert("softmax-1d", before="sol_softmax", source=N13_SOFTMAX_1D)),
    variants={
        # exp of the raw inputs: fine for the deck's numbers, nan for softmax([1000, 1001])
        "bug_softmax_unstable": (Edit("softmax-1d", "shifted = v - v.max()", "shifted = v"),),
        # u >= 0: step(0) gives 1 (0 is not positive)
        "bug_step_at_zero": (Edit("sol_step", "torch.where(u > 0,", "torch.where(u >= 0,"),
                             Edit("sol_step", "return int(u > 0)", "return int(u >= 0)")),
        # still correct: the 2-D case calls softmax itself on each row
        "alt_recursive_softmax": (Edit("sol_softmax", "[softmax_1d(row) for row in a]",
                                       "[softmax(row) for row in a]"),),
    },
)

# ---------------------------------------------------------------------------- 13_h

H13_INIT = '''\
def init_params(n_in, n_hidden, n_out, seed=0):
    gen = torch.Generator()
    gen.manual_seed(seed)
    params = {}
    for layer, (fan_in, fan_out) in enumerate([(n_in, n_hidden), (n_hidden, n_out)], start=1):
        params[f"W{layer}"] = torch.randn(fan_in, fan_out, generator=gen) * fan_in ** -0.5
        params[f"b{layer}"] = torch.zeros(fan_out)
    return params
'''

H13_FORWARD = '''\
def forward(X, params):
    hidden = sigmoid(torch.addmm(params["b1"], X, params["W1"]))
    scores = torch.addmm(params["b2"], hidden, params["W2"])
    probs = torch.exp(scores - torch.logsumexp(scores, dim=1, keepdim=True))
    return probs, (hidden, probs)
'''

H13_LOSS = '''\
def loss(Y, T):
    per_sample = torch.einsum("nk,nk->n", T, torch.log(Y))
    return -per_sample.mean()
'''

H13_BACKWARD = '''\
def backward(X, T, params, cache):
    hidden, probs = cache
    n = X.shape[0]
    d_out = (probs - T) / n
    d_hidden = (d_out @ params["W2"].t()) * hidden * (1 - hidden)
    grads = {}
    for layer, (inputs, delta) in enumerate([(X, d_hidden), (hidden, d_out)], start=1):
        grads[f"W{layer}"] = torch.einsum("ni,nj->ij", inputs, delta)
        grads[f"b{layer}"] = delta.sum(dim=0)
    return grads
'''

H13_NUMERICAL = '''\
def numerical_gradient(f, x, eps=1e-6):
    flat = x.reshape(-1)
    out = torch.empty_like(flat)
    for i in range(flat.numel()):
        bump = torch.zeros_like(flat)
        bump[i] = eps
        up = float(f((flat + bump).reshape(x.shape)))
        down = float(f((flat - bump).reshape(x.shape)))
        out[i] = (up - down) / (2 * eps)
    return out.reshape(x.shape)
'''

H13_SGD = '''\
def sgd_step(params, grads, lr):
    updated = {}
    for name in params:
        updated[name] = params[name] - grads[name] * lr
    return updated
'''

H13_BATCHES = '''\
def minibatches(n, batch_size, gen):
    """A fresh random order of 0..n-1, cut into batches of batch_size."""
    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
'''

H13_TRAIN = '''\
def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
    start = init_params(X.shape[1], n_hidden, T.shape[1], seed)
    params = {name: value.to(X.dtype) for name, value in start.items()}
    gen = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(epochs):
        losses = []
        for idx in minibatches(X.shape[0], batch_size, gen):
            xb, tb = X[idx], T[idx]
            probs, cache = forward(xb, params)
            losses.append(loss(probs, tb).item())
            params = sgd_step(params, backward(xb, tb, params, cache), lr)
        history.append(sum(losses) / len(losses))
    return params, history
'''

H13_XOR = '''\
xor_params, xor_losses = train(X_xor, T_xor, n_hidden=6, lr=1.5, epochs=3000, batch_size=4,
                               seed=2)
'''

H13_MNIST_TRAIN = '''\
mnist_params, losses = train(X_train, T_train, N_HIDDEN, LR, EPOCHS, BATCH_SIZE)
fig, ax = plt.subplots()
ax.plot(losses, "s-")
ax.set_xlabel("epoch (0 = first)")
ax.set_ylabel("mean loss")
plt.show()
'''

H13_MNIST_ACCURACY = '''\
correct = 0
for i in range(0, len(X_test), 1000):
    probs, _ = forward(X_test[i:i + 1000], mnist_params)
    correct += int((probs.argmax(dim=1) == y_test[i:i + 1000]).sum())
mnist_accuracy = correct / len(X_test)
print(f"テストデータの正解率: {mnist_accuracy:.4f}")
'''

PLAN_13_H = Plan(
    answers={
        "sol_init_params": H13_INIT,
        "sol_forward": H13_FORWARD,
        "sol_loss": H13_LOSS,
        "sol_backward": H13_BACKWARD,
        "sol_numerical_gradient": H13_NUMERICAL,
        "sol_sgd_step": H13_SGD,
        "sol_train": H13_TRAIN,
        "sol_xor": H13_XOR,
        "sol_mnist_train": H13_MNIST_TRAIN,
        "sol_mnist_accuracy": H13_MNIST_ACCURACY,
        "comments": COMMENT,
    },
    inserts=(Insert("minibatches", before="sol_train", source=H13_BATCHES),),
    variants={
        # backward returns the gradient of the *summed* loss (N times too large); train
        # hides it by dividing lr by the batch size, as a student who tuned until MNIST
        # trained would: training is unchanged, only the gradient checks can see it
        "bug_backward_sum_not_mean": (
            Edit("sol_backward", "d_out = (probs - T) / n", "d_out = probs - T"),
            Edit("sol_train", "backward(xb, tb, params, cache), lr)",
                 "backward(xb, tb, params, cache), lr / len(idx))")),
        # divides by eps, not 2·eps: every numerical derivative comes out twice too large
        "bug_numgrad_half_step": (Edit("sol_numerical_gradient", "(up - down) / (2 * eps)",
                                       "(up - down) / eps"),),
    },
)

PLANS: dict[str, Plan] = {"13_n": PLAN_13_N, "13_h": PLAN_13_H}


# ---------------------------------------------------------------------------- building

def released(assignment_id: str) -> NotebookNode:
    """The student notebook exactly as ``autograder release`` hands it out."""
    from autograder.config import load_assignment
    from autograder.release import read_source, student_version

    assignment = load_assignment(assignment_id, ASSIGNMENTS)
    return student_version(read_source(assignment.source_notebook), assignment=assignment)


def grade_id(cell: NotebookNode) -> str | None:
    value = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return value if isinstance(value, str) else None


def _index(nb: NotebookNode, key: str) -> int:
    """The cell with grade id ``key``, or the inserted cell named ``key``."""
    found = [i for i, c in enumerate(nb.cells)
             if grade_id(c) == key or c.get("id") == f"variant-{key}"]
    if len(found) != 1:
        raise SystemExit(f"cell {key!r}: {len(found)} cells in the notebook")
    return found[0]


def _mark(cell: NotebookNode, source: str) -> None:
    cell.source = source.rstrip("\n")
    tags = cell.metadata.setdefault("tags", [])
    if VARIANT_TAG not in tags:
        tags.append(VARIANT_TAG)


def alternative(assignment_id: str, plan: Plan) -> NotebookNode:
    nb = copy.deepcopy(released(assignment_id))
    for gid, source in plan.answers.items():
        cell = nb.cells[_index(nb, gid)]
        if not cell.metadata["nbgrader"].get("solution"):
            raise SystemExit(f"{assignment_id}: {gid} is not a solution cell")
        _mark(cell, source)
    for insert in plan.inserts:
        cell = nbformat.v4.new_code_cell()
        cell.id = f"variant-{insert.name}"
        _mark(cell, insert.source)
        nb.cells.insert(_index(nb, insert.before), cell)
    return nb


def edited(alt: NotebookNode, edits: tuple[Edit, ...]) -> NotebookNode:
    nb = copy.deepcopy(alt)
    for edit in edits:
        cell = nb.cells[_index(nb, edit.cell)]
        if cell.source.count(edit.old) != 1:
            raise SystemExit(f"{edit.cell}: {edit.old!r} is not in the cell exactly once")
        cell.source = cell.source.replace(edit.old, edit.new)
    return nb


def build(assignment_id: str) -> dict[str, NotebookNode]:
    """Variant name (``<id>_alt``, ``<id>_bug_<what>``, ``<id>_alt_<what>``) → notebook."""
    plan = PLANS[assignment_id]
    alt = alternative(assignment_id, plan)
    out = {f"{assignment_id}_alt": alt}
    for name, edits in plan.variants.items():
        out[f"{assignment_id}_{name}"] = edited(alt, edits)
    return out


def main(argv: list[str]) -> int:
    for assignment_id in argv or list(PLANS):
        for name, nb in build(assignment_id).items():
            path = HERE / f"{name}.ipynb"
            nbformat.validate(nb)
            path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
