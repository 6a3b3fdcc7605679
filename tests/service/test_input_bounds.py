"""The API's input path is bounded by construction, against a real ``gradsweep serve``.

Each test is an attack that used to pass validation or hold the server: an integer over 64 bits
(a 500 and a dropped connection), five 0.8 MB bodies of bad numbers at once (/healthz stalled for
seconds, 14 MB of 422 details each), a random init of a million coordinates stored as a million
numbers, HEAD answered 405, plain-text 400s, orjson's words for a 5000-digit integer or a latin-1
body, and connections that were never capped nor timed out. Raw sockets where the client matters.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from harness import Cluster, cluster
from rawhttp import error_of, read_response

OK: dict[str, Any] = {"objective": "sphere", "optimizer": "sgd", "grid": {"lr": 0.1}, "steps": 10}
LIVELY = 2.0  # seconds: generous; a flood stalled /healthz for 11.8 s before
MODES = [pytest.param(False, id="embedded"), pytest.param(True, id="cluster")]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("serve"), redis=False, jobs=1) as c:
        c.start_server()
        yield c


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A server in each mode (cluster mode without a worker: nothing here needs to run)."""
    with cluster(tmp_path, redis=request.param, jobs=1) as c:
        c.start_server()
        yield c


# -- raw HTTP ------------------------------------------------------------------------------------

def request_bytes(method: str, path: str, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: test"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (reading and dropping what it sends), or None."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if not sock.recv(65536):
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    return None


def post(sock: socket.socket, body: bytes, content_type: str = "application/json",
         ) -> tuple[int, dict[str, str], bytes]:
    sock.sendall(request_bytes("POST", "/v1/sweeps", body, {"Content-Type": content_type}))
    return read_response(sock)


def healthz_on(sock: socket.socket) -> int:
    sock.sendall(request_bytes("GET", "/healthz"))
    return read_response(sock)[0]


def connect(c: Cluster) -> socket.socket:
    return socket.create_connection(("127.0.0.1", c.port), timeout=10)


# -- findings 1 and 2: output is a limit like work ----------------------------------------------

#: The reported sweep: within every work limit, 40 × 1,000,001 curve points (1.19 GB of results)
HUGE_OUTPUT = {"objective": {"name": "sphere", "dim": 1}, "optimizer": "sgd",
               "grid": {"lr": 1e-12}, "init": [1e-100], "steps": 1_000_000, "record_every": 1,
               "seeds": 40}


@pytest.mark.parametrize("seeds", [20, 40, 20_000])
def test_a_sweep_whose_output_is_over_the_limit_is_a_422_before_anything_runs(
        server: Cluster, seeds: int) -> None:
    with server.client() as http:
        answer = http.post("/v1/sweeps", json={**HUGE_OUTPUT, "seeds": seeds})
        assert answer.status_code == 422, answer.text
        message = answer.json()["error"]["message"]
        assert "curve points" in message and "max_curve_points = 5000000" in message, message
        every = int(message.split("raise record_every (at least ")[1].split(" ")[0])
        # the record_every it names fits, and the one below it does not
        fits = http.post("/v1/sweeps", json={**HUGE_OUTPUT, "seeds": seeds, "steps": 10,
                                             "record_every": 1})
        assert fits.status_code == 202, fits.text
        assert http.get("/v1/sweeps").json()["total"] == 1  # only the small one was stored
    limit = 5_000_000
    per_trial = steps_recorded(1_000_000, every)
    assert seeds * per_trial <= limit < seeds * steps_recorded(1_000_000, every - 1)


def steps_recorded(steps: int, every: int) -> int:
    return len(range(0, steps + 1, every)) + (steps % every != 0)


# -- finding 3: integers over 64 bits --------------------------------------------------------------

@pytest.mark.parametrize("changes", [{"record_every": 2**64}, {"steps": 2**64},
                                     {"objective": {"name": "sphere", "dim": 2**64}},
                                     {"seeds": 2**64}], ids=["record_every", "steps", "dim",
                                                            "seeds"])
def test_an_integer_over_64_bits_is_a_422_naming_it_and_the_connection_lives(
        server: Cluster, changes: dict[str, Any]) -> None:
    field = next(iter(changes))
    with connect(server) as sock:
        status, headers, body = post(sock, json.dumps({**OK, **changes}).encode())
        error = error_of(status, headers, body)
        assert status == 422 and field in error["message"], error
        assert "over the limit" in error["message"] or "less than or equal" in error["message"]
        assert healthz_on(sock) == 200  # the same keep-alive connection still answers
    with server.client() as http:
        assert http.get("/v1/sweeps").json()["total"] == 0  # nothing was stored


def test_record_every_up_to_max_steps_is_stored_and_read_back(server: Cluster) -> None:
    with server.client() as http:
        answer = http.post("/v1/sweeps", json={**OK, "record_every": 1_000_000})
        assert answer.status_code == 202, answer.text
        view = http.get(answer.headers["Location"])
        assert view.status_code == 200
        results = http.get(answer.headers["Location"] + "/results").json()
        assert results["spec"]["record_every"] == 1_000_000


# -- finding 4: big invalid bodies, validated off the loop and answered small -------------------

def flood(n: int = 200_000) -> bytes:
    """A 0.8 MB spec whose grid list holds ``n`` values that are not numbers."""
    return json.dumps({**OK, "grid": {"lr": ["x"] * n}}, separators=(",", ":")).encode()


def test_five_floods_at_once_do_not_stall_healthz_and_answer_small(embedded: Cluster) -> None:
    body = flood()
    assert 700_000 < len(body) < embedded_body_limit()
    answers: list[tuple[int, dict[str, str], bytes]] = []
    health: list[float] = []
    done = threading.Event()

    def send() -> None:
        with connect(embedded) as sock:
            answers.append(post(sock, body))

    def poll() -> None:
        with httpx.Client(base_url=embedded.url, timeout=30) as http:
            while not done.is_set():
                start = time.perf_counter()
                assert http.get("/healthz").status_code == 200
                health.append(time.perf_counter() - start)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    senders = [threading.Thread(target=send) for _ in range(5)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    done.set()
    poller.join(30)
    assert len(answers) == 5 and health, (answers, health)
    assert max(health) < LIVELY, sorted(health)[-5:]
    for status, headers, answer in answers:
        error = error_of(status, headers, answer)
        assert status == 422 and len(answer) < 10_000, len(answer)
        assert len(error["details"]) <= 20 and error["details"][0]["field"] == "grid.lr.0"


def embedded_body_limit() -> int:
    return 1 << 20  # GRADSWEEP_MAX_BODY_BYTES's default


def test_a_422_lists_at_most_20_details_and_counts_the_rest(embedded: Cluster) -> None:
    extra = {f"k{i}": 1 for i in range(20)}  # 20 unknown keys: one error each
    body = {**OK, **extra, "steps": "x", "metric": "best", "name": 7}
    with embedded.client() as http:
        answer = http.post("/v1/sweeps", json=body)
    error = error_of(answer.status_code, dict(answer.headers), answer.content)
    assert answer.status_code == 422 and len(error["details"]) == 20 and error["more"] == 3, error
    assert error["message"].endswith("(and 3 more not listed)"), error["message"]
    with embedded.client() as http:  # a small one has no count
        error = http.post("/v1/sweeps", json={**OK, "steps": "x"}).json()["error"]
    assert "more" not in error and len(error["details"]) == 1, error


# -- finding 5: the stored spec is what was posted, not dim-sized ---------------------------------

def test_a_random_init_of_a_million_coordinates_is_stored_small(server: Cluster) -> None:
    posted = {"objective": {"name": "sphere", "dim": 10**6}, "optimizer": "sgd",
              "grid": {"lr": 0.1}, "steps": 1, "seeds": 2, "init": {"distribution": "normal"}}
    assert len(json.dumps(posted)) < 200
    with server.client() as http:
        answer = http.post("/v1/sweeps", json=posted)
        assert answer.status_code == 202, answer.text
        results = http.get(answer.headers["Location"] + "/results")
    spec = results.json()["spec"]
    assert len(orjson.dumps(spec)) < 500, len(orjson.dumps(spec))
    assert spec["init"] == {"distribution": "normal", "scale": 1.0, "center": None}
    assert spec["seeds"] == 2 and spec["objective"]["dim"] == 10**6
    assert len(results.content) < 2_000, len(results.content)


# -- finding 8: HEAD, uvicorn's 400, clear words, bounded connections ------------------------------

def test_head_answers_as_get_does_without_a_body(embedded: Cluster) -> None:
    with embedded.client() as http:
        sweep = http.post("/v1/sweeps", json=OK).headers["Location"]
    for path in ("/healthz", "/readyz", "/metrics", "/v1/sweeps", sweep, sweep + "/results",
                 sweep + "/results.csv", "/v1/optimizers", "/v1/objectives", "/"):
        with connect(embedded) as sock:
            sock.sendall(request_bytes("GET", path))
            get_status, get_headers, _ = read_response(sock)
            sock.sendall(request_bytes("HEAD", path))
            status, headers, rest = read_response(sock, head_only=True)
            assert status == get_status == 200, (path, status)
            assert headers["content-type"] == get_headers["content-type"], path
            if "content-length" in get_headers and path != sweep:  # a view's progress may move
                assert headers["content-length"] == get_headers["content-length"], path
            assert rest == b"", (path, rest)
            assert healthz_on(sock) == 200  # no stray body on the connection
    with connect(embedded) as sock:  # a stream's HEAD ends with its head, it does not hang
        start = time.monotonic()
        sock.sendall(request_bytes("HEAD", sweep + "/events"))
        status, headers, rest = read_response(sock, head_only=True)
        assert status == 200 and headers["content-type"].startswith("text/event-stream")
        assert healthz_on(sock) == 200 and time.monotonic() - start < LIVELY
    with embedded.client() as http:
        answer = http.put("/healthz")
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD"


def test_malformed_http_is_a_400_in_the_error_shape(embedded: Cluster) -> None:
    for raw in (b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"):
        with connect(embedded) as sock:
            sock.sendall(raw)
            status, headers, body = read_response(sock)
            error = error_of(status, headers, body)
            assert status == 400 and error["code"] == "bad_request", error
            assert "not valid HTTP" in error["message"]
            assert closed_within(sock, 3) is not None


def test_an_integer_of_5000_digits_is_named_as_such(embedded: Cluster) -> None:
    body = json.dumps({**OK, "record_every": 1}).encode().replace(
        b'"record_every": 1', b'"record_every": ' + b"9" * 5000)
    with connect(embedded) as sock:
        status, headers, answer = post(sock, body)
        error = error_of(status, headers, answer)
        assert status == 422, error
        assert "an integer of 5,000 digits" in error["message"], error
        assert "'record_every'" in error["message"] and "64 bits" in error["message"], error
        assert "infinity" not in error["message"]
        assert healthz_on(sock) == 200


def test_a_body_not_in_utf8_is_refused_clearly(embedded: Cluster) -> None:
    latin1 = json.dumps({**OK, "name": "café"}, ensure_ascii=False).encode("latin-1")
    with connect(embedded) as sock:
        status, headers, answer = post(sock, latin1)
        error = error_of(status, headers, answer)
        assert status == 422 and "the body is not UTF-8" in error["message"], error
        assert "send JSON encoded as UTF-8" in error["message"] and "surrogates" not in str(error)
        status, headers, answer = post(sock, json.dumps(OK).encode(),
                                       "application/json; charset=iso-8859-1")
        error = error_of(status, headers, answer)
        assert status == 415 and "charset=iso-8859-1" in error["message"], error
        status, _, answer = post(sock, json.dumps({**OK, "name": "café"}).encode(),
                                 'application/json; charset="UTF-8"')
        assert status == 202, answer


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Cluster]:
    with cluster(tmp_path, redis=False, jobs=1, max_connections=3, keep_alive_seconds=2) as c:
        c.start_server()
        time.sleep(0.5)  # the start-up probes' connections are gone
        yield c


def test_connections_beyond_the_cap_are_refused_in_the_error_shape(capped: Cluster) -> None:
    held = [connect(capped) for _ in range(3)]
    try:
        for sock in held[:2]:
            assert healthz_on(sock) == 200  # admitted, kept alive
        with connect(capped) as extra:
            extra.sendall(request_bytes("GET", "/healthz"))
            status, headers, body = read_response(extra)
            error = error_of(status, headers, body)
            assert status == 503 and "GRADSWEEP_MAX_CONNECTIONS" in error["message"], error
            assert headers["connection"] == "close"
            assert closed_within(extra, 3) is not None
        held.pop().close()
        time.sleep(0.2)
        with connect(capped) as again:
            assert healthz_on(again) == 200  # a place came free
    finally:
        for sock in held:
            sock.close()


def test_idle_and_half_sent_connections_are_closed_after_the_keep_alive(capped: Cluster) -> None:
    with connect(capped) as idle, connect(capped) as after, connect(capped) as partial:
        assert healthz_on(after) == 200
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a head never finished
        for sock in (idle, after):
            waited = closed_within(sock, 6)
            assert waited is not None and waited < 4, waited  # 2 s + slack, not never
        status, headers, body = read_response(partial, timeout=6)
        assert status == 408 and error_of(status, headers, body)["code"] == "request_timeout"
    with connect(capped) as slow:  # a head trickled a byte at a time is cut at the deadline too
        start = time.monotonic()
        try:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
                slow.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert closed_within(slow, 6) is not None and time.monotonic() - start < 5.5
    with connect(capped) as fresh:
        assert healthz_on(fresh) == 200
