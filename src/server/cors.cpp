// Origin matching and CORS response headers (see cors.h).
#include "server/cors.h"

#include <algorithm>

#include "util/log.h"

namespace ollmlx::server {
namespace {

std::string lower_trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  std::string out(s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

constexpr const char* kAllowHeaders =
    "authorization,content-type,user-agent,accept,x-requested-with,openai-beta,"
    "x-stainless-arch,x-stainless-async,x-stainless-custom-poll-interval,"
    "x-stainless-helper-method,x-stainless-lang,x-stainless-os,x-stainless-package-version,"
    "x-stainless-poll-helper,x-stainless-retry-count,x-stainless-runtime,"
    "x-stainless-runtime-version,x-stainless-timeout";

}  // namespace

Cors::Cors(const std::vector<std::string>& extra_origins) {
  std::vector<std::string> all = extra_origins;
  for (const char* host : {"localhost", "127.0.0.1", "0.0.0.0"}) {
    for (const char* scheme : {"http://", "https://"}) {
      all.push_back(std::string(scheme) + host);
    }
    for (const char* scheme : {"http://", "https://"}) {
      all.push_back(std::string(scheme) + host + ":*");
    }
  }
  for (const char* o : {"app://*", "file://*", "tauri://*", "vscode-webview://*",
                        "vscode-file://*"}) {
    all.emplace_back(o);
  }
  for (const auto& raw : all) {
    const std::string o = lower_trim(raw);
    if (o.empty()) continue;
    if (o == "*") {
      allow_all_ = true;
      continue;
    }
    const auto star = o.find('*');
    if (star == std::string::npos) {
      exact_.push_back(o);
    } else if (o.find('*', star + 1) != std::string::npos) {
      log::warn("OLLAMA_ORIGINS entry {} has more than one '*'; matching it literally", raw);
      exact_.push_back(o);
    } else {
      wildcards_.emplace_back(o.substr(0, star), o.substr(star + 1));
    }
  }
}

bool Cors::allowed(std::string_view origin) const {
  if (allow_all_) return true;
  for (const auto& e : exact_) {
    if (origin == e) return true;
  }
  for (const auto& [prefix, suffix] : wildcards_) {
    if (origin.size() >= prefix.size() + suffix.size() && starts_with(origin, prefix) &&
        ends_with(origin, suffix)) {
      return true;
    }
  }
  return false;
}

Cors::Headers Cors::headers(std::string_view origin, bool preflight) const {
  Headers h;
  if (preflight) {
    h.emplace_back("Access-Control-Allow-Methods", "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS");
    h.emplace_back("Access-Control-Allow-Headers", kAllowHeaders);
    h.emplace_back("Access-Control-Max-Age", "43200");
  }
  if (allow_all_) {
    h.emplace_back("Access-Control-Allow-Origin", "*");
  } else {
    h.emplace_back("Vary", "Origin");
    if (preflight) {
      h.emplace_back("Vary", "Access-Control-Request-Method");
      h.emplace_back("Vary", "Access-Control-Request-Headers");
    }
    h.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  }
  return h;
}

}  // namespace ollmlx::server
