"""A notebook's outputs as the grader keeps them: capped, and never more than that.

Everything here comes from the kernel, so it is untrusted and bounded. Outputs are capped
per notebook (``Limits.output_kb``) while they stream in: what does not fit is dropped
and a marker output says so. Outputs with a ``display_id`` are remembered so that a later
``update_display_data`` changes them in place, as Jupyter does; only outputs that are in
the notebook are remembered (cleared ones are forgotten), and at most
``MAX_DISPLAY_IDS`` ids, so a kernel that displays and clears forever cannot grow the
grader (found: thousands of large displays, each cleared at once, grew a grading worker
to 1.7 GB).
"""

from __future__ import annotations

import json
from typing import Any

RUN_CODE_STDOUT_CAP = 1 << 20
MAX_DISPLAY_IDS = 1024
MAX_OUTPUTS_PER_DISPLAY = 16


def truncation_marker(limit_kb: int) -> str:
    return (f"[採点] 出力が上限 ({limit_kb} KB) を超えたため、これ以降の出力は省略しました。\n"
            f"[grading] Output exceeded the {limit_kb} KB limit; the rest was dropped.\n")


def _output_from(msg_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
    """A well-formed nbformat output from untrusted message content, or None."""
    if msg_type == "stream":
        name, text = content.get("name"), content.get("text")
        if name in ("stdout", "stderr") and isinstance(text, str):
            return {"output_type": "stream", "name": name, "text": text}
        return None
    if msg_type == "error":
        ename, evalue, tb = content.get("ename"), content.get("evalue"), content.get("traceback")
        if isinstance(ename, str) and isinstance(evalue, str) and isinstance(tb, list) \
                and all(isinstance(line, str) for line in tb):
            return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": tb}
        return None
    data, metadata = content.get("data"), content.get("metadata", {})
    if not (isinstance(data, dict) and isinstance(metadata, dict)
            and all(isinstance(k, str) and isinstance(v, (str, list, dict))
                    for k, v in data.items())):
        return None
    out: dict[str, Any] = {"output_type": msg_type, "data": data, "metadata": metadata}
    if msg_type == "execute_result":
        count = content.get("execution_count")
        out["execution_count"] = count if isinstance(count, int) else None
    return out


def _size(output: dict[str, Any]) -> int:
    if output["output_type"] == "stream":
        return len(output["text"].encode("utf-8", "replace"))
    return len(json.dumps(output, ensure_ascii=False).encode("utf-8", "replace"))


class NotebookOutputs:
    """Collects a notebook's outputs into its cells, capped at ``cap`` bytes in total."""

    def __init__(self, cap_kb: int):
        self.cap_kb, self.cap = cap_kb, cap_kb * 1024
        self.used = 0
        self.dropped = 0
        self.truncated = False
        self.cell: Any = None
        self._marked = False
        self._clear_pending = False
        # display id -> the outputs *in the notebook* that an update_display_data changes
        self._displays: dict[str, list[Any]] = {}
        self._owner: dict[int, str] = {}  # id() of a remembered output -> its display id

    def start(self, cell: Any) -> None:
        self.cell, self._marked, self._clear_pending = cell, False, False

    def __call__(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "ag_dropped":  # oversized messages were refused unread
            self.drop(0)
            return
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self._clear()
            return
        if msg_type == "update_display_data":
            self._update(content)
            return
        output = _output_from(msg_type, content)
        if output is None:
            return
        if self._clear_pending:
            self._clear()
        self._add(output, content)

    def _add(self, output: dict[str, Any], content: dict[str, Any]) -> None:
        size = _size(output)
        room = self.cap - self.used
        if size > room:
            if output["output_type"] != "stream" or room <= 0:
                self.drop(size)
                return
            kept = output["text"].encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
            output["text"] = kept
            self.used += room
            self._append(output)
            self.drop(size - room)
            return
        self.used += size
        node = self._append(output)
        display_id = (content.get("transient") or {}).get("display_id")
        if isinstance(display_id, str) and node is not None \
                and output["output_type"] == "display_data":
            self._track(display_id, node)

    def _append(self, output: dict[str, Any]) -> Any:
        """Put ``output`` into the cell; the node now in the notebook (None if merged)."""
        from ...core import nbapi

        outputs = self.cell.outputs
        last = outputs[-1] if outputs else None
        if (last is not None and output["output_type"] == "stream"
                and last.get("output_type") == "stream" and last.get("name") == output["name"]
                and not self._marked):
            last["text"] += output["text"]
            return None
        node = nbapi.from_dict(output)
        outputs.append(node)
        return node

    def _track(self, display_id: str, node: Any) -> None:
        """Remember ``node`` for updates; at most ``MAX_DISPLAY_IDS`` ids and
        ``MAX_OUTPUTS_PER_DISPLAY`` outputs each (the oldest are no longer updated)."""
        nodes = self._displays.pop(display_id, [])  # re-inserted: the newest id last
        nodes.append(node)
        self._owner[id(node)] = display_id
        for old in nodes[:-MAX_OUTPUTS_PER_DISPLAY]:
            del self._owner[id(old)]
        self._displays[display_id] = nodes[-MAX_OUTPUTS_PER_DISPLAY:]
        while len(self._displays) > MAX_DISPLAY_IDS:
            for old in self._displays.pop(next(iter(self._displays))):
                del self._owner[id(old)]

    def drop(self, size: int) -> None:
        """Account for output that did not fit (``size`` may be 0: unknown)."""
        from ...core import nbapi

        self.dropped += size
        self.truncated = True
        if not self._marked and self.cell is not None:
            self._marked = True
            self.cell.outputs.append(nbapi.new_output(
                "stream", name="stderr", text=truncation_marker(self.cap_kb)))

    def _clear(self) -> None:
        self._clear_pending = False
        cleared = self.cell.outputs
        for output in cleared:
            self.used -= _size(output)
        self.used = max(self.used, 0)
        self.cell.outputs = []
        self._marked = False
        self._forget(cleared)

    def _forget(self, cleared: list[Any]) -> None:
        """Cleared outputs are gone from the notebook: updates no longer reach them, and
        holding on to them would keep every cleared display in the grader's memory."""
        for output in cleared:
            display_id = self._owner.pop(id(output), None)
            if display_id is None:
                continue
            kept = [o for o in self._displays[display_id] if o is not output]
            if kept:
                self._displays[display_id] = kept
            else:
                del self._displays[display_id]

    def _update(self, content: dict[str, Any]) -> None:
        display_id = (content.get("transient") or {}).get("display_id")
        new = _output_from("display_data", content)
        if new is None or not isinstance(display_id, str):
            return
        for output in self._displays.get(display_id, []):
            grow = _size(new) - _size(output)
            if self.used + grow > self.cap:
                self.drop(max(grow, 0))
                continue
            self.used += grow
            output["data"], output["metadata"] = new["data"], new["metadata"]


class Stdout:
    """Collects a snippet's stdout (for ``run_code``), capped."""

    def __init__(self, cap: int = RUN_CODE_STDOUT_CAP):
        self.parts: list[str] = []
        self.room = cap

    def __call__(self, msg_type: str, content: dict[str, Any]) -> None:
        text = content.get("text")
        if msg_type == "stream" and content.get("name") == "stdout" and isinstance(text, str):
            piece = text[: self.room]
            self.parts.append(piece)
            self.room -= len(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts)


__all__ = ["RUN_CODE_STDOUT_CAP", "NotebookOutputs", "Stdout", "truncation_marker"]
