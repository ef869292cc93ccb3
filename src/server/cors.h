// CORS as Ollama configures gin-contrib/cors: OLLAMA_ORIGINS plus localhost/127.0.0.1/0.0.0.0 on
// any port and app://, file://, tauri://, vscode-webview://, vscode-file:// origins; one `*` per
// origin is a wildcard, a bare `*` allows every origin. Browser UIs and VS Code webviews depend
// on the exact headers.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ollmlx::server {

class Cors {
 public:
  explicit Cors(const std::vector<std::string>& extra_origins);

  bool allowed(std::string_view origin) const;
  bool allow_all() const { return allow_all_; }

  using Headers = std::vector<std::pair<std::string, std::string>>;
  // Headers for an allowed cross-origin request; `preflight` adds the OPTIONS answer's.
  Headers headers(std::string_view origin, bool preflight) const;

 private:
  bool allow_all_ = false;
  std::vector<std::string> exact_;
  std::vector<std::pair<std::string, std::string>> wildcards_;  // prefix, suffix
};

}  // namespace ollmlx::server
