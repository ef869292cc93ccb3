// Where the store looks by default: the environment variables huggingface_hub and Ollama users
// already set (HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN, ...) plus OLLMLX_MODELS.
#include <cctype>
#include <nlohmann/json.hpp>

#include "store/files.h"
#include "store/store.h"

namespace ollmlx::store {
namespace {

bool truthy(const std::string& v) {
  std::string s;
  for (char c : v) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "1" || s == "on" || s == "yes" || s == "true";
}

fs::path expand_home(const std::string& p) {
  if (p == "~") return home_dir();
  if (p.rfind("~/", 0) == 0) return home_dir() / p.substr(2);
  return p;
}

fs::path hf_home() {
  if (std::string h = env("HF_HOME"); !h.empty()) return expand_home(h);
  if (std::string x = env("XDG_CACHE_HOME"); !x.empty()) return expand_home(x) / "huggingface";
  return home_dir() / ".cache" / "huggingface";
}

// HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the token file `hf auth login` writes; CR/LF removed
// and surrounding spaces stripped, as huggingface_hub cleans it.
std::string hf_token() {
  std::string t = env("HF_TOKEN");
  if (t.empty()) t = env("HUGGING_FACE_HUB_TOKEN");
  if (t.empty()) {
    fs::path file =
        env("HF_TOKEN_PATH").empty() ? hf_home() / "token" : expand_home(env("HF_TOKEN_PATH"));
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) {
      try {
        t = read_file(file, 4096);
      } catch (const StoreError&) {
        t.clear();
      }
    }
  }
  std::string clean;
  for (char c : t)
    if (c != '\r' && c != '\n') clean += c;
  const size_t b = clean.find_first_not_of(" \t");
  const size_t e = clean.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : clean.substr(b, e - b + 1);
}

}  // namespace

StoreConfig StoreConfig::from_env() {
  StoreConfig c;
  const std::string models = env("OLLMLX_MODELS");
  c.models_dir = models.empty() ? home_dir() / ".ollmlx" / "models" : expand_home(models);
  if (std::string v = env("HF_HUB_CACHE"); !v.empty())
    c.hub_cache = expand_home(v);
  else if (std::string legacy = env("HUGGINGFACE_HUB_CACHE"); !legacy.empty())
    c.hub_cache = expand_home(legacy);
  else
    c.hub_cache = hf_home() / "hub";
  if (std::string ep = env("HF_ENDPOINT"); !ep.empty()) c.hub.endpoint = ep;
  while (!c.hub.endpoint.empty() && c.hub.endpoint.back() == '/') c.hub.endpoint.pop_back();
  c.hub.token = hf_token();
  c.disable_symlinks = truthy(env("HF_HUB_DISABLE_SYMLINKS"));
  c.offline = truthy(env("HF_HUB_OFFLINE")) || truthy(env("TRANSFORMERS_OFFLINE"));
  c.free_space = free_disk_space;
  return c;
}

nlohmann::ordered_json to_json(const PullProgress& p) {
  nlohmann::ordered_json j;
  j["status"] = p.status;
  if (!p.digest.empty()) j["digest"] = p.digest;
  if (p.total > 0) j["total"] = p.total;
  if (p.completed > 0) j["completed"] = p.completed;
  return j;
}

}  // namespace ollmlx::store
