"""Frames over the size limit, refused with `too_large` whatever their size.

hypercorn gathers a frame whole before the app sees it, and one over its own limit
(`websocket_max_message_size`) only gets a bare close 1009: no `too_large` message, so the
recorder cannot tell which batch to give up, and a client that does not answer the close
is left holding the connection and the buffered frame. So hypercorn's buffer is replaced
by one that stops keeping a frame once it passes the limit, keeps counting until the
frame ends, and hands the app a note of its size and first characters instead of its
text: ingest then refuses it like any other frame.

Frames compressed with permessage-deflate are inflated before that buffer sees them, one
read (64 KiB) at a time: zlib inflates 64 KiB of a repeated byte to ~64 MiB. So inflating
is bounded too: it goes in 1 MiB steps, and once a message passes the limit the rest of it
is inflated and thrown away (the stream must still be decoded for the messages that
follow, which share its window).

Both replace hypercorn/wsproto internals: `cap_frames` checks they are what it expects
and otherwise leaves hypercorn's own limit in place, with a warning.
"""

from __future__ import annotations

import io
import logging
import weakref
import zlib
from typing import Any

from hypercorn.protocol import ws_stream
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol

from collector.limits import MemoryBudget
from collector.protocol import FRAME_HEAD

log = logging.getLogger("phi_replay.ingest")

OVERSIZE = "phi_replay.oversize"  # the ASGI receive message's key for that note


def _memory(data: str | bytes) -> int:
    """What a piece of a frame costs held in hypercorn's buffer: a StringIO holds a
    character in 1 byte while all are ASCII, and in up to 4 otherwise."""
    return len(data) if isinstance(data, bytes) or data.isascii() else 4 * len(data)


class _CappedFrames(ws_stream.WebsocketBuffer):
    # Set by cap_frames: the collector's one MemoryBudget, across every socket.
    budget = MemoryBudget(256 << 20)

    def __init__(self, max_length: int) -> None:
        super().__init__(max_length)
        self.head: str | None = None  # set once the frame is over the limit (or the budget)
        self.busy = False  # the budget was spent: the frame is refused as `busy`
        self._budget = self.budget
        # Bytes of the budget this buffer holds, in a list the finalizer can read without
        # holding the buffer itself.
        self._held_box = [0]
        weakref.finalize(self, _CappedFrames._release, self._budget, self._held_box)

    @staticmethod
    def _release(budget: MemoryBudget, box: list[int]) -> None:
        """A socket gone mid-frame never calls clear(): give its bytes back anyway."""
        budget.give(box[0])
        box[0] = 0

    def extend(self, event: Any) -> None:
        if self.head is None and self.length + len(event.data) <= self.max_length:
            cost = _memory(event.data)
            if self._budget.take(cost):
                self._held_box[0] += cost
                super().extend(event)
                return
            self.busy = True
        if self.head is None:
            kept = ""
            if isinstance(self.value, io.StringIO):
                self.value.seek(0)
                kept = self.value.read(FRAME_HEAD)
            if isinstance(event.data, str):
                kept = (kept + event.data[:FRAME_HEAD])[:FRAME_HEAD]
            self.head = kept
            self.value = None  # the memory goes now, not when the client is done sending
            _CappedFrames._release(self._budget, self._held_box)
        self.length += len(event.data)

    def clear(self) -> None:
        super().clear()
        _CappedFrames._release(self._budget, self._held_box)
        self.head = None
        self.busy = False

    def to_message(self) -> dict[str, Any]:
        if self.head is None:
            message: dict[str, Any] = super().to_message()
            return message
        note = {"size": self.length, "head": self.head, "busy": self.busy}
        return {"type": "websocket.receive", "bytes": None, "text": None, OVERSIZE: note}


INFLATE_STEP = 1 << 20  # bytes inflated at a time
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character


class _BoundedInflate(PerMessageDeflate):
    limit = 1 << 22  # characters of a message; set by cap_frames

    def __init__(self) -> None:
        super().__init__()
        self._characters = 0  # inflated so far in this message
        self._discarding = False  # this message is over the limit: inflated, not kept

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        inflater = self._decompressor
        if not self._inbound_compressed or not self._inbound_is_compressible or inflater is None:
            return super().frame_inbound_payload_data(proto, data)
        kept: list[bytes] = []
        pending = bytes(data)
        try:
            while True:
                piece = inflater.decompress(pending, INFLATE_STEP)
                pending = inflater.unconsumed_tail
                if not self._discarding:
                    kept.append(piece)
                    self._characters += len(piece.translate(None, _CONTINUATION))
                    # One more than the limit: the cut below may take a character off the end.
                    self._discarding = self._characters > self.limit + 1
                if not pending and len(piece) < INFLATE_STEP:  # a full step may leave output
                    break
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        out = b"".join(kept)
        # Over the limit, the rest is dropped: end on a whole character, so the text stays
        # valid UTF-8 and _CappedFrames, seeing more characters than the limit, refuses it.
        return _whole_characters(out) if self._discarding else out

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        tail = super().frame_inbound_complete(proto, fin)
        if not fin:
            return tail
        discarded, self._discarding, self._characters = self._discarding, False, 0
        return None if discarded and not isinstance(tail, CloseReason) else tail


def _whole_characters(data: bytes) -> bytes:
    """`data` without a UTF-8 sequence cut at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or the first byte of a sequence
            length = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if length <= back else data[:-back]
    return data


def cap_frames(limit: int, budget: MemoryBudget) -> bool:
    """Install the capped buffer and inflater in hypercorn (for every WebSocket it serves
    from now on). False, and hypercorn's own limit applies, if its internals are not what
    this expects."""
    buffer = getattr(ws_stream, "WebsocketBuffer", None)
    inflate = getattr(ws_stream, "PerMessageDeflate", None)
    expected = (
        buffer in (_CappedFrames, _CappedFrames.__mro__[1])
        and inflate in (_BoundedInflate, PerMessageDeflate)
        and hasattr(ws_stream.WSStream, "_handle_events")
        and all(hasattr(PerMessageDeflate(), a) for a in ("_decompressor", "_inbound_compressed"))
    )
    if not expected:
        log.warning("hypercorn's frame buffer changed: oversize frames get a bare close 1009")
        return False
    _BoundedInflate.limit = limit
    _CappedFrames.budget = budget
    ws_stream.WebsocketBuffer = _CappedFrames  # type: ignore[misc]
    setattr(ws_stream, "PerMessageDeflate", _BoundedInflate)  # noqa: B010 (not exported)
    return True
