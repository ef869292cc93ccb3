// A model directory as mlx-lm writes it: the weight shards (WeightSet), config.json with its
// quantization block (QuantConfig) and the per-module loading rule (ModelDir::linear). Every file
// is untrusted input: errors name the file, the field or the tensor.
#include "format/model_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>
#include <utility>

#include "util/error.h"

namespace ollmlx::format {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kIndexName = "model.safetensors.index.json";
// config.json and index.json are a few hundred KB at most.
constexpr uintmax_t kMaxJsonFileBytes = 64ull << 20;

json read_json_file(const std::string& path, const char* subsystem) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw_error(subsystem, "{}: file not found", path);
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw_error(subsystem, "{}: cannot stat: {}", path, ec.message());
  if (size > kMaxJsonFileBytes)
    throw_error(subsystem, "{}: {} bytes is too large for a JSON file", path, size);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw_error(subsystem, "{}: cannot read", path);
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    throw_error(subsystem, "{}: invalid JSON: {}", path, e.what());
  }
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

// Shard names come from index.json: only plain relative paths inside the directory are allowed.
void check_shard_name(const std::string& dir, const std::string& tensor, const std::string& shard) {
  const fs::path p(shard);
  bool ok = !shard.empty() && shard.find('\0') == std::string::npos && p.is_relative() &&
            !p.has_root_name() && !p.has_root_directory();
  for (const auto& part : p)
    if (part == "..") ok = false;
  if (!ok)
    throw_error("weights", "{}: {} maps tensor '{}' to '{}', not a file inside the directory",
                dir, kIndexName, printable(tensor), printable(shard));
}

// Shard file names to open, in a stable order, from index.json (validated) or the directory.
std::vector<std::string> shard_names_from_index(const std::string& dir, const json& index,
                                                std::map<std::string, std::string>* listed) {
  const std::string file = join_path(dir, kIndexName);
  if (!index.is_object()) throw_error("weights", "{}: must be a JSON object", file);
  auto wm = index.find("weight_map");
  if (wm == index.end()) throw_error("weights", "{}: has no field 'weight_map'", file);
  if (!wm->is_object()) throw_error("weights", "{}: field 'weight_map' must be an object", file);
  if (wm->empty()) throw_error("weights", "{}: 'weight_map' is empty", file);
  std::vector<std::string> shards;
  for (const auto& [tensor, shard] : wm->items()) {
    if (!shard.is_string())
      throw_error("weights", "{}: 'weight_map' value for tensor '{}' must be a string", file,
                  printable(tensor));
    const std::string& name = shard.get_ref<const std::string&>();
    check_shard_name(dir, tensor, name);
    (*listed)[tensor] = name;
    if (std::find(shards.begin(), shards.end(), name) == shards.end()) shards.push_back(name);
  }
  std::sort(shards.begin(), shards.end());
  for (const auto& name : shards) {
    std::error_code ec;
    if (!fs::exists(join_path(dir, name), ec))
      throw_error("weights", "{}: shard '{}' named in {} does not exist", dir, name, kIndexName);
  }
  return shards;
}

// Without an index mlx-lm loads glob("model*.safetensors"); so do we.
std::vector<std::string> shard_names_from_glob(const std::string& dir) {
  std::vector<std::string> shards;
  try {
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      const std::string_view suffix = ".safetensors";
      std::error_code ec;  // a dangling symlink is simply not a shard
      if (name.size() >= 5 + suffix.size() && name.compare(0, 5, "model") == 0 &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          entry.is_regular_file(ec))
        shards.push_back(name);
    }
  } catch (const fs::filesystem_error& e) {
    throw_error("weights", "{}: cannot list directory: {}", dir, e.code().message());
  }
  if (shards.empty())
    throw_error("weights", "{}: no model*.safetensors files and no {}", dir, kIndexName);
  std::sort(shards.begin(), shards.end());
  return shards;
}

// "[weights] a.weight: ..." from validate_linear becomes "[weights] <dir>: a.weight: ...".
[[noreturn]] void rethrow_in_dir(const Error& e, const std::string& dir) {
  std::string_view msg = e.what();
  const std::string prefix = "[" + e.subsystem() + "] ";
  if (msg.substr(0, prefix.size()) == prefix) msg.remove_prefix(prefix.size());
  throw_error(e.subsystem(), "{}: {}", dir, msg);
}

// ---- quantization block ----

const char* mode_name(QuantMode m) {
  switch (m) {
    case QuantMode::Affine:
      return "affine";
    case QuantMode::MxFp4:
      return "mxfp4";
    case QuantMode::MxFp8:
      return "mxfp8";
    case QuantMode::NvFp4:
      return "nvfp4";
    case QuantMode::None:
      break;
  }
  return "none";
}

QuantMode parse_mode(const json& block, const std::string& where, const std::string& file) {
  auto it = block.find("mode");
  if (it == block.end() || it->is_null()) return QuantMode::Affine;
  if (!it->is_string()) throw_error("config", "{}: field '{}.mode' must be a string", file, where);
  const std::string& m = it->get_ref<const std::string&>();
  if (m == "affine") return QuantMode::Affine;
  if (m == "mxfp4") return QuantMode::MxFp4;
  if (m == "mxfp8") return QuantMode::MxFp8;
  if (m == "nvfp4") return QuantMode::NvFp4;
  throw_error("config", "{}: field '{}.mode' is '{}'; supported: affine, mxfp4, mxfp8, nvfp4", file,
              where, m);
}

// Optional integer field; nullopt if absent. Must be a positive JSON integer.
std::optional<int> quant_int(const json& block, const char* key, const std::string& where,
                             const std::string& file) {
  auto it = block.find(key);
  if (it == block.end()) return std::nullopt;
  if (!it->is_number_integer())
    throw_error("config", "{}: field '{}.{}' must be an integer", file, where, key);
  // Parsed non-negative integers are stored unsigned; built ones may be signed.
  const bool in_range = it->is_number_unsigned()
                            ? it->get<uint64_t>() >= 1 && it->get<uint64_t>() <= 1024
                            : it->get<int64_t>() >= 1 && it->get<int64_t>() <= 1024;
  if (!in_range)
    throw_error("config", "{}: field '{}.{}' is {}, out of range", file, where, key, it->dump());
  return it->get<int>();
}

// Parses {"group_size", "bits", "mode"}. `require_sizes`: the top-level block must state
// group_size and bits (mlx-lm indexes them directly); per-module overrides are to_quantized()
// kwargs, so missing values take MLX's per-mode defaults.
QuantSpec parse_spec(const json& block, const std::string& where, bool require_sizes,
                     const std::string& file) {
  QuantSpec s;
  s.mode = parse_mode(block, where, file);
  std::optional<int> gs = quant_int(block, "group_size", where, file);
  std::optional<int> bits = quant_int(block, "bits", where, file);
  if (require_sizes && !gs)
    throw_error("config", "{}: field '{}.group_size' is missing", file, where);
  if (require_sizes && !bits) throw_error("config", "{}: field '{}.bits' is missing", file, where);
  const int default_gs = s.mode == QuantMode::Affine ? 64 : s.mode == QuantMode::NvFp4 ? 16 : 32;
  const int default_bits = s.mode == QuantMode::MxFp8 ? 8 : 4;
  s.group_size = gs.value_or(default_gs);
  s.bits = bits.value_or(default_bits);

  bool ok = true;
  const char* allowed = "";
  switch (s.mode) {
    case QuantMode::Affine:
      ok = (s.bits >= 2 && s.bits <= 8 && s.bits != 7) &&
           (s.group_size == 32 || s.group_size == 64 || s.group_size == 128);
      allowed = "bits 2, 3, 4, 5, 6 or 8 with group_size 32, 64 or 128";
      break;
    case QuantMode::MxFp4:
      ok = s.bits == 4 && s.group_size == 32;
      allowed = "bits 4, group_size 32";
      break;
    case QuantMode::MxFp8:
      ok = s.bits == 8 && s.group_size == 32;
      allowed = "bits 8, group_size 32";
      break;
    case QuantMode::NvFp4:
      ok = s.bits == 4 && s.group_size == 16;
      allowed = "bits 4, group_size 16";
      break;
    case QuantMode::None:
      break;
  }
  if (!ok)
    throw_error("config", "{}: '{}': {} with bits {} and group_size {} is not supported ({})", file,
                where, mode_name(s.mode), s.bits, s.group_size, allowed);
  return s;
}

bool is_base_key(const std::string& key) {
  return key == "group_size" || key == "bits" || key == "mode";
}

}  // namespace

// ---------------------------------------------------------------- WeightSet

WeightSet WeightSet::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw_error("weights", "{}: not a directory", dir);
  WeightSet ws;
  ws.dir_ = dir;

  std::map<std::string, std::string> listed;  // tensor -> shard, from index.json
  const std::string index_path = join_path(dir, kIndexName);
  const bool has_index = fs::exists(index_path, ec);
  const std::vector<std::string> shards =
      has_index ? shard_names_from_index(dir, read_json_file(index_path, "weights"), &listed)
                : shard_names_from_glob(dir);

  std::map<std::string, size_t> shard_index;  // shard name -> files_ position
  for (const std::string& shard : shards) {
    const size_t fi = ws.files_.size();
    shard_index[shard] = fi;
    ws.files_.push_back(SafetensorsFile::open(join_path(dir, shard)));
    for (const auto& [name, entry] : ws.files_.back()->header().tensors) {
      auto [it, inserted] = ws.index_.emplace(name, std::make_pair(fi, &entry));
      if (!inserted)
        throw_error("weights", "{}: tensor '{}' appears in both '{}' and '{}'", dir,
                    printable(name), shards[it->second.first], shard);
    }
  }
  for (const auto& [tensor, shard] : listed) {
    auto it = ws.index_.find(tensor);
    if (it == ws.index_.end() || it->second.first != shard_index.at(shard))
      throw_error("weights", "{}: {} lists tensor '{}' in '{}' but that file does not contain it",
                  dir, kIndexName, printable(tensor), shard);
  }
  return ws;
}

bool WeightSet::contains(const std::string& name) const { return index_.count(name) > 0; }

Tensor WeightSet::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw_error("weights", "{}: missing tensor '{}'", dir_, name);
  return files_[it->second.first]->view(*it->second.second);
}

Tensor WeightSet::get(const std::string& name, const Shape& shape) const {
  Tensor t = get(name);
  if (t.shape != shape)
    throw_error("weights", "{}: tensor '{}' has shape {} but {} is expected",
                files_[index_.at(name).first]->path(), name, shape_str(t.shape), shape_str(shape));
  return t;
}

Tensor WeightSet::get_float(const std::string& name, const Shape& shape) const {
  Tensor t = get(name, shape);
  if (!is_float(t.dtype))
    throw_error("weights", "{}: tensor '{}' has dtype {} but a float type is expected",
                files_[index_.at(name).first]->path(), name, dtype_name(t.dtype));
  return t;
}

std::vector<std::string> WeightSet::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, loc] : index_) out.push_back(name);
  return out;
}

uint64_t WeightSet::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, loc] : index_) total += loc.second->end - loc.second->begin;
  return total;
}

void WeightSet::prefetch() const {
  for (const auto& f : files_) f->prefetch();
}

// ---------------------------------------------------------------- QuantConfig

QuantConfig QuantConfig::parse(const json& config, const std::string& display_name) {
  const std::string& file = display_name;
  if (!config.is_object()) throw_error("config", "{}: must be a JSON object", file);
  QuantConfig qc;
  const char* key = "quantization";
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    key = "quantization_config";
    it = config.find(key);
  }
  // null or false: not quantized (mlx-lm tools write neither, but both read as "no").
  if (it == config.end() || it->is_null() || (it->is_boolean() && !it->get<bool>())) return qc;
  const json& block = *it;
  if (!block.is_object()) throw_error("config", "{}: field '{}' must be an object", file, key);

  // HF-style quantization_config (quant_method): only what maps onto MLX's own layout.
  auto method = block.find("quant_method");
  if (std::string_view(key) == "quantization_config" && method != block.end()) {
    if (!method->is_string())
      throw_error("config", "{}: field '{}.quant_method' must be a string", file, key);
    const std::string& m = method->get_ref<const std::string&>();
    if (m != "mxfp4")
      throw_error("config", "{}: quant_method '{}' in '{}' is not MLX format (use mlx_lm.convert)",
                  file, m, key);
    qc.base = QuantSpec{QuantMode::MxFp4, 4, 32};
    return qc;
  }

  qc.base = parse_spec(block, key, /*require_sizes=*/true, file);
  for (const auto& [path, value] : block.items()) {
    if (is_base_key(path)) continue;
    const std::string where = std::string(key) + "." + path;
    if (value.is_object()) {
      qc.per_path[path] = parse_spec(value, where, /*require_sizes=*/false, file);
    } else if (value.is_boolean()) {
      // false: keep the module dense. true: quantize with the block's defaults.
      qc.per_path[path] = value.get<bool>() ? qc.base : std::nullopt;
    }
    // Other scalars (e.g. "quant_method": "affine" in a copied block) are not module paths.
  }
  return qc;
}

std::optional<QuantSpec> QuantConfig::spec_for(const std::string& path) const {
  auto it = per_path.find(path);
  return it != per_path.end() ? it->second : base;
}

// ---------------------------------------------------------------- ModelDir

ModelDir ModelDir::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw_error("config", "{}: not a directory", dir);
  const std::string config_path = join_path(dir, "config.json");
  ModelDir md;
  md.path_ = dir;
  md.config_ = read_json_file(config_path, "config");
  if (!md.config_.is_object()) throw_error("config", "{}: must be a JSON object", config_path);
  auto mt = md.config_.find("model_type");
  if (mt == md.config_.end())
    throw_error("config", "{}: field 'model_type' is missing", config_path);
  if (!mt->is_string())
    throw_error("config", "{}: field 'model_type' must be a string", config_path);
  md.model_type_ = mt->get<std::string>();
  md.quant_ = QuantConfig::parse(md.config_, config_path);
  md.weights_ = WeightSet::open(dir);
  return md;
}

bool ModelDir::has_module(const std::string& path) const {
  return weights_.contains(path + ".weight");
}

Linear ModelDir::linear(const std::string& path, int64_t out, int64_t in) const {
  Linear l;
  l.name = path;
  l.out = out;
  l.in = in;
  l.weight = weights_.get(path + ".weight");
  if (weights_.contains(path + ".scales")) {
    std::optional<QuantSpec> spec = quant_.spec_for(path);
    if (!spec) {
      if (quant_.per_path.count(path))
        throw_error("weights", "{}: tensor '{}.scales' exists but config.json sets '{}': false",
                    path_, path, path);
      throw_error("weights", "{}: tensor '{}.scales' exists but config.json has no quantization "
                  "block", path_, path);
    }
    l.quant = *spec;
    l.scales = weights_.get(path + ".scales");
    if (l.quant.mode == QuantMode::Affine) {
      l.biases = weights_.get(path + ".biases");
    } else if (weights_.contains(path + ".biases")) {
      throw_error("weights", "{}: unexpected tensor '{}.biases' ({} has no biases)", path_, path,
                  quant_str(l.quant));
    }
  }
  if (weights_.contains(path + ".bias")) l.bias = weights_.get(path + ".bias");
  try {
    validate_linear(l);
  } catch (const Error& e) {
    rethrow_in_dir(e, path_);
  }
  return l;
}

// ---------------------------------------------------------------- config accessors

namespace {
const json* config_field(const json& cfg, const char* key, const std::string& file) {
  if (!cfg.is_object()) throw_error("config", "{}: must be a JSON object", file);
  auto it = cfg.find(key);
  return it == cfg.end() || it->is_null() ? nullptr : &*it;
}

int64_t to_int(const json& v, const char* key, const std::string& file) {
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())))
    throw_error("config", "{}: field '{}' must be an integer", file, key);
  return v.get<int64_t>();
}
}  // namespace

int64_t config_int(const json& cfg, const char* key, const std::string& file) {
  const json* v = config_field(cfg, key, file);
  if (!v) throw_error("config", "{}: field '{}' is missing", file, key);
  return to_int(*v, key, file);
}

int64_t config_int(const json& cfg, const char* key, int64_t fallback, const std::string& file) {
  const json* v = config_field(cfg, key, file);
  return v ? to_int(*v, key, file) : fallback;
}

double config_float(const json& cfg, const char* key, double fallback, const std::string& file) {
  const json* v = config_field(cfg, key, file);
  if (!v) return fallback;
  if (!v->is_number()) throw_error("config", "{}: field '{}' must be a number", file, key);
  return v->get<double>();
}

bool config_bool(const json& cfg, const char* key, bool fallback, const std::string& file) {
  const json* v = config_field(cfg, key, file);
  if (!v) return fallback;
  if (!v->is_boolean()) throw_error("config", "{}: field '{}' must be a boolean", file, key);
  return v->get<bool>();
}

}  // namespace ollmlx::format
