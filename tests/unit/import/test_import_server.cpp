// The import path through the real server: HttpServer + EngineService + the store catalog over a
// temp store. Blob upload (HEAD 200/404, POST 201/200, digest mismatch 400, streamed bodies far
// over the JSON body limit), /api/create with "files" naming an uploaded GGUF, with "from":
// "ollama:<name>" (a fake Ollama store), and the imported model answering /api/chat -- the calls
// `ollmlx create -f Modelfile` (FROM ./model.gguf) and `ollmlx import ollama:<name>` make.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "gguf_builder.h"
#include "server/http_server.h"
#include "service/catalog.h"
#include "service/engine_service.h"
#include "store/sha256.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

class ImportServer : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = temp_dir("import-server");
    for (const char* v : {"OLLMLX_MODELS", "HF_HUB_CACHE", "OLLAMA_MODELS", "HOME"}) {
      const char* old = std::getenv(v);
      saved_.emplace_back(v, old ? std::optional<std::string>(old) : std::nullopt);
    }
    ::setenv("OLLMLX_MODELS", (root_ / "models").c_str(), 1);
    ::setenv("HF_HUB_CACHE", (root_ / "hub").c_str(), 1);
    ::setenv("OLLAMA_MODELS", (root_ / "ollama").c_str(), 1);
    ::setenv("HOME", (root_ / "home").c_str(), 1);
    service::ResidencyConfig cfg;
    cfg.threads = 2;
    cfg.default_num_ctx = 256;
    svc_ = std::make_unique<service::EngineService>(service::make_store_catalog(), cfg);
    server::ServerConfig sc;
    sc.port = 0;
    sc.max_body_bytes = 4096;  // blobs must stream past the JSON body limit
    server_ = std::make_unique<server::HttpServer>(*svc_, sc);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    server_.reset();
    svc_.reset();
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
    fs::remove_all(root_);
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }
  // The NDJSON lines of a streamed answer.
  static std::vector<Json> lines(const std::string& body) {
    std::vector<Json> out;
    size_t at = 0;
    while (at < body.size()) {
      const size_t nl = body.find('\n', at);
      out.push_back(Json::parse(body.substr(at, nl - at)));
      if (nl == std::string::npos) break;
      at = nl + 1;
    }
    return out;
  }

  fs::path root_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  std::unique_ptr<service::EngineService> svc_;
  std::unique_ptr<server::HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ImportServer, BlobsThenCreateFromFilesThenChat) {
  auto c = client();
  const std::string gguf = tiny_llama_gguf();
  ASSERT_GT(gguf.size(), 4096u);
  const std::string digest = "sha256:" + store::sha256_hex(gguf);

  auto head = c.Head(("/api/blobs/" + digest).c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 404);
  auto bad = c.Post("/api/blobs/sha256:1234", "x", "application/octet-stream");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body, R"({"error":"invalid digest format"})");
  const std::string zero = "sha256:" + std::string(64, '0');
  auto mismatch = c.Post(("/api/blobs/" + zero).c_str(), gguf, "application/octet-stream");
  EXPECT_EQ(mismatch->status, 400);
  EXPECT_EQ(mismatch->body, "{\"error\":\"digest mismatch, expected \\\"" + zero + "\\\", got \\\"" + digest + "\\\"\"}");
  auto put = c.Post(("/api/blobs/" + digest).c_str(), gguf, "application/octet-stream");
  EXPECT_EQ(put->status, 201);
  EXPECT_EQ(put->body, "");
  EXPECT_EQ(c.Post(("/api/blobs/" + digest).c_str(), gguf, "application/octet-stream")->status, 200);
  EXPECT_EQ(c.Head(("/api/blobs/" + digest).c_str())->status, 200);
  EXPECT_EQ(c.Head(("/api/blobs/sha256-" + digest.substr(7)).c_str())->status, 200);
  EXPECT_TRUE(fs::is_regular_file(root_ / "models" / "blobs" / ("sha256-" + digest.substr(7))));
  // Other routes keep the body limit.
  auto big = c.Post("/api/show", std::string(5000, ' '), "application/json");
  EXPECT_EQ(big->status, 413);

  // create: files naming the GGUF blob, streamed progress.
  const Json req = {{"model", "tiny"}, {"files", {{"tiny.gguf", digest}}}, {"system", "Answer briefly."},
                    {"parameters", {{"temperature", 0}}}};
  auto create = c.Post("/api/create", req.dump(), "application/json");
  ASSERT_EQ(create->status, 200) << create->body;
  const auto progress = lines(create->body);
  std::vector<std::string> statuses;
  for (const Json& l : progress) statuses.push_back(l.value("status", l.value("error", "?")));
  EXPECT_EQ(statuses.front(), "parsing GGUF");
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "converting model"), statuses.end());
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "using the chat template from the GGUF metadata (Jinja)"), statuses.end());
  EXPECT_EQ(statuses.back(), "success") << create->body;

  auto tags = c.Get("/api/tags");
  EXPECT_NE(tags->body.find("\"name\":\"tiny:latest\""), std::string::npos) << tags->body;
  auto show = c.Post("/api/show", R"({"model":"tiny"})", "application/json");
  ASSERT_EQ(show->status, 200) << show->body;
  const Json s = Json::parse(show->body);
  EXPECT_EQ(s["system"], "Answer briefly.");
  EXPECT_NE(s["template"].get<std::string>().find("<|im_start|>"), std::string::npos);

  auto chat = c.Post("/api/chat",
                     R"({"model":"tiny","messages":[{"role":"user","content":"hello"}],"stream":false,"options":{"num_predict":4}})",
                     "application/json");
  ASSERT_EQ(chat->status, 200) << chat->body;
  const Json answer = Json::parse(chat->body);
  EXPECT_EQ(answer["done"], true);
  EXPECT_GT(answer["eval_count"].get<int>(), 0);

  // Errors of create-from-files.
  auto missing = c.Post("/api/create", Json{{"model", "x"}, {"files", {{"m.gguf", zero}}}}.dump(), "application/json");
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("not found"), std::string::npos);
  auto abs = c.Post("/api/create", Json{{"model", "x"}, {"files", {{"/etc/m.gguf", digest}}}}.dump(), "application/json");
  EXPECT_EQ(abs->body, R"({"error":"file path must be relative"})");
  auto dots = c.Post("/api/create", Json{{"model", "x"}, {"files", {{"a/../m.gguf", digest}}}}.dump(), "application/json");
  EXPECT_EQ(dots->body, R"({"error":"file path must be relative"})");
  auto baddigest = c.Post("/api/create", Json{{"model", "x"}, {"files", {{"m.gguf", "md5:1"}}}}.dump(), "application/json");
  EXPECT_EQ(baddigest->body, R"({"error":"invalid digest format"})");
  const std::string text = "just some text";
  const std::string text_digest = "sha256:" + store::sha256_hex(text);
  EXPECT_EQ(c.Post(("/api/blobs/" + text_digest).c_str(), text, "text/plain")->status, 201);
  auto notgguf = c.Post("/api/create", Json{{"model", "x"}, {"files", {{"notes.txt", text_digest}}}, {"stream", false}}.dump(),
                        "application/json");
  EXPECT_EQ(notgguf->status, 400);
  EXPECT_EQ(notgguf->body, R"({"error":"supplied file was not in GGUF format"})");
}

TEST_F(ImportServer, CreateFromTheOllamaStore) {
  // A fake Ollama store in $OLLAMA_MODELS: manifest + blobs.
  const fs::path ol = root_ / "ollama";
  auto blob = [&](const std::string& bytes) {
    const std::string hex = store::sha256_hex(bytes);
    write_bytes(ol / "blobs" / ("sha256-" + hex), bytes);
    return Json{{"digest", "sha256:" + hex}, {"size", bytes.size()}};
  };
  auto layer = [&](const std::string& kind, const std::string& bytes) {
    Json l = blob(bytes);
    l["mediaType"] = "application/vnd.ollama.image." + kind;
    return l;
  };
  Json manifest = {{"schemaVersion", 2}, {"config", blob(R"({"model_format":"gguf"})")},
                   {"layers", {layer("model", tiny_llama_gguf()), layer("system", "From Ollama."),
                               layer("params", R"({"temperature":0.1,"stop":["<|im_end|>"]})")}}};
  write_bytes(ol / "manifests" / "registry.ollama.ai" / "library" / "tinyllama" / "latest", manifest.dump());

  auto c = client();
  auto create = c.Post("/api/create", R"({"model":"imported","from":"ollama:tinyllama","stream":false})", "application/json");
  ASSERT_EQ(create->status, 200) << create->body;
  EXPECT_EQ(create->body, R"({"status":"success"})");
  auto show = c.Post("/api/show", R"({"model":"imported"})", "application/json");
  ASSERT_EQ(show->status, 200) << show->body;
  const Json s = Json::parse(show->body);
  EXPECT_EQ(s["system"], "From Ollama.");
  EXPECT_NE(s["parameters"].get<std::string>().find("temperature"), std::string::npos) << s["parameters"];
  auto missing = c.Post("/api/create", R"({"model":"x","from":"ollama:nothere","stream":false})", "application/json");
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("not found in the Ollama store"), std::string::npos) << missing->body;
  // A GGUF file on the server's machine, by absolute path.
  write_bytes(root_ / "local.gguf", tiny_llama_gguf());
  auto local = c.Post("/api/create", Json{{"model", "local"}, {"from", (root_ / "local.gguf").string()}, {"stream", false}}.dump(),
                      "application/json");
  EXPECT_EQ(local->status, 200) << local->body;
  auto bad = c.Post("/api/create", Json{{"model", "bad"}, {"from", "ollama:tinyllama"}, {"files", {{"a", "b"}}}}.dump(),
                    "application/json");
  EXPECT_EQ(bad->status, 400);
}

// `ollmlx import --quantize q4|q8` and `create --quantize`: a float model (a GGUF of F32
// tensors imported as is) quantized from its store name and from uploaded MLX files; the
// refusals (a GGUF source, an unknown level, an already quantized model).
TEST_F(ImportServer, CreateWithQuantize) {
  TinyLlama t;
  t.all_f32 = true;
  write_bytes(root_ / "float.gguf", tiny_llama_gguf(t));
  auto c = client();
  auto post = [&](const Json& body) { return c.Post("/api/create", body.dump(), "application/json"); };
  auto f = post({{"model", "float"}, {"from", (root_ / "float.gguf").string()}, {"stream", false}});
  ASSERT_EQ(f->status, 200) << f->body;
  const Json fshow = Json::parse(c.Post("/api/show", R"({"model":"float"})", "application/json")->body);

  auto gguf_q = post({{"model", "g"}, {"from", (root_ / "float.gguf").string()}, {"quantize", "q4"}});
  EXPECT_EQ(gguf_q->status, 400);
  EXPECT_NE(gguf_q->body.find("float safetensors models"), std::string::npos) << gguf_q->body;
  auto level = post({{"model", "g"}, {"from", "float"}, {"quantize", "q4_K_M"}});
  EXPECT_EQ(level->status, 400);
  EXPECT_NE(level->body.find("unsupported quantization type q4_K_M"), std::string::npos) << level->body;

  // From the store name, streamed progress.
  auto q4 = post({{"model", "tiny-q4"}, {"from", "float"}, {"quantize", "q4"}});
  ASSERT_EQ(q4->status, 200) << q4->body;
  std::vector<std::string> statuses;
  for (const Json& l : lines(q4->body)) statuses.push_back(l.value("status", l.value("error", "?")));
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "quantizing model to q4"), statuses.end()) << q4->body;
  EXPECT_EQ(statuses.back(), "success") << q4->body;
  const Json show = Json::parse(c.Post("/api/show", R"({"model":"tiny-q4"})", "application/json")->body);
  EXPECT_EQ(show["details"]["quantization_level"], "INT4") << show["details"];
  EXPECT_NE(show["details"]["quantization_level"], fshow["details"]["quantization_level"]);
  auto chat = c.Post("/api/chat",
                     R"({"model":"tiny-q4","messages":[{"role":"user","content":"hi"}],"stream":false,"options":{"num_predict":3}})",
                     "application/json");
  EXPECT_EQ(chat->status, 200) << chat->body;
  EXPECT_EQ(Json::parse(chat->body)["eval_count"], 3) << chat->body;

  // The same request again reuses the quantized directory.
  auto again = post({{"model", "tiny-q4b"}, {"from", "float"}, {"quantize", "Q4"}});
  EXPECT_NE(again->body.find("using the earlier quantization"), std::string::npos) << again->body;

  // A quantized model cannot be quantized again.
  auto requant = post({{"model", "x"}, {"from", "tiny-q4"}, {"quantize", "q8"}, {"stream", false}});
  EXPECT_EQ(requant->status, 400) << requant->body;
  EXPECT_NE(requant->body.find("already quantized"), std::string::npos) << requant->body;

  // Uploaded MLX files (what `ollmlx import --quantize q8 ./folder` sends).
  fs::path dir;
  for (const auto& e : fs::directory_iterator(root_ / "models" / "imports"))
    if (e.path().filename().string().rfind("gguf-", 0) == 0) dir = e.path();
  ASSERT_FALSE(dir.empty());
  Json files = Json::object();
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name != "config.json" && name != "model.safetensors" && name != "tokenizer.json" &&
        name != "tokenizer_config.json")
      continue;
    const std::string bytes = read_bytes(e.path());
    const std::string d = "sha256:" + store::sha256_hex(bytes);
    ASSERT_EQ(c.Post(("/api/blobs/" + d).c_str(), bytes, "application/octet-stream")->status, 201);
    files[name] = d;
  }
  ASSERT_EQ(files.size(), 4u) << dir;
  auto q8 = post({{"model", "tiny-q8"}, {"files", files}, {"quantize", "q8"}, {"stream", false}});
  ASSERT_EQ(q8->status, 200) << q8->body;
  const Json show8 = Json::parse(c.Post("/api/show", R"({"model":"tiny-q8"})", "application/json")->body);
  EXPECT_EQ(show8["details"]["quantization_level"], "INT8") << show8["details"];
}

}  // namespace
}  // namespace ollmlx::test
