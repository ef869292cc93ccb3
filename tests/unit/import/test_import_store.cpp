// Store-level importers without Python: uploaded blobs, import_gguf into the store (reuse,
// refusals leave nothing behind), and a fake Ollama store (manifest + blobs in a temp dir)
// imported end to end -- Modelfile layer from Ollama's layers, the template choice recorded,
// and Ollama's files never modified.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "gguf_builder.h"
#include "store/files.h"
#include "store/import/blob_store.h"
#include "store/import/importer.h"
#include "store/import/ollama_store.h"
#include "store/sha256.h"
#include "store/store.h"
#include "store/store_error.h"
#include "tokenizer/tokenizer.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
using store::StoreError;
using store::StoreErrorKind;
using OJson = nlohmann::ordered_json;

// The body as a reader that hands it over in chunks of `chunk` bytes.
store::BodyReader body_of(const std::string& body, size_t chunk = 7, bool complete = true) {
  return [=](const store::BodySink& sink) {
    for (size_t at = 0; at < body.size(); at += chunk)
      if (!sink(body.data() + at, std::min(chunk, body.size() - at))) return false;
    return complete;
  };
}

StoreErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const StoreError& e) {
    if (message) *message = e.message();
    return e.kind();
  }
  ADD_FAILURE() << "no StoreError";
  return StoreErrorKind::Io;
}

TEST(BlobStore, Digests) {
  const std::string hex(64, 'a');
  EXPECT_EQ(store::BlobStore::parse_digest("sha256:" + hex), hex);
  EXPECT_EQ(store::BlobStore::parse_digest("sha256-" + hex), hex);
  EXPECT_EQ(store::BlobStore::parse_digest("sha256:" + std::string(64, 'A')), hex);
  EXPECT_FALSE(store::BlobStore::parse_digest("sha256:" + hex.substr(1)));
  EXPECT_FALSE(store::BlobStore::parse_digest("sha256:" + std::string(63, 'a') + "g"));
  EXPECT_FALSE(store::BlobStore::parse_digest("sha512:" + hex));
  EXPECT_FALSE(store::BlobStore::parse_digest("sha256/" + hex));
  EXPECT_FALSE(store::BlobStore::parse_digest(""));
}

TEST(BlobStore, PutVerifiesAndIsIdempotent) {
  const fs::path root = temp_dir("blobs");
  store::BlobStore blobs(root);
  const std::string body(100000, 'x');
  const std::string digest = "sha256:" + store::sha256_hex(body);
  EXPECT_FALSE(blobs.find(digest));
  EXPECT_TRUE(blobs.put(digest, body_of(body, 4096)));
  ASSERT_TRUE(blobs.find(digest));
  EXPECT_EQ(*blobs.find(digest), root / "blobs" / ("sha256-" + store::sha256_hex(body)));
  EXPECT_EQ(read_bytes(*blobs.find(digest)), body);
  // Again: already there, the body is not read.
  bool read = false;
  EXPECT_FALSE(blobs.put(digest, [&](const store::BodySink&) { read = true; return true; }));
  EXPECT_FALSE(read);
  // The "sha256-" spelling names the same blob.
  EXPECT_TRUE(blobs.find("sha256-" + store::sha256_hex(body)));

  // Wrong bytes: Ollama's message, nothing stored, no partial file left.
  const std::string other = "sha256:" + std::string(64, '0');
  std::string message;
  EXPECT_EQ(kind_of([&] { blobs.put(other, body_of("hello")); }, &message), StoreErrorKind::DigestMismatch);
  EXPECT_EQ(message, "digest mismatch, expected \"" + other + "\", got \"sha256:" + store::sha256_hex("hello") + "\"");
  EXPECT_FALSE(blobs.find(other));
  // A body cut short (client gone): canceled, nothing stored.
  const std::string part = "partial body";
  EXPECT_EQ(kind_of([&] { blobs.put("sha256:" + store::sha256_hex(part), body_of(part, 3, false)); }),
            StoreErrorKind::Canceled);
  EXPECT_EQ(kind_of([&] { blobs.put("sha256:xyz", body_of(part)); }), StoreErrorKind::InvalidName);
  EXPECT_EQ(kind_of([&] { blobs.find("md5:abc"); }), StoreErrorKind::InvalidName);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(root / "blobs")) {
    ++files;
    EXPECT_EQ(e.path().filename().string().find("partial"), std::string::npos) << e.path();
  }
  EXPECT_EQ(files, 1u);
  // An empty blob is a blob.
  EXPECT_TRUE(blobs.put("sha256:" + store::sha256_hex(""), body_of("")));
  fs::remove_all(root);
}

struct TestStore {
  fs::path root;
  std::unique_ptr<store::Store> store;
  explicit TestStore(const std::string& tag) : root(temp_dir("import-" + tag)) {
    store::StoreConfig c;
    c.models_dir = root / "models";
    c.hub_cache = root / "hub";
    c.free_space = [](const fs::path&) { return UINT64_MAX; };
    store = store::Store::open(c);
  }
  ~TestStore() { fs::remove_all(root); }
};

TEST(ImportGguf, NamesTheConversionAndReusesIt) {
  TestStore ts("gguf");
  const std::string bytes = tiny_llama_gguf();
  write_bytes(ts.root / "tiny.gguf", bytes);
  std::vector<std::string> statuses;
  store::ImportOptions opt;
  opt.progress = [&](const std::string& s) { statuses.push_back(s); };
  const store::ImportResult r = store::import_gguf(*ts.store, ts.root / "tiny.gguf", "tiny", OJson{{"system", "be brief"}}, opt);
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.dir, ts.root / "models" / "imports" / ("gguf-" + store::sha256_hex(bytes)));
  EXPECT_EQ(r.record.name, "tiny:latest");
  EXPECT_EQ(r.record.dir, r.dir.string());
  EXPECT_EQ(r.record.modelfile, (OJson{{"system", "be brief"}}));
  EXPECT_EQ(r.template_source, "gguf");
  // Q5_0/Q5_1 stay quantized (5-bit, exact): nothing is dequantized or requantized.
  EXPECT_EQ(statuses, (std::vector<std::string>{"verifying sha256 digest", "parsing GGUF", "converting model",
                                                 "verifying conversion", "writing manifest"}));
  const auto rec = nlohmann::json::parse(read_bytes(r.dir / "ollmlx_import.json"));
  EXPECT_EQ(rec["converter"], store::kImportConverterVersion);
  EXPECT_EQ(rec["source"]["sha256"], store::sha256_hex(bytes));
  EXPECT_EQ(rec["chat_template"], "gguf tokenizer.chat_template (Jinja)");
  // Listed and found by name.
  auto found = ts.store->find("tiny");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->dir, r.dir.string());
  EXPECT_GT(found->size, 40000);
  // No temporary directory left.
  for (const auto& e : fs::directory_iterator(ts.root / "models" / "imports"))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos) << e.path();

  // The same GGUF under another name: the conversion is reused.
  const store::ImportResult again = store::import_gguf(*ts.store, ts.root / "tiny.gguf", "other:v2", OJson::object());
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.dir, r.dir);
  EXPECT_EQ(again.record.name, "other:v2");
  EXPECT_EQ(ts.store->list().size(), 2u);
  // A known digest skips hashing.
  store::ImportOptions known;
  known.sha256 = store::sha256_hex(bytes);
  EXPECT_TRUE(store::import_gguf(*ts.store, ts.root / "tiny.gguf", "third", OJson::object(), known).reused);
  // The Python-compatible conversion (dequantized to float16) is a separate directory.
  store::ImportOptions f16;
  f16.convert.keep_quantized = false;
  statuses.clear();
  f16.progress = [&](const std::string& s) { statuses.push_back(s); };
  const store::ImportResult d = store::import_gguf(*ts.store, ts.root / "tiny.gguf", "tiny-f16", OJson::object(), f16);
  EXPECT_FALSE(d.reused);
  EXPECT_EQ(d.dir, r.dir.string() + "-f16");
  EXPECT_NE(std::find(statuses.begin(), statuses.end(),
                      "dequantized 2 tensor(s) with no exact MLX form to float16 (float32 where out of range)"),
            statuses.end());
}

TEST(ImportGguf, RefusalsNameNothing) {
  TestStore ts("refuse");
  TinyLlama t;
  t.edit = [](GgufBuilder& g) { g.drop("general.architecture"); g.str("general.architecture", "qwen35moe"); };
  write_bytes(ts.root / "moe.gguf", tiny_llama_gguf(t));
  try {
    store::import_gguf(*ts.store, ts.root / "moe.gguf", "moe", OJson::object());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported architecture 'qwen35moe' (supported: llama, qwen2, qwen3, gemma2, gemma3, phi3)"), std::string::npos) << e.what();
  }
  write_bytes(ts.root / "junk.gguf", "GGUF\x03\0\0\0 and then garbage");
  EXPECT_THROW(store::import_gguf(*ts.store, ts.root / "junk.gguf", "junk", OJson::object()), Error);
  EXPECT_EQ(kind_of([&] { store::import_gguf(*ts.store, ts.root / "none.gguf", "x", OJson::object()); }),
            StoreErrorKind::NotFound);
  EXPECT_EQ(kind_of([&] { store::import_gguf(*ts.store, ts.root / "moe.gguf", "bad name!", OJson::object()); }),
            StoreErrorKind::InvalidName);
  EXPECT_TRUE(ts.store->list().empty());
  std::error_code ec;
  EXPECT_TRUE(!fs::exists(ts.root / "models" / "imports", ec) || fs::is_empty(ts.root / "models" / "imports"));
  // Canceled before converting: nothing named.
  write_bytes(ts.root / "tiny.gguf", tiny_llama_gguf());
  std::atomic<bool> cancel{true};
  store::ImportOptions opt;
  opt.cancel = &cancel;
  EXPECT_EQ(kind_of([&] { store::import_gguf(*ts.store, ts.root / "tiny.gguf", "tiny", OJson::object(), opt); }),
            StoreErrorKind::Canceled);
  EXPECT_TRUE(ts.store->list().empty());
}

// A fake Ollama store: <root>/manifests/registry.ollama.ai/library/<model>/<tag> + blobs.
class FakeOllama {
 public:
  explicit FakeOllama(fs::path root) : root_(std::move(root)) { fs::create_directories(root_ / "blobs"); }
  const fs::path& root() const { return root_; }

  std::string blob(const std::string& bytes) {
    const std::string hex = store::sha256_hex(bytes);
    write_bytes(root_ / "blobs" / ("sha256-" + hex), bytes);
    return "sha256:" + hex;
  }
  OJson layer(const std::string& kind, const std::string& bytes) {
    return OJson{{"mediaType", "application/vnd.ollama.image." + kind}, {"digest", blob(bytes)}, {"size", bytes.size()}};
  }
  void manifest(const std::string& model, const std::string& tag, const OJson& layers, const OJson& config = nullptr,
                const std::string& ns = "library") {
    OJson m{{"schemaVersion", 2}, {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"}};
    const std::string cfg = config.is_null() ? R"({"model_format":"gguf","model_family":"llama"})" : config.dump();
    m["config"] = OJson{{"mediaType", "application/vnd.docker.container.image.v1+json"}, {"digest", blob(cfg)}, {"size", cfg.size()}};
    m["layers"] = layers;
    write_bytes(root_ / "manifests" / "registry.ollama.ai" / ns / model / tag, m.dump());
  }
  // Every file's bytes, to prove the importer wrote nothing here.
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root_))
      if (e.is_regular_file()) out[e.path().string()] = read_bytes(e.path());
    return out;
  }

 private:
  fs::path root_;
};

constexpr const char* kGoTemplate =
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n";

TEST(ImportOllama, ModelWithItsLayers) {
  TestStore ts("ollama");
  FakeOllama ol(ts.root / "ollama");
  const std::string gguf = tiny_llama_gguf();
  ol.manifest("tiny", "latest",
              OJson::array({ol.layer("model", gguf), ol.layer("template", kGoTemplate),
                            ol.layer("system", "You are a tiny model."),
                            ol.layer("params", R"({"stop":["<|im_end|>"],"temperature":0.2,"num_ctx":256})"),
                            ol.layer("messages", R"([{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}])"),
                            ol.layer("license", "License A"), ol.layer("license", "License B"),
                            ol.layer("projector", "GGUF-not-really")}));
  const auto before = ol.snapshot();
  EXPECT_EQ(store::list_ollama_models({ol.root()}), (std::vector<std::string>{"tiny:latest"}));

  std::vector<std::string> statuses;
  store::ImportOptions opt;
  opt.progress = [&](const std::string& s) { statuses.push_back(s); };
  const store::ImportResult r = store::import_ollama(*ts.store, "ollama:tiny", "", OJson::object(), opt, {ol.root()});
  EXPECT_EQ(r.record.name, "tiny:latest");
  EXPECT_EQ(r.template_source, "gguf");
  const OJson& mf = r.record.modelfile;
  EXPECT_EQ(mf["system"], "You are a tiny model.");
  EXPECT_EQ(mf["parameters"], OJson::parse(R"({"stop":["<|im_end|>"],"temperature":0.2,"num_ctx":256})"));
  EXPECT_EQ(mf["messages"].size(), 2u);
  EXPECT_EQ(mf["license"], "License A\nLicense B");
  EXPECT_EQ(mf["template_source"], "gguf");
  EXPECT_NE(mf["template"].get<std::string>().find("{% for m in messages %}"), std::string::npos);
  EXPECT_FALSE(mf.contains("ollama_template"));
  EXPECT_NE(std::find(statuses.begin(), statuses.end(),
                      "using the GGUF's Jinja chat template instead of Ollama's Go template"), statuses.end());
  EXPECT_NE(std::find(statuses.begin(), statuses.end(),
                      "skipped the vision projector (ollmlx imports the text model only)"), statuses.end());
  // The import record names the Ollama source and keeps the Go template.
  const auto rec = nlohmann::json::parse(read_bytes(r.dir / "ollmlx_import.json"));
  EXPECT_EQ(rec["ollama"]["name"], "registry.ollama.ai/library/tiny:latest");
  EXPECT_EQ(rec["ollama"]["template"], kGoTemplate);
  EXPECT_EQ(rec["ollama"]["template_source"], "gguf");
  // The converted model's tokenizer works.
  EXPECT_EQ(tok::Tokenizer::load(r.dir.string())->encode("hello", false), (std::vector<int32_t>{262}));
  // Ollama's store is byte for byte as it was.
  EXPECT_EQ(ol.snapshot(), before);

  // Another name, a case-shuffled lookup, a tag, and a caller's override of a parameter.
  const store::ImportResult r2 = store::import_ollama(*ts.store, "TINY:Latest", "mine/tiny:fast",
                                                      OJson{{"parameters", {{"temperature", 0.0}}}}, {}, {ol.root()});
  EXPECT_EQ(r2.record.name, "mine/tiny:fast");
  EXPECT_TRUE(r2.reused);
  EXPECT_EQ(r2.record.modelfile["parameters"]["temperature"], 0.0);
  EXPECT_EQ(r2.record.modelfile["parameters"]["num_ctx"], 256);
}

TEST(ImportOllama, GoTemplateOnlyIsRecordedNotUsed) {
  TestStore ts("ollama-go");
  FakeOllama ol(ts.root / "ollama");
  TinyLlama t;
  t.chat_template = false;
  ol.manifest("notemplate", "q4", OJson::array({ol.layer("model", tiny_llama_gguf(t)), ol.layer("template", kGoTemplate)}),
              nullptr, "someone");
  const store::ImportResult r = store::import_ollama(*ts.store, "someone/notemplate:q4", "", OJson::object(), {}, {ol.root()});
  EXPECT_EQ(r.record.name, "someone/notemplate:q4");
  EXPECT_EQ(r.template_source, "ollama-go-template (not used)");
  EXPECT_FALSE(r.record.modelfile.contains("template"));
  EXPECT_EQ(r.record.modelfile["ollama_template"], kGoTemplate);
  EXPECT_EQ(r.record.modelfile["template_source"], "ollama-go-template (not used)");
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes.back().find("set a Jinja TEMPLATE"), std::string::npos);
}

TEST(ImportOllama, BrokenStoresAreRefused) {
  TestStore ts("ollama-bad");
  FakeOllama ol(ts.root / "ollama");
  const std::string gguf = tiny_llama_gguf();
  std::string m;
  auto import = [&](const std::string& name) { store::import_ollama(*ts.store, name, "", OJson::object(), {}, {ol.root()}); };

  EXPECT_EQ(kind_of([&] { import("nothere"); }, &m), StoreErrorKind::NotFound);
  EXPECT_EQ(m, "model \"nothere\" not found in the Ollama store (searched: " + ol.root().string() + ")");
  EXPECT_EQ(kind_of([&] { import("bad name!"); }), StoreErrorKind::InvalidName);

  ol.manifest("adapter", "latest", OJson::array({ol.layer("model", gguf), ol.layer("adapter", "lora")}));
  EXPECT_EQ(kind_of([&] { import("adapter"); }, &m), StoreErrorKind::NotMlx);
  EXPECT_NE(m.find("LoRA adapter"), std::string::npos);

  ol.manifest("safetensors", "latest", OJson::array({ol.layer("tensor", "x")}), OJson{{"model_format", "safetensors"}});
  EXPECT_EQ(kind_of([&] { import("safetensors"); }, &m), StoreErrorKind::NotMlx);
  EXPECT_NE(m.find("stored as safetensors tensors"), std::string::npos);

  // A small layer whose bytes do not match its digest.
  OJson bad = ol.layer("system", "original");
  write_bytes(ol.root() / "blobs" / ("sha256-" + bad["digest"].get<std::string>().substr(7)), "tampered");
  ol.manifest("tampered", "latest", OJson::array({ol.layer("model", gguf), bad}));
  EXPECT_EQ(kind_of([&] { import("tampered"); }, &m), StoreErrorKind::Corrupt);
  EXPECT_NE(m.find("does not match its digest"), std::string::npos) << m;

  // The model blob: wrong size, not a GGUF, or bytes that do not hash to its name.
  OJson model = ol.layer("model", gguf);
  model["size"] = gguf.size() + 1;
  ol.manifest("size", "latest", OJson::array({model}));
  EXPECT_EQ(kind_of([&] { import("size"); }, &m), StoreErrorKind::Corrupt);
  EXPECT_NE(m.find("the manifest says"), std::string::npos) << m;
  ol.manifest("notgguf", "latest", OJson::array({ol.layer("model", "not a gguf at all")}));
  EXPECT_EQ(kind_of([&] { import("notgguf"); }, &m), StoreErrorKind::Corrupt);
  EXPECT_NE(m.find("is not a GGUF file"), std::string::npos) << m;
  OJson swapped = ol.layer("model", gguf);
  std::string other = gguf;
  other[other.size() - 1] ^= 1;
  write_bytes(ol.root() / "blobs" / ("sha256-" + swapped["digest"].get<std::string>().substr(7)), other);
  ol.manifest("swapped", "latest", OJson::array({swapped}));
  EXPECT_EQ(kind_of([&] { import("swapped"); }, &m), StoreErrorKind::DigestMismatch);
  // Manifests that are not Ollama's.
  write_bytes(ol.root() / "manifests" / "registry.ollama.ai" / "library" / "junk" / "latest", "{not json");
  EXPECT_EQ(kind_of([&] { import("junk"); }), StoreErrorKind::Corrupt);
  write_bytes(ol.root() / "manifests" / "registry.ollama.ai" / "library" / "v1" / "latest", R"({"schemaVersion":1})");
  EXPECT_EQ(kind_of([&] { import("v1"); }), StoreErrorKind::Corrupt);
  write_bytes(ol.root() / "manifests" / "registry.ollama.ai" / "library" / "digest" / "latest",
              R"({"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../etc","size":1}]})");
  EXPECT_EQ(kind_of([&] { import("digest"); }, &m), StoreErrorKind::Corrupt);
  EXPECT_NE(m.find("invalid layer digest"), std::string::npos) << m;
  EXPECT_TRUE(ts.store->list().empty());
}

TEST(ImportOllama, RootsFromTheEnvironment) {
  const fs::path dir = temp_dir("ollama-env");
  const char* old = std::getenv("OLLAMA_MODELS");
  const std::string saved = old ? old : "";
  ::setenv("OLLAMA_MODELS", dir.c_str(), 1);
  const auto roots = store::ollama_roots();
  ASSERT_FALSE(roots.empty());
  EXPECT_EQ(roots[0], dir);
  ::setenv("OLLAMA_MODELS", (dir / "missing").c_str(), 1);
  for (const auto& r : store::ollama_roots()) EXPECT_NE(r, dir / "missing");  // only existing ones
  if (old) ::setenv("OLLAMA_MODELS", saved.c_str(), 1); else ::unsetenv("OLLAMA_MODELS");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ollmlx::test

namespace ollmlx::test {
namespace {

TEST(ImportGguf, PruneRemovesWhatNoNameUses) {
  TestStore ts("prune");
  const std::string a = tiny_llama_gguf();
  TinyLlama t2;
  t2.seed = 99;
  const std::string b = tiny_llama_gguf(t2);
  // Two uploaded blobs, each imported under a name; one more blob never imported.
  store::BlobStore blobs(ts.root / "models");
  for (const std::string* s : {&a, &b}) ASSERT_TRUE(blobs.put("sha256:" + store::sha256_hex(*s), body_of(*s, 1 << 16)));
  ASSERT_TRUE(blobs.put("sha256:" + store::sha256_hex("stray"), body_of("stray")));
  store::ImportOptions opt;
  opt.sha256 = store::sha256_hex(a);
  const auto ra = store::import_gguf(*ts.store, *blobs.find("sha256:" + store::sha256_hex(a)), "a", OJson::object(), opt);
  opt.sha256 = store::sha256_hex(b);
  const auto rb = store::import_gguf(*ts.store, *blobs.find("sha256:" + store::sha256_hex(b)), "b", OJson::object(), opt);
  ts.store->copy("a", "a2");
  // Nothing unused yet (the stray blob is younger than the grace period).
  EXPECT_TRUE(store::prune_imports(*ts.store).empty());
  ts.store->remove("a");
  EXPECT_TRUE(store::prune_imports(*ts.store).empty());  // a2 still uses the conversion
  ts.store->remove("a2");
  const auto removed = store::prune_imports(*ts.store, std::chrono::seconds(0));
  EXPECT_FALSE(fs::exists(ra.dir));
  EXPECT_TRUE(fs::exists(rb.dir));
  EXPECT_FALSE(blobs.find("sha256:" + store::sha256_hex(a)));     // its conversion is gone
  EXPECT_FALSE(blobs.find("sha256:" + store::sha256_hex("stray")));
  EXPECT_TRUE(blobs.find("sha256:" + store::sha256_hex(b)));      // the source of a live import
  EXPECT_EQ(removed.size(), 3u);
  ASSERT_TRUE(ts.store->find("b"));
  EXPECT_TRUE(fs::exists(fs::path(ts.store->find("b")->dir) / "config.json"));
}

}  // namespace
}  // namespace ollmlx::test
