// Temp directories, tiny model files and hand-made hub cache entries for the store tests.
#include "store_test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "store/hf_cache.h"
#include "store/sha256.h"

namespace ollmlx::store::testing {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "ollmlx-store-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string RepoFile::oid() const {
  Hasher h = Hasher::git_blob(content.size());
  h.update(content);
  return h.hex_digest();
}

std::string RepoFile::sha256() const { return sha256_hex(content); }

std::string tiny_safetensors(size_t data_bytes, uint32_t seed, bool mlx) {
  std::string header = "{";
  if (mlx) header += R"("__metadata__":{"format":"mlx"},)";
  header += R"("w":{"dtype":"U8","shape":[)" + std::to_string(data_bytes) +
            R"(],"data_offsets":[0,)" + std::to_string(data_bytes) + "]}}";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < data_bytes; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out += static_cast<char>(x & 0xff);
  }
  return out;
}

std::vector<RepoFile> tiny_mlx_repo(size_t weight_bytes, uint32_t seed) {
  return {
      {"config.json",
       R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1,
  "quantization": {"group_size": 64, "bits": 4}, "seed": )" +
           std::to_string(seed) + "}\n",
       false},
      {"model.safetensors", tiny_safetensors(weight_bytes, seed), true},
      {"tokenizer.json",
       R"({"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}})", false},
      {"tokenizer_config.json", R"({"bos_token": "<s>", "eos_token": "</s>"})", false},
      {"special_tokens_map.json", R"({"eos_token": "</s>"})", false},
      {"chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}", false},
      {"README.md", "# tiny model\n", false},
      {".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n", false},
      {"original/params.json", R"({"dim": 64})", false},
  };
}

std::string fake_commit(uint32_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(40, '0');
  uint32_t x = n * 2246822519u + 7;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = kHex[x & 15];
  }
  return out;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_cached_repo(const fs::path& hub_cache, const std::string& repo,
                       const std::string& commit, const std::vector<RepoFile>& files,
                       const std::string& ref) {
  HubCache cache(hub_cache);
  std::vector<SnapshotFile> links;
  for (const RepoFile& f : files) {
    write_text(cache.blob_path(repo, f.blob_id()), f.content);
    links.push_back({f.path, f.blob_id()});
  }
  cache.install_snapshot(repo, commit, links);
  cache.write_ref(repo, ref, commit);
}

}  // namespace ollmlx::store::testing
