// A catalog over a folder of model directories: enough to serve models without the store.
#include <openssl/sha.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>

#include "api/service.h"
#include "service/catalog.h"
#include "util/error.h"

namespace ollmlx::service {
namespace fs = std::filesystem;

std::string with_default_tag(const std::string& name) {
  const size_t slash = name.rfind('/');
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return name;
  return name + ":latest";
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string hex_sha256(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

class DirectoryCatalog final : public ModelCatalog {
 public:
  explicit DirectoryCatalog(std::string root) : root_(std::move(root)) {}

  std::vector<CatalogEntry> list() override {
    std::vector<CatalogEntry> out = scan();
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [alias, target] : aliases_)
      for (const CatalogEntry& e : scan())
        if (lower(e.name) == lower(target)) {
          CatalogEntry a = e;
          a.name = alias;
          a.digest = hex_sha256(alias + e.digest);
          out.push_back(a);
        }
    std::sort(out.begin(), out.end(), [](const CatalogEntry& a, const CatalogEntry& b) { return a.modified_at > b.modified_at; });
    return out;
  }

  std::optional<CatalogEntry> find(const std::string& name) override {
    const std::string want = lower(with_default_tag(name));
    for (const CatalogEntry& e : list())
      if (lower(e.name) == want) return e;
    return std::nullopt;
  }

  void copy(const std::string& source, const std::string& destination) override {
    auto src = find(source);
    if (!src) throw api::ApiError(404, "model \"" + source + "\" not found");
    std::lock_guard<std::mutex> lock(mutex_);
    aliases_[with_default_tag(destination)] = src->name;
  }

  void remove(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = aliases_.find(with_default_tag(name));
    if (it != aliases_.end()) {
      aliases_.erase(it);
      return;
    }
    throw api::ApiError(400, "model '" + name + "' is a directory of this server's model folder; remove it on disk");
  }

 private:
  std::vector<CatalogEntry> scan() const {
    std::vector<CatalogEntry> out;
    std::error_code ec;
    if (!fs::is_directory(root_, ec)) return out;
    for (auto it = fs::recursive_directory_iterator(root_, fs::directory_options::follow_directory_symlink, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it.depth() > 3) {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_directory(ec) || !fs::exists(it->path() / "config.json", ec)) continue;
      CatalogEntry e;
      e.dir = it->path().string();
      e.name = with_default_tag(it->path().lexically_relative(root_).generic_string());
      int64_t size = 0;
      // The file clock's epoch is not the system clock's (libstdc++: 2174), so the newest time
      // starts at min(), not at a default-constructed time point (which reads as year 2174).
      fs::file_time_type newest = fs::file_time_type::min();
      std::string fingerprint = e.name;
      for (const auto& f : fs::directory_iterator(it->path(), ec)) {
        if (!f.is_regular_file(ec)) continue;
        size += static_cast<int64_t>(f.file_size(ec));
        const fs::file_time_type t = f.last_write_time(ec);
        if (!ec) newest = std::max(newest, t);
        fingerprint += f.path().filename().string() + std::to_string(f.file_size(ec));
      }
      e.size = size;
      e.modified_at = newest == fs::file_time_type::min()
                          ? std::chrono::system_clock::now()
                          : std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                                newest - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
      e.digest = hex_sha256(fingerprint);
      out.push_back(std::move(e));
      it.disable_recursion_pending();
    }
    return out;
  }

  std::string root_;
  std::mutex mutex_;
  std::map<std::string, std::string> aliases_;
};

}  // namespace

std::unique_ptr<ModelCatalog> make_directory_catalog(const std::string& root) {
  return std::make_unique<DirectoryCatalog>(root);
}

}  // namespace ollmlx::service
