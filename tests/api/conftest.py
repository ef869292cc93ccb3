"""API conformance suite: the real `ollmlx serve` binary driven by the official `ollama` and
`openai` Python clients and by raw HTTP, on the SmolLM2-135M fixture (real weights).

Environment: OLLMLX_BIN (the binary), OLLMLX_FIXTURES (tests/fixtures/generated). The server runs
on a free loopback port with its own empty model store (OLLMLX_MODELS, HF_HUB_CACHE) and
HF_HUB_OFFLINE=1, so nothing outside the test is read or written.
"""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

MODEL = "smollm2:135m"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fixture_model():
    root = os.environ.get("OLLMLX_FIXTURES", os.path.join(os.path.dirname(__file__), "..", "fixtures", "generated"))
    path = os.path.abspath(os.path.join(root, "smollm2"))
    if not os.path.exists(os.path.join(path, "model.safetensors")):
        if os.environ.get("OLLMLX_REQUIRE_FIXTURES") == "1":
            pytest.fail(f"missing fixture {path} (run tools/prepare_test_data.sh)")
        pytest.skip(f"missing fixture {path}")
    return path


class Server:
    def __init__(self, url, proc, log_path, env):
        self.url, self.proc, self.log_path, self.env = url, proc, log_path, env

    def request(self, method, path, body=None, headers=None, raw=None):
        """Returns (status, headers, body bytes) without raising on HTTP errors."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, hdrs, (json.loads(data) if data else None)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def start_server(tmp, extra_env=None):
    binary = os.environ.get("OLLMLX_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "ollmlx"))
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLMLX_MODELS": os.path.join(tmp, "models"),
        "HF_HUB_CACHE": os.path.join(tmp, "hub"),
        "HF_HUB_OFFLINE": "1",
        "OLLMLX_NUM_THREADS": "2",
        "OLLAMA_NUM_PARALLEL": "4",
    })
    env.pop("OLLMLX_HOST", None)
    env.pop("OLLMLX_API_KEY", None)
    env.update(extra_env or {})
    log_path = os.path.join(tmp, f"serve-{port}.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError("ollmlx serve exited:\n" + open(log_path).read())
        try:
            urllib.request.urlopen(url + "/", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    else:
        raise RuntimeError("ollmlx serve did not start")
    return Server(url, proc, log_path, env)


def stop_server(server):
    server.proc.terminate()
    try:
        rc = server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise
    return rc


@pytest.fixture(scope="session")
def server():
    model_dir = _fixture_model()
    with tempfile.TemporaryDirectory(prefix="ollmlx-api-") as tmp:
        s = start_server(tmp)
        status, _, body = s.json("POST", "/api/create", {"model": MODEL, "from": model_dir, "stream": False})
        assert status == 200 and body == {"status": "success"}, (status, body)
        s.model_dir = model_dir
        yield s
        rc = stop_server(s)
        assert rc == 0, s.log()
        assert "AddressSanitizer" not in s.log()


@pytest.fixture(scope="session")
def url(server):
    return server.url
