"""Load (issue 4): 16 concurrent streaming chats with cancellations mixed in. Every request that
is not cancelled completes with its full answer, cancelled ones free their slots, and the server's
resident memory comes back to its level after the same work done by one stream at a time."""
import concurrent.futures
import http.client
import json
import urllib.parse

from conftest import MODEL

N = 16
TOKENS = 24


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def stream_chat(server, i, cancel_after):
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.request("POST", "/api/chat", body=json.dumps({
        "model": MODEL, "messages": [{"role": "user", "content": f"Write a sentence about the number {i}."}],
        "options": {"temperature": 0, "num_predict": TOKENS}}))
    r = conn.getresponse()
    assert r.status == 200
    text, last = "", None
    for n, line in enumerate(r):
        last = json.loads(line)
        assert "error" not in last, last
        text += last["message"]["content"]
        if cancel_after is not None and n + 1 >= cancel_after:
            conn.close()
            return None
    conn.close()
    assert last["done"], last
    return text, last["eval_count"]


def test_sixteen_streams_with_cancellations(server):
    # Reference answers and the memory level after serving them one at a time.
    expected = {i: stream_chat(server, i, None) for i in range(N) if i % 4 != 3}
    idle = rss_bytes(server.proc.pid)

    with concurrent.futures.ThreadPoolExecutor(N) as pool:
        futures = {i: pool.submit(stream_chat, server, i, 2 if i % 4 == 3 else None) for i in range(N)}
        results = {i: f.result() for i, f in futures.items()}
    for i, want in expected.items():
        assert results[i] == want, i
    for i in range(N):
        if i % 4 == 3:
            assert results[i] is None

    # Everything finished: no request is still holding a slot, and memory is back near idle.
    status, _, ps = server.json("GET", "/api/ps")
    assert status == 200 and len(ps["models"]) == 1
    after = rss_bytes(server.proc.pid)
    assert after <= idle + 48 * 1024 * 1024, (idle, after)
    # And the server still answers at once.
    status, _, body = server.json("POST", "/api/generate", {"model": MODEL, "prompt": "Hi", "stream": False,
                                                            "options": {"num_predict": 2}})
    assert status == 200 and body["eval_count"] == 2
