"""Wire conventions over raw HTTP (compat spec §0, §1, §6, §8): statuses, error bodies, content
types, streaming framing, timestamps, CORS and host checks, concurrency and disconnects."""
import concurrent.futures
import http.client
import json
import re
import tempfile
import urllib.parse

from conftest import MODEL, start_server, stop_server

GO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def test_index_and_version(server):
    status, hdrs, body = server.request("GET", "/")
    assert status == 200 and body == b"Ollama is running"
    status, _, body = server.request("HEAD", "/")
    assert status == 200 and body == b""
    status, hdrs, body = server.request("GET", "/api/version")
    assert status == 200 and hdrs["Content-Type"] == "application/json; charset=utf-8"
    version = json.loads(body)["version"]
    assert list(json.loads(body)) == ["version"]
    assert tuple(int(x) for x in version.split(".")) >= (0, 6, 4)


def test_unknown_route_and_method(server):
    assert server.request("GET", "/api/nope")[0] == 404
    assert server.request("GET", "/api/show")[0] == 405
    assert server.request("GET", "/api/chat")[0] == 405


def test_tags_shape(server):
    status, _, body = server.json("GET", "/api/tags")
    assert status == 200
    m = next(m for m in body["models"] if m["name"] == MODEL)
    assert "expires_at" not in m
    assert GO_TIME.match(m["modified_at"]), m["modified_at"]
    assert set(m["details"]) >= {"format", "family", "families", "parameter_size", "quantization_level"}


def test_v1_models_match_tags(server):
    _, hdrs, v1 = server.json("GET", "/v1/models")
    assert hdrs["Content-Type"].startswith("application/json")
    assert v1["object"] == "list"
    _, _, tags = server.json("GET", "/api/tags")
    assert sorted(m["id"] for m in v1["data"]) == sorted(m["name"] for m in tags["models"])


def test_request_errors(server):
    status, hdrs, body = server.json("POST", "/api/chat", {})
    assert (status, body) == (400, {"error": "model is required"})
    assert hdrs["Content-Type"].startswith("application/json")
    status, _, body = server.json("POST", "/api/generate", {})
    assert (status, body) == (404, {"error": "model '' not found"})
    status, _, body = server.json("POST", "/api/generate", {"model": "nope", "prompt": "x"})
    assert (status, body) == (404, {"error": "model 'nope' not found"})
    status, _, body = server.request("POST", "/api/chat", raw=b"{not json")
    assert status == 400 and "error" in json.loads(body)
    status, _, body = server.json("POST", "/api/generate",
                                  {"model": MODEL, "prompt": "x", "options": {"num_ctx": "big"}})
    assert status == 500 and body["error"] == 'option "num_ctx" must be of type integer'
    status, _, body = server.json("POST", "/api/generate", {"model": MODEL, "prompt": "x", "top_logprobs": 21,
                                                            "logprobs": True})
    assert status == 400


def test_unknown_fields_are_ignored(server):
    status, _, body = server.json("POST", "/api/generate", {
        "model": MODEL, "prompt": "Hi", "stream": False, "what_is_this": [1, 2],
        "options": {"temperature": 0, "num_predict": 2, "not_an_option": 1}})
    assert status == 200 and body["done"] is True


def test_ndjson_stream_framing(server):
    status, hdrs, body = server.request("POST", "/api/generate", {
        "model": MODEL, "prompt": "Hello", "options": {"temperature": 0, "num_predict": 6}})
    assert status == 200 and hdrs["Content-Type"] == "application/x-ndjson"
    lines = body.decode().splitlines()
    objs = [json.loads(x) for x in lines]
    assert all(GO_TIME.match(o["created_at"]) for o in objs)
    assert [o["done"] for o in objs] == [False] * (len(objs) - 1) + [True]
    assert objs[-1]["done_reason"] == "length" and objs[-1]["eval_count"] == 6
    assert all(isinstance(objs[-1][k], int) for k in ("total_duration", "eval_duration"))


def test_sse_stream_framing(server):
    status, hdrs, body = server.request("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": True},
        headers={"Content-Type": "application/json"})
    assert status == 200 and hdrs["Content-Type"].startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for e in events[:-2]:
        assert e.startswith("data: ")
        json.loads(e[len("data: "):])


def test_openai_error_shape(server):
    status, _, body = server.json("POST", "/v1/chat/completions", {"model": "nope", "messages": [
        {"role": "user", "content": "hi"}]})
    assert status == 404
    assert set(body["error"]) >= {"message", "type", "param", "code"}


def test_cors_and_host_check(server):
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("OPTIONS", "/api/chat", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    r = conn.getresponse()
    r.read()
    assert r.status in (200, 204)
    assert r.getheader("Access-Control-Allow-Origin") == "http://localhost:3000"
    conn.request("GET", "/api/tags", headers={"Origin": "https://evil.example"})
    r = conn.getresponse()
    r.read()
    assert r.getheader("Access-Control-Allow-Origin") is None
    conn.request("GET", "/api/tags", headers={"Host": "evil.example"})
    r = conn.getresponse()
    r.read()
    assert r.status == 403
    conn.close()


def test_concurrent_chats_all_succeed_and_match_sequential(server):
    def chat(i):
        status, _, body = server.json("POST", "/api/chat", {
            "model": MODEL, "stream": False, "messages": [{"role": "user", "content": f"Say the number {i}."}],
            "options": {"temperature": 0, "num_predict": 12}})
        assert status == 200, body
        return body["message"]["content"]

    sequential = [chat(i) for i in range(5)]
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        parallel = list(pool.map(chat, range(5)))
    assert parallel == sequential


def test_client_disconnect_mid_stream_keeps_serving(server):
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("POST", "/api/generate", body=json.dumps({
        "model": MODEL, "prompt": "Write a long story.", "options": {"num_predict": 2000}}))
    r = conn.getresponse()
    assert r.status == 200
    json.loads(r.fp.readline())
    conn.close()  # gone mid-stream
    status, _, body = server.json("POST", "/api/generate", {
        "model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 3}})
    assert status == 200 and body["eval_count"] == 3


def test_bearer_auth_and_clean_shutdown(server):
    with tempfile.TemporaryDirectory(prefix="ollmlx-api-auth-") as tmp:
        s = start_server(tmp, {"OLLMLX_API_KEY": "sekrit"})
        try:
            assert s.request("GET", "/")[0] == 200
            assert s.request("GET", "/api/tags")[0] == 401
            assert s.request("GET", "/api/tags", headers={"Authorization": "Bearer sekrit"})[0] == 200
            assert s.request("GET", "/api/tags", headers={"Authorization": "Bearer wrong"})[0] == 401
        finally:
            assert stop_server(s) == 0
