"""``RedisStore``: the cluster mode's job store, in Redis.

Key layout (every key starts with the prefix, ``gradsweep:`` by default)::

    sweep:{id}            hash    the record's fields: id name status spec(JSON) total done
                                  n_chunks chunks_done created_at [started_at] [finished_at]
                                  [error] — a field that is None is absent
    sweep:{id}:chunks     hash    chunk index → the chunk's trial records (orjson list)
    sweep:{id}:scores     hash    chunk index → the score summaries of its records
    sweep:{id}:results    string  the results document stored by ``finish``
    sweep:{id}:points     hash    grid point (zero-padded index) → its aggregate: every saved
                                  trial's (index, trial_value), ``encode_point``
    sweep:{id}:ranking    zset    the scored grid points (zero-padded index), by rank (the
                                  score, negated where higher is better): equal ranks order
                                  by index, so the first member is the best
    sweep:{id}:point_scores hash  scored grid point (zero-padded) → ``MergedPoint.summary``:
                                  its exact score and spread, trial count and first trials
    sweep:{id}:trials:{status}  zset  the trial index: "{index}:{chunk}" of each saved trial of
                                  that status, scored by its index
    sweep:{id}:ranked     zset    the ok trials, all of score 0, each member its rank (as an
                                  order-keeping unsigned integer), index and chunk in 40 hex
                                  digits, so ZRANGEBYLEX reads them best first (``TrialKey``)
    sweep:{id}:counts     hash    status → saved trials of that status
    sweep:{id}:moments    hash    chunk → the exact ``Moments`` delta of the score changes its
                                  save made (importance and marginal means: their sum)
    sweep:{id}:watch      string  the watchdog's clocks (``WatchState`` as a JSON list)
    sweeps                zset    every sweep id, scored by created_at
    status:{status}       zset    the ids of the sweeps in that status, scored by created_at;
                                  kept in step with the hashes' status field
    workers               zset    worker name, scored by its last heartbeat
    dataset:{id}          hash    an uploaded dataset: meta (its JSON description), data
                                  (``optimizers.datasets.canonical_bytes``)
    datasets              zset    every dataset id, scored by its upload time
    chunk_stats           hash    chunks, trials, seconds: totals over every chunk run;
                                  bucket:{bound} → chunks whose run time fell in that bucket
    leases                zset    "{sweep id}:{chunk}" of every leased chunk, by its expiry
                                  (Redis's own clock, ``TIME``, in seconds)
    lease_owners          hash    "{sweep id}:{chunk}" → the owner of its lease
    leases_of:{owner}     set     the "{sweep id}:{chunk}" an owner leased (pruned on renewal)

Every read-modify-write but two is a Lua script (create, mark_running, finish/cancel, the
retention's delete, the read of the best grid point, and every lease operation: the claim of
expired leases is one ZRANGEBYSCORE + ZREM in a script, so exactly one scanner gets each), so it
is atomic however many API replicas and workers share the store; reads that span keys use
pipelines. ``create`` with a limit sums the backlog over the sweeps in ``status:queued`` and
``status:running`` inside its script: one pass over the unfinished sweeps (at most about the
limit's number of them, since each holds a chunk of the backlog). ``watch_step``, whose rule
is Python, is an optimistic transaction instead (WATCH, read, MULTI … EXEC, again on a
conflict). ``save_chunk`` merges a chunk's trials into its grid points' scores in Python
(``merge_points``, exact ``mean_std``) from the aggregates it read, then one script (``_SAVE``)
checks that the chunk is not saved and that every point it merged still holds what was read —
a compare-and-set per point, not a WATCH of whole keys — and writes the chunk, the counters,
the aggregates, the ranking, the exact scores, the trial index and the chunk's moments delta
at once; if a point changed in between (another chunk with other seeds of the same points),
it writes nothing and the save merges again. Saves of disjoint points never contend, however
many workers there are: the importance sums are kept as one delta per chunk, added up when
read, rather than one shared value every save would rewrite.

The parsed specs a store has read are kept (``ByteBoundedCache``, ``SPEC_CACHE_BYTES`` of their
JSON): a spec never changes, so a status poll reads only the small fields.

Unreachable Redis: the client retries connection errors and timeouts (``BusyLoadingError``
included) with exponential backoff for about ``retry_seconds`` (``retry_policy``); what still
fails — and ``ReadOnlyError`` — is raised as ``StoreUnavailable``. With ``retry_seconds=0`` a
call makes one attempt with short socket timeouts and fails within about two seconds.

Values Redis refuses for good — over its size limits, or out of memory (``maxmemory``) — raise
``StoreRejected``; a value over ``max_value_bytes()`` is refused before it is sent (a value over
Redis's 512 MB limit would not even get an answer: Redis drops the connection, which looks like
an outage and would be retried forever).
"""

from __future__ import annotations

import builtins
import functools
import math
import struct
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import orjson
import redis
from redis.backoff import AbstractBackoff, ExponentialBackoff, NoBackoff
from redis.exceptions import (
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
    WatchError,
)
from redis.retry import Retry

from optimizers import SweepStatus
from optimizers.moments import Moments
from optimizers.records import ScoreSummary, TrialRecord
from optimizers.results import score_summaries
from optimizers.spec import SpecData

from .store import (
    BEST_TRIALS,
    SPEC_CACHE_BYTES,
    TRIAL_STATUSES,
    Backlogged,
    ByteBoundedCache,
    ChunkStats,
    FactorsCache,
    MergedPoint,
    StoredBest,
    StoreRejected,
    StoreUnavailable,
    SweepRecord,
    TrialKey,
    TrialOrder,
    TrialRef,
    WatchState,
    WatchStep,
    best_of,
    check_value_size,
    chunk_seconds_bucket,
    decide_watch,
    merge_moments,
    merge_points,
    scoring_of,
    touched_points,
    trial_refs,
)

#: Backoff of the client's retries: the n-th retry sleeps min(RETRY_CAP, RETRY_BASE · 2ⁿ)
#: seconds (0.1, 0.2, 0.4, 0.8, then 1 s each), so the store reconnects within a second of
#: Redis coming back.
RETRY_BASE = 0.05
RETRY_CAP = 1.0
#: Workers silent this long are forgotten at the next heartbeat (keeps ``workers`` small).
FORGET_WORKER_SECONDS = 86400.0
#: Seconds between the client's PINGs on a connection that has been idle.
HEALTH_CHECK_INTERVAL = 30
#: Candidates deleted per pipeline by ``delete_finished_before``.
DELETE_BATCH = 500

_UNFINISHED = tuple(s for s in SweepStatus if not s.is_finished())
_FINISHED = tuple(s for s in SweepStatus if s.is_finished())
_UNAVAILABLE = (ConnectionError, TimeoutError, ReadOnlyError)  # BusyLoadingError: a ConnectionError
#: Parts of Redis error replies that mean "this value is refused", whatever the command.
#: (redis-py raises "OOM …" as ``OutOfMemoryError`` without its code; a Lua script's keeps it.)
_REJECTED = ("exceeds maximum allowed size", "oom command not allowed", "used memory >",
             "too big", "invalid bulk length")

# KEYS: sweep hash, sweeps, status set, status:queued, status:running.
# ARGV: id, created_at, limit ('' for none), the sweep keys' start (prefix .. 'sweep:'), n_chunks,
# field, value, field, value, …
# Returns {1, backlog} stored, {0, 0} the id exists (kept), {2, backlog} refused. The backlog is
# summed over the unfinished sweeps' hashes, which are not in KEYS (their ids are only known
# from the status sets): fine on one Redis server, which is what the store runs on.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local pending = 0
if ARGV[3] ~= '' then
  for i = 4, 5 do
    for _, id in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      local counts = redis.call('HMGET', ARGV[4] .. id, 'n_chunks', 'chunks_done')
      pending = pending + (tonumber(counts[1]) or 0) - (tonumber(counts[2]) or 0)
    end
  end
  if pending > 0 and pending + tonumber(ARGV[5]) > tonumber(ARGV[3]) then
    return {2, pending}
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return {1, pending}
"""

# KEYS: ranking zset, point_scores hash, points hash. ARGV: with its aggregate (1/0).
# → {point, summary, aggregate or false} | nil
_BEST = """
local top = redis.call('ZRANGE', KEYS[1], 0, 0)
if #top == 0 then return false end
local blob = false
if ARGV[1] == '1' then blob = redis.call('HGET', KEYS[3], top[1]) end
return {top[1], redis.call('HGET', KEYS[2], top[1]), blob}
"""

# KEYS: sweep hash, status:queued, status:running. ARGV: id, now.
_MARK_RUNNING = """
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[1], 'created_at'), ARGV[1])
return 1
"""

# KEYS: sweep hash, results, status:queued, status:running, status:{new status}.
# ARGV: id, new status, now, has results (1/0), results, has error (1/0), error.
_FINISH = """
local old = redis.call('HGET', KEYS[1], 'status')
local from
if old == 'queued' then from = KEYS[3] elseif old == 'running' then from = KEYS[4]
else return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished_at', ARGV[3])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'error', ARGV[7])
else redis.call('HDEL', KEYS[1], 'error') end
if ARGV[4] == '1' then redis.call('SET', KEYS[2], ARGV[5]) else redis.call('DEL', KEYS[2]) end
redis.call('ZREM', from, ARGV[1])
redis.call('ZADD', KEYS[5], redis.call('HGET', KEYS[1], 'created_at'), ARGV[1])
return 1
"""

# KEYS: sweep hash, sweeps, status:succeeded, status:failed, status:cancelled, then every other
# key of the sweep (``RedisStore._sweep_keys``).
# ARGV: id, before.
_DELETE_IF_FINISHED_BEFORE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'succeeded' and status ~= 'failed' and status ~= 'cancelled' then return 0 end
local finished_at = tonumber(redis.call('HGET', KEYS[1], 'finished_at'))
if finished_at == nil or finished_at >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1], unpack(KEYS, 6))
for i = 2, 5 do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

# Lease scripts. The time is Redis's (``TIME``): one clock for every worker and API replica.
_NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"

# KEYS: leases, lease_owners. ARGV: member, owner, seconds, leases_of: prefix.
_LEASE = _NOW + """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old ~= ARGV[2] then redis.call('SREM', ARGV[4] .. old, ARGV[1]) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', ARGV[4] .. ARGV[2], ARGV[1])
return 1
"""

# KEYS: leases, lease_owners, leases_of:{owner}. ARGV: owner, seconds, member, member, …
# → leases renewed (of the members named; the owner's set is pruned of leases taken over)
_RENEW = _NOW + """
local n = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
    n = n + 1
  end
end
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('HGET', KEYS[2], member) ~= ARGV[1] then redis.call('SREM', KEYS[3], member) end
end
return n
"""

# KEYS: leases, lease_owners, leases_of:{owner}. ARGV: member, owner. → 1 released, 0 not held
_RELEASE = """
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# KEYS: leases, lease_owners, leases_of:{owner}. ARGV: owner. → the members released
_RELEASE_OWNER = """
local released = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('HGET', KEYS[2], member) == ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
    redis.call('HDEL', KEYS[2], member)
    released[#released + 1] = member
  end
end
redis.call('DEL', KEYS[3])
return released
"""

# KEYS: leases, lease_owners. ARGV: limit, leases_of: prefix. → the members claimed
_CLAIM_EXPIRED = _NOW + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, ARGV[1])
for _, member in ipairs(expired) do
  local owner = redis.call('HGET', KEYS[2], member)
  if owner then redis.call('SREM', ARGV[2] .. owner, member) end
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
end
return expired
"""

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class DeadlineRetry(Retry):
    """redis-py's ``Retry`` that also starts no retry once ``seconds`` have passed.

    redis-py nests its retries: a command's retry loop reconnects through the connection's own
    retry loop (and its health check's). Against a refused port every attempt is instant and
    the retry count bounds the time; against a Redis that accepts but does not answer (hung,
    or a network that drops packets) every attempt costs a socket timeout and the nested
    loops multiply. The deadline, set by the outermost loop of a call and shared by the loops
    nested in it, bounds a call to about ``seconds`` plus one attempt either way.

    Each connection has its own copy (redis-py deep-copies the policy) and serves one thread at
    a time, so the deadline needs no lock.
    """

    def __init__(self, backoff: AbstractBackoff, retries: int, seconds: float) -> None:
        super().__init__(backoff, retries)
        self.seconds = seconds
        self._deadline: float | None = None

    def call_with_retry(self, do: Callable[[], T],
                        fail: Callable[[Exception], Any] | Callable[[Exception, int], Any],
                        is_retryable: Callable[[Exception], bool] | None = None,
                        with_failure_count: bool = False) -> T:
        outermost = self._deadline is None
        if outermost:
            self._deadline = time.monotonic() + self.seconds
        deadline = cast(float, self._deadline)

        def retryable(error: Exception) -> bool:
            if is_retryable is not None and not is_retryable(error):
                return False
            return time.monotonic() < deadline

        try:
            return super().call_with_retry(do, fail, retryable, with_failure_count)
        finally:
            if outermost:
                self._deadline = None


def retry_policy(retry_seconds: float) -> Retry:
    """The client's retries: exponential backoff whose sleeps add up to ``retry_seconds``.

    The n-th retry sleeps ``min(RETRY_CAP, RETRY_BASE · 2ⁿ)`` s; the number of retries is the
    fewest whose sleeps reach ``retry_seconds`` (60 s → 63 retries, 61.5 s of sleep; 1 s → 4
    retries; 0 → no retry at all). Attempts against a refused port (a restarting Redis) cost
    next to nothing, so the sleeps are the time a call keeps trying; the deadline of
    ``DeadlineRetry`` bounds it when attempts cost socket timeouts instead.
    """
    retries, slept = 0, 0.0
    while slept < retry_seconds:
        retries += 1
        slept += min(RETRY_CAP, RETRY_BASE * 2 ** retries)
    if retries == 0:
        return Retry(NoBackoff(), 0)
    return DeadlineRetry(ExponentialBackoff(cap=RETRY_CAP, base=RETRY_BASE), retries,
                         retry_seconds)


def _rejected(error: ResponseError) -> bool:
    """Whether Redis's error reply refuses a value for good (too big, out of memory)."""
    message = str(error).lower()
    return isinstance(error, OutOfMemoryError) or any(part in message for part in _REJECTED)


def _translating(method: Callable[P, R]) -> Callable[P, R]:
    """Raise what is left of Redis's connectivity errors, after the retries, as
    ``StoreUnavailable``, and its refusals of a value as ``StoreRejected``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except _UNAVAILABLE as error:
            raise StoreUnavailable(f"Redis store: {error}") from error
        except ResponseError as error:  # after _UNAVAILABLE: ReadOnlyError is a ResponseError
            if _rejected(error):
                raise StoreRejected(f"Redis store refused a value: {error}") from error
            raise

    return wrapper


def _to_hash(record: SweepRecord) -> dict[str, bytes | str | int]:
    """A record as its hash fields (floats as their exact ``repr``; None fields left out)."""
    fields: dict[str, bytes | str | int] = {
        "id": record.id, "name": record.name, "status": record.status.value,
        "spec": orjson.dumps(record.spec), "total": record.total, "done": record.done,
        "n_chunks": record.n_chunks, "chunks_done": record.chunks_done,
        "created_at": repr(float(record.created_at)), "trial_steps": record.trial_steps}
    for name, value in (("started_at", record.started_at),
                        ("finished_at", record.finished_at)):
        if value is not None:
            fields[name] = repr(float(value))
    if record.error is not None:
        fields["error"] = record.error
    return fields


#: The hash fields of a record but its spec: the spec never changes once stored, so each store
#: parses it once per sweep (``RedisStore._spec``) instead of on every status poll.
_FIELDS = (b"id", b"name", b"status", b"total", b"done", b"n_chunks", b"chunks_done",
           b"created_at", b"started_at", b"finished_at", b"error", b"trial_steps")


def _point(setting: int) -> str:
    """A grid point's name in ``points``, ``ranking`` and ``point_scores``: its index
    zero-padded, so that members of equal score sort by index."""
    return f"{setting:020d}"


def _from_hash(fields: Mapping[bytes, Any]) -> SweepRecord:
    """A record from its hash fields (``spec`` may be already parsed)."""

    def optional_float(name: bytes) -> float | None:
        value = fields.get(name)
        return None if value is None else float(value)

    error = fields.get(b"error")
    return SweepRecord(
        id=fields[b"id"].decode(), name=fields[b"name"].decode(),
        status=SweepStatus(fields[b"status"].decode()), spec=_parsed(fields[b"spec"]),
        total=int(fields[b"total"]), done=int(fields[b"done"]),
        n_chunks=int(fields[b"n_chunks"]), chunks_done=int(fields[b"chunks_done"]),
        created_at=float(fields[b"created_at"]), started_at=optional_float(b"started_at"),
        finished_at=optional_float(b"finished_at"),
        error=None if error is None else error.decode(),
        trial_steps=int(fields.get(b"trial_steps") or 0))


def _parsed(spec: bytes | SpecData) -> SpecData:
    return cast(SpecData, orjson.loads(spec)) if isinstance(spec, bytes) else spec


def _sortable(rank: float) -> int:
    """A float as an unsigned 64-bit integer of the same order (IEEE 754 bits, the sign bit
    flipped for positives, every bit for negatives)."""
    bits = int(struct.unpack(">Q", struct.pack(">d", rank))[0])
    return bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63


def _unsortable(bits: int) -> float:
    """``_sortable`` reversed."""
    bits = bits ^ 1 << 63 if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
    return float(struct.unpack(">d", struct.pack(">Q", bits))[0])


def _same(value: bytes | None) -> bytes | None:
    return value


def _ranked(ref: TrialRef) -> bytes:
    """An ok trial's member of ``ranked`` (all of score 0, so ordered as bytes): its rank,
    index and chunk as big-endian integers, in hex — the order of (rank, index), in text that
    ``Bulk`` can carry."""
    return struct.pack(">QQI", _sortable(ref.rank), ref.index, ref.chunk).hex().encode()


def _unranked(member: bytes) -> TrialRef:
    bits, index, chunk = struct.unpack(">QQI", bytes.fromhex(member.decode()))
    return TrialRef(index, chunk, "ok", _unsortable(bits))


# KEYS: sweep hash, chunks, scores, points, moments, then the keys of a ``Bulk``.
# ARGV: chunk, records, summaries, trials, add_chunks, trial_steps, the merged points' names
# and the values they were read with ("" for none) as newline-terminated pairs, the chunk's
# moments delta ("" for none), then the Bulk's arguments.
# Returns chunks_done after the save; -1 the chunk is saved already, -2 no such sweep,
# -3 a merged point changed since it was read (merge again).
_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return -1 end
local name = nil
for item in string.gmatch(ARGV[7], '([^\\n]*)\\n') do
  if name == nil then
    name = item
  else
    if (redis.call('HGET', KEYS[4], name) or '') ~= item then return -3 end
    name = nil
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'done', ARGV[4])
local done = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
if ARGV[5] ~= '0' then redis.call('HINCRBY', KEYS[1], 'n_chunks', ARGV[5]) end
if ARGV[6] ~= '0' then redis.call('HINCRBY', KEYS[1], 'trial_steps', ARGV[6]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[8]) end
for i = 6, #KEYS do
  local command, batch = ARGV[2 * i - 3], {}
  for item in string.gmatch(ARGV[2 * i - 2], '([^\\n]*)\\n') do
    batch[#batch + 1] = item
    if #batch == 1000 then
      redis.call(command, KEYS[i], unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call(command, KEYS[i], unpack(batch)) end
end
return done
"""
_CONFLICT = -3


class Bulk:
    """Writes of many elements to a few keys, carried by the ``_SAVE`` script: each key's
    command with its arguments joined by newlines (the client packs a handful of strings, not
    one argument per element). Arguments come in pairs for HSET, ZADD and HINCRBY, so the
    script's batches of 1,000 never split a pair."""

    def __init__(self) -> None:
        self.keys: builtins.list[str] = []
        self.args: builtins.list[bytes] = []

    def add(self, key: str, command: str, items: Sequence[bytes]) -> None:
        """Queue ``command key *items``."""
        if items:
            self.keys.append(key)
            self.args += (command.encode(), b"\n".join(items) + b"\n")

    def send(self, pipe: Any, per_command: int = 2000) -> None:
        """Queue the writes in ``pipe`` as plain commands instead (outside ``_SAVE``), at most
        ``per_command`` arguments to a command (an even number: pairs stay whole)."""
        for key, command, items in zip(self.keys, self.args[::2], self.args[1::2],
                                       strict=True):
            parts = items.split(b"\n")[:-1]
            for start in range(0, len(parts), per_command):
                pipe.execute_command(command.decode(), key, *parts[start:start + per_command])



def _member(sweep_id: str, chunk: int) -> str:
    """A chunk's name in the lease keys."""
    return f"{sweep_id}:{int(chunk)}"


def _unmember(member: bytes) -> tuple[str, int]:
    sweep_id, chunk = member.decode().rsplit(":", 1)
    return sweep_id, int(chunk)


class RedisStore:
    """The job store in Redis (see the module docstring for the key layout).

    Args:
      url: ``redis://host:port/db`` of the store.
      prefix: the start of every key.
      retry_seconds: how long a call keeps retrying while Redis is unreachable before it
        raises ``StoreUnavailable``; 0 fails fast (one attempt, short timeouts).
    """

    def __init__(self, url: str, prefix: str = "gradsweep:",
                 retry_seconds: float = 60.0) -> None:
        client = redis.Redis.from_url(
            url, decode_responses=False,
            socket_connect_timeout=min(3.0, max(1.0, retry_seconds)),
            socket_timeout=min(5.0, max(2.0, retry_seconds)),
            health_check_interval=HEALTH_CHECK_INTERVAL,
            retry=retry_policy(retry_seconds), retry_on_error=[ConnectionError, TimeoutError])
        self._attach(client, prefix, owns_client=True)

    @classmethod
    def from_client(cls, client: redis.Redis, prefix: str = "gradsweep:") -> RedisStore:
        """A store on an existing client (made with ``decode_responses=False``); ``close``
        leaves that client open."""
        store = cls.__new__(cls)
        store._attach(client, prefix, owns_client=False)
        return store

    def _attach(self, client: redis.Redis, prefix: str, *, owns_client: bool) -> None:
        self.prefix = prefix
        self._redis = client
        self._owns_client = owns_client
        self._create = client.register_script(_CREATE)
        self._best = client.register_script(_BEST)
        self._mark_running = client.register_script(_MARK_RUNNING)
        self._finish = client.register_script(_FINISH)
        self._delete = client.register_script(_DELETE_IF_FINISHED_BEFORE)
        self._save = client.register_script(_SAVE)
        self._lease = client.register_script(_LEASE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._release_owner = client.register_script(_RELEASE_OWNER)
        self._claim_expired = client.register_script(_CLAIM_EXPIRED)
        self._specs: ByteBoundedCache[str, SpecData] = ByteBoundedCache(SPEC_CACHE_BYTES)
        self._factors = FactorsCache()

    # -- keys --------------------------------------------------------------------------------

    def _sweep(self, sweep_id: str, part: str = "") -> str:
        """``sweep:{id}``, or ``sweep:{id}:{part}``."""
        return f"{self.prefix}sweep:{sweep_id}{':' + part if part else ''}"

    #: The parts of a sweep's keys besides its hash (``_sweep(id, part)``).
    PARTS = ("chunks", "results", "scores", "points", "ranking", "point_scores", "watch",
             "blobs", "ranked", "counts", "moments", *(f"trials:{status}" for status in TRIAL_STATUSES))

    def _sweep_keys(self, sweep_id: str) -> builtins.list[str]:
        """Every key of the sweep but its hash."""
        return [self._sweep(sweep_id, part) for part in self.PARTS]

    def _status(self, status: SweepStatus) -> str:
        return f"{self.prefix}status:{status.value}"

    @property
    def _sweeps(self) -> str:
        return f"{self.prefix}sweeps"

    @property
    def _workers(self) -> str:
        return f"{self.prefix}workers"

    @property
    def _chunk_stats(self) -> str:
        return f"{self.prefix}chunk_stats"

    def _hashes(self, ids: builtins.list[bytes]) -> builtins.list[SweepRecord]:
        """The records of ``ids`` in that order, fetched in one pipeline (gone ones left out)."""
        pipe = self._redis.pipeline(transaction=False)
        for sweep_id in ids:
            pipe.hmget(self._sweep(sweep_id.decode()), _FIELDS)
        rows = [dict(zip(_FIELDS, values)) for values in pipe.execute()]
        found = [(row, self._spec(row[b"id"].decode())) for row in rows if row[b"id"] is not None]
        return [_from_hash({**{k: v for k, v in row.items() if v is not None}, b"spec": spec})
                for row, spec in found if spec is not None]

    def _spec(self, sweep_id: str) -> SpecData | None:
        """The sweep's parsed spec, from this store's cache or Redis (it never changes); None
        if there is no such sweep (any more)."""
        spec = self._specs.get(sweep_id)
        if spec is not None:
            return spec
        blob = cast(bytes | None, self._redis.hget(self._sweep(sweep_id), "spec"))
        if blob is None:
            return None
        spec = _parsed(blob)
        self._specs.put(sweep_id, spec, len(blob))
        return spec

    # -- JobStore ----------------------------------------------------------------------------

    @_translating
    def ping(self) -> None:
        """Return if Redis answers; raise ``StoreUnavailable`` otherwise."""
        self._redis.ping()

    @_translating
    def create(self, record: SweepRecord, max_pending_chunks: int | None = None) -> bool:
        """Store a new sweep as given, True; a sweep with the same id already stored is kept as
        is, False. With ``max_pending_chunks``, raise ``Backlogged`` instead when the backlog
        and the sweep's chunks exceed it (``workers.store.over_limit``), in the same script."""
        fields = [item for pair in _to_hash(record).items() for item in pair]
        limit = "" if max_pending_chunks is None else int(max_pending_chunks)
        code, pending = self._create(
            keys=[self._sweep(record.id), self._sweeps, self._status(record.status),
                  self._status(SweepStatus.QUEUED), self._status(SweepStatus.RUNNING)],
            args=[record.id, repr(float(record.created_at)), limit, self._sweep(""),
                  record.n_chunks, *fields])
        if int(code) == 2:
            assert max_pending_chunks is not None
            raise Backlogged(int(pending), record.n_chunks, max_pending_chunks)
        return int(code) == 1

    @_translating
    def get(self, sweep_id: str) -> SweepRecord | None:
        """The sweep's snapshot, or None."""
        values = cast(builtins.list[bytes | None],
                      self._redis.hmget(self._sweep(sweep_id), _FIELDS))
        if values[0] is None:
            return None
        fields = {k: v for k, v in zip(_FIELDS, values) if v is not None}
        spec = self._spec(sweep_id)
        return None if spec is None else _from_hash({**fields, b"spec": spec})

    @_translating
    def list(self, status: SweepStatus | None = None, limit: int = 50,
             offset: int = 0) -> tuple[builtins.list[SweepRecord], int]:
        """A page of sweeps, newest first (ties: greater id first); and how many match."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        key = self._sweeps if status is None else self._status(status)
        if not limit:
            return [], int(self._redis.zcard(key))
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrevrange(key, offset, offset + limit - 1)
        pipe.zcard(key)
        ids, total = pipe.execute()
        return self._hashes(ids), int(total)

    @_translating
    def mark_running(self, sweep_id: str, now: float) -> bool:
        """queued → running with ``started_at = now``; False if it was not queued."""
        return bool(self._mark_running(
            keys=[self._sweep(sweep_id), self._status(SweepStatus.QUEUED),
                  self._status(SweepStatus.RUNNING)],
            args=[sweep_id, repr(float(now))]))

    @_translating
    def save_chunk(self, sweep_id: str, chunk: int, records: Sequence[TrialRecord],
                   add_chunks: int = 0, trial_steps: int = 0) -> int | None:
        """Store a chunk once (and grow ``n_chunks`` by ``add_chunks``); ``chunks_done`` after
        a first save, None otherwise (or if the sweep is unknown). One ``_SAVE`` script, which
        checks that the grid points it merged are still as read (see the module docstring)."""
        sweep, chunks = self._sweep(sweep_id), self._sweep(sweep_id, "chunks")
        points, moments = self._sweep(sweep_id, "points"), self._sweep(sweep_id, "moments")
        blob, scores = orjson.dumps(records), orjson.dumps(score_summaries(records))
        check_value_size(f"chunk {chunk} of sweep {sweep_id}", blob)
        spec = self._spec(sweep_id)
        if spec is None:  # no such sweep (or deleted)
            return None
        metric, n_settings = scoring_of(spec)
        touched = touched_points(records, n_settings)
        trials = trial_refs(records, chunk, metric)
        factors = self._factors.get(sweep_id, spec)
        while True:
            names = [_point(setting) for setting in touched]
            stored = dict(zip(touched, cast(builtins.list[bytes | None], self._redis.hmget(
                points, names)))) if touched else {}
            merged = merge_points(stored, records, metric, n_settings)
            expected = [x for name, setting in zip(names, touched, strict=True)
                        for x in (name.encode(), stored[setting] or b"")]
            delta = merge_moments(None, factors, merged)  # this chunk's delta alone
            bulk = Bulk()
            self._write_points(bulk, sweep_id, merged)
            self._write_trials(bulk, sweep_id, trials)
            done = int(self._save(
                keys=[sweep, chunks, self._sweep(sweep_id, "scores"), points, moments,
                      *bulk.keys],
                args=[int(chunk), blob, scores, len(records), int(add_chunks), int(trial_steps),
                      b"\n".join(expected) + b"\n" if expected else b"", delta or b"",
                      *bulk.args]))
            if done == _CONFLICT:  # another save changed a point this one merged: again
                continue
            return None if done < 0 else done

    def _write_points(self, bulk: Bulk, sweep_id: str,
                      merged: builtins.list[MergedPoint]) -> None:
        """Add to ``save_chunk``'s bulk write the merged grid points' aggregates, ranking and
        exact scores."""
        if not merged:
            return
        ranking, exact = self._sweep(sweep_id, "ranking"), self._sweep(sweep_id, "point_scores")
        names = [_point(p.setting).encode() for p in merged]
        bulk.add(self._sweep(sweep_id, "points"), "HSET",
                 [x for name, p in zip(names, merged, strict=True) for x in (name, p.blob)])
        scored = [(name, p) for name, p in zip(names, merged, strict=True) if p.score is not None]
        unscored = [name for name, p in zip(names, merged, strict=True) if p.score is None]
        if scored:
            bulk.add(ranking, "ZADD", [x for name, p in scored
                                       for x in (repr(cast(float, p.rank)).encode(), name)])
            bulk.add(exact, "HSET", [x for name, p in scored for x in (name, p.summary)])
        if unscored:
            bulk.add(ranking, "ZREM", unscored)
            bulk.add(exact, "HDEL", unscored)

    def _write_trials(self, bulk: Bulk, sweep_id: str, trials: builtins.list[TrialRef],
                      counts: bool = True) -> None:
        """Add to ``save_chunk``'s bulk write a chunk's trials into the trial index: by index
        per status, the ok ones by rank, and (``counts``) the counts per status."""
        by_status: dict[str, builtins.list[bytes]] = {}
        ranked: builtins.list[bytes] = []
        for ref in trials:
            by_status.setdefault(ref.status, []).extend(
                (b"%d" % ref.index, b"%d:%d" % (ref.index, ref.chunk)))
            if ref.status == "ok":
                ranked += (b"0", _ranked(ref))
        for status, items in by_status.items():
            bulk.add(self._sweep(sweep_id, f"trials:{status}"), "ZADD", items)
            if counts:
                bulk.add(self._sweep(sweep_id, "counts"), "HINCRBY",
                         [status.encode(), b"%d" % (len(items) // 2)])
        if ranked:
            bulk.add(self._sweep(sweep_id, "ranked"), "ZADD", ranked)

    @_translating
    def trial_page(self, sweep_id: str, order: TrialOrder, status: str | None,
                   after: TrialKey | None, limit: int) -> builtins.list[TrialRef]:
        """A page of the trial index. By index: ZRANGEBYSCORE of the status's set, or of each
        status's, merged. By score: the ok trials (the only ones with a value) by ZRANGEBYLEX
        of ``ranked``, then the others by index — a trial without a value ranks inf."""
        statuses = list(TRIAL_STATUSES) if status is None else [status]
        if order == "index":
            return self._by_index(sweep_id, statuses, -1 if after is None else after.index,
                                  limit)
        page: builtins.list[TrialRef] = []
        if "ok" in statuses and (after is None or after.rank < math.inf):
            start = b"-" if after is None else b"(" + _ranked(
                TrialRef(after.index, 0xFFFFFFFF, "ok", after.rank))
            members = cast(builtins.list[bytes], self._redis.zrangebylex(
                self._sweep(sweep_id, "ranked"), start, b"+", 0, limit))
            page = [_unranked(member) for member in members]
        if len(page) < limit:
            rest = [s for s in statuses if s != "ok"]
            since = -1 if after is None or after.rank < math.inf else after.index
            page += self._by_index(sweep_id, rest, since, limit - len(page))
        return page

    def _by_index(self, sweep_id: str, statuses: builtins.list[str], after: int,
                  limit: int) -> builtins.list[TrialRef]:
        """The first ``limit`` trials of these statuses with an index above ``after``."""
        if not statuses or limit <= 0:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for status in statuses:
            pipe.zrangebyscore(self._sweep(sweep_id, f"trials:{status}"), f"({after}", "+inf",
                               start=0, num=limit)
        refs = []
        for status, members in zip(statuses, pipe.execute(), strict=True):
            for member in members:
                index, chunk = member.split(b":")
                refs.append(TrialRef(int(index), int(chunk), status, math.inf))
        refs.sort(key=lambda ref: ref.index)
        return refs[:limit]  # the ranks are not read: an index page does not need them

    @_translating
    def reindex_trials(self, sweep_id: str) -> int:
        """The trial index rebuilt from the chunks' summaries, a chunk at a time (ZADD of the
        same members changes nothing), then the counts set from the sets' sizes."""
        spec = self._spec(sweep_id)
        if spec is None:
            return 0
        metric, _ = scoring_of(spec)
        for chunk, scores in self._redis.hscan_iter(self._sweep(sweep_id, "scores")):
            bulk = Bulk()
            self._write_trials(bulk, sweep_id, trial_refs(orjson.loads(scores), int(chunk),
                                                          metric), counts=False)
            pipe = self._redis.pipeline(transaction=False)
            bulk.send(pipe)
            pipe.execute()
        pipe = self._redis.pipeline(transaction=False)
        for status in TRIAL_STATUSES:
            pipe.zcard(self._sweep(sweep_id, f"trials:{status}"))
        sizes = dict(zip(TRIAL_STATUSES, (int(n) for n in pipe.execute()), strict=True))
        self._redis.delete(self._sweep(sweep_id, "counts"))
        if any(sizes.values()):
            self._redis.hset(self._sweep(sweep_id, "counts"),
                             mapping={status: n for status, n in sizes.items() if n})
        return sum(sizes.values())

    @_translating
    def trial_counts(self, sweep_id: str) -> dict[str, int]:
        """Saved trials per status (statuses with none left out)."""
        counts = cast(dict[bytes, bytes], self._redis.hgetall(self._sweep(sweep_id, "counts")))
        return {status.decode(): int(n) for status, n in counts.items() if int(n) > 0}

    @_translating
    def count_saved(self, sweep_id: str, lo: int, hi: int) -> int:
        """Saved trials with ``lo <= index < hi``: a ZCOUNT of each status's set."""
        pipe = self._redis.pipeline(transaction=False)
        for status in TRIAL_STATUSES:
            pipe.zcount(self._sweep(sweep_id, f"trials:{status}"), lo, f"({hi}")
        return sum(int(n) for n in pipe.execute())

    @_translating
    def moments(self, sweep_id: str) -> bytes | None:
        """The sweep's exact ``Moments``: the sum of its chunks' deltas, as ``save_chunk``
        keeps them (one field per chunk: saves never contend for one shared value)."""
        deltas = cast(dict[bytes, bytes], self._redis.hgetall(self._sweep(sweep_id, "moments")))
        spec = self._spec(sweep_id) if deltas else None
        if spec is None:
            return None
        factors = self._factors.get(sweep_id, spec)
        total = Moments(factors)
        for delta in deltas.values():
            total.add(Moments.from_bytes(delta, factors))
        return total.to_bytes()

    @_translating
    def top_points(self, sweep_id: str, limit: int) -> builtins.list[StoredBest]:
        """The best ``limit`` grid points: the first members of ``ranking``, with their
        summaries and aggregates."""
        points = cast(builtins.list[bytes], self._redis.zrange(
            self._sweep(sweep_id, "ranking"), 0, limit - 1))
        if not points:
            return []
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(self._sweep(sweep_id, "point_scores"), points)
        pipe.hmget(self._sweep(sweep_id, "points"), points)
        summaries, blobs = pipe.execute()
        return [best_of(int(point), summary, functools.partial(_same, blob), sys.maxsize)
                for point, summary, blob in zip(points, summaries, blobs, strict=True)
                if summary is not None]

    @_translating
    def best(self, sweep_id: str, max_trials: int = BEST_TRIALS) -> StoredBest | None:
        """The lowest-scoring grid point so far (ties: the lowest index): the ranking's first
        member, read with its summary (and, for more than its first trials, its aggregate) in
        one script."""
        found = self._best(keys=[self._sweep(sweep_id, "ranking"),
                                 self._sweep(sweep_id, "point_scores"),
                                 self._sweep(sweep_id, "points")],
                           args=[int(max_trials > BEST_TRIALS)])
        if not found:
            return None
        point, summary, blob = cast(builtins.list[bytes | None], found)
        assert point is not None and summary is not None
        return best_of(int(point), summary, lambda: blob, max_trials)

    @_translating
    def saved_chunks(self, sweep_id: str) -> set[int]:
        """The indices of the chunks stored so far."""
        keys = cast(builtins.list[bytes], self._redis.hkeys(self._sweep(sweep_id, "chunks")))
        return {int(key) for key in keys}

    @_translating
    def chunk_records(self, sweep_id: str,
                      chunks: Iterable[int]) -> builtins.list[TrialRecord]:
        """The trial records of these stored chunks, in chunk order (others are skipped)."""
        return self._chunk_lists(self._sweep(sweep_id, "chunks"), chunks)

    @_translating
    def chunk_scores(self, sweep_id: str,
                     chunks: Iterable[int]) -> builtins.list[ScoreSummary]:
        """The score summaries of these stored chunks, in chunk order (others are skipped)."""
        return self._chunk_lists(self._sweep(sweep_id, "scores"), chunks)

    def _chunk_lists(self, key: str, chunks: Iterable[int]) -> builtins.list[Any]:
        """The lists stored in hash ``key`` under these chunks, concatenated in chunk order
        (the JSON the store wrote: records or their summaries, as the caller's type says)."""
        wanted = sorted({int(chunk) for chunk in chunks})
        if not wanted:
            return []
        blobs = cast(builtins.list[bytes | None], self._redis.hmget(key, wanted))
        return [item for blob in blobs if blob is not None for item in orjson.loads(blob)]

    @_translating
    def records(self, sweep_id: str) -> builtins.list[TrialRecord]:
        """Every trial record of every stored chunk (in chunk order)."""
        chunks = cast(dict[bytes, bytes], self._redis.hgetall(self._sweep(sweep_id, "chunks")))
        return [record for _, blob in sorted(chunks.items(), key=lambda item: int(item[0]))
                for record in orjson.loads(blob)]

    @_translating
    def put_blobs(self, sweep_id: str, blobs: Mapping[str, bytes]) -> None:
        """Store values under names of the sweep's (hash ``sweep:{id}:blobs``)."""
        for name, value in blobs.items():
            check_value_size(f"{name} of sweep {sweep_id}", value)
        if blobs:
            self._redis.hset(self._sweep(sweep_id, "blobs"),
                             mapping={name: value for name, value in blobs.items()})

    @_translating
    def blobs(self, sweep_id: str, names: Iterable[str]) -> dict[str, bytes]:
        """The values stored under these names (names with none left out)."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        values = cast(builtins.list[bytes | None],
                      self._redis.hmget(self._sweep(sweep_id, "blobs"), wanted))
        return {name: value for name, value in zip(wanted, values, strict=True)
                if value is not None}

    @_translating
    def delete_blobs(self, sweep_id: str, names: Iterable[str]) -> None:
        """Delete the values stored under these names."""
        wanted = list(names)
        if wanted:
            self._redis.hdel(self._sweep(sweep_id, "blobs"), *wanted)

    @_translating
    def finish(self, sweep_id: str, status: SweepStatus, now: float,
               results: bytes | None = None, error: str | None = None) -> bool:
        """Unfinished → finished ``status`` at ``now`` with ``results`` and ``error`` (None
        clears them); False, and no change, if it was finished already or is unknown."""
        if not status.is_finished():
            raise ValueError(f"finish needs a finished status, not {status.value!r}")
        check_value_size(f"the results document of sweep {sweep_id}", results)
        return bool(self._finish(
            keys=[self._sweep(sweep_id), self._sweep(sweep_id, "results"),
                  self._status(SweepStatus.QUEUED), self._status(SweepStatus.RUNNING),
                  self._status(status)],
            args=[sweep_id, status.value, repr(float(now)), int(results is not None),
                  results or b"", int(error is not None), error or ""]))

    @_translating
    def results(self, sweep_id: str) -> bytes | None:
        """The results document stored by ``finish``, if any."""
        return cast(bytes | None, self._redis.get(self._sweep(sweep_id, "results")))

    def cancel(self, sweep_id: str, now: float) -> bool:
        """``finish(sweep_id, CANCELLED, now)``: False if finished already or unknown."""
        return self.finish(sweep_id, SweepStatus.CANCELLED, now)

    @_translating
    def unfinished(self) -> builtins.list[SweepRecord]:
        """Every queued or running sweep, oldest first (ties: smaller id first)."""
        pipe = self._redis.pipeline(transaction=False)
        for status in _UNFINISHED:
            pipe.zrange(self._status(status), 0, -1, withscores=True)
        scored = sorted((score, sweep_id) for members in pipe.execute()
                        for sweep_id, score in members)
        records = self._hashes([sweep_id for _, sweep_id in scored])
        return [r for r in records if not r.status.is_finished()]  # finished in between

    @_translating
    def delete_finished_before(self, before: float) -> int:
        """Delete the sweeps (all their keys) finished before ``before``; how many."""
        pipe = self._redis.pipeline(transaction=False)
        for status in _FINISHED:  # created_at <= finished_at < before
            pipe.zrangebyscore(self._status(status), "-inf", repr(float(before)))
        candidates = [sweep_id.decode() for ids in pipe.execute() for sweep_id in ids]
        deleted = 0
        for start in range(0, len(candidates), DELETE_BATCH):
            pipe = self._redis.pipeline(transaction=False)
            for sweep_id in candidates[start:start + DELETE_BATCH]:
                self._delete(keys=[self._sweep(sweep_id), self._sweeps,
                                   *(self._status(s) for s in _FINISHED),
                                   *self._sweep_keys(sweep_id)],
                             args=[sweep_id, repr(float(before))], client=pipe)
            deleted += sum(int(n) for n in pipe.execute())
        return deleted

    def _dataset(self, dataset_id: str) -> str:
        return f"{self.prefix}dataset:{dataset_id}"

    @_translating
    def put_dataset(self, dataset_id: str, meta: bytes, data: bytes, now: float) -> bool:
        """Store a dataset once (its meta and data in one hash ``dataset:{id}``, its id in the
        ``datasets`` zset by time); False (and no change) if one with its id is stored."""
        check_value_size(f"dataset {dataset_id}", data)
        key = self._dataset(dataset_id)
        pipe = self._redis.pipeline(transaction=True)  # MULTI: the meta and data together
        pipe.hsetnx(key, "meta", meta)
        pipe.hsetnx(key, "data", data)
        pipe.zadd(f"{self.prefix}datasets", {dataset_id: now}, nx=True)
        return bool(pipe.execute()[0])

    @_translating
    def dataset_meta(self, dataset_id: str) -> bytes | None:
        """A stored dataset's description (JSON), or None."""
        return cast(bytes | None, self._redis.hget(self._dataset(dataset_id), "meta"))

    @_translating
    def dataset_data(self, dataset_id: str) -> bytes | None:
        """A stored dataset's data (``optimizers.datasets.canonical_bytes``), or None."""
        return cast(bytes | None, self._redis.hget(self._dataset(dataset_id), "data"))

    @_translating
    def datasets(self) -> builtins.list[bytes]:
        """Every stored dataset's description, oldest first."""
        ids = [i.decode() for i in cast(builtins.list[bytes],
                                        self._redis.zrange(f"{self.prefix}datasets", 0, -1))]
        pipe = self._redis.pipeline(transaction=False)
        for dataset_id in ids:
            pipe.hget(self._dataset(dataset_id), "meta")
        return [bytes(meta) for meta in pipe.execute() if meta is not None]

    @_translating
    def delete_dataset(self, dataset_id: str) -> bool:
        """Delete a stored dataset; False if there was none."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._dataset(dataset_id))
        pipe.zrem(f"{self.prefix}datasets", dataset_id)
        return bool(pipe.execute()[0])

    @_translating
    def count_by_status(self) -> dict[SweepStatus, int]:
        """How many sweeps there are of each status (statuses with none are left out)."""
        pipe = self._redis.pipeline(transaction=False)
        for status in SweepStatus:
            pipe.zcard(self._status(status))
        return {status: int(n) for status, n in zip(SweepStatus, pipe.execute()) if n}

    @_translating
    def record_chunk_run(self, seconds: float, trials: int) -> None:
        """Add one chunk's run time (to its ``chunk_seconds_bucket``) and trial count."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(self._chunk_stats, "chunks", 1)
        pipe.hincrby(self._chunk_stats, "trials", trials)
        pipe.hincrbyfloat(self._chunk_stats, "seconds", seconds)
        pipe.hincrby(self._chunk_stats, f"bucket:{chunk_seconds_bucket(seconds)!r}", 1)
        pipe.execute()

    @_translating
    def chunk_stats(self) -> ChunkStats:
        """The totals ``record_chunk_run`` has added up (buckets with no chunk left out)."""
        fields = cast(dict[bytes, bytes], self._redis.hgetall(self._chunk_stats))
        buckets = {float(name[len(b"bucket:"):]): int(value) for name, value in fields.items()
                   if name.startswith(b"bucket:")}
        return ChunkStats(chunks=int(fields.get(b"chunks", 0)),
                          trials=int(fields.get(b"trials", 0)),
                          seconds=float(fields.get(b"seconds", 0.0)),
                          buckets=dict(sorted(buckets.items())))

    @_translating
    def heartbeat(self, worker: str, now: float) -> None:
        """Record that ``worker`` is alive at ``now`` (and forget workers silent for a day)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(self._workers, {worker: now})
        pipe.zremrangebyscore(self._workers, "-inf", f"({now - FORGET_WORKER_SECONDS!r}")
        pipe.execute()

    @_translating
    def live_workers(self, since: float) -> builtins.list[str]:
        """Workers whose last heartbeat is at or after ``since``, by name."""
        names = cast(builtins.list[bytes],
                     self._redis.zrangebyscore(self._workers, repr(float(since)), "+inf"))
        return sorted(name.decode() for name in names)

    @_translating
    def watch_step(self, sweep_id: str, chunks_done: int, now: float, stuck_seconds: float,
                   max_requeues: int, reset: bool) -> WatchStep:
        """``decide_watch`` on the stored clocks: an optimistic transaction on the sweep's
        ``watch`` key (WATCH, read, MULTI … EXEC; again if another replica wrote it)."""
        key = self._sweep(sweep_id, "watch")
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    blob = cast(bytes | None, pipe.get(key))
                    stored = None if blob is None else WatchState(*orjson.loads(blob))
                    step = decide_watch(stored, chunks_done, now, stuck_seconds, max_requeues,
                                        reset)
                    state = step.state
                    pipe.multi()
                    pipe.set(key, orjson.dumps([state.chunks_done, state.moved_at, state.since,
                                                state.requeues]))
                    pipe.execute()
                    return step
                except WatchError:
                    continue

    # -- leases ------------------------------------------------------------------------------

    @property
    def _leases(self) -> builtins.list[str]:
        return [f"{self.prefix}leases", f"{self.prefix}lease_owners"]

    def _leases_of(self, owner: str = "") -> str:
        return f"{self.prefix}leases_of:{owner}"

    @_translating
    def lease(self, sweep_id: str, chunk: int, owner: str, seconds: float) -> None:
        """``owner`` holds the chunk's lease for ``seconds`` (Redis's clock)."""
        self._lease(keys=self._leases, args=[_member(sweep_id, chunk), owner, repr(seconds),
                                             self._leases_of()])

    @_translating
    def leased(self) -> set[tuple[str, int]]:
        """The (sweep, chunk) of every lease (expired or not)."""
        return {_unmember(m) for m in cast(builtins.list[bytes],
                                           self._redis.hkeys(self._leases[1]))}

    @_translating
    def lease_owner(self, sweep_id: str, chunk: int) -> str | None:
        """Who holds the chunk's lease; None: nobody."""
        owner = cast(bytes | None, self._redis.hget(self._leases[1], _member(sweep_id, chunk)))
        return None if owner is None else owner.decode()

    @_translating
    def renew_leases(self, owner: str, seconds: float,
                     chunks: Iterable[tuple[str, int]]) -> int:
        """Extend the leases of ``chunks`` that ``owner`` still holds; how many."""
        return int(self._renew(keys=[*self._leases, self._leases_of(owner)],
                               args=[owner, repr(seconds),
                                     *(_member(sweep_id, chunk) for sweep_id, chunk in chunks)]))

    @_translating
    def release_lease(self, sweep_id: str, chunk: int, owner: str) -> bool:
        """Drop the chunk's lease if ``owner`` still holds it."""
        return bool(self._release(keys=[*self._leases, self._leases_of(owner)],
                                  args=[_member(sweep_id, chunk), owner]))

    @_translating
    def release_owner(self, owner: str) -> builtins.list[tuple[str, int]]:
        """Drop every lease ``owner`` holds; their (sweep, chunk)."""
        members = self._release_owner(keys=[*self._leases, self._leases_of(owner)], args=[owner])
        return [_unmember(m) for m in members]

    @_translating
    def claim_expired(self, limit: int = 1000) -> builtins.list[tuple[str, int]]:
        """Remove up to ``limit`` expired leases, atomically; their (sweep, chunk)."""
        members = self._claim_expired(keys=self._leases, args=[int(limit), self._leases_of()])
        return [_unmember(m) for m in members]

    def close(self) -> None:
        """Close the connection pool (unless the client came from ``from_client``)."""
        if self._owns_client:
            self._redis.close()


__all__ = ["DeadlineRetry", "RedisStore", "retry_policy"]
