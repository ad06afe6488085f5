"""End-to-end fixtures: the real gateway (pytest-django's live server on the test database and the embedded
servers), a Celery worker thread, the built Next.js portal in front of it, and the system Chromium driven by
Playwright. Screenshots of each step are kept under portal/test-results/<test>/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from bizosaas.infra import free_port

PORTAL = Path(__file__).resolve().parents[2] / "portal"
ARTEFACTS = PORTAL / "test-results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Chromium is not installed: `make test` installs the system package (apt-get install chromium).")


DIST = os.environ.get("NEXT_DIST_DIR", ".next")


def _portal_built() -> bool:
    build_id = PORTAL / DIST / "BUILD_ID"
    if not build_id.exists() or not (PORTAL / DIST / "standalone" / DIST / "static").is_dir():
        return False
    built = build_id.stat().st_mtime
    sources = [p for d in ("app", "components", "lib", "scripts") for p in (PORTAL / d).rglob("*") if p.is_file()]
    return all(p.stat().st_mtime <= built for p in sources)


@pytest.fixture(scope="session")
def portal_build():
    if not (PORTAL / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PORTAL, check=True)
    if not _portal_built():
        subprocess.run(
            ["npm", "run", "build"], cwd=PORTAL, check=True, env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
        )
    return PORTAL


@pytest.fixture(scope="session")
def celery_worker_thread(embedded_servers):
    """Webhook fan-out, deliveries, agent runs and knowledge ingestion, as in production: through the broker."""
    from celery.contrib.testing.worker import start_worker

    from bizosaas.celery import app as celery_app

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture(scope="session")
def portal_url(portal_build, live_server):
    port = free_port()
    env = {
        **os.environ,
        "NEXT_TELEMETRY_DISABLED": "1",
        "GATEWAY_URL": live_server.url,
        "PORTAL_SECURE_COOKIES": "0",
        "PORT": str(port),
        "PORTAL_HOST": "127.0.0.1",
    }
    process = subprocess.Popen(  # the standalone server, as `make run` starts it (portal/scripts/start.mjs)
        ["node", str(PORTAL / "scripts" / "start.mjs")],
        cwd=PORTAL,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the portal stopped: {process.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the portal did not start within 60 s")
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    """One browser per test module: Playwright's sync API runs an event loop in this thread while it lives, which
    tests that call asyncio.run() (the workflow tests) must not meet, whatever order pytest-django gives them."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django's guard against database calls from
    # async code would refuse the tests' own (synchronous) queries while it lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Steps:
    """Screenshots named in order, one folder per test."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def page(browser, portal_url, request):
    context = browser.new_context(base_url=portal_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.steps = Steps(page, ARTEFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        page.steps.shot("failure")
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def unique_slug(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register(api_client, *, email: str, password: str = "correct horse battery", slug: str | None = None) -> dict:
    """A person with a workspace of their own, through the API (a test's precondition, not what it tests)."""
    slug = slug or unique_slug()
    response = api_client.post(
        "/api/v1/auth/register/",
        {"email": email, "password": password, "tenant_name": slug.title(), "tenant_slug": slug},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return {"email": email, "password": password, "slug": slug, **response.json()}


def login(page, *, email: str, password: str, tenant: str = "") -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    if tenant:
        page.get_by_label("Workspace (optional)").fill(tenant)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard**")
