"""Grading the assignment variants (used by tests/test_assignment_variants_*.py).

Acceptance of the course assignments: other correct answers get full marks, one bug loses
exactly the points of the checks it touches, a table of the deck's printed numbers earns
nothing for the checks that quote them.

The notebooks in tests/variants/ come from ``tests/variants/make_variants.py`` (the released
student notebook, answered by hand): ``<id>_alt`` is a correct solution written differently
from the reference, ``<id>_alt_<what>`` another correct form (another dtype, numpy inside,
loops, other module names, ...), ``<id>_bug_<what>`` one of them with one realistic
mistake, ``<id>_deck_values`` the deck's examples answered from a table. Each is graded
in-process by the real engine (sandboxed kernel, forked from a template where this
machine can fork, as a grading worker's are; restore, the manifest's grading
parameters, the assignment's pytest checks, in-notebook test cells) and must lose exactly
the checks listed in ``EXPECTED``: every other check scores its full points, the listed
ones score zero, so the score is the total minus their points. One fixture per
assignment grades all its variants once (module scope), one test file per assignment so
that ``pytest -n 2 --dist loadfile`` grades assignments in parallel; one kernel thread
each, as the two workers share two cores. Where a graded notebook would train a network
only to show that a plain value check catches one mistake, the case is in
tests/test_course_checks_in_process.py instead (the check's own code, no kernel).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from autograder.core.config import Assignment, Scalar, load_assignment
from autograder.core.results import Status, SubmissionResult
from autograder.engine.grade_one import GradeContext, forked_kernels, grade_submission
from autograder.engine.kernel.sandbox import bwrap_available

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "assignments"
VARIANTS = REPO / "tests" / "variants"

# variant -> the cells (grade id, or ``variant-<name>`` for a cell the variant inserts)
# that raise on purpose: a package the grader lacks imported at a cell's end, a debug
# print of a name defined later
RAISES: dict[str, frozenset[str]] = {
    "13_n_alt_colab_habits": frozenset({"variant-as-float64", "sol_gates"}),
    "13_h_alt_colab_habits": frozenset({"variant-minibatches"}),
}

# variant -> test cells it loses although they ran cleanly in the kernel: their
# [cell_requires] checks failed (engine/cells/requires.py)
GATED: dict[str, frozenset[str]] = {
    "03_n_bug_relu_not_sigmoid": frozenset({"cell:test_model"}),
    # autograd works in the notebook, so its cells pass there; the grader's checks run
    # backward and train with autograd off
    "13_h_bug_backward_by_autograd": frozenset({
        "cell:test_gradient_check", "cell:test_xor_trained", "cell:test_mnist"}),
    "13_h_bug_train_with_autograd": frozenset({"cell:test_xor_trained", "cell:test_mnist"}),
}

# variant -> the checks it must lose (all of their points); every other check scores full.
EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "13_n": {
        "13_n_alt": frozenset(),
        # the deck's numbers still work; softmax([1000, 1001]) is nan
        "13_n_bug_softmax_unstable": frozenset({"test_softmax_stable", "cell:test_softmax"}),
        # step(0) == 1; perceptron goes through step, so an input exactly on its threshold
        # gives 1 too; the gates and XOR never hit 0
        "13_n_bug_step_at_zero": frozenset({"test_step_numbers", "test_step_tensor",
                                            "test_perceptron_single", "cell:test_step"}),
        "13_n_alt_recursive_softmax": frozenset(),
        # Colab habits: failed installs and imports at a cell's end, debug prints, locals
        # named like library functions, Japanese names
        "13_n_alt_colab_habits": frozenset(),
        "13_n_alt_numpy": frozenset(),
        "13_n_alt_loops": frozenset(),
        "13_n_alt_float64": frozenset(),
        "13_n_alt_logsumexp": frozenset(),
        "13_n_alt_classes": frozenset(),
        "13_n_alt_partial": frozenset(),
        # each gate's parameters in a namedtuple instance (Gate(w=..., threshold=...))
        "13_n_alt_namedtuple_gates": frozenset(),
        "13_n_alt_gate_table": frozenset(),
        "13_n_bug_xor_table_hidden_and": frozenset({"test_xor_truth_table",
                                                    "test_xor_built_from_gates", "cell:test_xor"}),
        "13_n_bug_gates_table": frozenset({"test_gates_use_perceptron"}),
        # a table of the deck's printed numbers earns nothing for those examples
        "13_n_deck_values": frozenset({
            "test_softmax_deck_example", "test_softmax_rows", "test_softmax_stable",
            "test_cross_entropy_deck_example", "test_cross_entropy_batch",
            "cell:test_softmax", "cell:test_cross_entropy"}),
        "13_n_bug_perceptron_at_threshold": frozenset({"test_perceptron_single"}),
        "13_n_bug_perceptron_batch_columns": frozenset({"test_perceptron_batch",
                                                        "cell:test_perceptron"}),
        "13_n_bug_and_threshold": frozenset({"test_and", "cell:test_gates",
                                             "test_xor_truth_table", "cell:test_xor"}),
        "13_n_bug_or_threshold": frozenset({"test_or", "cell:test_gates",
                                            "test_xor_truth_table", "cell:test_xor"}),
        "13_n_bug_nand_threshold": frozenset({"test_nand", "cell:test_gates",
                                              "test_xor_truth_table", "cell:test_xor"}),
        "13_n_bug_or_by_formula": frozenset({"test_gates_use_perceptron"}),
        "13_n_bug_xor_python_and": frozenset({"test_xor_built_from_gates"}),
        "13_n_bug_sigmoid_from_library": frozenset({"test_activations_from_formulas"}),
        "13_n_bug_sigmoid_sign": frozenset({"test_sigmoid", "test_tanh",
                                            "test_activations_from_formulas",
                                            "cell:test_activations"}),
        "13_n_bug_relu_leaky": frozenset({"test_relu", "test_activations_from_formulas",
                                          "cell:test_activations"}),
        "13_n_bug_softmax_columns": frozenset({"test_softmax_rows", "test_softmax_stable",
                                               "cell:test_softmax"}),
        "13_n_bug_cross_entropy_sum": frozenset({"test_cross_entropy_batch",
                                                 "cell:test_cross_entropy"}),
        "13_n_bug_cross_entropy_single_sample": frozenset({
            "test_cross_entropy_deck_example", "test_cross_entropy_batch",
            "cell:test_cross_entropy"}),
    },
    "13_h": {
        "13_h_alt": frozenset(),
        # backward N times too large, hidden from training by lr / N in train
        "13_h_bug_backward_sum_not_mean": frozenset({
            "test_backward_matches_autograd", "test_backward_without_autograd",
            "cell:test_gradient_check"}),
        # numerical derivatives twice too large: the notebook's gradient check disagrees too
        "13_h_bug_numgrad_half_step": frozenset({
            "test_numerical_gradient", "cell:test_numerical_gradient",
            "cell:test_gradient_check"}),
        "13_h_bug_numgrad_forward_difference": frozenset({"test_numerical_gradient"}),
        "13_h_alt_float64": frozenset(),
        "13_h_alt_numpy": frozenset(),
        "13_h_alt_loops": frozenset(),
        # the deck's ways: a global manual_seed in init_params, a dict cache, one element
        # changed in place for the numerical gradient (np.nditer); it calls
        # torch.manual_seed, which torch rewraps once torch._dynamo is imported (an
        # optimizer's first step): a library path that legitimately differs between the
        # kernel and the grader, and must not take init_params's text away
        "13_h_alt_deck_style": frozenset(),
        # OrderedDict parameters, the deck's device line, a Japanese helper, an import
        # the grader lacks at the end of a cell
        "13_h_alt_colab_habits": frozenset(),
        # ゼロから作る's Affine/Sigmoid layer objects in the cache, their own backward
        # methods run by backward
        "13_h_alt_layer_objects": frozenset(),
        # ゼロから作る's TwoLayerNet as the cache, its gradient() run by backward (train's
        # refusal reads the class through forward)
        "13_h_alt_twolayernet": frozenset(),
        # a namedtuple cache: its generated methods match the grader's own namedtuple
        "13_h_alt_namedtuple_cache": frozenset(),
        # autograd in backward that no name in its text gives away (nn.Linear's weights,
        # a tensor's backward() and .grad): the checks run backward, and train, with
        # autograd switched off, and both fail there; what train made (xor_params,
        # mnist_params) is then no training of the student's own, so their points go with
        # it (the grader's runs of train, autograd off) and the cells that rest on them
        "13_h_bug_backward_by_autograd": frozenset({
            "test_backward_matches_autograd", "test_backward_without_autograd",
            "test_train_uses_building_blocks", "test_xor_params", "test_mnist_accuracy",
            "cell:test_gradient_check", "cell:test_xor_trained", "cell:test_mnist"}),
        "13_h_bug_loss_sum": frozenset({"test_loss", "cell:test_loss",
                                        "cell:test_gradient_check"}),
        "13_h_bug_init_ignores_seed": frozenset({"test_init_params", "cell:test_init_params"}),
        # train steps with autograd and an optimizer, not backward: its results go too
        "13_h_bug_train_with_autograd": frozenset({
            "test_train_uses_building_blocks", "test_xor_params", "test_mnist_accuracy",
            "cell:test_xor_trained", "cell:test_mnist"}),
        "13_h_bug_xor_too_short": frozenset({"test_xor_params", "cell:test_xor_trained"}),
        "13_h_bug_mnist_accuracy_percent": frozenset({"test_mnist_accuracy_reported",
                                                      "cell:test_mnist"}),
    },
    "03_n": {
        "03_n_alt": frozenset(),
        # count += loader.batch_size: test_loader's short last batch (16 of 32) moves the
        # accuracy by < 0.003, inside test_evaluate_on_test_loader's tolerance
        "03_n_bug_evaluate_counts_batches": frozenset({"test_evaluate", "cell:test_evaluate"}),
        "03_n_alt_sequential": frozenset(),
        "03_n_alt_float64": frozenset(),
        "03_n_alt_modulelist": frozenset(),
        # l1, l2, l3 reused inside an nn.Sequential: each layer registered twice
        "03_n_alt_shared_layers": frozenset(),
        # not the lecture's network: the grader has no network of its own to run the
        # weights in, so no test accuracy either (models.grader_copy); the test_model cell's
        # evaluate(model, test_loader) is the kernel's word: it needs test_model_accuracy
        # ([cell_requires])
        "03_n_bug_relu_not_sigmoid": frozenset({"test_net_structure", "test_model_is_trained_net",
                                                "test_evaluate_on_test_loader",
                                                "test_model_accuracy", "cell:test_net",
                                                "cell:test_model"}),
        "03_n_bug_train_loader_split": frozenset({"test_loaders", "cell:test_loaders"}),
    },
    "03_h": {
        "03_h_alt": frozenset(),
        # h + p − k: every shape in the network has p = 0, only the formula checks see it
        "03_h_bug_padding_once": frozenset({"test_conv_output_size",
                                            "cell:test_conv_output_size"}),
        "03_h_alt_sequential": frozenset(),
        "03_h_alt_numpy": frozenset(),
        "03_h_alt_modulelist": frozenset(),
        "03_h_bug_kernels_untrained": frozenset({"test_kernels_figure_shows_conv1"}),
    },
    "14_n": {
        "14_n_alt": frozenset(),
        # the network uses nn.MaxPool2d, so only the pooling checks see it
        "14_n_bug_max_pool_takes_min": frozenset({
            "test_pooling_deck_example", "test_pooling_random", "cell:test_pooling"}),
        "14_n_alt_loops": frozenset(),
        "14_n_alt_numpy": frozenset(),
        "14_n_alt_lists": frozenset(),
        # a Japanese course's fix_seed (cudnn flags), max pooling by sorting, np.append,
        # a tqdm progress bar
        "14_n_alt_colab_habits": frozenset(),
        # train_test_split from scikit-learn, which Colab has
        "14_n_alt_sklearn_split": frozenset(),
        "14_n_alt_unfold": frozenset(),
        # a table of the deck's printed maps earns nothing for those examples
        "14_n_deck_values": frozenset({
            "test_conv2d_deck_example", "test_conv2d_random", "test_conv2d_by_hand",
            "test_pooling_deck_example", "test_pooling_random", "cell:test_conv2d",
            "cell:test_pooling"}),
        "14_n_bug_conv2d_uses_library": frozenset({"test_conv2d_by_hand"}),
    },
    "14_h": {
        "14_h_alt": frozenset(),
        # rows predicted, columns true: the counts no longer match the labels per row
        # (test_confusion_matches_model leaves orientation to test_confusion_counts)
        "14_h_bug_confusion_transposed": frozenset({"test_confusion_counts",
                                                    "cell:test_confusion"}),
        "14_h_alt_explicit": frozenset(),
        "14_h_alt_v2": frozenset(),
        "14_h_alt_stages": frozenset(),
        # Normalize(0.5, 0.5) for all channels, the history in a defaultdict
        "14_h_alt_scalar_normalize": frozenset(),
        # japanize-matplotlib between the imports, scikit-learn's confusion_matrix, a
        # seaborn heatmap
        "14_h_alt_colab_packages": frozenset(),
    },
}

# Correct answers a check wrongly marks down: reported to the assignment's owner; the xfail
# is strict, so the test fails (and the mark must go) once the check is fixed.
KNOWN_DEFECTS: dict[str, str] = {}

# Grading parameters on top of the manifest's [grading]: CIFAR-10 is not reachable here, so
# the CIFAR assignments use their synthetic data (14_h with the CPU budget its manifest gives).
OVERRIDES: dict[str, dict[str, Scalar]] = {
    "14_n": {"DATASET": "synthetic"},
    "14_h": {"DATASET": "synthetic", "DEVICE": "cpu", "TRAIN_SUBSET": 2048,
             "TEST_SUBSET": 256, "EPOCHS": 1, "BATCH_SIZE": 32},
}

# A locked cell whose released text changed after the variants were made is put back from
# the source before grading; that changes nothing here. Any other notice is a failure.
SETTLED_NOTICES = {"restored_cells"}


@dataclass(frozen=True)
class Graded:
    assignment: Assignment
    results: dict[str, SubmissionResult]
    seconds: dict[str, float]


def cases(*assignment_ids: str) -> list[Any]:
    """The parametrisation of ``check_variant`` for these assignments."""
    out = []
    for assignment_id in assignment_ids:
        variants = EXPECTED[assignment_id]
        for name, lost in variants.items():
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[name])]
                     if name in KNOWN_DEFECTS else [])
            out.append(pytest.param(assignment_id, name, lost, id=name, marks=marks))
    return out


def grade_notebooks(request: pytest.FixtureRequest, assignment_id: str,
                    paths: Mapping[str, Path]) -> Graded:
    """Each notebook of ``paths`` (participant -> file), graded once by the real engine
    with the grading parameters and ``OVERRIDES``, in kernels forked from one template as
    a grading worker starts them. Skipped without bubblewrap."""
    if not bwrap_available():
        pytest.skip("needs bubblewrap")
    assignment = load_assignment(assignment_id, ASSIGNMENTS)
    data_dir = (request.getfixturevalue("mnist_data_dir") if "mnist" in assignment.datasets
                else None)
    params: Mapping[str, Scalar] = {**assignment.grading, **OVERRIDES.get(assignment_id, {})}
    ctx = GradeContext(assignment=assignment, params=params, data_dir=data_dir, cpu_threads=1)
    results: dict[str, SubmissionResult] = {}
    seconds: dict[str, float] = {}
    with forked_kernels(assignment, data_dir):
        for name, path in paths.items():
            t0 = time.monotonic()
            content = path.read_bytes()
            results[name] = grade_submission(ctx, participant=name,
                                             file=f"{assignment_id}.ipynb", content=content,
                                             sha256=hashlib.sha256(content).hexdigest())
            seconds[name] = time.monotonic() - t0
    return Graded(assignment, results, seconds)


def _grade_all(request: pytest.FixtureRequest, assignment_id: str) -> Graded:
    """Every variant of one assignment."""
    return grade_notebooks(request, assignment_id,
                           {name: VARIANTS / f"{name}.ipynb" for name in EXPECTED[assignment_id]})


def graded_fixture(assignment_id: str) -> Any:
    """A module-scoped fixture ``graded_<id>``: assign it to that name in the test module."""
    @pytest.fixture(scope="module", name=f"graded_{assignment_id}")
    def graded(request: pytest.FixtureRequest) -> Graded:
        return _grade_all(request, assignment_id)

    return graded


def _lost(result: SubmissionResult) -> dict[str, str]:
    return {c.name: f"{c.points:g}/{c.max_points:g}: {c.message}" for c in result.checks
            if c.points != c.max_points}


def check_variant(request: pytest.FixtureRequest, assignment_id: str, variant: str,
                  lost: frozenset[str]) -> None:
    """The variant is graded, loses exactly ``lost`` (all their points) and nothing else."""
    from autograder.checks import collect_checks

    graded: Graded = request.getfixturevalue(f"graded_{assignment_id}")
    result = graded.results[variant]
    assert result.status is Status.GRADED, result.reason
    assert {n.code for n in result.notices} <= SETTLED_NOTICES, \
        [n.message_en for n in result.notices]
    catalog = dict(collect_checks(assignment=graded.assignment))
    checks = {c.name: c for c in result.checks}
    assert {n: checks[n].max_points for n in catalog if n in checks} == catalog, \
        "every hidden check of the assignment is graded, with the manifest's points"
    assert lost <= set(checks), f"unknown check names: {sorted(lost - set(checks))}"
    assert _lost(result).keys() == lost, _lost(result)
    assert all(checks[n].points == 0 for n in lost)
    expected = result.max_score - sum(checks[n].max_points for n in lost)
    assert result.score == pytest.approx(expected)
    # every code cell ran cleanly except the in-notebook tests the bug breaks (and the
    # cells the variant makes raise on purpose)
    in_kernel = lost - GATED.get(variant, frozenset())
    assert _failed_cells(result) == {n.removeprefix("cell:") for n in in_kernel
                                     if n[:5] == "cell:"} | RAISES.get(variant, frozenset())
    request.node.user_properties.append(("grading_seconds", round(graded.seconds[variant], 1)))


def _failed_cells(result: SubmissionResult) -> set[str]:
    """Grade ids (``#<index>`` for unmarked cells) of the code cells that did not run ok."""
    nb = json.loads(result.executed_notebook or "{}")
    failed = set()
    for index, cell in enumerate(nb.get("cells", [])):
        metadata = cell.get("metadata", {})
        if cell.get("cell_type") == "code" and metadata.get("autograder", {}).get("status") != "ok":
            inserted = str(cell.get("id", "")) if str(cell.get("id", "")).startswith(
                "variant-") else ""
            failed.add(metadata.get("nbgrader", {}).get("grade_id") or inserted or f"#{index}")
    return failed


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_variants", VARIANTS / "make_variants.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _tagged_cells(path: Path, tag: str) -> dict[str, str]:
    """{grade id, or the name of a cell the generator inserted: text} of the tagged cells."""
    out = {}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        metadata = cell.get("metadata", {})
        if tag in metadata.get("tags", []):
            gid = metadata.get("nbgrader", {}).get("grade_id")
            source = cell["source"]
            out[gid or cell.get("id", "").removeprefix("variant-")] = \
                source if isinstance(source, str) else "".join(source)
    return out


def check_committed_variants_match_the_generator() -> None:
    gen = _generator()
    assert set(gen.PLANS) == set(EXPECTED)
    expected = {name: cells for assignment_id in gen.PLANS
                for name, cells in gen.written_cells(assignment_id).items()}
    assert {p.stem for p in VARIANTS.glob("*.ipynb")} == set(expected), \
        "tests/variants/ and make_variants.py disagree: rerun make_variants.py"
    for assignment_id, variants in EXPECTED.items():
        assert set(variants) == {n for n in expected if n.startswith(f"{assignment_id}_")}
    for name, cells in expected.items():
        assert _tagged_cells(VARIANTS / f"{name}.ipynb", gen.VARIANT_TAG) == cells, \
            f"{name}.ipynb is not what make_variants.py writes: rerun it"
