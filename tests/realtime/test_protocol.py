"""Frames: client frames parsed strictly into values (never exceptions), server frames encoded once."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from careteam.events.streams import Stream
from careteam.events.tables import StreamEvent
from careteam.realtime import protocol
from careteam.realtime.protocol import (
    ErrorCode,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    parse_client_frame,
)

LIMIT = 1024


def parse(raw: str | bytes | None) -> protocol.ClientFrame | ProtocolError:
    return parse_client_frame(raw, max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("raw", "frame"),
    [
        ('{"type": "subscribe", "plan_id": 7, "after": 12}', Subscribe(Stream("plan", 7), 12)),
        ('{"type": "subscribe", "plan_id": 7, "after": 0}', Subscribe(Stream("plan", 7), 0)),
        ('{"type": "subscribe", "plan_id": 7, "after": null}', Subscribe(Stream("plan", 7), None)),
        ('{"type": "subscribe", "plan_id": 7}', Subscribe(Stream("plan", 7), None)),
        ('{"type": "unsubscribe", "plan_id": 2147483647}', Unsubscribe(Stream("plan", 2**31 - 1))),
        ('{"type": "subscribe", "stream": "plan:7", "after": 12}', Subscribe(Stream("plan", 7), 12)),
        ('{"type": "subscribe", "stream": "user:12", "after": 917}', Subscribe(Stream("user", 12), 917)),
        ('{"type": "subscribe", "stream": "conference:3"}', Subscribe(Stream("conference", 3), None)),
        ('{"type": "unsubscribe", "stream": "user:12"}', Unsubscribe(Stream("user", 12))),
        ('{"type": "ping"}', Ping()),
    ],
)
def test_valid_client_frames(raw: str, frame: object) -> None:
    assert parse(raw) == frame


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (None, ErrorCode.bad_frame),
        (b'{"type": "ping"}', ErrorCode.bad_frame),  # binary frames are refused
        ("", ErrorCode.bad_frame),
        ("{", ErrorCode.bad_frame),
        ("null", ErrorCode.bad_frame),
        ('["subscribe", 1]', ErrorCode.bad_frame),
        ("{}", ErrorCode.bad_frame),
        ('{"type": 1}', ErrorCode.bad_frame),
        ('{"type": "Subscribe", "plan_id": 1}', ErrorCode.unknown_type),
        ('{"type": "snapshot", "plan_id": 1}', ErrorCode.unknown_type),
        ('{"type": "subscribe"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": "1"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 1.0}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": true}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 0}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": -3}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 2147483648}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 1, "after": -1}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 1, "after": "5"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 1, "after": false}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 1, "after": 9223372036854775808}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "plan_id": 1, "since": 4}', ErrorCode.bad_frame),
        ('{"type": "unsubscribe", "plan_id": 1, "after": 4}', ErrorCode.bad_frame),
        ('{"type": "ping", "x": 1}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": "plan:7", "plan_id": 7}', ErrorCode.bad_frame),  # one or the other
        ('{"type": "subscribe", "stream": "plan"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": "plan:0"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": "plan:007"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": "plan:2147483648"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": "board:7"}', ErrorCode.bad_frame),  # no such kind
        ('{"type": "subscribe", "stream": "PLAN:7"}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": 7}', ErrorCode.bad_frame),
        ('{"type": "subscribe", "stream": "plan:7 "}', ErrorCode.bad_frame),
        ("[" * 600 + "]" * 600, ErrorCode.too_large),
    ],
)
def test_bad_client_frames_are_values_not_exceptions(raw: str | bytes | None, code: str) -> None:
    result = parse(raw)
    assert isinstance(result, ProtocolError) and result.code == code and result.detail


def test_deep_nesting_is_a_bad_frame_not_a_crash() -> None:
    result = parse_client_frame("[" * 5000 + "]" * 5000, max_bytes=1_000_000)
    assert isinstance(result, ProtocolError) and result.code == ErrorCode.bad_frame


def test_bad_after_keeps_the_stream_for_the_client() -> None:
    result = parse('{"type": "subscribe", "plan_id": 9, "after": -1}')
    assert isinstance(result, ProtocolError) and result.stream == Stream("plan", 9)
    result = parse('{"type": "subscribe", "stream": "user:4", "after": -1}')
    assert isinstance(result, ProtocolError) and result.stream == Stream("user", 4)


def test_size_is_counted_in_utf8_bytes() -> None:
    ascii_fill = '{"type": "ping", "x": "' + "a" * (LIMIT - 30) + '"}'
    assert len(ascii_fill.encode()) <= LIMIT
    fits = parse(ascii_fill)
    assert isinstance(fits, ProtocolError) and fits.code == ErrorCode.bad_frame  # fits; unknown field
    # Fewer characters than the limit, more bytes than it: 3 bytes per character.
    wide = '{"type": "ping", "x": "' + "€" * (LIMIT // 3) + '"}'
    assert len(wide) < LIMIT < len(wide.encode())
    assert parse(wide) == ProtocolError(ErrorCode.too_large, f"Frames are limited to {LIMIT} bytes.")


def test_event_frame_is_encoded_once_with_everything_a_viewer_applies() -> None:
    at = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    event = StreamEvent(
        id=1,
        stream_kind="plan",
        stream_id=3,
        seq=42,
        kind="task.moved",
        data={"id": 5, "status": "ready"},
        actor_id=8,
        at=at,
    )
    frame = protocol.event_frame(event)
    assert (frame.stream, frame.seq) == (Stream("plan", 3), 42)
    assert frame.message == {"type": "websocket.send", "text": frame.text}
    assert orjson.loads(frame.text) == {
        "type": "event",
        "stream": "plan:3",
        "plan_id": 3,
        "seq": 42,
        "kind": "task.moved",
        "data": {"id": 5, "status": "ready"},
        "actor_id": 8,
        "at": "2026-11-24T10:30:00+00:00",
    }


def test_an_inbox_event_names_its_stream_and_no_plan() -> None:
    at = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    event = StreamEvent(id=1, stream_kind="user", stream_id=12, seq=7, kind="inbox.test", data={}, at=at)
    body = orjson.loads(protocol.event_frame(event).text)
    assert body["stream"] == "user:12" and "plan_id" not in body and body["seq"] == 7


def test_server_frames() -> None:
    plan, inbox = Stream("plan", 3), Stream("user", 12)
    assert orjson.loads(protocol.snapshot(plan, 9, {"last_seq": 9})) == {
        "type": "snapshot",
        "stream": "plan:3",
        "plan_id": 3,
        "last_seq": 9,
        "board": {"last_seq": 9},
    }
    assert orjson.loads(protocol.subscribed(plan, 9)) == {
        "type": "subscribed",
        "stream": "plan:3",
        "plan_id": 3,
        "last_seq": 9,
    }
    assert orjson.loads(protocol.subscribed(inbox, 4)) == {
        "type": "subscribed",
        "stream": "user:12",
        "last_seq": 4,
    }
    assert orjson.loads(protocol.resync(plan, "too_slow")) == {
        "type": "resync",
        "stream": "plan:3",
        "plan_id": 3,
        "reason": "too_slow",
    }
    assert orjson.loads(protocol.resync(inbox, "log_pruned")) == {
        "type": "resync",
        "stream": "user:12",
        "reason": "log_pruned",
    }
    assert orjson.loads(protocol.error("not_found", "No such care plan.", plan)) == {
        "type": "error",
        "code": "not_found",
        "detail": "No such care plan.",
        "stream": "plan:3",
        "plan_id": 3,
    }
    assert "stream" not in orjson.loads(protocol.error("bad_frame", "x"))
    assert orjson.loads(protocol.PONG) == {"type": "pong"}
    assert orjson.loads(protocol.HEARTBEAT) == {"type": "heartbeat"}


def test_transport_limit_leaves_room_for_an_error_frame() -> None:
    assert protocol.transport_max_size(LIMIT) > LIMIT
