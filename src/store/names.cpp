// Parsing, validation and display of Ollama-style model names (see names.h for the rules).
#include "store/names.h"

#include "util/error.h"

namespace ollmlx::store {
namespace {

// Marks a part that a separator promised but that is empty ("m:", "/m", "h//m"): any such part
// fails validation, which is how Ollama rejects these names.
constexpr std::string_view kMissing = "!MISSING!";

bool is_alnum_or_underscore(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Splits at the last `sep`: (before, after, found); an empty side becomes kMissing.
struct Cut {
  std::string_view before, after;
  bool found;
};
Cut cut_last(std::string_view s, char sep) {
  const size_t i = s.rfind(sep);
  if (i == std::string_view::npos) return {s, {}, false};
  Cut c{s.substr(0, i), s.substr(i + 1), true};
  if (c.before.empty()) c.before = kMissing;
  if (c.after.empty()) c.after = kMissing;
  return c;
}

}  // namespace

bool is_valid_part(NamePart part, std::string_view s) {
  const size_t max_len = part == NamePart::Host ? 350 : 80;
  if (s.empty() || s.size() > max_len) return false;
  if (!is_alnum_or_underscore(s[0])) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (is_alnum_or_underscore(c) || c == '-') continue;
    if (c == '.' && part != NamePart::Namespace) continue;
    if (c == ':' && (part == NamePart::Host || part == NamePart::Digest)) continue;
    return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

Name Name::parse_bare(std::string_view s) {
  Name n;
  if (s.find('@') != std::string_view::npos) {
    Cut c = cut_last(s, '@');
    n.digest = std::string(c.after);
    s = c.before == kMissing ? std::string_view{} : c.before;
  }
  if (s.rfind(':') != std::string_view::npos &&
      (s.rfind('/') == std::string_view::npos || s.rfind(':') > s.rfind('/'))) {
    Cut c = cut_last(s, ':');
    n.tag = std::string(c.after);
    s = c.before;
  }
  Cut m = cut_last(s, '/');
  if (!m.found) {
    n.model = std::string(s);
    return n;
  }
  n.model = std::string(m.after);
  Cut ns = cut_last(m.before, '/');
  if (!ns.found) {
    n.ns = std::string(m.before);
    return n;
  }
  n.ns = std::string(ns.after);
  std::string_view host = ns.before;
  if (size_t i = host.find("://"); i != std::string_view::npos) host = host.substr(i + 3);
  n.host = std::string(host);
  return n;
}

Name Name::parse(std::string_view s) {
  Name n = parse_bare(s);
  if (n.host.empty()) n.host = kDefaultHost;
  if (n.ns.empty()) n.ns = kDefaultNamespace;
  if (n.tag.empty()) n.tag = kDefaultTag;
  if (iequals(n.host, "huggingface.co") || iequals(n.host, "www.huggingface.co") ||
      iequals(n.host, kHfHost))
    n.host = kHfHost;
  return n;
}

bool Name::is_valid() const {
  return is_valid_part(NamePart::Host, host) && is_valid_part(NamePart::Namespace, ns) &&
         is_valid_part(NamePart::Model, model) && is_valid_part(NamePart::Tag, tag) &&
         (digest.empty() || is_valid_part(NamePart::Digest, digest));
}

bool Name::is_hf_host() const { return iequals(host, kHfHost) || iequals(host, "huggingface.co"); }

std::string Name::to_string() const {
  std::string out;
  if (!host.empty()) out += host + "/";
  if (!ns.empty()) out += ns + "/";
  out += model;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Name::full() const { return host + "/" + ns + "/" + model + ":" + tag; }

std::string Name::display_shortest() const {
  std::string out;
  if (!iequals(host, kDefaultHost))
    out = host + "/" + ns + "/";
  else if (!iequals(ns, kDefaultNamespace))
    out = ns + "/";
  return out + model + ":" + tag;
}

std::string Name::relpath() const {
  OLLMLX_ASSERT(is_valid());
  return host + "/" + ns + "/" + model + "/" + tag;
}

bool Name::equal_fold(const Name& o) const {
  return iequals(host, o.host) && iequals(ns, o.ns) && iequals(model, o.model) &&
         iequals(tag, o.tag);
}

}  // namespace ollmlx::store
