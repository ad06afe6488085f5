"""One tenant's webhooks, alone and then next to a noisy neighbour, through the processes of `manage.py dev`.

Tenant B sends signed Standard Webhooks at a steady rate to its endpoint; each event goes to one subscription and
matches one rule whose action sends to a second subscription (both at a local receiver). Measured: B's accepted/s
and accept -> delivery p50/p99, first with B alone (the baseline of this run), then while tenant A at the same
time

- has four subscriptions to a server that drips its answer one byte every two seconds,
- floods its own endpoint beyond its per-endpoint rate limit,
- runs many connection tests against a connection whose site drips the same way,
- uploads a Word file that inflates to 200 MB (a decompression bomb).

Printed: both figures and their ratio (target: B's p99 within 1.5x of its quiet figure), B's events lost or stuck
(target 0), how much of A's excess was refused with 429, what A's bomb got, `/healthz` latency during the noise,
and whether every worker process is still alive. The gateway runs the gunicorn command line of `manage.py dev`
and the Celery workers are the per-class workers it starts. Self-contained: its own embedded PostgreSQL and
Redis in a fresh folder. `.venv/bin/python bench/noisy_neighbour.py [--seconds 20 --rate 10]`.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import configure  # noqa: E402
from webhook_ingest import (  # noqa: E402
    Child,
    Receiver,
    Sender,
    Workers,
    forward_orders,
    gunicorn_args,
    percentile,
    signed_request,
    spawn,
    wait_healthy,
)

from bizosaas.infra import Infra, free_port  # noqa: E402
from tests.slow_drip import SlowDripServer  # noqa: E402

TARGET = 1.5
A_WEBHOOK_LIMIT = 20  # A's endpoint may take this many a second; it sends far more
A_FLOOD_THREADS = 4  # processes
A_FLOOD_RATE = 200.0  # webhooks a second: ten times A's limit
# An attacker's client runs on the attacker's machine, not on ours: here it must share our two cores, so it runs at
# the lowest CPU priority, leaving the cores to what the product does with its requests (the gateway's refusals,
# A's accepted events and their deliveries, all at normal priority). --flood-nice 0 measures it as an equal.
A_FLOOD_NICE = 19
A_TEST_THREADS = 8
WARM_SECONDS = 10.0  # at least this long at B's rate before anything is measured
NOISE = ("flood", "tests", "bomb")  # the flood's accepted events go to A's four dripping subscriptions


def setup(receiver: Receiver, drip: SlowDripServer):
    from django_tenants.utils import schema_context

    from apps.accounts.audit.services import Actor
    from apps.accounts.models import Membership, User
    from apps.accounts.services import tenant_create
    from apps.accounts.tokens import token_pair
    from apps.agents.models import KnowledgeCollection
    from apps.connectors.models import Connection
    from apps.integrations.inbound import endpoint_create
    from apps.integrations.outbound import subscription_create

    actor = Actor.system("bench")
    made = {}
    for slug in ("tenant-a", "tenant-b"):
        tenant = tenant_create(name=f"Bench {slug}", slug=slug, actor=actor)
        user = User.objects.create_user(email=f"owner@{slug}.bench", password="bench-password-2026")
        Membership.objects.create(user=user, tenant=tenant, role="owner")
        with schema_context(tenant.schema_name):
            endpoint, shown = endpoint_create(
                tenant=tenant, actor=actor, user_id=None, name="bench", connection=None, scheme="standard_webhooks"
            )
        made[slug] = {
            "tenant": tenant,
            "endpoint": endpoint,
            "secret": shown["signing_secret"],
            "token": token_pair(user=user, tenant=tenant)["access"],
        }
    forward_orders(made["tenant-b"]["tenant"], actor, receiver)
    a = made["tenant-a"]["tenant"]
    with schema_context(a.schema_name):
        for number in range(4):
            subscription_create(
                tenant=a, actor=actor, user_id=None, url=drip.url(f"/slow/{number}"), event_types=["custom.*"]
            )
        made["tenant-a"]["connection"] = Connection.objects.create(
            provider="wordpress",
            name="Dripping blog",
            config={"site_url": drip.url(), "username": "bench"},
            credentials={"application_password": "abcd efgh ijkl mnop qrst uvwx"},
            status=Connection.Status.ACTIVE,
        ).pk
        made["tenant-a"]["collection"] = KnowledgeCollection.objects.create(name="Bombs").pk
    from apps.accounts.models import TenantQuota

    TenantQuota.objects.update_or_create(tenant=a, defaults={"webhook_requests_per_second": A_WEBHOOK_LIMIT})
    return made


def zip_bomb() -> bytes:
    """A Word package whose document part inflates to 200 MB of zeros (about 200 kB on the wire)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with package.open("word/document.xml", "w", force_zip64=True) as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(200):
                part.write(block)
    return out.getvalue()


class Measure:
    """B's webhooks at a steady rate for a while: when each was accepted, and the failures."""

    def __init__(self, sender: Sender, url: str, signer, prefix: str):
        self.sender, self.url, self.signer, self.prefix = sender, url, signer, prefix
        self.accepted: dict[str, float] = {}
        self.failures: list[str] = []
        self.elapsed = 0.0

    def run(self, seconds: float, rate: float) -> None:
        interval, count = 1.0 / rate, int(seconds * rate)
        futures = []
        started = time.monotonic()
        for number in range(count):
            pause = started + number * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            msg_id = f"{self.prefix}_{number:06d}"
            request = signed_request(self.url, self.signer, msg_id, number)
            futures.append((msg_id, self.sender.pool.submit(self.sender.post, request)))
        for msg_id, future in futures:
            status, _latency, answered, detail = future.result()
            if status == 200:
                self.accepted[msg_id] = answered
            else:
                self.failures.append(detail)
        self.elapsed = time.monotonic() - started

    def latencies(self, receiver: Receiver, path: str) -> list[float]:
        with receiver.lock:
            got = dict(receiver.received)
        return [got[(path, m)] - t for m, t in self.accepted.items() if (path, m) in got]


class Neighbour:
    """Tenant A's noise until stopped: a webhook flood and slow connection tests (from processes of A's own), a
    zip bomb."""

    def __init__(self, base: str, a: dict, noise: set[str], flood_rate: float, flood_nice: int):
        import httpx

        self.httpx, self.base, self.a, self.flood_rate, self.flood_nice = httpx, base, a, flood_rate, flood_nice
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.test_seconds: list[float] = []
        self.bomb: tuple[int, str] | None = None
        self.health: list[float] = []
        self.threads = [threading.Thread(target=self.watch_health, daemon=True)]
        self.flood_wanted, self.lanes = "flood" in noise, []
        if "flood" in noise:
            self.threads += [threading.Thread(target=self.flood, daemon=True)]
        self.tests_wanted = "tests" in noise
        if self.tests_wanted:
            self.threads += [threading.Thread(target=self.connection_tests, daemon=True)]
        if "bomb" in noise:
            self.threads += [threading.Thread(target=self.upload_bomb, daemon=True)]

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def prepare(self) -> None:
        """Starts A's client processes (the flood's lanes, the connection tests), waiting for `start`: their
        interpreters' start-up (imports, about a second of CPU each) belongs to A's machine, not to the phase that
        is measured, and A's clients do not share the interpreter (and its GIL) of B's sender and of the receiver
        that times B's deliveries."""
        context = multiprocessing.get_context("spawn")
        self.flood_results, self.flood_stop, self.flood_go = context.Queue(), context.Event(), context.Event()
        self.tests_results = context.Queue()
        if self.tests_wanted:
            url = f"{self.base}/api/v1/connections/{self.a['connection']}/test/"
            self.tester = context.Process(
                target=tests_lane,
                args=(url, self.a["token"], A_TEST_THREADS, self.flood_nice, self.flood_go, self.flood_stop,
                      self.tests_results),
                daemon=True,
            )  # fmt: skip
            self.tester.start()
        if not self.flood_wanted:
            return
        url = f"{self.base}/hooks/{self.a['endpoint'].token}/"
        rate = self.flood_rate / A_FLOOD_THREADS
        self.lanes = [
            context.Process(
                target=flood_lane,
                args=(url, self.a["secret"], n, rate, self.flood_nice, self.flood_go, self.flood_stop,
                      self.flood_results),
                daemon=True,  # a bench that fails before the noisy phase does not wait for them
            )
            for n in range(A_FLOOD_THREADS)
        ]  # fmt: skip
        for lane in self.lanes:
            lane.start()

    def flood(self) -> None:
        """A's flood from processes of its own (see `prepare`). They share the machine's two cores, at the CPU
        priority `flood_nice` (see --flood-nice)."""
        self.flood_go.set()
        self.stop.wait()
        self.flood_stop.set()
        for _ in self.lanes:
            for key, value in self.flood_results.get(timeout=60).items():
                with self.lock:
                    self.counts[key] = self.counts.get(key, 0) + value
        for lane in self.lanes:
            lane.join(timeout=10)

    def connection_tests(self) -> None:
        """A's slow connection tests from a process of its own (see `prepare`)."""
        self.flood_go.set()
        self.stop.wait()
        self.flood_stop.set()
        counts = self.tests_results.get(timeout=120)
        with self.lock:
            self.test_seconds += counts.pop("seconds")
            for key, value in counts.items():
                self.counts[key] = self.counts.get(key, 0) + value
        self.tester.join(timeout=10)

    def upload_bomb(self) -> None:
        files = {"file": ("report.docx", zip_bomb(), "application/octet-stream")}
        data = {"collection": str(self.a["collection"])}
        headers = {"Authorization": f"Bearer {self.a['token']}", "Host": "localhost"}
        try:
            response = self.httpx.post(
                f"{self.base}/api/v1/knowledge/documents/", data=data, files=files, headers=headers, timeout=60
            )
            self.bomb = (response.status_code, response.text[:200])
        except self.httpx.HTTPError as exc:
            self.bomb = (0, type(exc).__name__)

    def watch_health(self) -> None:
        with self.httpx.Client(timeout=30) as client:
            while not self.stop.wait(0.5):
                started = time.monotonic()
                try:
                    client.get(f"{self.base}/healthz")
                    self.health.append(time.monotonic() - started)
                except self.httpx.HTTPError:
                    self.health.append(30.0)


def tests_lane(url: str, token: str, threads: int, nice: int, go, stop, results) -> None:
    """A's connection tests against its dripping site, `threads` at a time in this process, once `go` is set, at
    CPU priority `nice` (A's client, like the flood's)."""
    os.nice(nice)
    import httpx

    counts: dict = {"seconds": []}
    lock = threading.Lock()

    def tester() -> None:
        headers = {"Authorization": f"Bearer {token}", "Host": "localhost"}
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = client.post(url, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    counts[f"connection test {status}"] = counts.get(f"connection test {status}", 0) + 1
                    if status == 200:
                        counts["seconds"].append(time.monotonic() - started)
                if status == 429:
                    stop.wait(0.2)  # told to come back: a polite client would wait Retry-After

    go.wait()
    pool = [threading.Thread(target=tester, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=90)
    results.put(counts)


def flood_lane(url: str, secret: str, lane: int, rate: float, nice: int, go, stop, results) -> None:
    """One of A's flooding clients, in its own process: once `go` is set, `rate` signed webhooks a second (0: as
    fast as the gateway answers), at CPU priority `nice`."""
    os.nice(nice)
    import httpx
    from standardwebhooks.webhooks import Webhook

    signer, counts, number = Webhook(secret), {}, 0
    go.wait()
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            if rate:
                pause = started + number / rate - time.monotonic()
                if pause > 0:
                    stop.wait(pause)
            msg_id = f"msg_a_{lane}_{number:07d}"
            _url, headers, body = signed_request(url, signer, msg_id, number)
            number += 1
            try:
                status = client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            counts[f"webhook {status}"] = counts.get(f"webhook {status}", 0) + 1
    results.put(counts)


def stuck(schema: str, ids: set[str]) -> int:
    """B's accepted events not fully processed: not fanned out, or a delivery not succeeded."""
    from django_tenants.utils import schema_context

    from apps.integrations.models import Delivery, Event

    with schema_context(schema):
        events = Event.objects.filter(external_id__in=list(ids))
        not_processed = events.exclude(status=Event.Status.PROCESSED).count() + (len(ids) - events.count())
        undelivered = Delivery.objects.filter(event__in=events).exclude(status=Delivery.Status.SUCCEEDED).count()
    return not_processed + undelivered


def stages(schema: str, ids: set[str]) -> str:
    """Where B's time went, from the rows: accept -> fanned out, fanned out -> delivered (p50 / p99)."""
    from django_tenants.utils import schema_context

    from apps.integrations.models import Delivery, Event

    with schema_context(schema):
        events = Event.objects.filter(external_id__in=list(ids), processed_at__isnull=False)
        fan = [(e.processed_at - e.received_at).total_seconds() for e in events]
        sent = [
            (d.succeeded_at - d.event.processed_at).total_seconds()
            for d in Delivery.objects.filter(event__in=events, succeeded_at__isnull=False).select_related("event")
        ]
    if not fan or not sent:
        return "no rows"
    return (
        f"accept -> fanned out p50 {percentile(fan, 0.5) * 1000:.0f} / p99 {percentile(fan, 0.99) * 1000:.0f} ms, "
        f"fanned out -> delivered p50 {percentile(sent, 0.5) * 1000:.0f} / p99 {percentile(sent, 0.99) * 1000:.0f} ms"
    )


def wait_delivered(receiver: Receiver, ids: set[str], workers: Workers, timeout: float) -> int:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if receiver.count(ids) >= 2 * len(ids):
            break
        workers.check()
        time.sleep(0.05)
    return receiver.count(ids)


def summary(label: str, measure: Measure, receiver: Receiver) -> tuple[float, float]:
    direct = measure.latencies(receiver, "/direct")
    via_rule = measure.latencies(receiver, "/rule")
    both = direct + via_rule
    p50, p99 = percentile(both, 0.5), percentile(both, 0.99)
    print(
        f"{label}: {len(measure.accepted) / measure.elapsed:.1f} accepted/s | accept -> delivery "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (subscription p99 {percentile(direct, 0.99) * 1000:.0f} "
        f"ms, rule p99 {percentile(via_rule, 0.99) * 1000:.0f} ms; {len(both)} deliveries)"
    )
    return p50, p99


def wait_model_loaded(child: Child, url: str, timeout: float = 240.0) -> None:
    """Until the gateway's /readyz reports the embedding model loaded (the bench starts no Temporal server, so
    /readyz as a whole answers 503; only the model's component counts here)."""
    import httpx

    deadline, loaded = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with status {child.process.returncode}\n{child.tail()}")
        try:
            state = httpx.get(url, timeout=5.0).json()["components"]["embedding_model"]["status"]
        except (httpx.HTTPError, ValueError, KeyError):
            state = "error"
        loaded = loaded + 1 if state == "ok" else 0
        if loaded >= 3:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{child.name} did not load its embedding model within {timeout:.0f} s\n{child.tail()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    parser.add_argument("--rate", type=float, default=10.0, help="B's webhooks a second (default 10)")
    parser.add_argument(
        "--flood-rate",
        type=float,
        default=A_FLOOD_RATE,
        help=f"A's webhooks a second, all lanes together (default {A_FLOOD_RATE:g}; 0: as fast as the gateway answers)",
    )
    parser.add_argument(
        "--noise",
        default=",".join(NOISE),
        help=f"A's kinds of noise, comma-separated (default all: {','.join(NOISE)}); to see which one costs B",
    )
    parser.add_argument(
        "--flood-nice",
        type=int,
        default=A_FLOOD_NICE,
        help=f"CPU priority (nice) of A's client processes (default {A_FLOOD_NICE}; 0: the same as ours)",
    )
    parser.add_argument("--keep-logs", metavar="DIR", help="copy every process's log to DIR at the end")
    args = parser.parse_args()
    noise = set(filter(None, args.noise.split(",")))
    if noise - set(NOISE):
        parser.error(f"unknown noise: {', '.join(sorted(noise - set(NOISE)))}")

    wall = time.monotonic()
    local_dir = configure()
    os.environ["CONNECTORS_ALLOW_LOOPBACK"] = "true"  # A's dripping site and the receivers are on loopback
    infra = Infra.from_env()
    started = [server for server in (infra.postgres, infra.redis) if not server.status().running]
    children: list[Child] = []
    sender = receiver = None
    drip = SlowDripServer(interval=2.0, body_bytes=100_000)
    try:
        for server in started:
            server.up()
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from standardwebhooks.webhooks import Webhook

        from apps.accounts.services import public_tenant_ensure

        public_tenant_ensure()
        drip.__enter__()
        receiver = Receiver()
        made = setup(receiver, drip)
        b = made["tenant-b"]
        base = f"http://127.0.0.1:{free_port()}"
        gateway = spawn("gateway", gunicorn_args("bizosaas.wsgi", base[7:]), local_dir)
        children.append(gateway)
        wait_healthy(gateway, f"{base}/healthz")
        workers = Workers(local_dir, children)
        sender = Sender(8)
        url = f"{base}/hooks/{b['endpoint'].token}/"
        signer = Webhook(b["secret"])
        print(f"setup: {time.monotonic() - wall:.1f} s", flush=True)
        neighbour = Neighbour(base, made["tenant-a"], noise, args.flood_rate, args.flood_nice)
        neighbour.prepare()  # A's client processes start now and wait

        wait_model_loaded(gateway, f"{base}/readyz")
        print(f"gateway ready (embedding model loaded): {time.monotonic() - wall:.1f} s", flush=True)
        # The first requests and tasks of a fresh process pay for imports, first connections and caches; B's
        # baseline must not. Warm up at the measured rate until every delivery of it has arrived, then let the
        # processes settle before the alone phase starts.
        warm = Measure(sender, url, signer, "msg_warm")
        warm.run(max(WARM_SECONDS, args.seconds / 2), args.rate)
        if wait_delivered(receiver, set(warm.accepted), workers, 120) < 2 * len(warm.accepted):
            raise RuntimeError(f"warm-up deliveries did not arrive\n{workers.tail()}")
        summary("  warm-up (not measured)", warm, receiver)
        time.sleep(3)

        quiet = Measure(sender, url, signer, "msg_quiet")
        quiet.run(args.seconds, args.rate)
        wait_delivered(receiver, set(quiet.accepted), workers, 60)

        neighbour.start()
        time.sleep(2)  # A's noise is under way before B's measured phase starts
        noisy = Measure(sender, url, signer, "msg_noisy")
        noisy.run(args.seconds, args.rate)
        wait_delivered(receiver, set(noisy.accepted), workers, 60)
        neighbour.finish()

        print()
        print(f"tenant B: {args.rate:g} signed webhooks/s for {args.seconds:g} s, one subscription + one rule")
        _q50, q99 = summary("  alone        ", quiet, receiver)
        _n50, n99 = summary("  with A noisy ", noisy, receiver)
        ratio = n99 / q99 if q99 else float("inf")
        print(f"  -> p99 ratio {ratio:.2f} (target <= {TARGET})")
        print(f"  where B's time went, alone:   {stages(b['tenant'].schema_name, set(quiet.accepted))}")
        print(f"  where B's time went, noisy:   {stages(b['tenant'].schema_name, set(noisy.accepted))}")
        lost = stuck(b["tenant"].schema_name, set(quiet.accepted) | set(noisy.accepted))
        refused_b = len(quiet.failures) + len(noisy.failures)
        print(f"  B's events lost or stuck: {lost}; B's webhooks refused: {refused_b}")
        counts = neighbour.counts
        sent = sum(v for k, v in counts.items() if k.startswith("webhook"))
        print(
            f"tenant A: {sent} webhooks sent ({sent / (args.seconds + 2):.0f}/s, limit {A_WEBHOOK_LIMIT}/s): "
            f"{counts.get('webhook 200', 0)} accepted, {counts.get('webhook 429', 0)} refused 429 "
            f"(its clients at nice {args.flood_nice})"
        )
        tests = {k.split()[-1]: v for k, v in counts.items() if k.startswith("connection test")}
        longest = max(neighbour.test_seconds, default=0.0)
        print(f"  connection tests against a dripping site: {tests} (longest answered {longest:.1f} s)")
        print(f"  zip bomb upload: {neighbour.bomb}")
        if neighbour.health:
            print(
                f"  /healthz during the noise: p50 {percentile(neighbour.health, 0.5) * 1000:.0f} ms, "
                f"max {max(neighbour.health) * 1000:.0f} ms ({len(neighbour.health)} probes)"
            )
        dead = workers.exited()
        print(f"workers: {'all alive' if dead is None else f'{dead.name} exited'}")
        print(f"total wall time: {time.monotonic() - wall:.1f} s")
        ok = (
            lost == 0 and refused_b == 0 and dead is None and ("flood" not in noise or counts.get("webhook 429", 0) > 0)
        )
        if not ok:
            print("FAIL: B lost or stuck events, B was refused, a worker died, or A's excess was not refused")
        return 0 if ok else 1
    finally:
        if sender is not None:
            sender.close()
        for child in reversed(children):
            child.stop()
        if receiver is not None:
            receiver.stop()
        drip.__exit__(None, None, None)
        from django.db import connection

        connection.close()
        for server in reversed(started):
            server.down()
        if args.keep_logs:
            shutil.copytree(Path(local_dir) / "log", args.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
