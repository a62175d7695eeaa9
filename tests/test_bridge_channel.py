"""The grader's end of the bridge channel against a hostile kernel end: replies with and
without an inline answer, and every malformed frame the kernel's end could write.

The kernel's end is played by the test (a raw socket), so every frame is exactly the
bytes a student's code could send. The same attacks from inside a real kernel are in the
hostile corpus (``bridge_channel_forgery``, ``bridge_channel_flood``); the answers'
validation is the bridge's (``test_bridge.py``'s forgeries).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from autograder.engine.kernel.channel import (
    MAX_HEADER,
    MAX_REPLY,
    MAX_STRAY,
    BridgeChannel,
    ChannelBroken,
    Reply,
    RequestTooLarge,
)

HEADER = struct.Struct(">I")


@pytest.fixture
def ends() -> Iterator[tuple[BridgeChannel, socket.socket]]:
    ours, theirs = BridgeChannel.pair()
    theirs.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def reply_of(ours: BridgeChannel, rid: str = "r1") -> Reply | None:
    return ours.reply(rid, time.monotonic() + 2, lambda: True)


def test_a_request_goes_down_as_one_frame(ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    ours.send({"rid": "r1", "op": "probe"}, time.monotonic() + 2)
    (size,) = HEADER.unpack(theirs.recv(4))
    assert json.loads(theirs.recv(size)) == {"rid": "r1", "op": "probe"}


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"rid": "r1", "ok": true}', Reply(ok=True)),
    (b'{"rid": "r1", "ok": false}', Reply(ok=False)),
    (b'{"rid": "r1", "ok": 1}', Reply(ok=False)),
    (b'{"rid": "r1", "ok": true, "inline": true}\n{"v": 1}', Reply(ok=True, answer=b'{"v": 1}')),
    (b'{"rid": "r1", "ok": true, "inline": true}\n', Reply(ok=True, answer=b"")),
    # the answer's bytes are passed on as they came: the bridge validates them
    (b'{"rid": "r1", "ok": true, "inline": true}\n\xff\n{]', Reply(ok=True, answer=b"\xff\n{]")),
], ids=["done", "failed", "ok-not-bool", "inline", "inline-empty", "inline-garbage"])
def test_replies(ends: tuple[BridgeChannel, socket.socket], body: bytes,
                 expected: Reply) -> None:
    ours, theirs = ends
    theirs.sendall(frame(body))
    assert reply_of(ours) == expected
    assert not ours.broken


def test_an_inline_answer_may_be_as_large_as_a_frame(
        ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    head = b'{"rid": "r1", "ok": true, "inline": true}\n'
    answer = b"x" * (MAX_REPLY - len(head))
    theirs.sendall(frame(head + answer))
    reply = reply_of(ours)
    assert reply is not None and reply.answer == answer


def test_frames_for_other_requests_are_skipped(
        ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    theirs.sendall(frame(b'{"rid": "r0", "ok": true, "inline": true}\n{"forged": 1}')
                   + frame(b'{"rid": "r1", "ok": true, "inline": true}\n{"v": 1}'))
    assert reply_of(ours) == Reply(ok=True, answer=b'{"v": 1}')


MALFORMED = {
    "frame too large": frame(b"{" + b" " * MAX_REPLY + b"}"),
    "header too large": frame(b'{"rid": "r1", "pad": "' + b"x" * MAX_HEADER
                              + b'", "ok": true, "inline": true}\n{}'),
    "not json": frame(b"1; import os"),
    "not an object": frame(b'["r1", true]'),
    "not utf-8": frame(b'{"rid": "\xff"}'),
    "answer not announced": frame(b'{"rid": "r1", "ok": true}\n{"v": 1}'),
    "announced, no answer": frame(b'{"rid": "r1", "ok": true, "inline": true}'),
    "answer to a failed request": frame(b'{"rid": "r1", "ok": false, "inline": true}\n{}'),
    "inline not true": frame(b'{"rid": "r1", "ok": true, "inline": 1}\n{}'),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_frame_breaks_the_channel_for_good(
        ends: tuple[BridgeChannel, socket.socket], case: str) -> None:
    ours, theirs = ends
    theirs.sendall(MALFORMED[case])
    with pytest.raises(ChannelBroken):
        reply_of(ours)
    assert ours.broken


def test_inline_answers_to_nothing_count_as_stray_bytes(
        ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    head = b'{"rid": "other", "ok": true, "inline": true}\n'
    stray = frame(head + b"x" * (MAX_REPLY - len(head)))

    def flood() -> None:  # the kernel's end writes while the grader's end reads
        with contextlib.suppress(OSError):
            for _ in range(MAX_STRAY // len(stray) + 2):
                theirs.sendall(stray)

    writer = threading.Thread(target=flood)
    writer.start()
    try:
        with pytest.raises(ChannelBroken, match="too many frames"):
            ours.reply("r1", time.monotonic() + 10, lambda: True)
    finally:
        theirs.shutdown(socket.SHUT_RDWR)
        writer.join()


def test_silence_ends_at_the_deadline(ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, _theirs = ends
    start = time.monotonic()
    assert ours.reply("r1", start + 0.2, lambda: True) is None
    assert not ours.broken


def test_a_closed_end_breaks_the_channel(ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    theirs.close()
    with pytest.raises(ChannelBroken):
        reply_of(ours)


# -- polling (a notebook's cells: the caller polls the channel with IOPub) ------------------


def test_poll_reply_does_not_wait(ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, _theirs = ends
    start = time.monotonic()
    assert ours.poll_reply("r1") is None
    assert time.monotonic() - start < 0.5
    assert not ours.broken


def test_poll_reply_puts_a_frame_together_from_its_pieces(
        ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    whole = frame(b'{"rid": "r1", "ok": true, "inline": true}\n{"status": "ok"}')
    theirs.sendall(whole[:7])
    time.sleep(0.05)
    assert ours.poll_reply("r1") is None
    theirs.sendall(whole[7:])
    time.sleep(0.05)
    assert ours.poll_reply("r1") == Reply(ok=True, answer=b'{"status": "ok"}')


def _poll_strays(ours: BridgeChannel, theirs: socket.socket, rid: str, count: int) -> None:
    """The kernel's end writes ``count`` stray frames while the grader's end polls."""
    head = b'{"rid": "other", "ok": true, "inline": true}\n'
    stray = frame(head + b"x" * (MAX_REPLY - len(head)))
    def flood() -> None:
        with contextlib.suppress(OSError):
            for _ in range(count):
                theirs.sendall(stray)

    writer = threading.Thread(target=flood)
    writer.start()
    try:
        while writer.is_alive() or ours._buffer or select.select([ours], [], [], 0.05)[0]:
            assert ours.poll_reply(rid) is None
            time.sleep(0.001)
    except ChannelBroken:
        theirs.shutdown(socket.SHUT_RDWR)
        raise
    finally:
        writer.join()


def test_stray_bytes_add_up_over_polls_until_the_next_request(
        ends: tuple[BridgeChannel, socket.socket]) -> None:
    ours, theirs = ends
    below = MAX_STRAY // MAX_REPLY - 1
    ours.send({"rid": "r1"}, time.monotonic() + 2)
    _poll_strays(ours, theirs, "r1", below)
    ours.send({"rid": "r2"}, time.monotonic() + 2)   # a new request: a new allowance
    _poll_strays(ours, theirs, "r2", below)
    assert not ours.broken
    with pytest.raises(ChannelBroken, match="too many frames"):
        _poll_strays(ours, theirs, "r2", below)


def test_a_request_larger_than_the_kernel_reads_is_not_sent(
        ends: tuple[BridgeChannel, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder.engine.kernel import channel

    ours, theirs = ends
    monkeypatch.setattr(channel, "MAX_REQUEST", 64)
    with pytest.raises(RequestTooLarge):
        ours.send({"rid": "r1", "cell": "x" * 100}, time.monotonic() + 2)
    assert not ours.broken
    theirs.settimeout(0.2)
    with pytest.raises(TimeoutError):
        theirs.recv(1)
