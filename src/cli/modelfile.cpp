#include "cli/modelfile.h"

#include <pwd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "api/utf8.h"

namespace ollmlx::cli {
namespace fs = std::filesystem;
namespace {

enum class State { Nil, Name, Value, Parameter, Message, Comment };

const char* kInvalidCommand =
    "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "
    "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"";
const char* kInvalidRole = "message role must be one of \"system\", \"user\", or \"assistant\"";

bool is_alpha(uint32_t r) { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'); }
bool is_number(uint32_t r) { return r >= '0' && r <= '9'; }
bool is_space(uint32_t r) { return r == ' ' || r == '\t'; }
bool is_newline(uint32_t r) { return r == '\r' || r == '\n'; }

// strconv.IsPrint, close enough: no control characters, no invisible format characters.
bool is_print(uint32_t r) {
  if (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) return false;
  if (r == 0xad || (r >= 0x200b && r <= 0x200f) || (r >= 0x2028 && r <= 0x202e) ||
      (r >= 0x2060 && r <= 0x206f) || r == 0xfeff) {
    return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool valid_command(const std::string& s) {
  static const char* kCommands[] = {"from",   "license", "template",  "system",  "adapter", "draft",
                                    "renderer", "parser", "parameter", "message", "requires"};
  const std::string l = lower(s);
  return std::any_of(std::begin(kCommands), std::end(kCommands), [&](const char* c) { return l == c; });
}

bool valid_role(const std::string& s) { return s == "system" || s == "user" || s == "assistant"; }

std::string trim_space(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool unquote(const std::string& s, std::string& out) {
  if (s.size() >= 3 && s.compare(0, 3, "\"\"\"") == 0) {
    if (s.size() >= 6 && s.compare(s.size() - 3, 3, "\"\"\"") == 0) {
      out = s.substr(3, s.size() - 6);
      return true;
    }
    return false;
  }
  if (!s.empty() && s[0] == '"') {
    if (s.size() >= 2 && s.back() == '"') {
      out = s.substr(1, s.size() - 2);
      return true;
    }
    return false;
  }
  out = s;
  return true;
}

struct Step {
  State next;
  uint32_t rune;  // 0: nothing to keep
  int error;      // 0 none, 1 invalid command, 2 unexpected EOF
};

Step step(uint32_t r, State cs) {
  switch (cs) {
    case State::Nil:
      if (r == '#') return {State::Comment, 0, 0};
      if (is_space(r) || is_newline(r)) return {State::Nil, 0, 0};
      return {State::Name, r, 0};
    case State::Name:
      if (is_alpha(r)) return {State::Name, r, 0};
      if (is_space(r)) return {State::Value, 0, 0};
      return {State::Nil, 0, 1};
    case State::Value:
      if (is_newline(r) || is_space(r)) return {State::Nil, r, 0};
      return {State::Value, r, 0};
    case State::Parameter:
      if (is_alpha(r) || is_number(r) || r == '_') return {State::Parameter, r, 0};
      if (is_space(r)) return {State::Value, 0, 0};
      return {State::Nil, 0, 2};
    case State::Message:
      if (is_alpha(r)) return {State::Message, r, 0};
      if (is_space(r)) return {State::Value, 0, 0};
      return {State::Nil, 0, 2};
    case State::Comment:
      if (is_newline(r)) return {State::Nil, 0, 0};
      return {State::Comment, 0, 0};
  }
  return {State::Nil, 0, 0};
}

[[noreturn]] void line_error(int line, const std::string& msg) {
  throw ModelfileError(line > 0 ? "(line " + std::to_string(line) + "): " + msg : msg);
}

}  // namespace

Modelfile parse_modelfile(std::string_view text) {
  // A UTF-8 byte order mark is skipped, as the BOM-aware reader Ollama uses does.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Modelfile f;
  ModelfileCommand cmd;
  State curr = State::Nil;
  int line = 1;
  std::string buf, role;
  while (!text.empty()) {
    const api::Rune decoded = api::utf8_decode(text);
    text.remove_prefix(decoded.size);
    uint32_t r = decoded.code_point;
    if (is_newline(r)) ++line;
    const Step s = step(r, curr);
    if (s.error == 2) throw ModelfileError("unexpected EOF: " + buf);
    if (s.error == 1) line_error(line, kInvalidCommand);
    State next = s.next;
    r = s.rune;
    if (next != curr) {
      bool keep_going = false;
      switch (curr) {
        case State::Name: {
          if (!valid_command(buf)) line_error(line, kInvalidCommand);
          const std::string name = lower(buf);
          if (name == "from") {
            cmd.name = "model";
          } else if (name == "parameter") {
            next = State::Parameter;
          } else if (name == "message") {
            next = State::Message;
            cmd.name = name;
          } else {
            cmd.name = name;
          }
          break;
        }
        case State::Parameter:
          cmd.name = buf;
          break;
        case State::Message:
          if (!valid_role(buf)) line_error(line, kInvalidRole);
          role = buf;
          break;
        case State::Comment:
        case State::Nil:
          break;
        case State::Value: {
          std::string value;
          if (!unquote(trim_space(buf), value) || is_space(r)) {
            buf += api::utf8_encode(r);
            keep_going = true;
            break;
          }
          if (!role.empty()) {
            value = role + ": " + value;
            role.clear();
          }
          cmd.args = value;
          f.commands.push_back(cmd);
          break;
        }
      }
      if (keep_going) continue;
      buf.clear();
      curr = next;
    }
    if (r != 0 && is_print(r)) buf += api::utf8_encode(r);
  }
  switch (curr) {
    case State::Comment:
    case State::Nil:
      break;
    case State::Value: {
      std::string value;
      if (!unquote(trim_space(buf), value)) throw ModelfileError("unexpected EOF");
      if (!role.empty()) value = role + ": " + value;
      cmd.args = value;
      f.commands.push_back(cmd);
      break;
    }
    default:
      throw ModelfileError("unexpected EOF");
  }
  for (const auto& c : f.commands) {
    if (c.name == "model") return f;
  }
  throw ModelfileError("no FROM line");
}

namespace {

enum class ParamType { Int, Float, Bool, Strings };

bool param_type(const std::string& name, ParamType& t) {
  static const std::map<std::string, ParamType> kTypes = {
      {"num_keep", ParamType::Int},        {"seed", ParamType::Int},
      {"num_predict", ParamType::Int},     {"top_k", ParamType::Int},
      {"top_p", ParamType::Float},         {"min_p", ParamType::Float},
      {"typical_p", ParamType::Float},     {"repeat_last_n", ParamType::Int},
      {"temperature", ParamType::Float},   {"repeat_penalty", ParamType::Float},
      {"presence_penalty", ParamType::Float}, {"frequency_penalty", ParamType::Float},
      {"stop", ParamType::Strings},        {"num_ctx", ParamType::Int},
      {"num_batch", ParamType::Int},       {"num_gpu", ParamType::Int},
      {"main_gpu", ParamType::Int},        {"use_mmap", ParamType::Bool},
      {"num_thread", ParamType::Int},      {"draft_num_predict", ParamType::Int},
  };
  const auto it = kTypes.find(name);
  if (it == kTypes.end()) return false;
  t = it->second;
  return true;
}

std::string go_list(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ' ';
    s += v[i];
  }
  return s + "]";
}

// Go's strconv.ParseInt(s, 10, 64).
bool parse_go_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  std::string_view v = s;
  if (v[0] == '+') v.remove_prefix(1);
  if (v.empty()) return false;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  return r.ec == std::errc() && r.ptr == v.data() + v.size();
}

// Go's strconv.ParseFloat(s, 32) for the usual spellings (decimal, exponent, inf, nan).
bool parse_go_float32(const std::string& s, float& out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  const std::string l = lower(s);
  if (l == "inf" || l == "+inf" || l == "infinity" || l == "+infinity") {
    out = INFINITY;
    return true;
  }
  if (l == "-inf" || l == "-infinity") {
    out = -INFINITY;
    return true;
  }
  if (l == "nan") {
    out = NAN;
    return true;
  }
  for (const char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-')) {
      return false;
    }
  }
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  if (std::isinf(static_cast<float>(d)) && !std::isinf(d)) return false;  // out of range
  out = static_cast<float>(d);
  return true;
}

bool parse_go_bool(const std::string& s, bool& out) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") {
    out = true;
    return true;
  }
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    out = false;
    return true;
  }
  return false;
}

// A float32 as Go's json.Marshal writes it: the shortest decimal that reads back as the same
// float32, integral values without a fraction.
Json float32_json(float f) {
  if (std::isfinite(f) && f == std::trunc(f) && std::fabs(f) < 1e15f) {
    return Json(static_cast<int64_t>(f));
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  return Json(std::strtod(std::string(buf, r.ptr).c_str(), nullptr));
}

}  // namespace

bool deprecated_parameter(const std::string& name) {
  static const char* kDeprecated[] = {"penalize_newline", "low_vram",  "f16_kv",
                                      "logits_all",       "vocab_only", "use_mlock",
                                      "mirostat",         "mirostat_tau", "mirostat_eta"};
  return std::any_of(std::begin(kDeprecated), std::end(kDeprecated),
                     [&](const char* d) { return name == d; });
}

Json format_param(const std::string& name, const std::vector<std::string>& values) {
  ParamType t;
  if (!param_type(name, t)) throw ModelfileError("unknown parameter '" + name + "'");
  const std::string first = values.empty() ? "" : values[0];
  switch (t) {
    case ParamType::Int: {
      int64_t v = 0;
      if (!parse_go_int(first, v)) throw ModelfileError("invalid int value " + go_list(values));
      return Json(v);
    }
    case ParamType::Float: {
      float v = 0;
      if (!parse_go_float32(first, v)) throw ModelfileError("invalid float value " + go_list(values));
      if (!std::isfinite(v)) throw ModelfileError("invalid float value " + go_list(values));
      return float32_json(v);
    }
    case ParamType::Bool: {
      bool v = false;
      if (!parse_go_bool(first, v)) throw ModelfileError("invalid bool value " + go_list(values));
      return Json(v);
    }
    case ParamType::Strings: {
      Json a = Json::array();
      for (const auto& v : values) a.push_back(v);
      return a;
    }
  }
  return Json();
}

std::string expand_path(const std::string& path, const std::string& relative_dir) {
  fs::path p;
  if (!path.empty() && (path[0] == '/' || path[0] == '\\')) {
    p = path;
  } else if (!path.empty() && path[0] == '~') {
    std::string home;
    std::string rest;
    if (path == "~" || path.rfind("~/", 0) == 0) {
      const char* h = std::getenv("HOME");
      if (h == nullptr || *h == '\0') {
        const passwd* pw = getpwuid(getuid());
        if (pw == nullptr) throw ModelfileError("failed to get current user");
        home = pw->pw_dir;
      } else {
        home = h;
      }
      rest = path.substr(1);
    } else {
      const auto slash = path.find('/');
      const std::string user = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
      const passwd* pw = getpwnam(user.c_str());
      if (pw == nullptr) throw ModelfileError("failed to find user '" + user + "': unknown user " + user);
      home = pw->pw_dir;
      rest = slash == std::string::npos ? "" : path.substr(slash);
    }
    p = fs::path(home) / fs::path(rest).relative_path();
  } else {
    p = fs::path(relative_dir) / path;
  }
  std::string out = fs::absolute(p).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

namespace {

// The action starting after "{{" (and an optional "-") at `pos`, whitespace skipped.
std::string_view action_at(const std::string& t, size_t pos) {
  if (pos < t.size() && t[pos] == '-') ++pos;
  while (pos < t.size() && std::isspace(static_cast<unsigned char>(t[pos]))) ++pos;
  return std::string_view(t).substr(pos);
}

bool starts_word(std::string_view s, std::string_view word) {
  if (s.substr(0, word.size()) != word) return false;
  if (s.size() == word.size()) return true;
  const char c = s[word.size()];
  return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_');
}

}  // namespace

bool looks_like_go_template(const std::string& t) {
  if (t.find("{%") != std::string::npos) return false;  // Jinja statements
  bool go = false;
  for (size_t at = t.find("{{"); at != std::string::npos; at = t.find("{{", at + 2)) {
    const std::string_view a = action_at(t, at + 2);
    // Jinja's usual variables.
    for (const char* w : {"messages", "message", "bos_token", "eos_token", "raise_exception"}) {
      if (starts_word(a, w)) return false;
    }
    if ((a.size() > 1 && a[0] == '.' && std::isalpha(static_cast<unsigned char>(a[1]))) ||
        (!a.empty() && a[0] == '$')) {
      go = true;
    }
    for (const char* w : {"if", "range", "end", "else", "with", "template", "block", "define"}) {
      if (starts_word(a, w)) go = true;
    }
  }
  return go;
}

namespace {

bool is_gguf_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string(magic, 4) == "GGUF") return true;
  std::string ext = lower(p.extension().string());
  return ext == ".gguf";
}

// v?MAJOR[.MINOR[.PATCH]][-prerelease][+build]
bool valid_semver(const std::string& s) {
  size_t i = (!s.empty() && s[0] == 'v') ? 1 : 0;
  for (int part = 0; part < 3; ++part) {
    const size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
    if (i < s.size() && s[i] == '.' && part < 2) {
      ++i;
      continue;
    }
    break;
  }
  const auto ident = [&](char lead) {
    if (i >= s.size() || s[i] != lead) return true;
    const size_t start = ++i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '-')) ++i;
    return i > start;
  };
  if (!ident('-') || !ident('+')) return false;
  return i == s.size();
}

}  // namespace

Json create_request(const Modelfile& mf, const std::string& relative_dir,
                    std::vector<std::string>* warnings, std::vector<LocalFile>* files) {
  const auto add_gguf = [&](const fs::path& p) {
    if (!files) throw ModelfileError("importing GGUF files needs the server: " + p.string());
    files->push_back({p.filename().string(), fs::absolute(p).lexically_normal().string()});
  };
  Json req = Json::object();
  Json params = Json::object();
  Json messages = Json::array();
  std::vector<std::string> licenses;
  for (const auto& c : mf.commands) {
    if (c.name == "model") {
      const std::string path = expand_path(c.args, relative_dir);
      std::error_code ec;
      const fs::file_status st = fs::status(path, ec);
      if (ec || !fs::exists(st)) {
        req["from"] = c.args;  // a model name
        continue;
      }
      if (fs::is_directory(st)) {
        std::vector<fs::path> ggufs;
        bool has_safetensors = false;
        for (const auto& e : fs::directory_iterator(path, ec)) {
          const std::string ext = lower(e.path().extension().string());
          if (ext == ".gguf") ggufs.push_back(e.path());
          if (ext == ".safetensors") has_safetensors = true;
        }
        if (!has_safetensors && !ggufs.empty()) {
          if (ggufs.size() > 1)
            throw ModelfileError(path + " holds " + std::to_string(ggufs.size()) +
                                 " GGUF files; name the one to import (FROM " + path + "/<file>.gguf)");
          add_gguf(ggufs[0]);
          continue;
        }
        if (!fs::is_regular_file(fs::path(path) / "config.json", ec)) {
          throw ModelfileError(path + " is not an MLX model directory (no config.json)");
        }
        req["from"] = path;
        continue;
      }
      if (is_gguf_file(path)) {
        add_gguf(path);
        continue;
      }
      throw ModelfileError("FROM " + path + " is a file; ollmlx creates models from a model name, an MLX model directory or a GGUF file");
    } else if (c.name == "adapter") {
      throw ModelfileError("ADAPTER is not supported by ollmlx yet");
    } else if (c.name == "draft") {
      throw ModelfileError("DRAFT is not supported by ollmlx yet");
    } else if (c.name == "template") {
      if (looks_like_go_template(c.args)) {
        throw ModelfileError(
            "TEMPLATE is a Go template; ollmlx renders Jinja chat templates (the format of "
            "tokenizer_config.json's chat_template): rewrite the TEMPLATE in Jinja, e.g. "
            "{% for m in messages %}{{ m.content }}{% endfor %}");
      }
      req["template"] = c.args;
    } else if (c.name == "system") {
      req["system"] = c.args;
    } else if (c.name == "license") {
      licenses.push_back(c.args);
    } else if (c.name == "renderer" || c.name == "parser") {
      req[c.name] = c.args;
    } else if (c.name == "requires") {
      std::string v = c.args;
      if (!valid_semver(v)) throw ModelfileError("requires must be a valid semver (e.g. 0.14.0)");
      if (!v.empty() && v[0] == 'v') v.erase(0, 1);
      req["requires"] = v;
    } else if (c.name == "message") {
      const auto sep = c.args.find(": ");
      Json m = Json::object();
      m["role"] = sep == std::string::npos ? c.args : c.args.substr(0, sep);
      m["content"] = sep == std::string::npos ? "" : c.args.substr(sep + 2);
      messages.push_back(std::move(m));
    } else {
      if (deprecated_parameter(c.name)) {
        if (warnings) warnings->push_back("warning: parameter " + c.name + " is deprecated");
        continue;
      }
      Json v = format_param(c.name, {c.args});
      if (v.is_array() && params.contains(c.name) && params[c.name].is_array()) {
        for (auto& x : v) params[c.name].push_back(x);
      } else {
        params[c.name] = std::move(v);
      }
    }
  }
  if (!params.empty()) req["parameters"] = params;
  if (!messages.empty()) req["messages"] = messages;
  if (!licenses.empty()) {
    Json l = Json::array();
    for (const auto& s : licenses) l.push_back(s);
    req["license"] = l;
  }
  return req;
}

}  // namespace ollmlx::cli
