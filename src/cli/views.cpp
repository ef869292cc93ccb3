#include "cli/views.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ollmlx::cli {
namespace {

std::string str(const Json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_string()) return "";
  return o[key].get<std::string>();
}

int64_t integer(const Json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_number()) return 0;
  return o[key].get<int64_t>();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Instant time_of(const Json& o, const char* key) {
  const auto t = parse_rfc3339(str(o, key));
  return t ? *t : Instant{};
}

const Json& models_of(const Json& j) {
  static const Json kEmpty = Json::array();
  if (j.is_object() && j.contains("models") && j["models"].is_array()) return j["models"];
  return kEmpty;
}

std::string short_digest(const std::string& d) { return d.substr(0, std::min<size_t>(12, d.size())); }

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::vector<std::string> fields(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

// Go's %v of a decoded JSON value.
std::string go_value(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return go_g(v.get<double>());
  if (v.is_null()) return "<nil>";
  if (v.is_array()) {
    std::string s = "[";
    bool first = true;
    for (const auto& x : v) {
      if (!first) s += ' ';
      s += go_value(x);
      first = false;
    }
    return s + "]";
  }
  std::string s = "map[";
  bool first = true;
  for (const auto& [k, x] : v.items()) {
    if (!first) s += ' ';
    s += k;
    s += ':';
    s += go_value(x);
    first = false;
  }
  return s + "]";
}

// A metadata value as `ollama show --verbose` prints it (long arrays shortened).
std::string metadata_value(const Json& v) {
  if (v.is_boolean() || v.is_string() || v.is_number()) return go_value(v);
  if (v.is_array()) {
    constexpr int kTarget = 10;
    size_t show = 0;
    int total = 1;
    for (size_t i = 0; i < v.size(); ++i) {
      int w = display_width(go_value(v[i]));
      if (i > 0) w += 2;
      if (total + w > kTarget && i > 0) break;
      total += w;
      ++show;
    }
    if (show < v.size()) {
      Json head = Json::array();
      for (size_t i = 0; i < show; ++i) head.push_back(v[i]);
      std::string s = go_value(head);
      s.pop_back();
      return s + " ...+" + std::to_string(v.size() - show) + " more]";
    }
    return go_value(v);
  }
  if (v.is_object()) return "map[string]interface {}";
  return "<nil>";
}

void section(std::string& out, const std::string& header, const std::vector<std::vector<std::string>>& rows) {
  out += "  " + header + "\n";
  const bool wide = header == "Template" || header == "System" || header == "License";
  out += render_table({}, rows, wide ? 100 : 30);
  out += "\n";
}

std::vector<std::vector<std::string>> head_rows(const std::string& s, int n) {
  std::vector<std::vector<std::string>> rows;
  int count = 0;
  for (const auto& line : lines_of(s)) {
    const std::string t = trim(line);
    if (t.empty()) continue;
    ++count;
    if (n < 0 || count <= n) rows.push_back({"", t});
  }
  if (n >= 0 && count > n) rows.push_back({"", "..."});
  return rows;
}

}  // namespace

std::string go_g(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string sci(buf, r.ptr);
  const int exp = std::atoi(sci.c_str() + sci.find('e') + 1);
  if (exp < -4 || exp >= 21 || exp >= 6) return sci;
  r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string render_list(const Json& tags, const std::string& prefix, const Instant& now) {
  std::vector<std::vector<std::string>> rows;
  const std::string p = lower(prefix);
  for (const auto& m : models_of(tags)) {
    const std::string name = str(m, "name");
    if (!p.empty() && lower(name).rfind(p, 0) != 0) continue;
    rows.push_back({name, short_digest(str(m, "digest")), human_bytes(integer(m, "size")),
                    human_time(time_of(m, "modified_at"), "Never", now)});
  }
  return render_table({"NAME", "ID", "SIZE", "MODIFIED"}, rows);
}

// PROCESSOR as Ollama prints it, plus the serving backend when it is not the native CPU one
// ("100% CPU (mlx)", "100% GPU (cuda)"; /api/ps "backend" is an ollmlx extension).
static std::string processor_column(const Json& m) {
  std::string p = processor_string(integer(m, "size"), integer(m, "size_vram"));
  const std::string backend = str(m, "backend");
  if (!backend.empty() && backend != "cpu") p += " (" + backend + ")";
  return p;
}

std::string render_ps(const Json& ps, const std::string& prefix, const Instant& now) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : models_of(ps)) {
    if (!prefix.empty() && str(m, "model").rfind(prefix, 0) != 0) continue;
    const Instant expires = time_of(m, "expires_at");
    const std::string until =
        seconds_between(expires, now) > 0 ? "Stopping..." : human_time(expires, "Never", now);
    rows.push_back({str(m, "name"), short_digest(str(m, "digest")), human_bytes(integer(m, "size")),
                    processor_column(m), std::to_string(integer(m, "context_length")), until});
  }
  return render_table({"NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"}, rows);
}

std::string render_show_info(const Json& resp, bool verbose) {
  std::string out;
  const Json details = resp.is_object() && resp.contains("details") ? resp["details"] : Json::object();
  const bool has_info = resp.is_object() && resp.contains("model_info") && resp["model_info"].is_object();
  const Json info = has_info ? resp["model_info"] : Json::object();

  std::vector<std::vector<std::string>> model;
  if (has_info) {
    const std::string arch = str(info, "general.architecture");
    if (!arch.empty()) model.push_back({"", "architecture", arch});
    std::string params = str(details, "parameter_size");
    if (params.empty() && info.contains("general.parameter_count") && info["general.parameter_count"].is_number()) {
      params = human_number(static_cast<uint64_t>(info["general.parameter_count"].get<double>()));
    }
    if (!params.empty()) model.push_back({"", "parameters", params});
    const std::string ctx_key = arch + ".context_length", emb_key = arch + ".embedding_length";
    if (info.contains(ctx_key) && info[ctx_key].is_number()) {
      model.push_back({"", "context length", format_float_plain(info[ctx_key].get<double>())});
    }
    if (info.contains(emb_key) && info[emb_key].is_number()) {
      model.push_back({"", "embedding length", format_float_plain(info[emb_key].get<double>())});
    }
  } else {
    model.push_back({"", "architecture", str(details, "family")});
    model.push_back({"", "parameters", str(details, "parameter_size")});
  }
  model.push_back({"", "quantization", str(details, "quantization_level")});
  if (!str(resp, "requires").empty()) model.push_back({"", "requires", str(resp, "requires")});
  section(out, "Model", model);

  if (resp.contains("capabilities") && resp["capabilities"].is_array() && !resp["capabilities"].empty()) {
    std::vector<std::vector<std::string>> caps;
    for (const auto& c : resp["capabilities"]) caps.push_back({"", c.is_string() ? c.get<std::string>() : ""});
    section(out, "Capabilities", caps);
  }

  if (resp.contains("projector_info") && resp["projector_info"].is_object()) {
    const Json& pi = resp["projector_info"];
    std::vector<std::vector<std::string>> proj;
    const std::string arch = str(pi, "general.architecture");
    if (!arch.empty()) proj.push_back({"", "architecture", arch});
    if (pi.contains("general.parameter_count") && pi["general.parameter_count"].is_number()) {
      proj.push_back({"", "parameters", human_number(static_cast<uint64_t>(pi["general.parameter_count"].get<double>()))});
    }
    for (const char* modality : {"vision", "audio"}) {
      const std::string k = arch + "." + modality + ".embedding_length";
      if (pi.contains(k) && pi[k].is_number()) {
        proj.push_back({"", "embedding length", format_float_plain(pi[k].get<double>())});
        break;
      }
    }
    for (const char* modality : {"vision", "audio"}) {
      const std::string k = arch + "." + modality + ".projection_dim";
      if (pi.contains(k) && pi[k].is_number()) {
        proj.push_back({"", "dimensions", format_float_plain(pi[k].get<double>())});
        break;
      }
    }
    section(out, "Projector", proj);
  }

  const std::string parameters = str(resp, "parameters");
  if (!parameters.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& line : lines_of(parameters)) {
      if (line.empty()) continue;
      std::vector<std::string> row = {""};
      for (auto& f : fields(line)) row.push_back(f);
      rows.push_back(row);
    }
    section(out, "Parameters", rows);
  }

  if (has_info && verbose) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : info.items()) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    std::vector<std::vector<std::string>> rows;
    for (const auto& k : keys) rows.push_back({"", k, metadata_value(info[k])});
    section(out, "Metadata", rows);
  }

  if (verbose && resp.contains("tensors") && resp["tensors"].is_array() && !resp["tensors"].empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : resp["tensors"]) {
      rows.push_back({"", str(t, "name"), str(t, "type"), t.contains("shape") ? go_value(t["shape"]) : "[]"});
    }
    section(out, "Tensors", rows);
  }

  const std::string system = str(resp, "system");
  if (!system.empty()) section(out, "System", head_rows(system, 2));
  const std::string license = str(resp, "license");
  if (!license.empty()) section(out, "License", head_rows(license, 2));
  return out;
}

}  // namespace ollmlx::cli
