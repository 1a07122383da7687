"""The login limit per address across several servers: with LIFECYCLE_RATELIMIT_STORAGE_URI
pointing at one Redis, attempts spread over two `lifecycle serve` processes (four workers) are
counted together. Runs a real redis-server; skipped, visibly, where none is installed."""
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.servers import free_port, server_env, start_server, stop_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
]


@pytest.fixture
def redis_url(tmp_path):
    pytest.importorskip("redis", reason="the redis client package is not installed (pip install '.[redis]')")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait()


def _attempt(base: str) -> int:
    """One failed login through the real form (CSRF token and cookie of a fresh browser)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    page = opener.open(f"{base}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"login": "nobody", "password": "x" * 12, "csrf_token": token}).encode()
    try:
        return opener.open(f"{base}/login", data=form, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_two_servers_share_the_login_limit_through_redis(world, app, tmp_path, redis_url):
    url = app.config["DATABASE_URL"]
    servers, bases = [], []
    try:
        for name in ("a", "b"):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = server_env(tmp_path / name, base, url, LIFECYCLE_RATELIMIT_STORAGE_URI=redis_url)
            env["LIFECYCLE_LOGIN_RATE_LIMIT"] = "4 per minute"
            servers.append(start_server(tmp_path / name, port, env))
            bases.append(base)
        statuses = [_attempt(bases[i % 2]) for i in range(6)]
        assert statuses[:4] == [401, 401, 401, 401]
        assert statuses[4:] == [429, 429]  # the fifth attempt is refused, whichever server gets it
    finally:
        for server in servers:
            stop_server(server)
