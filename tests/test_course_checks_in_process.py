"""The course checks in this process, without a kernel: the checks that read structure from
a function's text and the ones that match a model's layers by shape on many correct and
wrong forms, and one-bug cases of checks whose notebooks would be costly to grade.

The variant notebooks (test_assignment_variants_*) grade a few whole answers through the
real engine; this file covers the many small ways of writing the same thing (a lambda,
a helper, a factory, an alias, another layer name) in milliseconds. The submission is a
stand-in that answers ``source(name)`` from a dict of texts, the way the engine reads a
definition from the submitted notebook.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

from autograder.checks import CheckFailed, MissingName, models, source
from autograder.engine.bridge.notebook_source import NotebookSource
from autograder.engine.bridge.submission import SourceUnavailable, StudentError

ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"
# the checks' own marks (points, time_limit) are registered by the check runner only
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")


def _checks(assignment_id: str) -> ModuleType:
    name = f"course_checks_{assignment_id}"
    if name not in sys.modules:
        path = ASSIGNMENTS / assignment_id / "tests" / f"test_{assignment_id}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module   # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


class Texts:
    """``source(name)`` and ``origin(name)`` as the engine answers them: from the
    notebook's text (``NotebookSource``), here one cell of ``code``."""

    def __init__(self, code: str):
        self.code = textwrap.dedent(code)
        self.notebook = NotebookSource([self.code])

    def source(self, name: str) -> str:
        found = self.notebook.definition(name)
        if found is None:
            raise SourceUnavailable("no definition in the notebook's text", what=name)
        return found

    def origin(self, name: str) -> str | None:
        return self.notebook.origin(name)

    def holds_list(self, name: str) -> bool:
        return self.notebook.holds_list(name)


def _passes(check: Any, code: str) -> bool:
    try:
        check(Texts(code))
    except CheckFailed:
        return False
    return True


# ---------------------------------------------------------------- 13_n gates and XOR

PERCEPTRON = "def perceptron(x, w, threshold):\n    return 0\n"
GATES = """
def AND(a, b): return perceptron([a, b], [5, 5], 9)
def OR(a, b): return perceptron([a, b], [5, 5], 2)
def NAND(a, b): return perceptron([a, b], [-5, -5], -9)
"""

GATE_FORMS = {
    "weights and thresholds as top-level constants": ("""
        W_AND, T_AND = [5, 5], 9
        def AND(a, b): return perceptron([a, b], W_AND, T_AND)
        def NAND(a, b): return perceptron([a, b], [-w for w in W_AND], -T_AND)
        OR_THRESHOLD = 2
        def OR(a, b): return perceptron([a, b], [5, 5], OR_THRESHOLD)
        """, True),
    "def": (GATES, True),
    "lambdas": ("""
        AND = lambda a, b: perceptron([a, b], [5, 5], 9)
        OR = lambda a, b: perceptron([a, b], [5, 5], 2)
        NAND = lambda a, b: perceptron([a, b], [-5, -5], -9)
        """, True),
    "helper, keywords, int()": ("""
        def gate(a, b, w, t):
            y = perceptron(x=[a, b], w=w, threshold=t)
            return int(y)
        def AND(a, b): return gate(a, b, (5, 5), 9)
        def OR(a, b): return gate(a, b, (5, 5), 2)
        def NAND(a, b): return gate(a, b, (-5, -5), -9)
        """, True),
    "factory": ("""
        def make_gate(w, t):
            def gate(a, b):
                return perceptron([a, b], w, t)
            return gate
        AND = make_gate([5, 5], 9)
        OR = make_gate([5, 5], 2)
        NAND = make_gate([-5, -5], -9)
        """, True),
    "alias of perceptron": ("""
        def AND(a, b):
            neuron = perceptron
            return neuron([a, b], [5, 5], 9)
        def OR(a, b): return perceptron([a, b], [5, 5], 2)
        def NAND(a, b): return perceptron([a, b], [-5, -5], -9)
        """, True),
    "OR from a formula": (GATES.replace("return perceptron([a, b], [5, 5], 2)",
                                        "return int(a + b >= 1)"), False),
    "NAND as 1 - AND": (GATES.replace("return perceptron([a, b], [-5, -5], -9)",
                                      "return 1 - AND(a, b)"), False),
    "perceptron called, result dropped": (GATES.replace(
        "def AND(a, b): return perceptron([a, b], [5, 5], 9)",
        "def AND(a, b):\n    perceptron([a, b], [5, 5], 9)\n    return a * b"), False),
    "a table": (GATES.replace("def OR(a, b): return perceptron([a, b], [5, 5], 2)",
                              "def OR(a, b): return [0, 1, 1, 1][2 * b + a]"), False),
    "factories bound in one line": ("""
        def make_gate(w, t):
            return lambda a, b: perceptron([a, b], w, t)
        AND, OR, NAND = make_gate([5, 5], 9), make_gate([5, 5], 2), make_gate([-5, -5], -9)
        """, True),
    "1 if perceptron(...) else 0": (GATES.replace(
        "def AND(a, b): return perceptron([a, b], [5, 5], 9)",
        "def AND(a, b): return 1 if perceptron([a, b], [5, 5], 9) == 1 else 0"), True),
    "0 if perceptron(...) else 1": (GATES.replace(
        "def NAND(a, b): return perceptron([a, b], [-5, -5], -9)",
        "def NAND(a, b): return 0 if perceptron([a, b], [5, 5], 9) else 1"), False),
    "a class whose __call__ returns self.forward(...)": ("""
        class Gate:
            def __init__(self, w, t):
                self.w, self.t = w, t
            def forward(self, a, b):
                return perceptron([a, b], self.w, self.t)
            def __call__(self, a, b):
                return self.forward(a, b)
        AND = Gate([5, 5], 9)
        OR = Gate([5, 5], 2)
        NAND = Gate([-5, -5], -9)
        """, True),
    "a class whose forward computes by formula": ("""
        class Gate:
            def forward(self, a, b):
                return int(a + b >= 1)
            def __call__(self, a, b):
                perceptron([a, b], [1, 1], 1)
                return self.forward(a, b)
        AND = Gate()
        OR = Gate()
        NAND = Gate()
        """, False),
    "the gate's logic done before the perceptron": ("""
        AND = lambda a, b: perceptron([a and b], [1], 0.5)
        OR = lambda a, b: perceptron([a or b], [1], 0.5)
        NAND = lambda a, b: perceptron([not (a and b)], [1], 0.5)
        """, False),
    "inputs as a tensor": ("""
        AND = lambda a, b: perceptron(torch.tensor([a, b]), torch.tensor([5, 5]), 9)
        OR = lambda a, b: perceptron(torch.tensor([a, b]), torch.tensor([5, 5]), 2)
        NAND = lambda a, b: perceptron(torch.tensor([a, b]), -torch.tensor([5, 5]), -9)
        """, True),
}


_OR_NAND = """
def OR(a, b): return perceptron([a, b], [5, 5], 2)
def NAND(a, b): return perceptron([a, b], [-5, -5], -9)
"""
# the gate done by arithmetic on its inputs, the perceptron only a threshold; and honest
# ways of packing the inputs
GATE_FORMS.update({
    "AND as a product": ("def AND(a, b): return perceptron([a * b, 0], [1, 0], 0.5)"
                         + _OR_NAND, False),
    "AND as a minimum, by keywords": (
        "def AND(a, b): return perceptron(x=[min(a, b)], w=[1], threshold=0.5)" + _OR_NAND,
        False),
    "AND as a product in a variable": (textwrap.dedent("""
        def AND(a, b):
            v = a * b
            return perceptron([v], [1], 0.5)
        """) + _OR_NAND, False),
    "AND as a product in a helper": (textwrap.dedent("""
        def both(x, y): return [x * y]
        def AND(a, b): return perceptron(both(a, b), [1], 0.5)
        """) + _OR_NAND, False),
    "inputs packed by a helper": (textwrap.dedent("""
        def pack(x, y): return torch.tensor([x, y], dtype=torch.float64)
        def AND(a, b): return perceptron(pack(a, b), [5, 5], 9)
        """) + _OR_NAND, True),
    "inputs stacked and converted": (textwrap.dedent("""
        def AND(a, b):
            x = torch.stack([torch.as_tensor(a), torch.as_tensor(b)]).float()
            return perceptron(x, [5.0, 5.0], 9.0)
        """) + _OR_NAND, True),
})


NEURON = """
class Neuron:
    def __init__(self, w, threshold):
        self.w, self.threshold = w, threshold{init}
    def fire(self, a, b):
        return perceptron([a, b], self.w, self.threshold)
    def guess(self, a, b):
        return a and b
"""


def _neuron_gates(*, init: str = "", and_method: str = "fire", between: str = "") -> str:
    """Gates as methods of three global ``Neuron``s; ``init`` ends ``__init__``,
    ``between`` stands between the instances and the gates."""
    return NEURON.format(init=init) + textwrap.dedent("""
        and_neuron, or_neuron = Neuron([5, 5], 9), Neuron([5, 5], 2)
        nand_neuron = Neuron([-5, -5], -9)
        """) + between + textwrap.dedent(f"""
        def AND(a, b): return and_neuron.{and_method}(a, b)
        def OR(a, b): return or_neuron.fire(a, b)
        def NAND(a, b): return nand_neuron.fire(a, b)
        """)


GATE_FORMS.update({
    # a named method of a global instance of the notebook's class, a static method
    "a method of a global neuron": (_neuron_gates(), True),
    "static methods of a class": ("""
        class Gates:
            @staticmethod
            def AND(a, b): return perceptron([a, b], [5, 5], 9)
            @staticmethod
            def OR(a, b): return perceptron([a, b], [5, 5], 2)
            @staticmethod
            def NAND(a, b): return perceptron([a, b], [-5, -5], -9)
        def AND(a, b): return Gates.AND(a, b)
        def OR(a, b): return Gates.OR(a, b)
        def NAND(a, b): return Gates.NAND(a, b)
        """, True),
    "a method that is no perceptron": (_neuron_gates(and_method="guess"), False),
    "a neuron changed after it was made": (
        _neuron_gates(between="and_neuron.fire = lambda a, b: a and b\n"), False),
    # an instance that runs other code than its class's method (red-team pass)
    "a method shadowed on the instance by setattr": (
        _neuron_gates(init="\n        setattr(self, 'fire', self.guess)"), False),
    "a method shadowed by an attribute of its name": (
        _neuron_gates(init="\n        self.fire = self.guess"), False),
    "an instance whose class is swapped": (
        _neuron_gates(init="\n        self.__class__ = Fake",
                      between="class Fake(Neuron):\n    def fire(self, a, b): return a and b\n"),
        False),
    "a method of an object the notebook did not make": ("""
        import operator
        def AND(a, b): return operator.and_(a, b)
        def OR(a, b): return perceptron([a, b], [5, 5], 2)
        def NAND(a, b): return perceptron([a, b], [-5, -5], -9)
        """, False),
})


@pytest.mark.parametrize(("code", "ok"), list(GATE_FORMS.values()), ids=list(GATE_FORMS))
def test_gates_use_perceptron(code: str, ok: bool) -> None:
    assert _passes(_checks("13_n").test_gates_use_perceptron,
                   PERCEPTRON + textwrap.dedent(code)) is ok


# XOR as a network of gates run layer by layer, over a global LAYERS the case defines
LAYER_LOOP_XOR = """
def XOR(a, b):
    signals = [a, b]
    for layer in LAYERS:
        signals = [gate(*signals) for gate in layer]
    return signals[0]
"""

XOR_FORMS = {
    # a network of gates run layer by layer: the loop read as the passes it makes
    "layers in a global list, run in a loop": (
        "LAYERS = [[NAND, OR], [AND]]\n" + LAYER_LOOP_XOR, True),
    "layers in a local tuple, tuples made by a generator": ("""
        def XOR(a, b):
            layers = ((NAND, OR), (AND,))
            x = (a, b)
            for gates in layers:
                x = tuple(g(*x) for g in gates)
            return x[0]
        """, True),
    "the hidden layer collected by a loop": ("""
        def XOR(a, b):
            hidden = []
            for gate in (NAND, OR):
                hidden = hidden + [gate(a, b)]
            return AND(*hidden)
        """, True),
    "a layer's variable named like a helper of the notebook": (
        "def gate(a, b, w, t): return perceptron([a, b], w, t)\n"
        "LAYERS = [[NAND, OR], [AND]]\n" + LAYER_LOOP_XOR, True),
    "a comprehension's variable named like a gate": ("""
        def XOR(a, b):
            return AND(*[NAND for NAND in (a, OR(a, b))])
        """, False),
    # a list of values changed in place after it was made: the gates only decoration
    "the output list changed by a method inside print": ("""
        LAYERS = [[NAND, OR], [AND]]
        def XOR(a, b):
            signals = [a, b]
            for layer in LAYERS:
                signals = [gate(*signals) for gate in layer]
            print(signals.insert(0, (a + b) % 2))
            return signals[0]
        """, False),
    "the hidden list changed by a helper": ("""
        def _put(s, v):
            s[0] = v
        def XOR(a, b):
            hidden = [g(a, b) for g in (NAND, OR)]
            _put(hidden, (a + b) % 2)
            return AND(hidden[0], hidden[1])
        """, False),
    "the hidden list changed by operator.setitem": ("""
        import operator
        def XOR(a, b):
            hidden = [NAND(a, b), OR(a, b)]
            operator.setitem(hidden, 0, (a + b) % 2)
            return AND(*hidden)
        """, False),
    "a hidden gate's tensor changed in place": ("""
        def XOR(a, b):
            h1 = NAND(a, b)
            h2 = OR(a, b)
            h1.mul_(0).add_((a + b) % 2)
            return AND(h1, h2)
        """, False),
    "the hidden values read by item()": ("""
        def XOR(a, b):
            h1 = NAND(a, b)
            h2 = OR(a, b)
            return AND(int(h1.item()), h2.float().item())
        """, True),
    "a dict of the hidden values changed by operator.setitem": ("""
        import operator
        def XOR(a, b):
            h = {"s1": NAND(a, b), "s2": OR(a, b)}
            operator.setitem(h, "s1", (a + b) % 2)
            return AND(h["s1"], h["s2"])
        """, False),
    "a list() of the hidden values changed by operator.setitem": ("""
        import operator
        def XOR(a, b):
            h = list(g(a, b) for g in (NAND, OR))
            operator.setitem(h, 0, (a + b) % 2)
            return AND(h[0], h[1])
        """, False),
    "a dict of the hidden values": ("""
        def XOR(a, b):
            h = {"s1": NAND(a, b), "s2": OR(a, b)}
            return AND(h["s1"], h["s2"])
        """, True),
    "the hidden list read by len and tuple": ("""
        def XOR(a, b):
            hidden = [g(a, b) for g in (NAND, OR)]
            assert len(hidden) == 2
            return AND(*tuple(hidden))
        """, True),
    "a loop whose last layer is OR": (
        "LAYERS = [[NAND, AND], [OR]]\n" + LAYER_LOOP_XOR, False),
    "a loop that never feeds a layer forward": ("""
        LAYERS = [[NAND, OR], [AND]]
        def XOR(a, b):
            x = [a, b]
            for layer in LAYERS:
                y = [gate(*x) for gate in layer]
            return y[0]
        """, False),
    "a loop that keeps only the last gate": ("""
        def XOR(a, b):
            for gate in (NAND, OR):
                h = gate(a, b)
            return AND(h, h)
        """, False),
    "the layers changed after their text": (
        "LAYERS = [[NAND, OR], [OR]]\nLAYERS[1] = [AND]\n" + LAYER_LOOP_XOR, False),
    "a loop over a generator kept for later": ("""
        LAYERS = [[NAND, OR], [AND]]
        def XOR(a, b):
            signals = [a, b]
            for layer in LAYERS:
                signals = (gate(*signals) for gate in layer)
            return list(signals)[0]
        """, False),
    "one line": ("def XOR(a, b): return AND(NAND(a, b), OR(a, b))", True),
    "lambda": ("XOR = lambda a, b: AND(NAND(a, b), OR(a, b))", True),
    "intermediate variables": ("""
        def XOR(a, b):
            s1 = NAND(a, b)
            s2 = OR(a, b)
            y = AND(s2, s1)
            return y
        """, True),
    "factory composing its parameters, names reused by a test loop": ("""
        def compose(f, g, h):
            def composed(a, b):
                return f(g(a, b), h(a, b))
            return composed
        XOR = compose(AND, NAND, OR)
        for f, g in [(XOR, None)]:
            pass
        """, True),
    "one input computed, the gates multiplied away": (
        "def XOR(a, b): return AND((a + b) % 2, OR(a, b) + 0 * NAND(a, b))", False),
    "operator.is_not": ("""
        import operator
        def XOR(a, b): return AND(int(operator.is_not(a, b)), OR(a, b) + 0 * NAND(a, b))
        """, False),
    "tuple unpacking, int()": ("""
        def XOR(a, b):
            h1, h2 = NAND(a, b), OR(a, b)
            return int(AND(h1, h2))
        """, True),
    "hidden layer helper": ("""
        def hidden(a, b):
            return NAND(a, b), OR(a, b)
        def XOR(a, b):
            return AND(*hidden(a, b))
        """, True),
    "output layer helper": ("""
        def out(h1, h2):
            return AND(h1, h2)
        def XOR(a, b):
            return out(NAND(a, b), OR(a, b))
        """, True),
    "loop over the hidden gates": ("""
        def XOR(a, b):
            hidden = []
            for gate in (NAND, OR):
                hidden.append(gate(a, b))
            return AND(hidden[0], hidden[1])
        """, True),
    "comprehension": ("""
        def XOR(a, b):
            return AND(*[g(a, b) for g in (NAND, OR)])
        """, True),
    "a variable named xor_out": ("""
        def XOR(a, b):
            xor_out = AND(NAND(a, b), OR(a, b))
            return xor_out
        """, True),
    "!=": ("""
        def XOR(a, b):
            NAND(a, b), OR(a, b), AND(a, b)
            return int(a != b)
        """, False),
    "^ inside an AND": ("def XOR(a, b): return AND(NAND(a, b), OR(a, b)) if a ^ b else 0",
                        False),
    "Python's and as the output layer": ("""
        def XOR(a, b):
            h1, h2 = NAND(a, b), OR(a, b)
            return int(h1 and h2)
        """, False),
    "AND computed, arithmetic returned": ("""
        def XOR(a, b):
            h1, h2 = NAND(a, b), OR(a, b)
            c = AND(h1, h2)
            return int(h1 + h2 == 2)
        """, False),
    "AND of the inputs": ("""
        def XOR(a, b):
            NAND(a, b)
            OR(a, b)
            return AND(a + b == 1, 1)
        """, False),
    "operator.xor": ("""
        def XOR(a, b):
            import operator
            return AND(NAND(a, b), OR(a, b)) * operator.xor(a, b)
        """, False),
    "AND shadowed locally": ("""
        def XOR(a, b):
            AND = lambda x, y: x * y
            return AND(NAND(a, b), OR(a, b))
        """, False),
    "1 if AND(...) else 0": ("def XOR(a, b): return 1 if AND(NAND(a, b), OR(a, b)) else 0",
                             True),
    "a two-layer class": ("""
        class TwoLayerNet:
            def __init__(self, hidden, output):
                self.hidden = hidden
                self.output = output
            def __call__(self, a, b):
                h = [gate(a, b) for gate in self.hidden]
                return self.output(*h)
        XOR = TwoLayerNet(hidden=[NAND, OR], output=AND)
        """, True),
    "a two-layer class with OR as its output": ("""
        class TwoLayerNet:
            def __init__(self, hidden, output):
                self.hidden, self.output = hidden, output
            def __call__(self, a, b):
                return self.output(*[gate(a, b) for gate in self.hidden])
        XOR = TwoLayerNet([NAND, AND], OR)
        """, False),
    "a two-layer class that does not feed its hidden layer": ("""
        class TwoLayerNet:
            def __init__(self, hidden, output):
                self.hidden, self.output = hidden, output
            def __call__(self, a, b):
                [gate(a, b) for gate in self.hidden]
                return self.output(a, b)
        XOR = TwoLayerNet([NAND, OR], AND)
        """, False),
    "operator.ne through a top-level alias": ("""
        _differ = operator.ne
        def XOR(a, b):
            return AND(int(_differ(a, b)), OR(a, b) + 0 * NAND(a, b))
        """, False),
    "a computed getattr": ("""
        def XOR(a, b):
            return AND(getattr(operator, "n" + "e")(a, b), OR(a, b) + 0 * NAND(a, b))
        """, False),
    "1 if OR(...) else 0": ("""
        def XOR(a, b):
            AND(NAND(a, b), OR(a, b))
            return 1 if OR(a, b) and NAND(a, b) else 0
        """, False),
}


# the output AND takes the hidden layer's values, and nothing of the inputs beside them
XOR_FORMS.update({
    "arithmetic beside the hidden NAND": (
        "def XOR(a, b): return AND(NAND(a, b) * 0 + abs(a - b), OR(a, b))", False),
    "a comparison of the inputs in a conditional": (
        "def XOR(a, b): return AND(NAND(a, b) if a + b < 2 else 0, OR(a, b))", False),
    "Python's and with the inputs' sum": (
        "def XOR(a, b): return AND(NAND(a, b) and (a + b == 1), OR(a, b))", False),
    "arithmetic in a hidden-layer helper": ("""
        def hidden(x, y): return NAND(x, y) * 0 + abs(x - y), OR(x, y)
        def XOR(a, b): return AND(*hidden(a, b))
        """, False),
    "arithmetic through a lambda over the gates": ("""
        def XOR(a, b): return AND(next(map(lambda g: abs(a - b), (NAND,))), OR(a, b))
        """, False),
    "arithmetic stored into the hidden list": ("""
        def XOR(a, b):
            outs = [NAND(a, b)]
            outs[0] = abs(a - b)
            return AND(outs[0] + 0 * NAND(a, b), OR(a, b))
        """, False),
    "the hidden layer stored into a list": ("""
        def XOR(a, b):
            h = [0, 0]
            h[0] = NAND(a, b)
            h[1] = OR(a, b)
            return AND(h[0], h[1])
        """, True),
    "map over the hidden gates": (
        "def XOR(a, b): return AND(*map(lambda g: g(a, b), (NAND, OR)))", True),
    "a hidden-layer helper": ("""
        def hidden(x, y): return NAND(x, y), OR(x, y)
        def XOR(a, b): return AND(*hidden(a, b))
        """, True),
    "the hidden NAND through a tensor's item()": (
        "def XOR(a, b): return AND(torch.as_tensor(NAND(a, b)).item(), OR(a, b))", True),
    "the inputs packed for the hidden gates": ("""
        def XOR(a, b):
            x = (a, b)
            return AND(NAND(*x), OR(*x))
        """, True),
    # printing the hidden layer, or copying it into a tensor, reads it: nothing changes
    "the hidden layer printed": ("""
        def XOR(a, b):
            h = [NAND(a, b), OR(a, b)]
            print("hidden:", h)
            print(f"{h}")
            return AND(h[0], h[1])
        """, True),
    "the hidden layer as a tensor": ("""
        def XOR(a, b):
            h = [NAND(a, b), OR(a, b)]
            t = torch.tensor(h)
            return AND(int(t[0]), int(t[1]))
        """, True),
    "the hidden layer handed to a method that may change it": ("""
        def XOR(a, b):
            h = [NAND(a, b), OR(a, b)]
            LOG.record(h)
            return AND(h[0], h[1])
        """, False),
})


@pytest.mark.parametrize(("code", "ok"), list(XOR_FORMS.values()), ids=list(XOR_FORMS))
def test_xor_built_from_gates(code: str, ok: bool) -> None:
    assert _passes(_checks("13_n").test_xor_built_from_gates, GATES + textwrap.dedent(code)) is ok


# ---------------------------------------------------------------- library names

LIBRARY_FORMS = {
    "formula": ("sigmoid", "def sigmoid(u): return 1 / (1 + torch.exp(-u))", []),
    "numpy formula": ("sigmoid", "def sigmoid(u): return 1 / (1 + np.exp(-np.asarray(u)))", []),
    "recursive": ("softmax", """
        def softmax(a):
            if a.dim() == 2:
                return torch.stack([softmax(r) for r in a])
            e = torch.exp(a - a.max())
            return e / e.sum()
        """, []),
    "own helper with a library-like name": ("sigmoid", """
        def logistic(u): return 1 / (1 + torch.exp(-u))
        def sigmoid(u): return logistic(u)
        """, []),
    "tanh from the student's sigmoid": ("tanh", """
        def sigmoid(u): return 1 / (1 + torch.exp(-u))
        def tanh(u): return 2 * sigmoid(2 * u) - 1
        """, []),
    "F alias": ("sigmoid", "def sigmoid(u): return F.sigmoid(u)", ["sigmoid"]),
    "method": ("relu", "def relu(u): return u.relu()", ["relu"]),
    "bound to a variable": ("relu", "def relu(u):\n    f = torch.relu\n    return f(u)",
                            ["relu"]),
    "imported inside": ("tanh", "def tanh(u):\n    from torch import tanh as th\n    return th(u)",
                        ["tanh"]),
    "in a helper": ("softmax", """
        def helper(v): return torch.nn.functional.softmax(v, dim=-1)
        def softmax(a): return helper(torch.as_tensor(a))
        """, ["softmax"]),
    "a top-level alias": ("sigmoid", "_sig = torch.sigmoid\ndef sigmoid(u): return _sig(u)",
                          ["sigmoid"]),
    "a top-level import alias": ("sigmoid", """
        from torch import sigmoid as _s
        def sigmoid(u): return _s(u)
        """, ["sigmoid"]),
    "an alias through an alias": ("relu", "_r = torch.relu\n_q = _r\ndef relu(u): return _q(u)",
                                  ["relu"]),
    "picked from a list": ("sigmoid", "_sm = [torch.sigmoid][0]\ndef sigmoid(u): return _sm(u)",
                           [source.RUN_TIME]),
    "a computed getattr": ("sigmoid",
                           "def sigmoid(u): return getattr(torch, 'sig' + 'moid')(u)",
                           [source.RUN_TIME]),
    "a constant getattr": ("tanh", "def tanh(u): return getattr(torch, 'tanh')(u)", ["tanh"]),
    "logsigmoid": ("sigmoid", "def sigmoid(u): return F.logsigmoid(u).exp()", ["logsigmoid"]),
    "leaky_relu with slope 0": ("relu", "def relu(u): return F.leaky_relu(u, 0.0)",
                                ["leaky_relu"]),
    "tanh from torch's sigmoid": ("tanh", "def tanh(u): return 2 * torch.sigmoid(2 * u) - 1",
                                  ["sigmoid"]),
    "softmax from a distribution": ("softmax", """
        def softmax(a): return torch.distributions.Categorical(logits=a).probs
        """, ["Categorical", "distributions", "probs"]),
    "through an object built at top level": ("sigmoid", """
        import types
        lib = types.SimpleNamespace(s=torch.sigmoid)
        def sigmoid(u): return lib.s(u)
        """, ["sigmoid"]),
    "a constant from an object built at top level": ("sigmoid", """
        import math, types
        K = types.SimpleNamespace(e=math.e)
        def sigmoid(u): return 1 / (1 + K.e ** (-u))
        """, []),
    "exp imported at top level": ("sigmoid", """
        from math import exp
        def sigmoid(u): return 1 / (1 + exp(-u))
        """, []),
    "exp aliased at top level": ("sigmoid", """
        exp = np.exp
        def sigmoid(u): return 1 / (1 + exp(-np.asarray(u)))
        """, []),
}


# the same function behind the library's other doors; and honest texts that only look alike
LIBRARY_FORMS.update({
    "sigmoid as a softmax over (u, 0)": ("sigmoid", """
        def sigmoid(u): return torch.softmax(torch.stack([u, torch.zeros_like(u)]), 0)[0]
        """, ["softmax"]),
    "sigmoid as a gate of ones": ("sigmoid", """
        def sigmoid(u): return F.glu(torch.stack([torch.ones_like(u), u]), 0)[0]
        """, ["glu"]),
    "sigmoid as a Bernoulli's mean": ("sigmoid", """
        from torch.distributions import Bernoulli as B
        def sigmoid(u): return B(logits=u).mean
        """, ["Bernoulli"]),
    "sigmoid as a transform": ("sigmoid", """
        def sigmoid(u): return torch.distributions.transforms.SigmoidTransform()(u)
        """, ["SigmoidTransform", "distributions"]),
    "sigmoid from logits_to_probs imported at top level": ("sigmoid", """
        from torch.distributions.utils import logits_to_probs
        def sigmoid(u): return logits_to_probs(u, is_binary=True)
        """, ["logits_to_probs"]),
    "tanh from tanhshrink": ("tanh", "def tanh(u): return u - F.tanhshrink(u)",
                             ["tanhshrink"]),
    "relu as an elu with alpha 0": ("relu", "def relu(u): return F.elu(u, alpha=0.0) + 0.0",
                                    ["elu"]),
    "relu as a sharp softplus": ("relu", "def relu(u): return F.softplus(u, beta=1e9)",
                                 ["softplus"]),
    "softmax from a multinomial's mean": ("softmax", """
        def softmax(a): return torch.distributions.Multinomial(1, logits=a).mean
        """, ["Multinomial", "distributions"]),
    "a library helper handed on as a value": ("sigmoid", """
        def _s(v): return torch.sigmoid(v)
        def sigmoid(u): return torch.vmap(_s)(u)
        """, ["sigmoid"]),
    "an alias of an import handed on": ("sigmoid", """
        from scipy.special import expit as e1
        def sigmoid(u):
            f = e1
            return torch.as_tensor(f(u.numpy()))
        """, ["expit", "scipy.special.expit"]),
    "more helpers than can be read": ("sigmoid", "\n".join(
        [f"def h{i}(v): return v" for i in range(60)]
        + ["def sigmoid(u):", *[f"    u = h{i}(u)" for i in range(60)],
           "    return 1 / (1 + torch.exp(-u))"]), [source.TOO_MANY]),
    "the library's through a class attribute": ("sigmoid", """
        class K:
            s = staticmethod(torch.sigmoid)
        def sigmoid(u): return K.s(u)
        """, ["sigmoid"]),
    "softmax as the gradient of logsumexp": ("softmax", """
        def softmax(a): return torch.func.grad(lambda v: torch.logsumexp(v, 0))(a)
        """, ["grad"]),
    "sigmoid as the gradient of softplus": ("sigmoid", """
        def sigmoid(u):
            v = u.detach().requires_grad_()
            F.softplus(v).sum().backward()
            return v.grad
        """, ["backward", "grad", "softplus"]),
    "sigmoid from the library's tanh": ("sigmoid",
                                        "def sigmoid(u): return 0.5 * (1 + torch.tanh(u / 2))",
                                        ["tanh"]),
    "relu as (u + |u|) / 2": ("relu",
                                                 "def relu(u): return (u + u.abs()) / 2", []),
    "tanh with a local named after sigmoid": ("tanh", """
        def sigmoid(u): return 1 / (1 + torch.exp(-u))
        def tanh(u):
            sigmoid_2u = sigmoid(2 * u)
            return 2 * sigmoid_2u - 1
        """, []),
    "tanh from sinh and cosh": ("tanh", "def tanh(u): return torch.sinh(u) / torch.cosh(u)",
                                []),
    "relu by clamp": ("relu", "def relu(u): return torch.clamp(u, min=0)", []),
    "an own class with library-like method names": ("sigmoid", """
        class Logistic:
            def glu_free(self, u): return 1 / (1 + torch.exp(-u))
        def sigmoid(u): return Logistic().glu_free(u)
        """, []),
    "a library sigmoid through a local beside an own method of its name": ("sigmoid", """
        class _Decoy:
            def sigmoid(self): return 0
            def glu(self): return 0
        def sigmoid(u):
            _Decoy()
            G = torch.nn.functional
            return G.glu(torch.stack([u, torch.zeros_like(u)]), dim=0)[0] * 0 + u.sigmoid()
        """, ["glu", "sigmoid"]),
    "the student's own sigmoid method, called on itself": ("sigmoid", """
        class Act:
            def sigmoid(self, u): return 1 / (1 + torch.exp(-u))
            def __call__(self, u): return self.sigmoid(u)
        def sigmoid(u): return Act()(u)
        """, []),
    "numbers kept at top level": ("sigmoid", """
        E = 2.718281828
        ONE = 1.0
        def sigmoid(u): return ONE / (ONE + E ** (-u))
        """, []),
    "a library function kept at top level beside numbers": ("softmax", """
        EPS = 1e-12
        S = torch.softmax
        def softmax(a): return S(a, -1) + EPS * 0
        """, ["softmax"]),
    # a local is a value of the function's own, whatever its name
    "relu with a local named threshold": ("relu", """
        def relu(u):
            threshold = 0.0
            return torch.where(u > threshold, u, torch.zeros_like(u))
        """, []),
    "softmax with a local named log_softmax": ("softmax", """
        def softmax(a):
            log_softmax = a - torch.logsumexp(a, dim=-1, keepdim=True)
            return torch.exp(log_softmax)
        """, []),
    "tanh with a parameter named logistic": ("tanh", """
        def sigmoid(u): return 1 / (1 + torch.exp(-u))
        def tanh(u, logistic=None):
            logistic = sigmoid(2 * u)
            return 2 * logistic - 1
        """, []),
    "the library's threshold as a default of that name": ("relu", """
        from torch.nn.functional import threshold
        def relu(u, threshold=threshold):
            return threshold(u, 0.0, 0.0)
        """, ["threshold"]),
    "the library's threshold bound to a local": ("relu", """
        def relu(u):
            threshold = torch.nn.functional.threshold
            return threshold(u, 0.0, 0.0)
        """, ["threshold"]),
    "the library's threshold imported inside": ("relu", """
        def relu(u):
            from torch.nn.functional import threshold
            return threshold(u, 0.0, 0.0)
        """, ["threshold"]),
    "softmax by logsumexp, rows in a comprehension": ("softmax", """
        def softmax(a):
            rows = [torch.exp(r - torch.logsumexp(r, 0)) for r in torch.atleast_2d(a)]
            return torch.stack(rows) if a.dim() == 2 else rows[0]
        """, []),
    # type hints: an alias of typing's (evaluated where the def runs, never by a call),
    # a local's annotation (never evaluated)
    "annotated through a type alias": ("softmax", """
        ArrayLike = Union[torch.Tensor, np.ndarray, list]
        Out = Optional[torch.Tensor]
        def softmax(a: ArrayLike) -> Out:
            e: ArrayLike = torch.exp(a - a.max(dim=-1, keepdim=True).values)
            total: make_type() = e.sum(dim=-1, keepdim=True)
            return e / total
        """, []),
    # an annotation that runs code where the def runs is read (red-team pass of
    # 2026-12-05: a subscript stashed the library's sigmoid in a dict, the body took it)
    "typing's generics over a type alias": ("softmax", """
        from typing import Optional, Tuple
        Arr = Union[torch.Tensor, np.ndarray]
        def softmax(a: Optional[Arr], dims: Tuple[int, ...] = ()) -> dict[str, Arr]:
            e = torch.exp(a - a.max(dim=-1, keepdim=True).values)
            return e / e.sum(dim=-1, keepdim=True)
        """, []),
    "a library function stashed by an annotation's subscript": ("sigmoid", """
        STASH = collections.defaultdict(int)
        S = [torch.sigmoid][0]
        def sigmoid(u: STASH[S]): return next(iter(STASH))(u)
        """, ["?"]),
    "an annotation read back through the signature's internals": ("sigmoid", """
        S = [torch.sigmoid][0]
        def sigmoid(u: S):
            return [*inspect.signature(sigmoid).parameters.values()][0]._annotation(u)
        """, ["?"]),
    "an annotation read back by a constant getattr": ("sigmoid", """
        S = [torch.sigmoid][0]
        def sigmoid(u: S) -> S:
            return getattr(SIGNATURES[0], "return_annotation")(u)
        """, ["?"]),
    "annotations read back by index": ("sigmoid", """
        S = [torch.sigmoid][0]
        def sigmoid(u: S): return inspect.getfullargspec(sigmoid)[6]["u"](u)
        """, ["?"]),
    "Napier's number from math, a comprehension's e elsewhere": ("sigmoid", """
        from math import e
        def sigmoid(u): return 1 / (1 + e ** (-u))
        ok = all(v < e for v, e in [(1, 2)])
        """, []),
    "a global list it appends to": ("sigmoid", """
        CALLS = []
        def sigmoid(u):
            CALLS.append(len(u))
            return 1 / (1 + torch.exp(-u))
        """, []),
    # reflection under other names: what it reaches is decided at run time
    "attrgetter": ("sigmoid", """
        import operator
        def sigmoid(u): return operator.attrgetter("sig" + "moid")(torch)(u)
        """, ["?"]),
    "attrgetter imported under another name": ("sigmoid", """
        from operator import attrgetter as pick
        def sigmoid(u): return pick("sig" + "moid")(torch)(u)
        """, ["?"]),
    "methodcaller": ("tanh", """
        from operator import methodcaller
        def tanh(u): return methodcaller("tan" + "h")(u)
        """, ["?"]),
    "inspect.getmembers": ("sigmoid", """
        import inspect
        def sigmoid(u): return dict(inspect.getmembers(torch))["sig" + "moid"](u)
        """, ["?", "inspect.getmembers"]),
    "getmembers_static imported": ("sigmoid", """
        from inspect import getmembers_static as members
        def sigmoid(u): return dict(members(torch))["sig" + "moid"](u)
        """, ["?", "inspect.getmembers_static"]),
    "eval under another name": ("sigmoid", """
        ev = eval
        def sigmoid(u): return ev("torch.sig" + "moid")(u)
        """, ["?"]),
    "getattr under another name": ("sigmoid", """
        ga = getattr
        def sigmoid(u): return ga(torch, "sig" + "moid")(u)
        """, ["?"]),
    "builtins' getattr": ("sigmoid", """
        import builtins
        def sigmoid(u): return builtins.getattr(torch, "sig" + "moid")(u)
        """, ["?", "builtins.getattr"]),
    "__builtins__'s eval": ("sigmoid", """
        def sigmoid(u): return __builtins__.eval("torch.sig" + "moid")(u)
        """, ["?"]),
    "a function's annotation, read back": ("sigmoid", """
        def sigmoid(u: torch.sigmoid): return sigmoid.__annotations__["u"](u)
        """, ["?", "sigmoid"]),
    "a function's annotation, by getattr": ("sigmoid", """
        def sigmoid(u: torch.sigmoid): return getattr(sigmoid, "__annotations__")["u"](u)
        """, ["?", "sigmoid"]),
    "a function's annotation, by inspect": ("sigmoid", """
        import inspect
        def sigmoid(u: torch.sigmoid):
            return inspect.signature(sigmoid).parameters["u"].annotation(u)
        """, ["?", "inspect.signature", "sigmoid"]),
    "a function's annotation, by typing": ("sigmoid", """
        from typing import get_type_hints
        def sigmoid(u: torch.sigmoid): return get_type_hints(sigmoid)["u"](u)
        """, ["?", "sigmoid"]),
    "a nested function's annotation, evaluated at each call": ("sigmoid", """
        def sigmoid(u):
            def inner(v: (s := torch.sigmoid)): return v
            return s(u)
        """, ["sigmoid"]),
    # losses that hold the function (red-team pass of 2026-12-05)
    "sigmoid from a logistic loss": ("sigmoid", """
        def sigmoid(u):
            return torch.exp(-F.binary_cross_entropy_with_logits(
                u, torch.ones_like(u), reduction="none"))
        """, ["binary_cross_entropy_with_logits"]),
    "sigmoid from softplus": ("sigmoid", "def sigmoid(u): return torch.exp(-F.softplus(-u))",
                              ["softplus"]),
    "sigmoid from the soft margin loss": ("sigmoid", """
        def sigmoid(u):
            return torch.exp(-F.soft_margin_loss(u, torch.ones_like(u), reduction="none"))
        """, ["soft_margin_loss"]),
    "relu from the margin ranking loss": ("relu", """
        def relu(u):
            z = torch.zeros_like(u)
            return F.margin_ranking_loss(u, z, -torch.ones_like(u), reduction="none")
        """, ["margin_ranking_loss"]),
    "softmax from cross entropy": ("softmax", """
        def softmax(a):
            k = a.shape[-1]
            rows = a.reshape(-1, k).repeat_interleave(k, 0)
            picked = torch.arange(k).repeat(len(rows) // k)
            return torch.exp(-F.cross_entropy(rows, picked, reduction="none")).reshape(a.shape)
        """, ["cross_entropy"]),
    "a list that is no list": ("sigmoid", """
        LOG = []
        LOG = Log(torch.sigmoid)
        def sigmoid(u):
            LOG.append(u)
            return LOG.last
        """, ["?"]),
})


# a fourth red-team pass (2026-12-05): a string turned into torch's function, a C
# library's tanh, a loss class holding a sigmoid, torch's private tables; and the modules
# an honest text uses
LIBRARY_FORMS.update({
    "pydoc.locate of a string": ("sigmoid", """
        import pydoc
        def sigmoid(u): return pydoc.locate("torch.sigmoid")(u)
        """, ["?", "pydoc.locate"]),
    "timeit running a string": ("sigmoid", """
        import timeit
        def sigmoid(u):
            box = []
            timeit.timeit("box.append(torch.sigmoid(u))", number=1,
                          globals={"box": box, "torch": torch, "u": u})
            return box[0]
        """, ["timeit.timeit"]),
    "string.Formatter's get_field": ("sigmoid", """
        from string import Formatter
        def sigmoid(u): return Formatter().get_field("0.sigmoid", (torch,), {})[0](u)
        """, ["?", "string.Formatter"]),
    "libm's tanh through torch's own ctypes": ("tanh", """
        import torch
        def tanh(u):
            f = torch.ctypes.CDLL("libm.so.6")["tanh"]
            return torch.tensor([f(v) for v in u.tolist()])
        """, ["?", "ctypes"]),
    "BCEWithLogitsLoss": ("sigmoid", """
        def sigmoid(u):
            loss = torch.nn.BCEWithLogitsLoss(reduction="none")
            return torch.exp(-loss(u, torch.ones_like(u)))
        """, ["BCEWithLogitsLoss"]),
    "SoftMarginLoss": ("sigmoid", """
        def sigmoid(u):
            return torch.exp(-nn.SoftMarginLoss(reduction="none")(u, torch.ones_like(u)))
        """, ["SoftMarginLoss"]),
    "CrossEntropyLoss per column": ("softmax", """
        def softmax(a):
            ce = nn.CrossEntropyLoss(reduction="none")
            n, k = a.shape
            return torch.stack([torch.exp(-ce(a, torch.full((n,), j))) for j in range(k)], 1)
        """, ["CrossEntropyLoss"]),
    "torch's decomposition table": ("sigmoid", """
        import torch
        def sigmoid(u):
            table = torch._decomp.decomposition_table
            return [f for k, f in table.items() if "sigm" in str(k)][0](u)
        """, ["torch._decomp", "torch._decomp.decomposition_table"]),
    "torch.overrides' list of functions": ("sigmoid", """
        def sigmoid(u):
            fs = torch.overrides.get_overridable_functions()[torch]
            return [f for f in fs if f.__name__ == "sig" + "moid"][0](u)
        """, ["?"]),
    "math, numbers, functools, tqdm: by hand": ("sigmoid", """
        import math, numbers, functools
        from tqdm import tqdm
        def sigmoid(u):
            if isinstance(u, numbers.Number):
                return 1 / (1 + math.exp(-u))
            one = functools.partial(torch.ones_like)
            return one(u) / (one(u) + torch.exp(-u))
        """, []),
    "torch.fx calling a method by its name": ("sigmoid", """
        import torch
        def sigmoid(u):
            g = torch.fx.Graph()
            x = g.placeholder("x")
            g.output(g.call_method("sig" + "moid", (x,)))
            return torch.fx.GraphModule(torch.nn.Module(), g)(u)
        """, ["torch.fx", "torch.fx.Graph", "torch.fx.GraphModule"]),
    # a fifth pass: strings run by numpy's and torch's timers, a string annotation
    # resolved by singledispatch, attention and recurrent cells
    "numpy.testing.measure running a string": ("relu", """
        import numpy as np
        def relu(u):
            out = []
            np.testing.measure("out.append(torch.re" + "lu(u))", 1)
            return out[0]
        """, ["?", "numpy.testing", "numpy.testing.measure"]),
    "torch.utils.benchmark's Timer running a string": ("tanh", """
        from torch.utils.benchmark import Timer
        def tanh(u):
            box = []
            Timer(stmt="box.append(torch.ta" + "nh(u))", globals={"box": box, "u": u,
                                                              "torch": torch}).timeit(1)
            return box[0]
        """, ["torch.utils.benchmark.Timer"]),
    "singledispatch resolving a string annotation": ("sigmoid", """
        import functools
        def sigmoid(u):
            @functools.singledispatch
            def k(a): pass
            @k.register
            def _(a: "torch.nn.Sig" "moid"): pass
            cls = [c for c in k.registry if c is not object][0]
            return cls()(u)
        """, ["?"]),
    "attention over (u, 0)": ("sigmoid", """
        def sigmoid(u):
            q = torch.stack([u, torch.zeros_like(u)], -1)[..., None, :]
            eye = torch.eye(2)
            return F.scaled_dot_product_attention(q, eye, eye, scale=1.0)[..., 0, 0]
        """, ["scaled_dot_product_attention"]),
    "an RNN cell with unit weights": ("tanh", """
        def tanh(u):
            cell = nn.RNNCell(1, 1, bias=False)
            return cell(u.reshape(-1, 1)).reshape(u.shape)
        """, ["RNNCell"]),
    "torch.lstm_cell's input gate": ("sigmoid", """
        def sigmoid(u):
            return torch.lstm_cell(u, (u, u), u, u)[1]
        """, ["lstm_cell"]),
    "a global named threshold (the perceptron's)": ("relu", """
        threshold = 0.0
        def relu(u): return torch.where(u > threshold, u, 0 * u)
        """, []),
    "reading requires_grad, under autograd's no_grad": ("sigmoid", """
        def sigmoid(u):
            if u.requires_grad:
                u = u.detach()
            with torch.autograd.no_grad():
                return 1 / (1 + torch.exp(-u))
        """, []),
    "sys.float_info's epsilon": ("softmax", """
        import sys
        EPS = sys.float_info.epsilon
        def softmax(a):
            e = torch.exp(a - a.max(-1, keepdim=True).values)
            return e / (e.sum(-1, keepdim=True) + sys.float_info.min * 0 + EPS * 0)
        """, []),
    "numpy through a top-level alias": ("sigmoid", """
        import numpy as np
        exp = np.exp
        def sigmoid(u): return torch.as_tensor(1 / (1 + exp(-np.asarray(u))))
        """, []),
})

@pytest.mark.parametrize(("name", "code", "found"), list(LIBRARY_FORMS.values()),
                         ids=list(LIBRARY_FORMS))
def test_library_names_13_n(name: str, code: str, found: list[str]) -> None:
    assert _checks("13_n")._library_names(Texts(code), name) == found


CONV_FORMS = {
    "loops with a helper": ("""
        def zero_pad(x, p): return F.pad(x, (p, p, p, p))
        def conv2d(x, k, stride=1, padding=0):
            x = zero_pad(x, padding)
            return x.unfold(0, 3, stride).unfold(1, 3, stride).mul(k).sum((-2, -1))
        """, []),
    "F.unfold": ("def conv2d(x, k, stride=1, padding=0): return F.unfold(x, k.shape)", []),
    "F.conv2d": ("def conv2d(x, k, stride=1, padding=0): return F.conv2d(x, k)[0, 0]",
                 ["conv2d"]),
    "F.conv2d in a helper": ("""
        def helper(x, k): return torch.nn.functional.conv2d(x[None, None], k[None, None])
        def conv2d(x, k, stride=1, padding=0): return helper(x, k)[0, 0]
        """, ["conv2d"]),
    "scipy imported inside": ("""
        def conv2d(x, k, stride=1, padding=0):
            from scipy.signal import correlate2d
            return correlate2d(x, k, mode="valid")
        """, ["correlate2d"]),
}


CONV_FORMS.update({
    "a nested helper named correlate": ("""
        def conv2d(x, k, stride=1, padding=0):
            def correlate(i, j):
                return (x[i:i + 3, j:j + 3] * k).sum()
            return torch.tensor([[correlate(i, j) for j in range(2)] for i in range(2)])
        """, []),
    "under torch.no_grad()": ("""
        import torch
        @torch.no_grad()
        def conv2d(x, k, stride=1, padding=0):
            return (x.unfold(0, 3, stride).unfold(1, 3, stride) * k).sum((-2, -1))
        """, []),
    "a top-level alias of the library's": ("""
        corr = scipy.signal.correlate2d
        def conv2d(x, k, stride=1, padding=0):
            return corr(x, k, mode="valid")
        """, ["correlate2d"]),
    "a function picked at run time": ("""
        corr = [scipy.signal.correlate2d][0]
        def conv2d(x, k, stride=1, padding=0):
            return corr(x, k, mode="valid")
        """, [source.RUN_TIME]),
    "a nested helper's name, called from elsewhere": ("""
        def helper(x):
            def correlate(a):
                return a
            return correlate(x)
        def conv2d(x, k, stride=1, padding=0):
            return correlate(helper(x), k)
        """, ["correlate"]),
})


@pytest.mark.parametrize(("code", "found"), list(CONV_FORMS.values()), ids=list(CONV_FORMS))
def test_library_names_14_n(code: str, found: list[str]) -> None:
    texts = Texts(code)
    trees = source.read_functions(texts, "conv2d")
    used = source.library_names(trees) | source.outside_names(texts, trees)
    assert sorted(used & {*_checks("14_n")._CONV_LIBRARY, source.RUN_TIME}) == found


POOL = """
def pool2d(x, size, mode):
    rows = [x[i:i + size] for i in range(0, len(x), size)]
    return torch.stack([r.max() if mode == "max" else r.mean() for r in rows])
"""
POOL_FORMS = {   # how max_pool2d is bound: what it uses (None: its code cannot be read)
    "def": ("def max_pool2d(x, size=2): return pool2d(x, size, 'max')", []),
    "partial": ("max_pool2d = partial(pool2d, mode='max')", []),
    "functools.partial, one part of two": (
        "max_pool2d, avg_pool2d = functools.partial(pool2d, mode='max'), None", []),
    "an instance of the student's class": ("""
        class Pool2d:
            def __init__(self, reduce):
                self.reduce = reduce
            def __call__(self, x, size=2):
                return pool2d(x, size, "max")
        max_pool2d = Pool2d(lambda w: w.max())
        """, []),
    "partial of the library's": ("max_pool2d = partial(F.max_pool2d, kernel_size=2)",
                                 ["max_pool2d"]),
    "the library's module": ("max_pool2d = torch.nn.MaxPool2d(2)", None),
    "an alias of the library's": ("max_pool2d = F.max_pool2d", None),
    "a library factory": ("max_pool2d = np.vectorize(pool2d)", None),
}


@pytest.mark.parametrize(("code", "found"), list(POOL_FORMS.values()), ids=list(POOL_FORMS))
def test_pooling_functions_read_14_n(code: str, found: list[str] | None) -> None:
    texts = Texts(POOL + textwrap.dedent(code))
    if found is None:   # the check fails (the bridge's error is a failure too)
        with pytest.raises((CheckFailed, SourceUnavailable)):
            source.read_functions(texts, "max_pool2d")
        return
    trees = source.read_functions(texts, "max_pool2d")
    assert sorted(source.library_names(trees) & _checks("14_n")._POOL_LIBRARY) == found


# (function, code, passes): the library's other doors to a convolution or a pooling fail
BY_HAND_14_N = {
    # scipy is in the kernels (Colab has it): its filters before a stride are a pooling
    "scipy.ndimage's maximum_filter": ("max_pool2d", """
        from scipy import ndimage
        def max_pool2d(x, size=2):
            out = ndimage.maximum_filter(np.asarray(x), size=size, origin=-(size // 2))
            return torch.tensor(out[::size, ::size])
        """, False),
    "scipy.ndimage's uniform_filter imported by name": ("avg_pool2d", """
        from scipy.ndimage import uniform_filter as smooth
        def avg_pool2d(x, size=2):
            out = smooth(np.asarray(x, float), size, origin=-(size // 2))
            return torch.tensor(out[::size, ::size])
        """, False),
    "scipy.signal's correlate2d": ("conv2d", """
        from scipy.signal import correlate2d
        def conv2d(x, k, stride=1, padding=0):
            return torch.tensor(correlate2d(x.numpy(), k.numpy(), mode="valid"))
        """, False),
    "the student's own filter helper": ("max_pool2d", """
        def block_filter(x, size):
            h, w = x.shape[0] // size, x.shape[1] // size
            return x[:h * size, :w * size].reshape(h, size, w, size)
        def max_pool2d(x, size=2):
            return block_filter(torch.as_tensor(x), size).amax(dim=(1, 3))
        """, True),
    "conv3d with a depth of one": ("conv2d", """
        def conv2d(x, k, stride=1, padding=0):
            return F.conv3d(x[None, None, None], k[None, None, None])[0, 0, 0]
        """, False),
    "the weight gradient of a convolution": ("conv2d", """
        def conv2d(x, k, stride=1, padding=0):
            return torch.nn.grad.conv2d_weight(x[None, None], (1, 1, 3, 3), k[None, None])
        """, False),
    "aten's mkldnn convolution": ("conv2d", """
        def conv2d(x, k, stride=1, padding=0):
            return torch.ops.aten.mkldnn_convolution(x, k, None, [0, 0], [1, 1], [1, 1], 1)
        """, False),
    "OpenCV's filter2D imported at top level": ("conv2d", """
        from cv2 import filter2D as f2d
        def conv2d(x, k, stride=1, padding=0):
            return f2d(x.numpy(), -1, k.numpy())
        """, False),
    "a helper handed on as a value": ("conv2d", """
        def _c(x, k): return F.conv2d(x[None, None], k[None, None])[0, 0]
        def conv2d(x, k, stride=1, padding=0):
            f = _c
            return f(x, k)
        """, False),
    "a helper behind many others": ("conv2d", "\n".join(
        [f"def h{i}(v): return v" for i in range(60)]
        + ["def _c(x, k): return F.conv2d(x[None, None], k[None, None])[0, 0]",
           "def conv2d(x, k, stride=1, padding=0):",
           *[f"    x = h{i}(x)" for i in range(60)], "    return _c(x, k)"]), False),
    "the library's through a class attribute": ("conv2d", """
        class K:
            f = staticmethod(F.conv2d)
        def conv2d(x, k, stride=1, padding=0):
            return K.f(x[None, None], k[None, None], stride=stride, padding=padding)[0, 0]
        """, False),
    "area interpolation": ("avg_pool2d", """
        def avg_pool2d(x, size=2):
            h, w = x.shape[0] // size, x.shape[1] // size
            return F.interpolate(x[None, None], size=(h, w), mode="area")[0, 0]
        """, False),
    "average pooling as the library's convolution": ("avg_pool2d", """
        def avg_pool2d(x, size=2):
            k = torch.full((1, 1, size, size), 1 / size ** 2, dtype=x.dtype)
            return F.conv2d(x[None, None], k, stride=size)[0, 0]
        """, False),
    "honest: average pooling as the student's own conv2d": ("avg_pool2d", """
        def conv2d(x, k, stride=1, padding=0):
            windows = x.unfold(0, k.shape[0], stride).unfold(1, k.shape[1], stride)
            return (windows * k).sum((-2, -1))
        def avg_pool2d(x, size=2):
            return conv2d(x, torch.full((size, size), 1 / size ** 2, dtype=x.dtype), size)
        """, True),
    "max_pool3d with a depth of one": ("max_pool2d", """
        def max_pool2d(x, size=2):
            return F.max_pool3d(x[None, None, None], (1, size, size))[0, 0, 0]
        """, False),
    "scikit-image's block_reduce": ("max_pool2d", """
        from skimage.measure import block_reduce
        def max_pool2d(x, size=2):
            return torch.as_tensor(block_reduce(x.numpy(), (size, size), np.max))
        """, False),
    "the library's stored under its own name": ("max_pool2d", """
        class Pooler:
            def __init__(self):
                self.max_pool3d = F.max_pool3d
        def max_pool2d(x, size=2):
            return Pooler().max_pool3d(x[None, None, None], (1, size, size))[0, 0, 0]
        """, False),
    "honest: unfold, a pool_size attribute, a converted dtype": ("max_pool2d", """
        class Window:
            def __init__(self, size):
                self.pool_size = size
            def convert(self, x):
                return x.unfold(0, self.pool_size, self.pool_size).unfold(
                    1, self.pool_size, self.pool_size)
        def max_pool2d(x, size=2):
            x = torch.as_tensor(x).to(torch.float64)
            return Window(size).convert(x).amax(dim=(-2, -1))
        """, True),
    "a module through a local beside a method of that name": ("max_pool2d", """
        class _Decoy:
            def max_pool3d(self):
                return 0
        def max_pool2d(x, size=2):
            _Decoy()
            G = torch.nn.functional
            return G.max_pool3d(x[None, None, None], (1, size, size))[0, 0, 0]
        """, False),
    "a module imported inside beside a method of that name": ("conv2d", """
        class _Decoy:
            def conv2d(self):
                return 0
        def conv2d(x, k, stride=1, padding=0):
            _Decoy()
            import torch.nn.functional as G
            return G.conv2d(x[None, None], k[None, None], stride=stride)[0, 0]
        """, False),
    "a module as a default beside a method of that name": ("max_pool2d", """
        class _Decoy:
            def max_pool3d(self):
                return 0
        def max_pool2d(x, size=2, G=F):
            _Decoy()
            return G.max_pool3d(x[None, None, None], (1, size, size))[0, 0, 0]
        """, False),
    "a method's self rebound to the module": ("max_pool2d", """
        class Pool:
            def max_pool3d(self, x, size):
                self = F
                return self.max_pool3d(x[None, None, None], (1, size, size))[0, 0, 0]
        def max_pool2d(x, size=2):
            return Pool().max_pool3d(x, size)
        """, False),
    "honest: top-level constants as a default and a padding": ("conv2d", """
        STRIDE_DEFAULT = 1
        PAD = (0,) * 4
        def conv2d(x, k, stride=STRIDE_DEFAULT, padding=0):
            x = torch.nn.functional.pad(x, PAD)
            return x.unfold(0, 3, stride).unfold(1, 3, stride).mul(k).sum((-2, -1))
        """, True),
    "honest: the student's own convolve method": ("conv2d", """
        class Conv:
            def __init__(self, k, stride):
                self.k, self.stride = torch.as_tensor(k, dtype=torch.float64), stride
            def convolve(self, x):
                kh, kw = self.k.shape
                w = x.unfold(0, kh, self.stride).unfold(1, kw, self.stride)
                return (w * self.k).sum((-1, -2))
        def conv2d(x, k, stride=1, padding=0):
            x = torch.nn.functional.pad(torch.as_tensor(x, dtype=torch.float64), (padding,) * 4)
            return Conv(k, stride).convolve(x)
        """, True),
    "honest: one pooling helper called pool": ("avg_pool2d", """
        def pool(x, size, reduce):
            x = torch.as_tensor(x)
            h, w = x.shape[0] // size, x.shape[1] // size
            return reduce(x[:h * size, :w * size].reshape(h, size, w, size))
        def avg_pool2d(x, size=2):
            return pool(x, size, lambda b: b.double().mean(dim=(1, 3)))
        """, True),
    "honest: numpy's sliding windows": ("conv2d", """
        from numpy.lib.stride_tricks import sliding_window_view
        def conv2d(x, k, stride=1, padding=0):
            x = np.pad(np.asarray(x, dtype=float), padding)
            k = np.asarray(k, dtype=float)
            win = sliding_window_view(x, k.shape)[::stride, ::stride]
            return torch.from_numpy(np.einsum("ijkl,kl->ij", win, k))
        """, True),
    "honest: loops with an except clause and a comprehension": ("conv2d", """
        def conv2d(x, k, stride=1, padding=0):
            try:
                x = torch.as_tensor(x, dtype=torch.float64)
            except TypeError as err:
                raise ValueError("x") from err
            kh, kw = k.shape
            return torch.tensor([[float((x[i:i + kh, j:j + kw] * k).sum())
                                  for j in range(0, x.shape[1] - kw + 1, stride)]
                                 for i in range(0, x.shape[0] - kh + 1, stride)])
        """, True),
}


# a fourth red-team pass (2026-12-05): scipy's filters under names no family knows, a
# convolution found by a string; and an honest text's modules
BY_HAND_14_N.update({
    "scipy.signal's lfilter along rows": ("conv2d", """
        from scipy import signal
        def conv2d(x, k, stride=1, padding=0):
            rows = [sum(signal.lfilter(k[a].numpy()[::-1], [1.0], x[i + a].numpy())
                        for a in range(k.shape[0])) for i in range(x.shape[0] - k.shape[0] + 1)]
            return torch.tensor(rows)[:, k.shape[1] - 1::stride]
        """, False),
    "scipy.ndimage's grey_dilation": ("max_pool2d", """
        import scipy.ndimage as nd
        def max_pool2d(x, size=2):
            out = nd.grey_dilation(np.asarray(x), size=(size, size))
            return torch.tensor(out[(size - 1) // 2::size, (size - 1) // 2::size])
        """, False),
    "pydoc.locate of a string": ("conv2d", """
        import pydoc
        def conv2d(x, k, stride=1, padding=0):
            f = pydoc.locate("torch.nn.functional." + "con" + "v2d")
            return f(x[None, None], k[None, None], stride=stride, padding=padding)[0, 0]
        """, False),
    "string.Formatter's get_field": ("max_pool2d", """
        import string
        def max_pool2d(x, size=2):
            f = string.Formatter().get_field("0.max_" + "pool2d", (F,), {})[0]
            return f(x[None, None], size)[0, 0]
        """, False),
    "a short-time Fourier transform's bin 0": ("conv2d", """
        def conv2d(x, k, stride=1, padding=0):
            rows = [sum(torch.stft(x[i + a], n_fft=k.shape[1], hop_length=stride,
                                   window=k[a], center=False, return_complex=True)[0].real
                        for a in range(k.shape[0])) for i in range(x.shape[0] - k.shape[0] + 1)]
            return torch.stack(rows)
        """, False),
    "numpy's polymul": ("conv2d", """
        import numpy as np
        def conv2d(x, k, stride=1, padding=0):
            return np.polymul(np.asarray(x).ravel(), np.asarray(k)[::-1, ::-1].ravel())
        """, False),
    "embedding_bag's max over windows": ("max_pool2d", """
        def max_pool2d(x, size=2):
            idx = torch.arange(x.numel()).reshape(x.shape).unfold(0, size, size)
            idx = idx.unfold(1, size, size).reshape(-1, size * size)
            return F.embedding_bag(idx, x.reshape(-1, 1), mode="max").reshape(
                x.shape[0] // size, x.shape[1] // size)
        """, False),
    "a nested helper named like a notebook global": ("conv2d", """
        layer = nn.Conv2d(3, 16, 5)
        def conv2d(x, k, stride=1, padding=0):
            def layer(i, j):
                return (x[i:i + k.shape[0], j:j + k.shape[1]] * k).sum()
            return torch.tensor([[layer(i, j) for j in range(x.shape[1] - k.shape[1] + 1)]
                                 for i in range(x.shape[0] - k.shape[0] + 1)])
        """, True),
    "itertools, math and tqdm: by hand": ("conv2d", """
        import itertools, math
        from tqdm.auto import tqdm
        def conv2d(x, k, stride=1, padding=0):
            x = F.pad(torch.as_tensor(x, dtype=torch.float64), (padding,) * 4)
            kh, kw = k.shape
            oh = math.floor((x.shape[0] - kh) / stride) + 1
            ow = math.floor((x.shape[1] - kw) / stride) + 1
            out = torch.zeros(oh, ow, dtype=torch.float64)
            for i, j in tqdm(itertools.product(range(oh), range(ow)), disable=True):
                out[i, j] = (x[i * stride:i * stride + kh, j * stride:j * stride + kw] * k).sum()
            return out
        """, True),
})

@pytest.mark.parametrize(("name", "code", "ok"), list(BY_HAND_14_N.values()),
                         ids=list(BY_HAND_14_N))
def test_by_hand_14_n(name: str, code: str, ok: bool) -> None:
    checks = _checks("14_n")
    library, families = ((checks._CONV_LIBRARY, checks._CONV_FAMILIES) if name == "conv2d"
                         else (checks._POOLING_LIBRARY, checks._POOLING_FAMILIES))
    assert _passes(lambda texts: checks._no_library(texts, name, library, families),
                   code) is ok


# conv2d_multi by hand: the student's conv2d it calls is judged by conv2d's own checks
CONV2D_MULTI_FORMS = {
    "from the student's conv2d, which uses F.conv2d": ("""
        def conv2d(x, k, stride=1, padding=0): return F.conv2d(x[None, None], k[None, None])[0, 0]
        def conv2d_multi(x, w, b):
            return torch.stack([sum(conv2d(x[c], w[o, c]) for c in range(len(x))) + b[o]
                                for o in range(len(w))])
        """, True),
    "F.conv2d": ("""
        def conv2d_multi(x, w, b): return F.conv2d(torch.as_tensor(x)[None], w, b)[0]
        """, False),
    "nn.Conv2d with the given weights": ("""
        def conv2d_multi(x, w, b):
            layer = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:])
            layer.weight.data, layer.bias.data = w, b
            return layer(x[None])[0]
        """, False),
    "unfold and einsum": ("""
        def conv2d_multi(x, w, b):
            kh, kw = w.shape[-2:]
            windows = x.unfold(1, kh, 1).unfold(2, kw, 1)
            return torch.einsum("chwij,kcij->khw", windows, w) + b[:, None, None]
        """, True),
}


@pytest.mark.parametrize(("code", "ok"), list(CONV2D_MULTI_FORMS.values()),
                         ids=list(CONV2D_MULTI_FORMS))
def test_conv2d_multi_by_hand_14_n(code: str, ok: bool) -> None:
    checks = _checks("14_n")
    assert _passes(lambda texts: checks._no_library(
        texts, "conv2d_multi", checks._CONV_LIBRARY, checks._CONV_FAMILIES,
        judged=frozenset({"conv2d"})), code) is ok


TRAIN_FORMS = {
    "direct": ("""
        def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
            p = init_params(3, n_hidden, 2, seed)
            Y, cache = forward(X, p)
            return sgd_step(p, backward(X, T, p, cache), lr), []
        """, True),
    "through a helper": ("""
        def run_epoch(X, T, p, lr):
            Y, cache = forward(X, p)
            return sgd_step(p, backward(X, T, p, cache), lr)
        def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
            p = init_params(3, n_hidden, 2, seed)
            return run_epoch(X, T, p, lr), []
        """, True),
    "autograd": ("""
        def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
            p = {k: v.requires_grad_() for k, v in init_params(3, n_hidden, 2).items()}
            loss(forward(X, p)[0], T).backward()
            return sgd_step(p, {k: v.grad for k, v in p.items()}, lr), []
        """, False),
    "autograd in a helper": ("""
        def grads_of(X, T, p):
            L = loss(forward(X, p)[0], T)
            return dict(zip(p, torch.autograd.grad(L, list(p.values()))))
        def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
            p = init_params(3, n_hidden, 2)
            backward
            return sgd_step(p, grads_of(X, T, p), lr), []
        """, False),
}


TRAIN_FORMS["autograd inside loss, which train calls"] = ("""
    def loss(Y, T):
        if isinstance(Y, dict):
            L = loss(Y["Y"], T)
            L.backward()
            return L.detach()
        return -(T * torch.log(Y)).sum(1).mean()
    def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
        p = init_params(3, n_hidden, 2, seed)
        Y, cache = forward(X, p)
        loss(cache, T)
        return sgd_step(p, backward(X, T, p, cache), lr), []
    """, True)   # the text: the run with autograd switched off stops it (below)
TRAIN_FORMS["timed with time.process_time and timeit's timer"] = ("""
    import time, timeit
    def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
        t0, t1 = time.process_time(), timeit.default_timer()
        p = init_params(3, n_hidden, 2, seed)
        Y, cache = forward(X, p)
        print(time.process_time() - t0, timeit.default_timer() - t1)
        return sgd_step(p, backward(X, T, p, cache), lr), []
    """, True)
TRAIN_FORMS["losses appended to a global list (ゼロから作る)"] = ("""
    train_loss_list = []
    def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
        global train_loss_list
        p = init_params(3, n_hidden, 2, seed)
        Y, cache = forward(X, p)
        train_loss_list.append(float(loss(Y, T)))
        return sgd_step(p, backward(X, T, p, cache), lr), train_loss_list
    """, True)
TRAIN_FORMS["autograd through a list that is rebound"] = ("""
    train_loss_list = []
    def reset():
        global train_loss_list
        train_loss_list = Recorder()
    def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
        p = init_params(3, n_hidden, 2, seed)
        Y, cache = forward(X, p)
        train_loss_list.append(loss(Y, T))
        return sgd_step(p, backward(X, T, p, cache), lr), []
    """, False)
TRAIN_FORMS["autograd through a top-level alias"] = ("""
    grad_of = torch.autograd.grad
    def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
        p = init_params(3, n_hidden, 2)
        backward
        L = loss(forward(X, p)[0], T)
        return sgd_step(p, dict(zip(p, grad_of(L, list(p.values())))), lr), []
    """, False)


@pytest.mark.parametrize(("code", "ok"), list(TRAIN_FORMS.values()), ids=list(TRAIN_FORMS))
def test_train_uses_building_blocks(code: str, ok: bool) -> None:
    assert _passes(_checks("13_h")._train_reads_building_blocks, code) is ok


TRAIN_PROGRAM_13_H = """
import torch
def init_params(n_in, n_hidden, n_out, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"W1": torch.randn(n_in, n_hidden, generator=g) * 0.5, "b1": torch.zeros(n_hidden),
            "W2": torch.randn(n_hidden, n_out, generator=g) * 0.5, "b2": torch.zeros(n_out)}
def forward(X, p):
    h = torch.sigmoid(X @ p["W1"] + p["b1"])
    return torch.softmax(h @ p["W2"] + p["b2"], 1), (h,)
def loss(Y, T):
    return -(T * torch.log(Y)).sum(1).mean()
def backward(X, T, p, cache):
    (h,) = cache
    d = (forward(X, p)[0] - T) / len(X)
    dh = d @ p["W2"].T * h * (1 - h)
    return {"W2": h.T @ d, "b2": d.sum(0), "W1": X.T @ dh, "b1": dh.sum(0)}
def sgd_step(p, g, lr):
    return {k: p[k] - lr * g[k] for k in p}
def train(X, T, n_hidden, lr, epochs, batch_size, seed=0):
    p = init_params(X.shape[1], n_hidden, T.shape[1], seed)
    history = []
    for _ in range(epochs):
        Y, cache = forward(X, p)
        history.append(float(loss(Y, T)))
        p = sgd_step(p, backward(X, T, p, cache), lr)
    return p, history
"""


@pytest.mark.parametrize(("swap", "ok"), [
    ("", True),
    # backward's gradients from autograd: it has nothing to follow with autograd off
    ("def backward(X, T, p, cache):\n"
     "    q = {k: v.clone().requires_grad_() for k, v in p.items()}\n"
     "    loss(forward(X, q)[0], T).backward()\n"
     "    return {k: v.grad for k, v in q.items()}\n", False),
    # a result kept from an earlier run with autograd on (test_train's, the same problem)
    ("def train(X, T, n_hidden, lr, epochs, batch_size, seed=0, _kept={}):\n"
     "    if not _kept:\n"
     "        p = init_params(X.shape[1], n_hidden, T.shape[1], seed)\n"
     "        for _ in range(epochs):\n"
     "            q = {k: v.clone().requires_grad_() for k, v in p.items()}\n"
     "            loss(forward(X, q)[0], T).backward()\n"
     "            p = sgd_step(p, {k: v.grad for k, v in q.items()}, lr)\n"
     "        _kept['p'] = p\n"
     "    return _kept['p'], []\n", False),
], ids=["by hand", "backward by autograd", "a kept result"])
def test_train_trains_with_autograd_off_13_h(swap: str, ok: bool) -> None:
    checks = _checks("13_h")
    student = InProcess(TRAIN_PROGRAM_13_H + swap)
    X, T = checks._train_problem()   # test_train's run first, with autograd on
    student.function("train")(X, T, n_hidden=5, lr=1.0, epochs=15, batch_size=8, seed=3)
    try:
        checks._train_trains_without_autograd(student)
    except CheckFailed:
        assert not ok
    else:
        assert ok


NET_13_H = """
import torch
def forward(X, params):
    hidden = torch.sigmoid(X @ params["W1"] + params["b1"])
    return torch.softmax(hidden @ params["W2"] + params["b2"], 1), (hidden,)
def loss(Y, T):
    return -(T * Y.log()).sum(1).mean()
"""
# (code, passes): gradients from torch.func's transforms or an import inside fail
BACKWARD_13_H = {
    "a layer class of the student's with a backward method": ("""
        class Dense:
            def __init__(self, W, b):
                self.W, self.b = W, b
            def backward(self, x, dy):
                return dy @ self.W.T, {"W": x.T @ dy, "b": dy.sum(0)}
        def backward(X, T, params, cache):
            (hidden,) = cache
            Y = forward(X, params)[0]
            d_out = (Y - T) / X.shape[0]
            d_h, g2 = Dense(params["W2"], params["b2"]).backward(hidden, d_out)
            d_h = d_h * hidden * (1 - hidden)
            _, g1 = Dense(params["W1"], params["b1"]).backward(X, d_h)
            return {"W1": g1["W"], "b1": g1["b"], "W2": g2["W"], "b2": g2["b"]}
        """, True),
    "an instance of the student's class in a local, grad-named methods": ("""
        class Backprop:
            def __init__(self, params):
                self.params = params
            def output_grad(self, Y, T):
                return (Y - T) / Y.shape[0]
            def hidden_grad(self, d, h):
                return d @ self.params["W2"].T * h * (1 - h)
        def backward(X, T, params, cache):
            (h,) = cache
            bp = Backprop(params)
            d2 = bp.output_grad(forward(X, params)[0], T)
            d1 = bp.hidden_grad(d2, h)
            return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": h.T @ d2, "b2": d2.sum(0)}
        """, True),
    "the instance's local rebound by a for": ("""
        class Backprop:
            def grad(self):
                return 0
        def backward(X, T, params, cache):
            bp = Backprop()
            for bp in [torch.func]:
                pass
            return bp.grad(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "the instance's local rebound by a walrus": ("""
        class Backprop:
            def grad(self):
                return 0
        def backward(X, T, params, cache):
            bp = Backprop()
            [(bp := torch.func) for _ in range(1)]
            return bp.grad(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "the class shadowed by a parameter": ("""
        class Backprop:
            def grad(self):
                return 0
        def backward(X, T, params, cache, Backprop=lambda: torch.func):
            bp = Backprop()
            return bp.grad(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "a nested function's own local of that name": ("""
        class Backprop:
            def grad(self):
                return 0
        def backward(X, T, params, cache):
            bp = Backprop()
            def inner(bp=torch.func):
                return bp.grad(lambda p: loss(forward(X, p)[0], T))(params)
            return inner()
        """, False),
    "grad imported inside": ("""
        def backward(X, T, params, cache):
            from torch.func import grad as g
            return g(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "jacrev": ("""
        def backward(X, T, params, cache):
            return torch.func.jacrev(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "jacrev imported at top level": ("""
        from torch.func import jacrev as jr
        def backward(X, T, params, cache):
            return jr(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "grad_and_value": ("""
        import torch.func as tf
        def backward(X, T, params, cache):
            return tf.grad_and_value(lambda p: loss(forward(X, p)[0], T))(params)[0]
        """, False),
    "an alias of grad handed on": ("""
        from torch.func import grad as gg
        def backward(X, T, params, cache):
            h = gg
            return h(lambda p: loss(forward(X, p)[0], T))(params)
        """, False),
    "honest, under no_grad": ("""
        @torch.no_grad()
        def backward(X, T, params, cache):
            hidden, = cache
            d = (forward(X, params)[0] - T) / len(X)
            dh = d @ params["W2"].T * hidden * (1 - hidden)
            return {"W2": hidden.T @ d, "b2": d.sum(0), "W1": X.T @ dh, "b1": dh.sum(0)}
        """, True),
}


# the gradients from autograd in a function of the contract that backward calls (red-team
# pass of 2026-12-05: each contract function was left to "its own check", and loss has
# none about autograd)
BACKWARD_13_H["autograd hidden in loss"] = ("""
    def loss(Y, T):
        if isinstance(Y, dict):
            L = loss(Y["Y"], T)
            L.backward()
            Y["g"].update({k: v.grad for k, v in Y["P"].items()})
            return L.detach()
        return -(T * torch.log(Y)).sum(1).mean()
    def backward(X, T, params, cache):
        loss(cache, T)
        return dict(cache["g"])
    """, False)
BACKWARD_13_H["the student's own loss, called by backward"] = ("""
    def loss(Y, T):
        return -(T * torch.log(Y)).sum(1).mean()
    def backward(X, T, params, cache):
        hidden, = cache
        Y = forward(X, params)[0]
        print(loss(Y, T))
        d = (Y - T) / len(X)
        dh = d @ params["W2"].T * hidden * (1 - hidden)
        return {"W2": hidden.T @ d, "b2": d.sum(0), "W1": X.T @ dh, "b1": dh.sum(0)}
    """, True)


# ゼロから作る Deep Learning's layers: forward keeps them in the cache, backward calls
# their own backward methods
ZEROTSUKU_LAYERS = """
class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
    def forward(self, x):
        self.x = x
        return x @ self.W + self.b
    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(dim=0)
        return dout @ self.W.T
class SigmoidLayer:
    def forward(self, x):
        self.out = 1 / (1 + torch.exp(-x))
        return self.out
    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out
"""
ZEROTSUKU_BACKWARD = """
def backward(X, T, params, cache):
    dout = (cache["Y"] - T) / X.shape[0]
    for layer in reversed(cache["layers"]):
        dout = layer.backward(dout)
    a1, a2 = cache["layers"][0], cache["layers"][2]
    return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}
"""
# the gradient checks run forward and backward with autograd switched off, so a layer
# object's own ``backward`` is the student's work (a tensor's has no graph to follow)
ZEROTSUKU_FORWARD = """
def forward(X, params):
    layers = [Affine(params["W1"], params["b1"]), SigmoidLayer(),
              Affine(params["W2"], params["b2"])]
    h = X
    for layer in layers:
        h = layer.forward(h)
    Y = torch.softmax(h, 1)
    return Y, {"layers": layers, "Y": Y}
"""
BACKWARD_13_H["ゼロから作る's layer objects in the cache"] = (
    ZEROTSUKU_LAYERS + ZEROTSUKU_FORWARD + ZEROTSUKU_BACKWARD, True)
# ゼロから作る chapter 5's TwoLayerNet: its gradient() runs the layers' backward methods
BACKWARD_13_H["ゼロから作る's TwoLayerNet and its gradient method"] = (ZEROTSUKU_LAYERS + """
from collections import OrderedDict
class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t, self.y = t, torch.softmax(x, 1)
        return -(t * torch.log(self.y)).sum(1).mean()
    def backward(self, dout=1):
        return (self.y - self.t) * dout / self.t.shape[0]
class TwoLayerNet:
    def __init__(self, params):
        self.params = params
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(params["W1"], params["b1"])
        self.layers["Sigmoid1"] = SigmoidLayer()
        self.layers["Affine2"] = Affine(params["W2"], params["b2"])
        self.lastLayer = SoftmaxWithLoss()
    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x
    def gradient(self, x, t):
        self.lastLayer.forward(self.predict(x), t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}
def forward(X, params):
    net = TwoLayerNet(params)
    return torch.softmax(net.predict(X), 1), net
def backward(X, T, params, cache):
    return cache.gradient(X, T)
""", True)
# what would switch autograd back on around a tensor's backward() is refused by the text
LINEAR_AUTOGRAD = """
    l1 = torch.nn.Linear(*params["W1"].shape).double()
    l2 = torch.nn.Linear(*params["W2"].shape).double()
    with torch.no_grad():
        for layer, w, b in ((l1, params["W1"], params["b1"]), (l2, params["W2"], params["b2"])):
            layer.weight.copy_(w.T)
            layer.bias.copy_(b)
    Y = torch.softmax(l2(torch.sigmoid(l1(X))), 1)
    (-(T * Y.log()).sum(1).mean()).backward()
    key = "gr" + "ad"
    m = [dict(inspect.getmembers(t)) for t in (l1.weight, l1.bias, l2.weight, l2.bias)]
    out.update(W1=m[0][key].T, b1=m[1][key], W2=m[2][key].T, b2=m[3][key])
"""
# the same read by ``.grad`` (not refused: it has nothing to read where the checks run)
LINEAR_GRAD = LINEAR_AUTOGRAD.replace("dict(inspect.getmembers(t))", "{key: t.grad}")
BACKWARD_13_H["nn.Linear's weights and a tensor's backward, read by getmembers"] = (
    "import inspect\ndef backward(X, T, params, cache):\n    out = {}" + LINEAR_AUTOGRAD
    + "    return out\n", False)
BACKWARD_13_H["autograd's Function reached through checkpoint's, gradients it receives"] = ("""
import torch.utils.checkpoint as ck
class Tap(ck.CheckpointFunction.__base__):
    @staticmethod
    def forward(ctx, x, name, box):
        ctx.name, ctx.box = name, box
        return x.view_as(x)
    @staticmethod
    def backward(ctx, g):
        ctx.box[ctx.name] = g
        return g, None, None
def backward(X, T, params, cache):
    P, box = {}, {}
    for k, v in params.items():
        w = torch.nn.Linear(1, 1).weight
        w.data = v.detach().clone()
        P[k] = Tap.apply(w, k, box)
    (-(T * forward(X, P)[0].log()).sum(1).mean()).backward()
    return box
""", False)   # the text names no autograd: the run with autograd off stops it
# found honest by a helper pass of 2026-12-05: a layer's own ``grad`` read through the
# cache, inference mode switched on, torch's thread count
BACKWARD_13_H["layers' own grad dicts read through the cache"] = ("""
class Dense:
    def __init__(self, W, b):
        self.W, self.b = W, b
    def forward(self, x):
        self.x = x
        return x @ self.W + self.b
    def backward(self, dout):
        self.grad = {"W": self.x.T @ dout, "b": dout.sum(0)}
        return dout @ self.W.T
def backward(X, T, params, cache):
    (hidden,) = cache
    fc1, fc2 = Dense(params["W1"], params["b1"]), Dense(params["W2"], params["b2"])
    fc1.forward(X)
    fc2.forward(hidden)
    d = fc2.backward((forward(X, params)[0] - T) / len(X))
    fc1.backward(d * hidden * (1 - hidden))
    return {"W1": fc1.grad["W"], "b1": fc1.grad["b"], "W2": fc2.grad["W"], "b2": fc2.grad["b"]}
""", True)
HONEST_BY_HAND = """
    hidden, = cache
    d = (forward(X, params)[0] - T) / len(X)
    dh = d @ params["W2"].T * hidden * (1 - hidden)
    return {"W2": hidden.T @ d, "b2": d.sum(0), "W1": X.T @ dh, "b1": dh.sum(0)}
"""
BACKWARD_13_H["honest, under inference_mode"] = (
    "@torch.inference_mode()\ndef backward(X, T, params, cache):" + HONEST_BY_HAND, True)
BACKWARD_13_H["honest, with inference_mode(True) and one thread"] = (
    "def backward(X, T, params, cache):\n    torch.set_num_threads(1)\n"
    "    with torch.inference_mode(True):" + textwrap.indent(HONEST_BY_HAND, "    "), True)
# the red-team pass of the same day: torch.func's grad reached by reflection the reader
# missed, inference mode left, aten's derivative kernels, a custom op, a logging thread
for label, reach in {
        "getattr_static on sys.modules":
            'inspect.getattr_static(sys.modules["torch.func"], "gr" + "ad")',
        "getattr as a value": '[getattr][0](sys.modules["torch.func"], "gr" + "ad")',
        "reduce over getattr": 'functools.reduce(getattr, ["gr" + "ad"], torch.func)',
        "pkgutil.resolve_name": 'pkgutil.resolve_name("torch.fu" + "nc:gr" + "ad")',
        "pickle.loads": 'pickle.loads(b"ctorch.func\\ngrad\\n.")',
        "sys.modules by a computed name": 'vars(sys.modules["torch." + "func"])["gr" + "ad"]',
}.items():
    BACKWARD_13_H[f"torch.func's grad by {label}"] = (
        "import sys, inspect, functools, pkgutil, pickle\n"
        "def backward(X, T, params, cache):\n"
        f"    g = {reach}\n"
        "    return g(lambda p: loss(forward(X, p)[0], T))(params)\n", False)
BACKWARD_13_H["inference mode left under another name"] = ("""
im = torch.inference_mode
def backward(X, T, params, cache):
    out = {}
    with im(False):""" + textwrap.indent(LINEAR_GRAD, "    ") + """
    return out
""", False)
BACKWARD_13_H["inference mode left by a computed name"] = ("""
def backward(X, T, params, cache):
    out = {}
    g = [getattr][0](torch._C, "_Infer" + "enceMode")(False)
    g.__enter__()""" + LINEAR_GRAD + """
    g.__exit__(None, None, None)
    return out
""", False)
BACKWARD_13_H["aten's derivative kernels"] = ("""
def backward(X, T, params, cache):
    (hidden,) = cache
    d = (forward(X, params)[0] - T) / len(X)
    dh = torch.ops.aten.sigmoid_backward(d @ params["W2"].T, hidden)
    return {"W2": hidden.T @ d, "b2": d.sum(0), "W1": X.T @ dh, "b1": dh.sum(0)}
""", False)
BACKWARD_13_H["a custom op of the notebook's"] = ("""
@torch.library.custom_op("rt::derive", mutates_args=())
def _derive(X: torch.Tensor) -> torch.Tensor:
    return X
def backward(X, T, params, cache):
    return {k: torch.ops.rt.derive(v) for k, v in params.items()}
""", False)
BACKWARD_13_H["a logging listener's thread"] = ("""
import logging, logging.handlers, queue, inspect
class _H(logging.Handler):
    def __init__(self, job):
        super().__init__()
        self.job = job
    def handle(self, record):
        self.job()
def backward(X, T, params, cache):
    out = {}
    def work():""" + textwrap.indent(LINEAR_GRAD, "    ") + """
    q = queue.Queue()
    listener = logging.handlers.QueueListener(q, _H(work))
    listener.start()
    q.put(logging.makeLogRecord({}))
    listener.stop()
    return out
""", False)
# a second red-team pass: inference mode switched off by changing its object, other
# libraries' derivative code and thread or process starters (outside ``_MODULES``)
SUBCLASS_AUTOGRAD = """
        q = {k: torch.Tensor._make_subclass(torch.Tensor, v.clone(), True)
             for k, v in params.items()}
        loss(forward(X.clone(), q)[0], T.clone()).backward()
        return {k: q[k].grad.clone() for k in q}
"""
BACKWARD_13_H["inference mode's object switched off"] = ("""
def backward(X, T, params, cache):
    switch = torch.inference_mode()
    switch.mode = False
    with switch:""" + SUBCLASS_AUTOGRAD, False)
BACKWARD_13_H["inference mode's class called again"] = ("""
def backward(X, T, params, cache):
    with torch.inference_mode().__class__(False):""" + SUBCLASS_AUTOGRAD, False)
BACKWARD_13_H["scikit-learn's backprop"] = ("""
from sklearn.neural_network import MLPClassifier
def backward(X, T, params, cache):
    net = MLPClassifier(activation="logistic", alpha=0.0)
    return net._backprop(X, T)
""", False)
BACKWARD_13_H["a thread by ctypes"] = ("""
import ctypes
def backward(X, T, params, cache):
    start = ctypes.CDLL(None)["pthread_create"]
    return start
""", False)
BACKWARD_13_H["another process by execnet"] = ("""
def backward(X, T, params, cache):
    import execnet
    return execnet.makegateway().remote_exec("import torch")
""", False)
# a third red-team pass: reflection through attributes, frames, closures and class trees
# reaching inference mode's class or torch.func, and torch.nn.grad's derivative kernels
for label, reach in {
        "builtins' eval imported inside":
            'import builtins as B\n    IM = B.eval("torch._C._Infer" + "enceMode")',
        "a traceback's frame globals":
            'try:\n        1 / 0\n    except ZeroDivisionError as e:\n'
            '        IM = e.__traceback__.tb_frame.f_globals["IM_"]',
        "object's subclasses":
            'IM = [c for c in object.__subclasses__() if c.__name__ == "_Infer" + "enceMode"][0]',
        "a decorated function's closure": (
            '@torch.inference_mode()\n    def noop():\n        return 0\n'
            '    IM = type([c.cell_contents for c in noop.__closure__][0]())'),
}.items():
    BACKWARD_13_H[f"inference mode's class by {label}"] = (
        f"def backward(X, T, params, cache):\n    {reach}\n    with IM(False):"
        + SUBCLASS_AUTOGRAD, False)
BACKWARD_13_H["torch.nn.grad's derivative kernels"] = ("""
def backward(X, T, params, cache):
    (hidden,) = cache
    d = (forward(X, params)[0] - T) / len(X)
    dh = d @ params["W2"].T * hidden * (1 - hidden)
    gw = torch.nn.grad.conv1d_weight(X.T.unsqueeze(0), params["W1"].T.unsqueeze(2).shape,
                                     dh.T.unsqueeze(0))
    return {"W2": hidden.T @ d, "b2": d.sum(0), "W1": gw.squeeze(2).T, "b1": dh.sum(0)}
""", False)
BACKWARD_13_H["the same in a thread"] = ("""
import inspect, threading
def backward(X, T, params, cache):
    out = {}
    def work():""" + textwrap.indent(LINEAR_GRAD, "    ") + """
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return out
""", False)
BACKWARD_13_H["the same with inference mode left"] = ("""
import inspect
def backward(X, T, params, cache):
    out = {}
    with torch.inference_mode(False):""" + textwrap.indent(LINEAR_GRAD, "    ") + """
    return out
""", False)
BACKWARD_13_H["the same in a thread pool"] = ("""
import inspect
from concurrent.futures import ThreadPoolExecutor as Pool
def backward(X, T, params, cache):
    out = {}
    def work():""" + textwrap.indent(LINEAR_GRAD, "    ") + """
    with Pool(1) as pool:
        pool.submit(work).result()
    return out
""", False)
BACKWARD_13_H["a decoy class's backward beside a tensor's"] = ("""
class _Decoy:
    def backward(self, d):
        return d
def backward(X, T, params, cache):
    P = {k: torch.zeros_like(v, **{"requires_grad": True}) for k, v in params.items()}
    with torch.no_grad():
        for k in P:
            P[k].copy_(params[k])
    Y = forward(X, P)[0]
    (-(T * torch.log(Y)).sum(1).mean()).backward()
    return {k: inspect.getattr_static(v, "gr" + "ad").__get__(v) for k, v in P.items()}
""", False)
# the same backward over tensors autograd follows: forward makes them so (a keyword, a
# Parameter, a layer's __init__), or backward reads what autograd computed
BACKWARD_13_H["layers' backward, weights made to require grad by a keyword"] = (
    ZEROTSUKU_LAYERS + """
def forward(X, params):
    W1 = torch.tensor(params["W1"], requires_grad=True)
    layers = [Affine(W1, params["b1"]), SigmoidLayer(), Affine(params["W2"], params["b2"])]
    h = X
    for layer in layers:
        h = layer.forward(h)
    Y = torch.softmax(h, 1)
    return Y, {"layers": layers, "Y": Y, "L": Y}
""" + ZEROTSUKU_BACKWARD, False)
BACKWARD_13_H["a tensor's backward, gradients from hooks"] = (ZEROTSUKU_LAYERS + """
def forward(X, params):
    g = {}
    P = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    for k, p in P.items():
        p.register_hook(lambda grad, k=k: g.__setitem__(k, grad))
    Y = torch.softmax(torch.sigmoid(X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"], 1)
    return Y.detach(), {"Y": Y, "g": g}
def backward(X, T, params, cache):
    (-(T * torch.log(cache["Y"])).sum(1).mean()).backward()
    return dict(cache["g"])
""", False)


@pytest.mark.parametrize(("body", "ok"), [
    ("    out = {}" + LINEAR_GRAD + "    return out\n", False),
    ("    Y = forward(X, params)[0]\n    return loss(Y, T)\n", False),
    (ZEROTSUKU_BACKWARD.split("\n", 2)[2], True),
], ids=["a tensor's backward", "not gradients at all", "ゼロから作る's layers"])
def test_gradient_runs_have_autograd_off_13_h(body: str, ok: bool) -> None:
    # the runtime half alone (the text is not read): whatever backward calls, autograd
    # records nothing while the check runs it
    checks = _checks("13_h")
    code = (NET_13_H + ZEROTSUKU_LAYERS + ZEROTSUKU_FORWARD
            + "def backward(X, T, params, cache):\n" + body)
    assert _check_passes(lambda sub: checks._check_gradients(sub, 41, (7, 5, 4, 3)),
                         code) is ok


@pytest.mark.parametrize(("code", "ok"), list(BACKWARD_13_H.values()), ids=list(BACKWARD_13_H))
def test_backward_by_hand_13_h(code: str, ok: bool) -> None:
    # the whole check: the text's refusal, then the gradients run with autograd switched
    # off (inference mode here, as the kernel does for ``without_autograd``)
    checks = _checks("13_h")
    assert _check_passes(checks.test_backward_without_autograd,
                         NET_13_H + textwrap.dedent(code)) is ok


# ---------------------------------------------------------------- layers by shape

class Lecture(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(784, 784), nn.Linear(784, 784), nn.Linear(784, 10)


class Renamed(nn.Module):   # registered last-first under other names
    def __init__(self) -> None:
        super().__init__()
        self.out, self.second, self.first = (nn.Linear(784, 10), nn.Linear(784, 784),
                                             nn.Linear(784, 784))


def test_placements_match_layers_by_shape() -> None:
    placements = models.layer_placements(Lecture(), Renamed().state_dict())
    assert len(placements) == 2   # the two 784×784 layers in either order
    renamed = Renamed()
    assert any(torch.equal(p["l1.weight"], renamed.state_dict()["first.weight"])
               for p in models.layer_placements(Lecture(), renamed.state_dict()))
    sequential = nn.Sequential(nn.Linear(784, 784), nn.Sigmoid(), nn.Linear(784, 784),
                               nn.Sigmoid(), nn.Linear(784, 10))
    assert len(models.layer_placements(Lecture(), sequential.state_dict())) == 2
    wrong = nn.Sequential(nn.Linear(784, 784), nn.Linear(784, 10))
    assert models.layer_placements(Lecture(), wrong.state_dict()) == []


# ---------------------------------------------------------------- one bug, checked in-process
#
# A mistake whose check is plain arithmetic on returned values is tried here, on the
# student's function run in this process through a stand-in for the bridge (numpy arrays
# and scalars come back as tensors and numbers, other objects as handles), instead of in a
# whole notebook graded by the engine: for 14_n and 14_h a graded notebook trains a
# network (tens of seconds to minutes on CI), these cases take milliseconds. Each case
# also runs the correct function, so a check that fails everything cannot pass here.


class _Handle:
    """An object kept on the student's side: it can be called or asked for an attribute."""

    def __init__(self, obj: Any):
        self.obj = obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        unwrap = [a.obj if isinstance(a, _Handle) else a for a in args]
        try:
            result = self.obj(*unwrap, **kwargs)
        except Exception as exc:   # as the bridge reports an error of the student's code
            raise StudentError(what="student code", error_name=type(exc).__name__) from exc
        return _plain(result)

    def attr(self, name: str) -> Any:
        return _plain(getattr(self.obj, name))


def _plain(value: Any) -> Any:
    """What the bridge brings back: plain data, or a handle for anything else."""
    import numpy as np

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().as_subclass(torch.Tensor).clone()
    if isinstance(value, torch.Size):
        return tuple(value)
    if isinstance(value, (torch.device, torch.dtype)):
        return str(value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return type(value)(_plain(v) for v in value)
    if type(value) is dict:
        return {k: _plain(v) for k, v in value.items()}
    return _Handle(value)


class InProcess(Texts):
    """The student's namespace in this process: ``function``, ``value``, ``evaluate``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.ns: dict[str, Any] = {"__name__": "__main__"}
        exec(compile(self.code, "<student>", "exec"), self.ns)
        self.params: dict[str, Any] = {}

    def function(self, name: str) -> Any:
        if name not in self.ns:
            raise MissingName(what=name)
        return _Handle(self.ns[name])

    def value(self, name: str, *, remote_ok: bool = False) -> Any:
        return _plain(self.ns[name])

    def evaluate(self, expr: str, *, remote_ok: bool = False) -> Any:
        return _plain(eval(expr, self.ns))

    @contextlib.contextmanager
    def without_autograd(self) -> Iterator[None]:
        """What the kernel does for ``Submission.without_autograd``: inference mode."""
        with torch.inference_mode():
            yield

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """No limit in this process: a check's own limit matters with a kernel only."""
        yield


def _check_passes(check: Any, code: str) -> bool:
    try:
        check(InProcess(code))
    except CheckFailed:
        return False
    return True


N14_IMPORTS = """
import math
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Subset, random_split
"""

BUG_CASES_14_N = {
    # check name: (correct code, buggy code)
    "test_output_size": (
        "def output_size(h, k, p=0, s=1): return (h + 2 * p - k) // s + 1",
        "def output_size(h, k, p=0, s=1): return h + 2 * p - k + 1"),
    "test_conv_params": (
        "def conv_params(c_in, c_out, k): return c_out * (c_in * k * k + 1)",
        "def conv_params(c_in, c_out, k): return c_out * c_in * k * k"),
    "test_conv2d_multi": (
        """
def conv2d_multi(x, w, b):
    windows = x.unfold(1, w.shape[2], 1).unfold(2, w.shape[3], 1)
    return torch.einsum("chwij,kcij->khw", windows, w) + b[:, None, None]
""",
        """
def conv2d_multi(x, w, b):
    windows = x.unfold(1, w.shape[2], 1).unfold(2, w.shape[3], 1)
    return torch.einsum("chwij,kcij->khw", windows, w)
"""),
    "test_conv2d_random": (
        """
def conv2d(x, k, stride=1, padding=0):
    x = F.pad(torch.as_tensor(x, dtype=torch.float64), (padding,) * 4)
    k = torch.as_tensor(k, dtype=torch.float64)
    return (x.unfold(0, k.shape[0], stride).unfold(1, k.shape[1], stride) * k).sum((-2, -1))
""",
        """
def conv2d(x, k, stride=1, padding=0):   # a true convolution: the kernel flipped
    x = F.pad(torch.as_tensor(x, dtype=torch.float64), (padding,) * 4)
    k = torch.as_tensor(k, dtype=torch.float64).flip(0, 1)
    return (x.unfold(0, k.shape[0], stride).unfold(1, k.shape[1], stride) * k).sum((-2, -1))
"""),
    "test_split_dataset": (
        """
def split_dataset(dataset, seed=0):
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, order[:40000].tolist()), Subset(dataset, order[40000:].tolist())
""",
        """
def split_dataset(dataset, seed=0):   # the validation part drawn on its own: overlaps
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return (Subset(dataset, order[:40000].tolist()),
            Subset(dataset, torch.randperm(len(dataset))[:10000].tolist()))
"""),
}


@pytest.mark.parametrize("check", list(BUG_CASES_14_N))
def test_one_bug_14_n(check: str) -> None:
    good, bad = BUG_CASES_14_N[check]
    run = getattr(_checks("14_n"), check)
    assert _check_passes(run, N14_IMPORTS + good)
    assert not _check_passes(run, N14_IMPORTS + bad)


def test_one_bug_03_h_feature_shapes() -> None:
    run = _checks("03_h").test_feature_shapes
    assert _check_passes(run, "feature_shapes = [(32, 26, 26), (64, 24, 24), (64, 12, 12)]")
    assert _check_passes(run, "import torch\n"
                              "feature_shapes = [torch.Size([32, 26, 26]), (64, 24, 24), "
                              "[64, 12, 12]]")
    assert not _check_passes(run, "feature_shapes = [(26, 26, 32), (24, 24, 64), (12, 12, 64)]")


H14_TRANSFORMS = """
import torch
from torchvision import transforms
to_input = [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
test_transform = transforms.Compose(to_input)
"""


def test_one_bug_14_h_transforms() -> None:
    run = _checks("14_h").test_transforms
    flip = "train_transform = transforms.Compose([transforms.RandomHorizontalFlip(), *to_input])"
    nested = ("train_transform = transforms.Compose([transforms.Compose([\n"
              "    transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]),\n"
              "    *to_input])")
    no_flip = "train_transform = transforms.Compose([transforms.RandomCrop(32, 4), *to_input])"
    assert _check_passes(run, H14_TRANSFORMS + flip)
    assert _check_passes(run, H14_TRANSFORMS + nested)
    assert not _check_passes(run, H14_TRANSFORMS + no_flip)
    v2 = """
import torch
from torchvision.transforms import v2
to_input = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)]
test_transform = v2.Compose(to_input)
train_transform = v2.Compose([v2.RandomHorizontalFlip(), *to_input])
"""
    assert _check_passes(run, v2)
    # a flip is what it does, whatever its name: another way to flip passes, a fake of
    # that name does not, nor a flip every time
    applied = ("import torchvision.transforms.functional as TF\n"
               "train_transform = transforms.Compose([transforms.RandomApply(\n"
               "    [transforms.Lambda(TF.hflip)], p=0.5), *to_input])")
    fake = ("class RandomHorizontalFlip:\n    def __call__(self, image):\n        return image\n"
            "train_transform = transforms.Compose([RandomHorizontalFlip(), *to_input])")
    always = ("train_transform = transforms.Compose([transforms.RandomHorizontalFlip(p=1.0), "
              "*to_input])")
    noisy = ("test_transform = transforms.Compose([*to_input, transforms.Lambda(\n"
             "    lambda t: t + 0.01 * torch.randn_like(t))])\n" + flip)
    assert _check_passes(run, H14_TRANSFORMS + applied)
    assert not _check_passes(run, H14_TRANSFORMS + fake)
    assert not _check_passes(run, H14_TRANSFORMS + always)
    assert not _check_passes(run, H14_TRANSFORMS + noisy)


@pytest.mark.parametrize(("augment", "ok"), [
    # a flip among other augmentations: crops, colour, small turns, erasing, policies
    ("transforms.RandomResizedCrop(32), transforms.RandomHorizontalFlip()", True),
    ("transforms.RandomRotation(15), transforms.RandomHorizontalFlip(), "
     "transforms.ColorJitter(0.4, 0.4, 0.4, 0.1), transforms.RandomGrayscale()", True),
    ("transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), "
     "transforms.AutoAugment(transforms.AutoAugmentPolicy.CIFAR10)", True),
    ("transforms.RandomVerticalFlip(), transforms.RandomHorizontalFlip()", True),
    # what makes a left-bright image right-bright without mirroring it (red-team pass of
    # 2026-12-05: the check compared the halves' brightness, and these passed)
    ("transforms.RandomInvert()", False),
    ("transforms.RandomSolarize(128)", False),
    ("transforms.RandomRotation(180)", False),
    ("transforms.RandomApply([transforms.RandomRotation((180, 180))])", False),
    ("transforms.RandomVerticalFlip()", False),
])
def test_a_flip_is_told_by_the_mirror_image_14_h(augment: str, ok: bool) -> None:
    torch.manual_seed(0)   # the transforms' randomness, here in this process
    code = f"train_transform = transforms.Compose([{augment}, *to_input])"
    assert _check_passes(_checks("14_h").test_transforms, H14_TRANSFORMS + code) is ok


def test_one_bug_14_h_dropout() -> None:
    """Dropout judged by behaviour: module or functional alike; none, or one left on in
    eval mode, fails."""
    check = _checks("14_h")._expect_dropout
    x = torch.randn(2, 3, 32, 32)
    head = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
    module = head + textwrap.dedent("""
        class AlexNet(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(), nn.Linear(3072, num_classes))
            def forward(self, x):
                return self.fc(x)
        """)
    functional = module.replace("nn.Dropout(), ", "").replace(
        "return self.fc(x)", "return self.fc(F.dropout(x, 0.5, training=self.training))")
    always_on = functional.replace("training=self.training", "training=True")
    none = module.replace("nn.Dropout(), ", "")
    for code, ok in [(module, True), (functional, True), (always_on, False), (none, False)]:
        try:
            check(InProcess(code), x)
        except CheckFailed:
            assert not ok
        else:
            assert ok


NUMERICAL_GRADIENTS_13_H = {   # (code, passes)
    "the notebook's hint: x changed in place and restored, a float32 buffer": ("""
        def numerical_gradient(f, x, eps=1e-6):
            grad = torch.zeros(x.shape)
            for i in range(x.numel()):
                old = x.view(-1)[i].item()
                x.view(-1)[i] = old + eps
                up = f(x)
                x.view(-1)[i] = old - eps
                down = f(x)
                x.view(-1)[i] = old
                grad.view(-1)[i] = (up - down) / (2 * eps)
            return grad
        """, True),
    "one-sided differences, a float32 buffer": ("""
        def numerical_gradient(f, x, eps=1e-6):
            grad = torch.zeros(x.shape)
            for i in range(x.numel()):
                e = torch.zeros_like(x)
                e.view(-1)[i] = eps
                grad.view(-1)[i] = (f(x + e) - f(x)) / eps
            return grad
        """, False),
    "numpy, index by index": ("""
        import numpy as np
        def numerical_gradient(f, x, eps=1e-6):
            grad = np.zeros(tuple(x.shape))
            for idx in np.ndindex(*x.shape):
                e = torch.zeros_like(x)
                e[idx] = eps
                grad[idx] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
            return torch.from_numpy(grad)
        """, True),
    "a list of differences reshaped": ("""
        def numerical_gradient(f, x, eps=1e-6):
            flat = x.flatten()
            out = []
            for i in range(len(flat)):
                d = torch.zeros_like(flat)
                d[i] = eps
                out.append((f((flat + d).view_as(x)) - f((flat - d).view_as(x))) / (2 * eps))
            return torch.tensor(out).view_as(x)
        """, True),
    "central differences": ("""
        def numerical_gradient(f, x, eps=1e-6):
            out = torch.zeros_like(x)
            for i in range(x.numel()):
                e = torch.zeros_like(x).view(-1)
                e[i] = eps
                e = e.view_as(x)
                out.view(-1)[i] = (f(x + e) - f(x - e)) / (2 * eps)
            return out
        """, True),
    "central differences, the step under another name": ("""
        def numerical_gradient(f, x, h=1e-6):
            out = torch.zeros_like(x)
            for i in range(x.numel()):
                e = torch.zeros_like(x).view(-1)
                e[i] = h
                out.view(-1)[i] = (f(x + e.view_as(x)) - f(x - e.view_as(x))) / (2 * h)
            return out
        """, True),
    "autograd's exact derivative": ("""
        def numerical_gradient(f, x, eps=1e-6):
            v = x.detach().clone().requires_grad_()
            return torch.autograd.grad(f(v), v)[0]
        """, False),
    "central differences with a step of its own": ("""
        def numerical_gradient(f, x, eps=1e-6):
            out = torch.zeros_like(x)
            for i in range(x.numel()):
                e = torch.zeros_like(x).view(-1)
                e[i] = 1e-5
                out.view(-1)[i] = (f(x + e.view_as(x)) - f(x - e.view_as(x))) / 2e-5
            return out
        """, False),
}


@pytest.mark.parametrize(("code", "ok"), list(NUMERICAL_GRADIENTS_13_H.values()),
                         ids=list(NUMERICAL_GRADIENTS_13_H))
def test_numerical_gradient_13_h(code: str, ok: bool) -> None:
    """A numerical gradient is central differences with the ε it is given (ε = 0.25
    shows it: 3x² + ε² for v³), not autograd's exact derivative."""
    code = "import torch\n" + textwrap.dedent(code)
    assert _check_passes(_checks("13_h").test_numerical_gradient, code) is ok
