"""Inbound webhook ingestion under gunicorn against a floor measured in the same run, then fan-out latency.

1. N signed Standard Webhooks at concurrency C to `/hooks/<token>/` of the gateway running under the gunicorn
   command line of `manage.py dev` (routing, verification, dedup insert, hand-off to Celery), against the same
   load on the floor (bench/_webhook_floor.py): the same gunicorn configuration serving a middleware-free Django
   view that INSERTs the same body as an Event in the same tenant schema, and nothing else. Rounds of at most
   500 alternate (gateway, floor, floor, gateway, ...) so that drift affects both alike. Every request is signed
   just before its round starts, so the client's work is the same for both. Target: at least 0.85 of the floor's
   throughput (printed, not enforced). Every webhook sent must be stored, or the run fails.
2. The Celery worker (the command line of `manage.py dev`, with its embedded beat) starts and first fans out
   the webhooks the gateway queued in step 1 (timed and reported). Then M webhooks paced at a fixed rate to a
   tenant with a subscription to a local receiver and a rule whose action sends to a second subscription:
   latency from the sender having its 200 to the receiver getting each delivery, and to the ActionRun's
   finished_at. Each webhook makes four tasks (fan-out, delivery, action, delivery); above the worker's
   capacity the figures measure its backlog instead, which the last line shows.

Self-contained: starts its own embedded PostgreSQL and Redis in a fresh folder, the two gunicorn servers and the
worker as subprocesses, and stops them all at the end. `.venv/bin/python bench/webhook_ingest.py [--n 300]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import Progress, _ms, configure  # noqa: E402

from bizosaas.infra import Infra, free_port  # noqa: E402

ROUND_MAX = 500  # webhooks to one server in one round; rounds alternate gateway, floor, floor, gateway, ...
WARMUP = 50  # requests to each server before anything is timed
FANOUT_WARMUP = 5
TARGET = 0.85  # issue 20: at least 0.85 of the floor's throughput
FLOOR_APP = "bench._webhook_floor:application"
EVENT_TYPE = "custom.order.created"  # what the gateway makes of a Standard Webhooks `order.created` without connection


# --- subprocesses --------------------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []
        return f"--- last lines of {self.log} ---\n" + "\n".join(text)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()  # gunicorn and celery both shut down their own workers on SIGTERM
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group started for this child only
            self.process.wait(timeout=5)


def spawn(name: str, args: list[str], local_dir: str, env: dict[str, str] | None = None) -> Child:
    log = Path(local_dir) / "log" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Child(name, process, log)


def gunicorn_args(app: str, bind: str) -> list[str]:
    """The gateway's command line from `manage.py dev`, serving `app` instead of bizosaas.wsgi when asked."""
    from bizosaas.management.commands.dev import processes

    args = shlex.split(processes(bind=bind, portal=False)["gateway"][0])
    return [app if arg == "bizosaas.wsgi" else arg for arg in args]


class Workers:
    """The Celery workers of `manage.py dev`, one per work class, watched as one."""

    def __init__(self, local_dir: str, children: list[Child]):
        from bizosaas.management.commands.dev import celery_workers

        self.children = [
            spawn(name, shlex.split(command), local_dir, env) for name, (command, env) in celery_workers().items()
        ]
        children.extend(self.children)

    def exited(self) -> Child | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def check(self) -> None:
        child = self.exited()
        if child is not None:
            raise RuntimeError(f"{child.name} exited with status {child.process.returncode}\n{child.tail()}")

    def tail(self, lines: int = 10) -> str:
        return "\n".join(child.tail(lines) for child in self.children)

    def stop(self) -> None:
        for child in self.children:
            child.stop()


def wait_healthy(child: Child, url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with status {child.process.returncode}\n{child.tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {url} within {timeout:.0f} s\n{child.tail()}")


# --- load ----------------------------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def order_body(msg_id: str, number: int) -> bytes:
    """About 600 bytes of a plausible order event."""
    return json.dumps(
        {
            "type": "order.created",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "id": number,
                "reference": msg_id,
                "total_price": f"{number % 500 + 0.99:.2f}",
                "currency": "EUR",
                "customer": {"email": f"person{number}@example.com", "first_name": "Ada", "last_name": "Lovelace"},
                "line_items": [
                    {"sku": f"SKU-{number % 97:03d}", "title": "Engine gear", "quantity": 2, "price": "9.99"},
                    {"sku": "SKU-PUNCH", "title": "Punched cards (box of 500)", "quantity": 1, "price": "19.50"},
                ],
                "shipping_address": {"city": "London", "country": "GB", "zip": "W1 1AA"},
            },
        },
        separators=(",", ":"),
    ).encode()


def signed_request(url: str, signer, msg_id: str, number: int) -> tuple[str, dict[str, str], bytes]:
    body = order_body(msg_id, number)
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body.decode()),
    }
    return url, headers, body


@dataclass
class Load:
    elapsed: float = 0.0  # seconds
    latencies: list[int] = field(default_factory=list)  # ns
    failures: list[str] = field(default_factory=list)
    sent: int = 0


class Sender:
    """C threads, each with its own keep-alive httpx client (to every server), reused across rounds."""

    def __init__(self, concurrency: int):
        import httpx

        self.httpx = httpx
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sender")
        self.local = threading.local()
        self.clients: list = []
        self.lock = threading.Lock()

    def _client(self):
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.httpx.Client(timeout=30.0)
            with self.lock:
                self.clients.append(client)
        return client

    def post(self, request: tuple[str, dict[str, str], bytes]) -> tuple[int, int, float, str]:
        """(status or 0, latency in ns, wall-clock time of the answer, error)."""
        url, headers, body = request
        started = time.perf_counter_ns()
        try:
            response = self._client().post(url, content=body, headers=headers)
        except self.httpx.HTTPError as exc:
            return 0, time.perf_counter_ns() - started, time.time(), f"{type(exc).__name__}: {exc}"
        latency, answered = time.perf_counter_ns() - started, time.time()
        detail = "" if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:200]}"
        return response.status_code, latency, answered, detail

    def run(self, requests: list, load: Load, progress: Progress | None = None, done_before: int = 0) -> None:
        step = max(1, len(requests) // 100)
        started = time.perf_counter()
        for done, (status, latency, _answered, detail) in enumerate(self.pool.map(self.post, requests), 1):
            load.latencies.append(latency)
            if status != 200:
                load.failures.append(detail)
            if progress is not None and (done % step == 0 or done == len(requests)):
                progress.update(done_before + done)
        load.elapsed += time.perf_counter() - started
        load.sent += len(requests)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for client in self.clients:
            client.close()


# --- fan-out receiver ----------------------------------------------------------------------------------------


class Receiver:
    """A loopback HTTP server that notes when each delivery (by the original webhook id) reached which path."""

    def __init__(self):
        received: dict[tuple[str, str], float] = {}
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the status line, headers and body leave in one write (flushed after each request): written apart,
            # Nagle holds the 2-byte body until the client's delayed ACK, 40 ms a delivery that a real endpoint
            # does not cost
            wbufsize = -1

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                try:
                    original = json.loads(body)["data"]["provider_event_id"]
                except (ValueError, KeyError, TypeError):
                    original = "?"
                with lock:
                    received.setdefault((self.path, original), now)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format, *args):
                pass

        self.received, self.lock = received, lock
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def count(self, ids: set[str]) -> int:
        with self.lock:
            return sum(1 for _path, original in self.received if original in ids)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- phases --------------------------------------------------------------------------------------------------


def setup_tenant(slug: str):
    from django_tenants.utils import schema_context

    from apps.accounts.audit.services import Actor
    from apps.accounts.services import tenant_create
    from apps.integrations.inbound import endpoint_create

    actor = Actor.system("bench")
    tenant = tenant_create(name=f"Bench {slug}", slug=slug, actor=actor)
    with schema_context(tenant.schema_name):
        endpoint, shown = endpoint_create(
            tenant=tenant, actor=actor, user_id=None, name="bench", connection=None, scheme="standard_webhooks"
        )
    return tenant, endpoint, shown["signing_secret"], actor


def forward_orders(tenant, actor, receiver: Receiver) -> None:
    """A subscription of every order event to the receiver's /direct, and a rule whose action sends each order
    to a second subscription at /rule: four tasks per webhook (fan-out, delivery, action, delivery)."""
    from django_tenants.utils import schema_context

    from apps.integrations.outbound import subscription_create
    from apps.integrations.rules import rule_create

    with schema_context(tenant.schema_name):
        subscription_create(
            tenant=tenant, actor=actor, user_id=None, url=receiver.url("/direct"), event_types=["custom.order.*"]
        )
        for_rule, _secret = subscription_create(
            tenant=tenant, actor=actor, user_id=None, url=receiver.url("/rule"), event_types=["bench.only.rule"]
        )
        rule_create(
            tenant=tenant,
            actor=actor,
            user_id=None,
            data={
                "name": "Forward orders",
                "trigger_event": "custom.order.*",
                "conditions": [{"field": "payload.total_price", "op": "exists"}],
                "actions": [{"type": "send_to_subscription", "subscription": for_rule.pk}],
            },
        )


def stored(schema: str, endpoint_id: int, msg_ids: set[str]) -> int:
    from django_tenants.utils import schema_context

    from apps.integrations.models import Event

    with schema_context(schema):
        found = Event.objects.filter(endpoint_id=endpoint_id).values_list("external_id", flat=True)
        return len(msg_ids.intersection(found))


@dataclass
class Ingest:
    gateway: Load
    floor: Load
    gateway_stored: int
    floor_stored: int
    gateway_base: str  # the gateway keeps running for the fan-out
    schema: str
    endpoint_id: int


def bench_ingest(args, local_dir: str, children: list[Child], sender: Sender) -> Ingest:
    from django_tenants.utils import schema_context
    from standardwebhooks.webhooks import Webhook

    from apps.integrations.inbound import endpoint_create

    tenant, endpoint, secret, actor = setup_tenant("bench-ingest")
    with schema_context(tenant.schema_name):  # where the floor's rows go: its own endpoint row, never verified
        floor_endpoint, _shown = endpoint_create(
            tenant=tenant, actor=actor, user_id=None, name="floor", connection=None, scheme="standard_webhooks"
        )
    signer = Webhook(secret)

    gateway_base, floor_base = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    # nothing here searches the knowledge base: without this the gateway's processes would spend the first rounds
    # loading the embedding model in the background (a ready gateway has it loaded and idle)
    quiet = {"KNOWLEDGE_PRELOAD_MODEL": "false"}
    gateway = spawn("gateway", gunicorn_args("bizosaas.wsgi", gateway_base[7:]), local_dir, quiet)
    children.append(gateway)
    floor = spawn("floor", gunicorn_args(FLOOR_APP, floor_base[7:]), local_dir)
    children.append(floor)
    wait_healthy(gateway, f"{gateway_base}/healthz")
    wait_healthy(floor, f"{floor_base}/healthz")

    targets = {
        "gateway": f"{gateway_base}/hooks/{endpoint.token}/",
        "floor": f"{floor_base}/ingest/?schema={tenant.schema_name}&endpoint={floor_endpoint.pk}",
    }
    sent_ids: dict[str, set[str]] = {"gateway": set(), "floor": set()}
    counter = iter(range(10**9))

    def batch(name: str, size: int, tag: str) -> list:
        requests = []
        for _ in range(size):
            number = next(counter)
            msg_id = f"msg_bench_{name}_{tag}_{number:07d}"
            sent_ids[name].add(msg_id)
            requests.append(signed_request(targets[name], signer, msg_id, number))
        return requests

    warm = {name: Load() for name in targets}
    for name in targets:
        sender.run(batch(name, WARMUP, "warmup"), warm[name])
        if warm[name].failures:
            raise RuntimeError(f"{name} refused warm-up webhooks: {warm[name].failures[0]}")

    loads = {name: Load() for name in targets}
    rounds = max(2, -(-args.n // ROUND_MAX))
    rounds += rounds % 2  # as many rounds with the floor first as with the gateway first
    sizes = [args.n // rounds + (1 if index < args.n % rounds else 0) for index in range(rounds)]
    order = [("gateway", "floor") if index % 2 == 0 else ("floor", "gateway") for index in range(rounds)]
    progress = Progress(f"{args.n} webhooks to each server at C={args.concurrency}", 2 * args.n)
    done = 0
    for index, (size, names) in enumerate(zip(sizes, order, strict=True)):
        for name in names:
            sender.run(batch(name, size, f"r{index}"), loads[name], progress, done)  # signed just before its round
            done += size
    progress.close()

    floor.stop()
    ours = stored(tenant.schema_name, endpoint.pk, sent_ids["gateway"])
    theirs = stored(tenant.schema_name, floor_endpoint.pk, sent_ids["floor"])
    return Ingest(loads["gateway"], loads["floor"], ours, theirs, gateway_base, tenant.schema_name, endpoint.pk)


@dataclass
class FanOut:
    accepted: int
    direct: list[float]  # seconds from the sender's 200 to the receiver getting the subscription's delivery
    via_rule: list[float]  # the same for the rule's send_to_subscription delivery
    action_done: list[float]  # to the ActionRun's finished_at
    missing: int  # deliveries that never arrived
    failures: list[str]
    lag: float  # seconds from the last accept to the last delivery received: the worker's backlog when large
    accept_span: float  # seconds from the first accept to the last
    end_to_end: float  # seconds from the first accept to the last delivery received
    backlog: int  # the ingest phase's events, fanned out before anything is timed
    backlog_seconds: float  # from the first of them processed to the last (processed_at)
    backlog_startup: float  # from starting the worker to the first of them processed


def drain(schema: str, endpoint_id: int, worker: Workers, timeout: float) -> tuple[int, float, float]:
    """Waits until every event of the endpoint is fanned out; returns how many there are, the seconds from the
    first fanned out to the last, and the seconds before the first (the worker's start-up)."""
    from django.db.models import Max, Min
    from django_tenants.utils import schema_context

    from apps.integrations.models import Event

    started = time.monotonic()
    with schema_context(schema):
        events = Event.objects.filter(endpoint_id=endpoint_id)
        total = events.count()
        progress = Progress(f"worker fanning out the {total} webhooks accepted above", total)
        shown = -1
        while True:
            pending = events.filter(status=Event.Status.PENDING).count()
            if pending != shown:
                progress.update(total - pending)
                shown = pending
            if not pending:
                break
            worker.check()
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{pending} events still pending after {timeout:.0f} s\n{worker.tail()}")
            time.sleep(0.1)
        progress.close()
        span = events.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    startup = span["first"].timestamp() - (time.time() - (time.monotonic() - started))
    return total, max((span["last"] - span["first"]).total_seconds(), 1e-3), max(startup, 0.0)


def bench_fanout(args, local_dir: str, children: list[Child], sender: Sender, ingest: Ingest) -> FanOut:
    from django_tenants.utils import schema_context
    from standardwebhooks.webhooks import Webhook

    from apps.integrations.models import ActionRun

    tenant, endpoint, secret, actor = setup_tenant("bench-fanout")
    receiver = Receiver()
    try:
        forward_orders(tenant, actor, receiver)
        worker = Workers(local_dir, children)
        # the ingest phase queued a fan-out per webhook: done first, so that the timed webhooks wait for none
        backlog, backlog_seconds, backlog_startup = drain(
            ingest.schema, ingest.endpoint_id, worker, timeout=120 + args.n / 5
        )
        signer = Webhook(secret)
        url = f"{ingest.gateway_base}/hooks/{endpoint.token}/"

        def wait_for(ids: set[str], timeout: float, progress: Progress | None = None) -> int:
            deadline, shown = time.monotonic() + timeout, -1
            while time.monotonic() < deadline:
                got = receiver.count(ids)
                if progress is not None and got != shown:
                    progress.update(got)
                    shown = got
                if got >= 2 * len(ids):
                    return got
                worker.check()
                time.sleep(0.02)
            return receiver.count(ids)

        # a few untimed webhooks first: the worker's first delivery opens its connection to the receiver
        warm_ids = {f"msg_fanout_warmup_{n}" for n in range(FANOUT_WARMUP)}
        for number, msg_id in enumerate(sorted(warm_ids)):
            status, *_rest, detail = sender.post(signed_request(url, signer, msg_id, number))
            if status != 200:
                raise RuntimeError(f"the gateway refused a warm-up webhook: {detail}")
        if wait_for(warm_ids, timeout=90) < 2 * len(warm_ids):
            raise RuntimeError(f"warm-up deliveries did not arrive within 90 s\n{worker.tail()}")

        accepted_at: dict[str, float] = {}
        failures: list[str] = []
        interval = 1.0 / args.fanout_rate
        ids = [f"msg_fanout_{n:06d}" for n in range(args.m)]
        futures = []
        started = time.monotonic()
        for number, msg_id in enumerate(ids):
            pause = started + number * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append((msg_id, sender.pool.submit(sender.post, signed_request(url, signer, msg_id, number))))
        for msg_id, future in futures:
            status, _latency, answered, detail = future.result()
            if status == 200:
                accepted_at[msg_id] = answered
            else:
                failures.append(detail)
        progress = Progress(f"deliveries of {args.m} webhooks (x2)", 2 * len(accepted_at))
        got = wait_for(set(accepted_at), timeout=60, progress=progress)
        progress.close()

        with receiver.lock:
            received = dict(receiver.received)
        direct = [received[("/direct", m)] - t for m, t in accepted_at.items() if ("/direct", m) in received]
        via_rule = [received[("/rule", m)] - t for m, t in accepted_at.items() if ("/rule", m) in received]
        with schema_context(tenant.schema_name):
            finished = dict(
                ActionRun.objects.filter(
                    rule_run__event__external_id__in=list(accepted_at), finished_at__isnull=False
                ).values_list("rule_run__event__external_id", "finished_at")
            )
        action_done = [finished[m].timestamp() - t for m, t in accepted_at.items() if m in finished]
        worker.stop()
        last_received = max((at for (_path, m), at in received.items() if m in accepted_at), default=0.0)
        first_accept = min(accepted_at.values(), default=0.0)
        lag = last_received - max(accepted_at.values(), default=0.0)
        missing = 2 * len(accepted_at) - got
        return FanOut(
            len(accepted_at),
            direct,
            via_rule,
            action_done,
            missing,
            failures,
            lag,
            max(accepted_at.values(), default=0.0) - first_accept,
            last_received - first_accept,
            backlog,
            backlog_seconds,
            backlog_startup,
        )
    finally:
        receiver.stop()


# --- main ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="webhooks to each server (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--m", "--fanout", dest="m", type=int, default=200, help="fan-out webhooks (default 200)")
    parser.add_argument("--fanout-rate", type=float, default=5.0, help="fan-out webhooks a second (default 5)")
    args = parser.parse_args()
    if args.n < 2 or args.concurrency < 1 or args.m < 1 or args.fanout_rate <= 0:
        parser.error("--n must be at least 2; --concurrency, --m and --fanout-rate positive")

    wall = time.monotonic()
    local_dir = configure()
    # this measures intake throughput, far above one endpoint's rate limit (still counted on every request)
    os.environ["QUOTA_WEBHOOK_REQUESTS_PER_SECOND"] = str(10**9)
    infra = Infra.from_env()
    servers = (infra.postgres, infra.redis)  # Temporal plays no part in receiving or fanning out webhooks
    started = [server for server in servers if not server.status().running]  # all of them in a fresh folder
    children: list[Child] = []
    sender = None
    try:
        for server in started:
            server.up()
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from apps.accounts.services import public_tenant_ensure

        public_tenant_ensure()  # 127.0.0.1 is a platform domain: where /hooks/ is served
        print(f"setup (servers + migrate): {time.monotonic() - wall:.1f} s", flush=True)

        sender = Sender(args.concurrency)
        ingest = bench_ingest(args, local_dir, children, sender)
        fan = bench_fanout(args, local_dir, children, sender, ingest)
        ours, floor = ingest.gateway, ingest.floor
        ours_stored, floor_stored = ingest.gateway_stored, ingest.floor_stored

        from django.db import connection

        connection.close()
        ok = True
        ours_rate, floor_rate = ours.sent / ours.elapsed, floor.sent / floor.elapsed
        print()
        line = gunicorn_args("bizosaas.wsgi", "127.0.0.1:0")
        processes, threads = (line[line.index(flag) + 1] for flag in ("--workers", "--threads"))
        print(
            f"gunicorn gthread, {processes} workers x {threads} threads (the gateway's of `manage.py dev`); "
            f"{args.n} webhooks to each at concurrency {args.concurrency}"
        )
        print(
            f"gateway /hooks/ (Standard Webhooks): {ours_rate:,.0f} accepted/s | "
            f"p50 {_ms(percentile(ours.latencies, 0.5))} | p99 {_ms(percentile(ours.latencies, 0.99))} | "
            f"stored {ours_stored}/{ours.sent + WARMUP} (incl. {WARMUP} warm-up)"
        )
        print(
            f"floor (one INSERT, no middleware):   {floor_rate:,.0f} stored/s   | "
            f"p50 {_ms(percentile(floor.latencies, 0.5))} | p99 {_ms(percentile(floor.latencies, 0.99))} | "
            f"stored {floor_stored}/{floor.sent + WARMUP}"
        )
        print(f"  -> ratio {ours_rate / floor_rate:.2f} of the floor (target >= {TARGET})")
        for name, load, count in (("gateway", ours, ours_stored), ("floor", floor, floor_stored)):
            if load.failures:
                ok = False
                print(f"FAIL: {len(load.failures)} requests to the {name} were not answered 200: {load.failures[0]}")
            if count != load.sent + WARMUP:
                ok = False
                print(f"FAIL: the {name} stored {count} of {load.sent + WARMUP} webhooks")

        print(
            f"fan-out of the {fan.backlog} webhooks accepted above (no subscriptions or rules there): "
            f"{fan.backlog / fan.backlog_seconds:,.0f} events/s ({fan.backlog_seconds:.1f} s from the first fanned out "
            f"to the last; the worker's start-up before the first: {fan.backlog_startup:.1f} s)"
        )
        print(f"fan-out: {fan.accepted} webhooks at {args.fanout_rate:g}/s, the Celery workers of `manage.py dev`")
        for label, samples in (
            ("accept -> subscription delivery received", fan.direct),
            ("accept -> rule action done (ActionRun.finished_at)", fan.action_done),
            ("accept -> rule's delivery received", fan.via_rule),
        ):
            if samples:
                print(
                    f"  {label}: p50 {percentile(samples, 0.5) * 1000:.1f} ms | "
                    f"p99 {percentile(samples, 0.99) * 1000:.1f} ms ({len(samples)})"
                )
        print(f"  last delivery received {fan.lag:.2f} s after the last webhook was accepted")
        if fan.accepted and fan.end_to_end > 0:
            print(
                f"  end to end: {fan.accepted} events (a delivery, a rule action and its delivery each) in "
                f"{fan.end_to_end:.2f} s from the first accept to the last delivery = "
                f"{fan.accepted / fan.end_to_end:,.0f} events/s (target >= 440; the gateway accepted them at "
                f"{fan.accepted / max(fan.accept_span, 1e-3):,.0f}/s)"
            )
            # end to end cannot pass what the gateway accepts with the machine to itself (measured above): the
            # share of it kept once the workers run too says how much the path behind intake costs
            print(
                f"  -> {fan.accepted / fan.end_to_end / ours_rate:.2f} of the gateway's intake alone "
                f"({ours_rate:,.0f}/s, step 1 of this run)"
            )
        if fan.failures or fan.missing or fan.accepted != args.m:
            ok = False
            print(
                f"FAIL: fan-out accepted {fan.accepted}/{args.m}, {fan.missing} deliveries missing"
                + (f"; first refusal: {fan.failures[0]}" if fan.failures else "")
            )
        print(f"total wall time: {time.monotonic() - wall:.1f} s")
        return 0 if ok else 1
    finally:
        if sender is not None:
            sender.close()
        for child in reversed(children):
            child.stop()
        from django.db import connection

        connection.close()
        for server in reversed(started):
            server.down()
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
