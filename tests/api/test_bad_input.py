"""Hostile and malformed requests (issue 4, "Bad input"): each gets a clear 4xx/5xx JSON error,
never a crash, and the server keeps answering."""
import json

import pytest

from conftest import MODEL

BAD_BODIES = [
    b"", b"{", b"[1,2]", b"null", b'"str"', b"{\"model\": 1}", b"{\"model\": \"" + MODEL.encode() + b"\", \"messages\": 5}",
    b"{\"model\": \"\xff\xfe\", \"prompt\": \"x\"}", b"\x00\x01\x02", b"{\"model\":\"a\",\"model\":\"b\"",
    b"{" * 10000 + b"}" * 10000, b"{\"model\": \"" + MODEL.encode() + b"\", \"prompt\": \"\xc3\x28\", \"stream\": false, \"max_tokens\": 1, \"options\": {\"num_predict\": 1}}",
]


def alive(server):
    status, _, body = server.json("POST", "/api/generate", {"model": MODEL, "prompt": "Hi", "stream": False,
                                                            "options": {"num_predict": 2}})
    assert status == 200 and body["done"], body


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat", "/api/show", "/api/pull", "/api/create",
                                  "/api/copy", "/v1/chat/completions", "/v1/completions", "/api/embed"])
def test_malformed_bodies(server, path):
    for body in BAD_BODIES:
        status, hdrs, data = server.request("POST", path, raw=body, headers={"Content-Type": "application/json"})
        assert status < 600 and status != 0
        if status >= 400:
            err = json.loads(data)["error"]
            assert err, (path, body[:40])
    alive(server)


def test_huge_body_is_413(server):
    big = b'{"model":"x","prompt":"' + b"a" * (65 << 20) + b'"}'
    try:
        status, _, _ = server.request("POST", "/api/generate", raw=big)
        assert status == 413
    except (ConnectionError, OSError):
        pass  # the server may close the connection while the client is still sending
    alive(server)


@pytest.mark.parametrize("options", [
    {"temperature": "NaN"}, {"temperature": -1}, {"top_p": 7}, {"num_ctx": 10**12}, {"num_ctx": -5},
    {"num_predict": -7, "temperature": 0}, {"top_k": -3}, {"repeat_last_n": -9}, {"seed": -1},
    {"stop": 5}, {"stop": [""]}, {"num_ctx": 1},
])
def test_odd_options_never_crash(server, options):
    opts = dict(options)
    opts.setdefault("num_predict", 3)
    status, _, body = server.json("POST", "/api/generate", {"model": MODEL, "prompt": "Hello", "stream": False,
                                                            "options": opts})
    assert status in (200, 400, 500), (options, status, body)
    if status != 200:
        assert body["error"]
    alive(server)


def test_nan_literal_is_rejected(server):
    status, _, data = server.request("POST", "/api/generate",
                                     raw=b'{"model":"%s","prompt":"x","options":{"temperature":NaN}}' % MODEL.encode())
    assert status == 400 and json.loads(data)["error"]


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "/abs/path", "a/../../b", "x\u0000y", "..", "a" * 5000,
                                  "hf.co/../../x", "C:\\windows"])
def test_path_like_model_names(server, name):
    for path, body in [("/api/generate", {"model": name, "prompt": "x"}), ("/api/show", {"model": name}),
                       ("/api/delete", {"model": name}), ("/api/copy", {"source": MODEL, "destination": name}),
                       ("/api/pull", {"model": name, "stream": False})]:
        status, _, data = server.json("DELETE" if path == "/api/delete" else "POST", path, body)
        assert status in (400, 404, 500), (path, name, status, data)
        assert data["error"]
    alive(server)


def test_prompt_longer_than_context_is_a_clear_400(server):
    status, _, body = server.json("POST", "/api/generate", {
        "model": MODEL, "prompt": "word " * 600, "stream": False, "truncate": False,
        "options": {"num_ctx": 128, "num_predict": 4}})
    assert status == 400 and "context" in body["error"], body


def test_chat_history_is_truncated_to_fit(server):
    msgs = []
    for i in range(30):
        msgs += [{"role": "user", "content": f"Tell me about the number {i} in some detail please."},
                 {"role": "assistant", "content": f"The number {i} is a fine number with many properties."}]
    msgs.append({"role": "user", "content": "Say hi."})
    status, _, body = server.json("POST", "/api/chat", {"model": MODEL, "messages": msgs, "stream": False,
                                                        "options": {"num_ctx": 256, "num_predict": 4}})
    assert status == 200, body
    assert body["prompt_eval_count"] <= 256
