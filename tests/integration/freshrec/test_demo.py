"""`freshrec demo` starts the worker, the shop and the API, prints the page URL, and Ctrl-C stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from freshrec.stack.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_demo_serves_the_page_and_stops_everything_on_ctrl_c(settings, kafka_bootstrap, redis_url, unique,
                                                            redis_client):
    env = dict(os.environ, FRESHREC_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, FRESHREC_REDIS_URL=settings.redis_url,
               FRESHREC_REDIS_PREFIX=f"d{unique}:", FRESHREC_WORKER_APP_ID=f"demo-{unique}",
               FRESHREC_TOPIC_EVENTS=f"test.d{unique}.events", FRESHREC_TOPIC_CATALOG=f"test.d{unique}.catalog",
               FRESHREC_TOPIC_DEAD_LETTER=f"test.d{unique}.dlq", FRESHREC_TOPIC_ITEM_UPDATES=f"test.d{unique}.items",
               FRESHREC_STACK_DIR=str(settings.resolved_stack_dir))
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "freshrec", "demo", "--port", str(port), "--shop-rate", "5",
                             "--shop-users", "100", "--shop-items", "60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    children: list[psutil.Process] = []
    try:
        url = None
        deadline = time.monotonic() + 150
        lines = []
        while url is None and time.monotonic() < deadline and demo.poll() is None:
            line = demo.stdout.readline()
            lines.append(line)
            if m := re.search(r"open (http://\S+/)", line):
                url = m.group(1)
        assert url == f"http://127.0.0.1:{port}/", "".join(lines)
        children = psutil.Process(demo.pid).children()
        assert len(children) == 3, ([c.cmdline() for c in children], _logs(settings))  # worker, shop, api
        assert httpx.get(url + "health", timeout=5).json()["redis"] == "up"
        # the terminal follows the worker's warm-up until the page has something to show
        while demo.poll() is None and not any("worker ready after" in line for line in lines):
            lines.append(demo.stdout.readline())  # the test's timeout bounds a demo that never says it
        out_so_far = "".join(lines)
        assert "the worker is warming up" in out_so_far and "worker ready after" in out_so_far, out_so_far
        # the shop's catalog reaches the worker, the worker writes trending, the index page finds an item
        end = time.monotonic() + 150
        page = None
        while time.monotonic() < end:
            res = httpx.get(url, follow_redirects=True, timeout=5)
            if res.status_code == 200 and "/p/" in str(res.url):
                page = res
                break
            time.sleep(0.5)
        assert page is not None, f"the index never redirected to a product page:\n{_logs(settings)}"
        assert "Recommended for you" in page.text
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0
        for name in ("worker", "shop", "api"):
            assert f"stopped {name}" in out
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive
    finally:
        if demo.poll() is None:
            demo.kill()
        for child in children:
            if child.is_running():
                child.kill()
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics([t for t in admin.list_topics() if unique in t])
        except Exception:  # noqa: BLE001 - cleanup must not mask the result
            pass
        admin.close()


def _logs(settings) -> str:
    out = []
    for name in ("worker", "shop", "api"):
        path = settings.resolved_stack_dir / "demo" / f"{name}.log"
        if path.exists():
            out.append(f"--- {name}.log\n" + path.read_text(errors="replace")[-1500:])
    return "\n".join(out)
