// Model names as Ollama writes them (compat spec §3): [scheme://][host/][namespace/]model[:tag]
// [@digest], with Ollama's defaults (registry.ollama.ai/library/<model>:latest), its character
// and length rules, case-insensitive matching and display-shortest form. ollmlx adds one rule:
// the Hugging Face hosts (hf.co, huggingface.co) are folded to "hf.co".
//
// A valid name is safe as a path: every part starts with a letter, digit or '_' and holds only
// [A-Za-z0-9_.-] (plus ':' in the host), so "..", "/", "\\", NUL and absolute paths cannot occur.
#pragma once

#include <string>
#include <string_view>

namespace ollmlx::store {

inline constexpr std::string_view kDefaultHost = "registry.ollama.ai";
inline constexpr std::string_view kDefaultNamespace = "library";
inline constexpr std::string_view kDefaultTag = "latest";
inline constexpr std::string_view kHfHost = "hf.co";

enum class NamePart { Host, Namespace, Model, Tag, Digest };

// Ollama's per-part rule: first byte alphanumeric or '_', then alphanumerics, '_', '-', '.'
// ('.' not in a namespace) and ':' (host and digest only); host 1-350 bytes, others 1-80.
bool is_valid_part(NamePart part, std::string_view s);

// ASCII case-insensitive equality (names are ASCII once valid).
bool iequals(std::string_view a, std::string_view b);

struct Name {
  std::string host, ns, model, tag, digest;  // digest as written after '@' ("sha256:<hex>")

  // Splits `s` without defaults, as Ollama's ParseNameBare: the digest after the last '@', the
  // tag after the last ':' when it follows the last '/', then model, namespace and host from the
  // right; a "scheme://" before the host is dropped. A separator with nothing on one side makes
  // the name invalid. Parts are not validated here (is_valid does that).
  static Name parse_bare(std::string_view s);
  // parse_bare + defaults for the missing host, namespace and tag, and "huggingface.co" folded to
  // "hf.co". Check is_valid() before use.
  static Name parse(std::string_view s);

  // All of host, namespace, model, tag present and valid; the digest valid if present.
  bool is_valid() const;
  bool is_hf_host() const;  // host is hf.co (after parse) or huggingface.co

  // "host/ns/model:tag[@digest]", empty parts and their separators left out (round-trips).
  std::string to_string() const;
  // "host/ns/model:tag" (no digest): the canonical full name.
  std::string full() const;
  // What /api/tags, /api/ps and responses show: "model:tag" on the default host and namespace,
  // "ns/model:tag" on the default host, else "host/ns/model:tag" (compared case-insensitively).
  std::string display_shortest() const;
  // "host/ns/model/tag": the manifest's path under manifests/. Valid names only.
  std::string relpath() const;
  bool equal_fold(const Name& o) const;  // host, namespace, model, tag ignoring ASCII case
};

}  // namespace ollmlx::store
