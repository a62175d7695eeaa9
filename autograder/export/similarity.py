"""Near-identical code between students, for the class report's "needs a human look".

Code is reduced to a token stream with names, numbers and strings abstracted (so renaming
variables does not hide a copy), cut into k-gram shingles, and compared with Jaccard
similarity. Shingles of the released template are removed first, so the code every
student was given does not make everyone look alike.
"""

from __future__ import annotations

import io
import json
import keyword
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

K = 5
MIN_SHINGLES = 25
THRESHOLD = 0.85


@dataclass(frozen=True)
class SimilarPair:
    a: str
    b: str
    similarity: float


def normalised_tokens(code: str) -> list[str]:
    tokens: list[str] = []
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in skip:
                continue
            if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
                tokens.append("N")
            elif tok.type == tokenize.NUMBER:
                tokens.append("0")
            elif tok.type == tokenize.STRING:
                tokens.append("S")
            else:
                tokens.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a broken cell still contributes the tokens read before the error
    return tokens


def shingles(code: str, k: int = K) -> set[tuple[str, ...]]:
    toks = normalised_tokens(code)
    return {tuple(toks[i:i + k]) for i in range(len(toks) - k + 1)}


def notebook_code(notebook_json: str | None) -> str:
    """The code cells of a notebook (untrusted JSON), magics and shell lines dropped."""
    if not notebook_json:
        return ""
    try:
        nb = json.loads(notebook_json)
    except ValueError:
        return ""
    parts: list[str] = []
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if cell.get("metadata", {}).get("tags") and "injected-parameters" in cell["metadata"].get(
                "tags", []):
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        parts.append("\n".join(line for line in src.splitlines()
                               if not line.lstrip().startswith(("!", "%"))))
    return "\n".join(parts)


def similar_pairs(codes: Mapping[str, str], *, template: str = "",
                  threshold: float = THRESHOLD) -> list[SimilarPair]:
    """Pairs of participants whose code (minus the template) is near-identical."""
    base = shingles(template)
    sets = {who: shingles(code) - base for who, code in codes.items()}
    sets = {who: s for who, s in sets.items() if len(s) >= MIN_SHINGLES}
    pairs = [SimilarPair(a, b, _jaccard(sets[a], sets[b]))
             for a, b in combinations(sorted(sets), 2)]
    return sorted((p for p in pairs if p.similarity >= threshold),
                  key=lambda p: -p.similarity)


def _jaccard(a: Iterable[tuple[str, ...]], b: Iterable[tuple[str, ...]]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 0.0


@dataclass(frozen=True)
class SimilarGroup:
    members: tuple[str, ...]
    similarity: float  # the highest pairwise similarity inside the group


def similar_groups(pairs: list[SimilarPair]) -> list[SimilarGroup]:
    """Pairs joined into groups (a copied solution shared by several students is one group)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        parent[find(pair.a)] = find(pair.b)
    groups: dict[str, list[str]] = {}
    for who in parent:
        groups.setdefault(find(who), []).append(who)
    best = {root: max(p.similarity for p in pairs if find(p.a) == root) for root in groups}
    return sorted((SimilarGroup(tuple(sorted(m)), best[r]) for r, m in groups.items()),
                  key=lambda g: (-g.similarity, g.members))
