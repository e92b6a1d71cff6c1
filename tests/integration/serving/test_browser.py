"""The demo page in a real browser (Debian's chromium + chromedriver) against the real stack.

A visitor opens a product page, clicks a recommendation, and the new page's list must be the one the
worker computed after that click (its context item is the clicked item) within a timeout. Everything
runs as an operator would run it: `freshrec worker` and `freshrec serve` as child processes on topics
and a Redis key prefix of this test's own. Seed data goes through Kafka (catalog and other users'
sessions), so the co-visitation lists the page shows were learned by the worker.

The worker must stay up throughout: every wait fails at once, with the worker's log, if it exits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from contracts.events import CatalogItem, Event, encode_event, encode_item
from contracts.redis_keys import Keys
from freshrec.stack.process import free_port

from ..waiting import wait_until
from ..workers import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CATALOG = [CatalogItem(item_id=f"s{n}", title=f"Trail shoe {n}", category=["Shoes", "Trail"], brand="Acme",
                       price=80.0 + n) for n in range(1, 7)] + \
          [CatalogItem(item_id=f"k{n}", title=f"Wool sock {n}", category=["Socks"], brand="Knit", price=9.0 + n)
           for n in range(1, 7)]
# other shoppers' sessions: shoes viewed together, socks bought with shoes
SESSIONS = [["s1", "s2", "k1"], ["s1", "s3", "s2"], ["s2", "s4", "k2"], ["s3", "s4", "k3"], ["s1", "s2", "s3"],
            ["s4", "s5", "k4"], ["s5", "s6", "k5"], ["s2", "s5", "s6"], ["s6", "s1", "k6"], ["s3", "s5", "s4"]]


def _wait(condition, timeout: float, what: str):
    return wait_until(condition, timeout, what, interval=0.2)


@pytest.fixture
def env(settings, kafka_bootstrap, redis_url, unique):
    """Environment of the child processes: this test's own topics, consumer group and key prefix."""
    out = dict(os.environ)
    out.update({
        "FRESHREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "FRESHREC_REDIS_URL": settings.redis_url,
        "FRESHREC_REDIS_READ_URL": settings.reader_url, "FRESHREC_REDIS_WRITE_URL": settings.writer_url,
        "FRESHREC_REDIS_PREFIX": f"b{unique}:", "FRESHREC_WORKER_APP_ID": f"browser-{unique}",
        "FRESHREC_TOPIC_EVENTS": f"test.b{unique}.events", "FRESHREC_TOPIC_CATALOG": f"test.b{unique}.catalog",
        "FRESHREC_TOPIC_DEAD_LETTER": f"test.b{unique}.dlq", "FRESHREC_TOPIC_ITEM_UPDATES": f"test.b{unique}.items",
        "FRESHREC_TRENDING_INTERVAL_S": "0.5",
    })
    yield out
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_topics([t for t in admin.list_topics() if unique in t])  # changelogs too
    except Exception:  # noqa: BLE001 - cleanup must not mask the test's result
        pass
    admin.close()


def _spawn(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "freshrec", *argv], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Worker:
    """`freshrec worker` of this test; a wait on it fails as soon as it exits, with its log."""

    def __init__(self, env: dict, log: Path):
        self.process = WorkerProcess(env, log)  # the integration tests' one worker helper
        self.log = log

    def exited(self) -> str | None:
        proc = self.process.proc
        if proc is None or proc.poll() is None:
            return None
        return f"`freshrec worker` exited with {proc.returncode}; its log:\n" + \
            self.log.read_text(errors="replace")[-3000:]

    def wait(self, condition, timeout: float, what: str):
        def alive_and():
            if (why := self.exited()) is not None:
                raise AssertionError(f"while waiting for {what}: {why}")
            return condition()
        return _wait(alive_and, timeout, what)


@pytest.fixture
def stack(env, tmp_path, redis_client, unique):
    """The worker and the API running on this test's topics; yields (base_url, keys, worker)."""
    keys = Keys(env["FRESHREC_REDIS_PREFIX"])
    worker = Worker(env, tmp_path / "worker.log")
    worker.process.start()
    procs = [worker.process.proc]
    try:
        port = free_port()
        api = _spawn(["serve", "--port", str(port)], env, tmp_path / "api.log")
        procs.append(api)
        base = f"http://127.0.0.1:{port}"
        # the worker creates its topics first thing; seed data is produced once they exist
        worker.wait(lambda: _topic_exists(env), 60, "the worker to create its topics")
        _create_topics(env)
        _produce_seed(env)
        worker.wait(lambda: redis_client.exists(keys.item("s1"), keys.item_recs("s1")) == 2, 90,
                    "the worker to store the catalog and s1's co-visitation list")
        worker.wait(lambda: _health(base), 30, "the API's /health")
        yield base, keys, worker
    finally:
        for proc in procs:
            _stop(proc)
        for name in ("worker.log", "api.log"):
            if (tmp_path / name).exists():
                print(f"--- {name} (tail)\n" + (tmp_path / name).read_text(errors="replace")[-2000:])


def _produce_seed(env: dict) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=env["FRESHREC_KAFKA_BOOTSTRAP"], acks="all")
    for item in CATALOG:
        producer.send(env["FRESHREC_TOPIC_CATALOG"], key=item.item_id.encode(), value=encode_item(item))
    start = int(time.time() * 1000) - 600_000
    for n, sess in enumerate(SESSIONS):
        for j, item_id in enumerate(sess):
            ev = Event(event_id=f"seed{n}x{j}", ts=start + n * 1000 + j * 100, user_id=f"shopper{n}",
                       session_id=f"seed{n}", item_id=item_id, type="view")
            producer.send(env["FRESHREC_TOPIC_EVENTS"], key=ev.user_id.encode(), value=encode_event(ev))
    producer.flush()
    producer.close()


def _health(base: str) -> bool:
    try:
        return httpx.get(base + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _topic_exists(env: dict) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=env["FRESHREC_KAFKA_BOOTSTRAP"])
    try:
        return env["FRESHREC_TOPIC_EVENTS"] in admin.list_topics()
    finally:
        admin.close()


def _create_topics(env: dict) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=env["FRESHREC_KAFKA_BOOTSTRAP"])
    existing = set(admin.list_topics())
    missing = [env[k] for k in ("FRESHREC_TOPIC_EVENTS", "FRESHREC_TOPIC_CATALOG") if env[k] not in existing]
    try:
        if missing:
            admin.create_topics([NewTopic(t, num_partitions=4, replication_factor=1) for t in missing])
    except TopicAlreadyExistsError:
        pass  # the worker made them meanwhile
    finally:
        admin.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} is missing: run scripts/system-deps.sh (installs chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _recs_state(driver) -> dict:
    return driver.execute_script("""
        const ol = document.getElementById('recs');
        return {source: ol.dataset.source, context: ol.dataset.contextItem, list: ol.dataset.listId,
                items: Array.from(ol.querySelectorAll('a')).map(a => a.dataset.item),
                reasons: Array.from(ol.querySelectorAll('.reason')).map(s => s.textContent)};""")


def _users_list_for(driver, item: str) -> dict | None:
    # the user's own list (not the item's list, which names the same context item), computed for `item`
    state = _recs_state(driver)
    return state if state["source"] == "user" and state["context"] == item and state["items"] else None


def _click_of(env, user: str) -> dict | None:
    """The user's click event as the page posted it to the events topic, if it is there yet."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(env["FRESHREC_TOPIC_EVENTS"], bootstrap_servers=env["FRESHREC_KAFKA_BOOTSTRAP"],
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    try:
        return next((ev for ev in map(json.loads, (m.value for m in consumer))
                     if ev["user_id"] == user and ev["type"] == "click"), None)
    finally:
        consumer.close()


def test_click_a_recommendation_and_the_next_page_reflects_it(stack, browser, tmp_path, redis_client, env):
    base, keys, worker = stack
    user = "shopper-browser"
    browser.get(f"{base}/p/s1?user={user}")
    assert browser.find_element("id", "title").text == "Trail shoe 1"
    assert "Shoes › Trail" in browser.find_element("id", "category").text
    # the page's own view of s1 reaches the worker, which writes this user's list for s1
    first = worker.wait(lambda: _users_list_for(browser, "s1"), 60, "the user's list for s1 on the first page")
    assert "s1" not in first["items"]
    assert all(first["reasons"]), "every recommendation shows its reason"

    target = first["items"][0]
    browser.find_element("css selector", f"#recs a[data-item='{target}']").click()
    _wait(lambda: browser.current_url.startswith(f"{base}/p/{target}"), 15, f"navigation to {target}")
    after = worker.wait(lambda: _users_list_for(browser, target), 60, f"the list computed after the click on {target}")
    assert target not in after["items"]
    assert after["list"] != first["list"]
    stored = json.loads(redis_client.hget(keys.user_recs(user), "body"))
    assert stored["context_item"] == target
    # the click carries the list it was picked from: the online ranker's negatives are the rest of it
    click = _wait(lambda: _click_of(env, user), 30, "the click event on the events topic")
    shown = click.get("shown") or []
    assert click["item_id"] == target and target in shown and len(shown) > 1, click
    # learned by the worker from the other shoppers: items co-viewed with the clicked one
    co_viewed = {i for sess in SESSIONS if target in sess for i in sess} - {target}
    assert set(after["items"]) & co_viewed
    _wait(lambda: browser.find_element("id", "p-age").text not in ("", "-"), 10, "the live panel")
    shot = tmp_path / "detail-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("FRESHREC_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "detail-page.png")
    assert worker.exited() is None, worker.exited()


@pytest.fixture
def api_only(env, tmp_path):
    """`freshrec serve` alone: the pages before any worker has written to Redis."""
    port = free_port()
    api = _spawn(["serve", "--port", str(port)], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: api.poll() is not None or _health(base), 30, "the API's /health")
        assert api.poll() is None, (tmp_path / "api.log").read_text(errors="replace")[-2000:]
        yield base, Keys(env["FRESHREC_REDIS_PREFIX"])
    finally:
        _stop(api)


def _text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def test_pages_show_the_worker_warming_up_then_the_first_product(api_only, browser, redis_client, write_list,
                                                                tmp_path):
    from .lists import rec_list

    base, keys = api_only
    # a product page before the worker's first list: it says what the worker is doing instead
    browser.get(f"{base}/p/s1?user=early")
    _wait(lambda: "Waiting for the worker" in _text(browser, "recs-meta"), 10, "the waiting note on the page")
    browser.get(f"{base}/")
    assert "Waiting for the worker" in _text(browser, "warm-status")
    redis_client.hset(keys.stats("worker"), mapping={"events": 57})  # what the worker counts first
    _wait(lambda: "warming up: 57 events processed" in _text(browser, "warm-status"), 10,
          "the processed-event count on the index")
    # the first trending list: the index opens that product by itself
    redis_client.set(keys.item("s1"), encode_item(CATALOG[0]))
    write_list(keys.trending(), rec_list("s1", "s2", "k1", reason="trending now"))
    _wait(lambda: browser.current_url.startswith(f"{base}/p/s1"), 10, "the index to open the first product")
    assert _text(browser, "title") == "Trail shoe 1"
    _wait(lambda: _text(browser, "p-events") == "57", 10, "events processed in the live panel")
    redis_client.hincrby(keys.stats("worker"), "events", 40)
    _wait(lambda: _text(browser, "p-rate").isdigit(), 10, "events/s in the live panel")
    shot = tmp_path / "warm-up.png"
    assert browser.save_screenshot(str(shot))
    keep = os.environ.get("FRESHREC_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "warm-up.png")
