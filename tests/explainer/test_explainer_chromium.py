"""The explainer page in a real browser: headless Chromium (Debian's ``chromium``) loads it from a live server.

Installs the package when it is missing (``apt-get install -y chromium``; the tests run as root, as in CI). Only a
machine without apt skips it (with the reason); where apt is there, a failed install fails the test, so CI cannot
pass without the browser check.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.explainer.conftest import TTL_S, explainer_app, explainer_links, hook_body

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    reason = None
    if shutil.which("apt-get") is None:
        reason = "headless Chromium test skipped: chromium is not installed and apt-get is unavailable"
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env,
                                 capture_output=True, text=True, timeout=900)
        if install.returncode != 0:  # the package lists may be missing on a fresh machine
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900)
            install = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env,
                                     capture_output=True, text=True, timeout=900)
        found = shutil.which("chromium")
        if found:
            return found
        pytest.fail(f"apt-get install chromium failed: {install.stderr[-300:]}")
    pytest.skip(reason)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """Request lines carry the token: never logged."""


@pytest.fixture
def live_server(tmp_path, clock):
    app = explainer_app(tmp_path, clock)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def dump_dom(chromium: str, url: str, profile) -> str:
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout


def test_the_page_renders_in_headless_chromium(live_server, clock, tmp_path):
    chromium = chromium_binary()
    resp = requests.post(f"{live_server}/cds-services/cardiovascular-risk", json=hook_body(), timeout=30)
    assert resp.status_code == 200
    urls = explainer_links(resp.json())
    assert urls and all(u.startswith(live_server + "/explain/") for u in urls)

    dom = dump_dom(chromium, urls[0], tmp_path / "profile")
    assert "<svg" in dom and "</svg>" in dom  # the plots, inline
    for evidence in ("How this was calculated", "Total cholesterol", "213", "HDL cholesterol", "Systolic blood pressure",
                     "Goff DC Jr", "doi.org/10.1161/01.cir.0000437741.48606.98", "How each term contributed"):
        assert evidence in dom, evidence
    shot = tmp_path / "page.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=820,1180",
                    f"--screenshot={shot}", urls[0]], capture_output=True, timeout=60)
    assert shot.exists() and shot.stat().st_size > 10_000  # a tablet-sized page rendered, not an empty frame

    # A middle character of the signature (the last base64 character carries padding bits and may decode the same).
    forged = urls[0][:-10] + ("A" if urls[0][-10] != "A" else "B") + urls[0][-9:]
    dom = dump_dom(chromium, forged, tmp_path / "profile")
    assert "Explanation not found" in dom and "Total cholesterol" not in dom and "<svg" not in dom

    clock.offset = TTL_S + 5
    dom = dump_dom(chromium, urls[0], tmp_path / "profile")
    assert "Explanation expired" in dom and "Total cholesterol" not in dom and "<svg" not in dom
