"""The request queue of an endpoint, in Redis: one line per deployment, shared by every web process.

Two sorted sets per endpoint hold the same members (ticket ids): the line, scored by `priority * 10^10 + arrival`
(so a better priority goes first and equal priorities keep arrival order), and the arrivals, scored by arrival
(so what waited past the timeout is found with one range query). Every operation is one Lua script, atomic in
Redis: dropping expired entries, checking the length and joining cannot interleave with another process, so the
queue never grows past its maximum and each expired entry is dropped (and counted) exactly once.

The rules are those of autoscaling.queue (the replay bench's pure model): bounded, per-entry timeout, priority
classes, FIFO inside a class. With no REDIS_URL (`make run` without Redis) there is no shared store: `available()`
is False and the gateway answers 503 without queueing, as before. It lives in autoscaling (below serving) because
both sides read it: the gateway queues here, and the autoscaler reads `length` every tick as its live signal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

PRIORITY_SPAN = 10**10  # > any arrival in Unix seconds before the year 2286; keeps ms precision in a double

_EXPIRE = """
local cutoff = ARGV[1]
local dropped = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
if #dropped > 0 then
  redis.call('ZREM', KEYS[2], unpack(dropped))
  redis.call('ZREM', KEYS[1], unpack(dropped))
end
"""

# KEYS: line, arrivals. ARGV: cutoff, ticket, score, arrival, max length, ttl.
# Returns {position (1-based) or 0 when full, length after, dropped}.
_JOIN = (
    _EXPIRE
    + """
local length = redis.call('ZCARD', KEYS[1])
if length >= tonumber(ARGV[5]) then return {0, length, #dropped} end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {redis.call('ZRANK', KEYS[1], ARGV[2]) + 1, length + 1, #dropped}
"""
)

# KEYS: line, arrivals. ARGV: cutoff, ticket. Returns {position or 0 when not queued, length, dropped}.
_POSITION = (
    _EXPIRE
    + """
local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
return {rank and (rank + 1) or 0, redis.call('ZCARD', KEYS[1]), #dropped}
"""
)

# KEYS: line, arrivals. ARGV: cutoff, ticket. Returns {arrival as a string or false, length, dropped}.
_LEAVE = (
    _EXPIRE
    + """
local arrival = redis.call('ZSCORE', KEYS[2], ARGV[2])
if arrival then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return {arrival, redis.call('ZCARD', KEYS[1]), #dropped}
"""
)


# The requests in flight on the running replicas (a concurrency limit): a third sorted set, scored by when each
# request ends. KEYS: line, arrivals, in flight. ARGV: cutoff, now, ends at, member, limit, ttl, ticket or "".
# A request takes a slot when one is free and nobody waits before it: a new request only when the line is empty,
# a queued one (its ticket) only when its place is within the free slots. Returns {1 or 0, in flight, dropped}.
_ACQUIRE = (
    _EXPIRE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
local running = redis.call('ZCARD', KEYS[3])
local free = tonumber(ARGV[5]) - running
local ahead = 0
if ARGV[7] == '' then
  ahead = redis.call('ZCARD', KEYS[1])
else
  ahead = redis.call('ZRANK', KEYS[1], ARGV[7]) or 0
end
if free <= 0 or ahead >= free then return {0, running, #dropped} end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {1, running + 1, #dropped}
"""
)


@dataclass(frozen=True)
class Slot:
    taken: bool  # the request may run now
    in_flight: int  # requests running on the replicas (with this one when taken)
    dropped: int  # line entries dropped for waiting past the timeout (counted by the caller, once)


@dataclass(frozen=True)
class QueueState:
    position: int  # 1-based place in the line; 0: not in it (full, unknown or expired ticket)
    length: int  # entries in the line after the operation
    dropped: int  # entries this operation dropped for waiting past the timeout (counted by the caller, once)
    arrival: float | None = None  # when leaving: the ticket's arrival (Unix seconds)


def available() -> bool:
    return bool(settings.REDIS_URL)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


@cache
def _script(source: str):
    return _client(settings.REDIS_URL).register_script(source)


def _keys(deployment_id) -> list[str]:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    base = f"{prefix}:serving:queue:{deployment_id}"
    return [f"{base}:line", f"{base}:arrivals", f"{base}:inflight"]


def join(*, deployment_id, ticket: str, priority: int, now: float, max_length: int, timeout_s: int) -> QueueState:
    """Put a request in the line (after dropping what expired); position 0 when the line is full."""
    position, length, dropped = _script(_JOIN)(
        keys=_keys(deployment_id)[:2],
        args=[now - timeout_s, ticket, priority * PRIORITY_SPAN + now, now, max_length, 2 * timeout_s + 60],
    )
    return QueueState(int(position), int(length), int(dropped))


def position(*, deployment_id, ticket: str, now: float, timeout_s: int) -> QueueState:
    """Where a ticket stands now (0: not in the line: expired or never there)."""
    place, length, dropped = _script(_POSITION)(keys=_keys(deployment_id)[:2], args=[now - timeout_s, ticket])
    return QueueState(int(place), int(length), int(dropped))


def leave(*, deployment_id, ticket: str, now: float, timeout_s: int) -> QueueState:
    """Take a ticket out of the line to be served; arrival None when it was not there (expired or unknown)."""
    arrival, length, dropped = _script(_LEAVE)(keys=_keys(deployment_id)[:2], args=[now - timeout_s, ticket])
    return QueueState(0, int(length), int(dropped), float(arrival) if arrival else None)


def length(*, deployment_id) -> int:
    """Entries in the line now (expired ones included until the next operation drops them)."""
    return int(_client(settings.REDIS_URL).zcard(_keys(deployment_id)[0])) if available() else 0


def lengths(*, deployment_ids) -> dict:
    """{deployment id: entries in its line now} for many endpoints in one Redis round trip (a pipeline)."""
    ids = list(deployment_ids)
    if not ids or not available():
        return dict.fromkeys(ids, 0)
    pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
    for deployment_id in ids:
        pipe.zcard(_keys(deployment_id)[0])
    return {deployment_id: int(n) for deployment_id, n in zip(ids, pipe.execute(), strict=True)}


def acquire(*, deployment_id, ticket: str, now: float, hold_s: float, limit: int, timeout_s: int) -> Slot:
    """Take one of `limit` slots on the running replicas for `hold_s` seconds (the request's run), if one is free
    and no one waits before this request (a ticket keeps its place; a new request queues behind a non-empty line)."""
    member = ticket or uuid.uuid4().hex
    taken, running, dropped = _script(_ACQUIRE)(
        keys=_keys(deployment_id),
        args=[now - timeout_s, now, now + hold_s, member, limit, int(hold_s) + 60, ticket],
    )
    return Slot(bool(taken), int(running), int(dropped))
