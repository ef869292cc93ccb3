// Float model directory -> MLX affine-quantized directory, as mlx_lm.convert --quantize writes it
// (quantize_model.h).
#include "store/import/quantize_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <vector>

#include "format/model_dir.h"
#include "store/files.h"
#include "store/import/gguf_quants.h"
#include "store/import/safetensors_writer.h"
#include "store/store_error.h"
#include "util/error.h"
#include "util/half.h"
#include "util/unaligned.h"

namespace ollmlx::gguf {
namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The dtype mlx_lm.convert casts float parameters to: config "torch_dtype", else
// text_config "dtype", when it is one of float16/bfloat16/float32.
std::optional<DType> conversion_dtype(const OJson& cfg) {
  const OJson* v = nullptr;
  if (auto it = cfg.find("torch_dtype"); it != cfg.end() && !it->is_null()) v = &*it;
  if (!v) {
    if (auto tc = cfg.find("text_config"); tc != cfg.end() && tc->is_object()) {
      if (auto it = tc->find("dtype"); it != tc->end() && !it->is_null()) v = &*it;
    }
  }
  if (!v || !v->is_string()) return std::nullopt;
  const std::string s = v->get<std::string>();
  if (s == "float16") return DType::F16;
  if (s == "bfloat16") return DType::BF16;
  if (s == "float32") return DType::F32;
  return std::nullopt;
}

bool tied_embeddings(const OJson& cfg) {
  auto flag = [](const OJson& o) -> std::optional<bool> {
    if (auto it = o.find("tie_word_embeddings"); it != o.end() && it->is_boolean()) return it->get<bool>();
    return std::nullopt;
  };
  if (auto t = flag(cfg)) return *t;
  if (auto tc = cfg.find("text_config"); tc != cfg.end() && tc->is_object()) {
    if (auto t = flag(*tc)) return *t;
  }
  return false;
}

// Element i of a float tensor as float32, rounded to `to` first (the cast mlx_lm.convert does
// before quantizing: the quantizer sees the cast values).
float element(const Tensor& t, int64_t i, DType to) {
  // Tensors in a safetensors file need not be aligned (MLX's writer does not pad): unaligned loads.
  float v = 0.0f;
  switch (t.dtype) {
    case DType::F32: v = load_f32_at(t.data, i); break;
    case DType::F16: v = f16_to_f32(load_u16_at(t.data, i)); break;
    case DType::BF16: v = bf16_to_f32(load_u16_at(t.data, i)); break;
    case DType::F64: {
      double d = 0;
      std::memcpy(&d, static_cast<const uint8_t*>(t.data) + i * 8, sizeof d);
      v = static_cast<float>(d);
      break;
    }
    default: throw_error("quantize", "tensor of dtype {} is not a float", dtype_name(t.dtype));
  }
  if (to == DType::BF16) return round_bf16(v);
  if (to == DType::F16) return f16_to_f32(f32_to_f16(v));
  return v;
}

void store_float(float v, DType to, uint8_t* out) {
  if (to == DType::F32) {
    std::memcpy(out, &v, 4);
  } else {
    const uint16_t h = to == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
    std::memcpy(out, &h, 2);
  }
}

enum class Kind { Copy, Cast, QWeight, QScales, QBiases };

struct Planned {
  PlannedTensor t;
  Kind kind = Kind::Copy;
  std::string source;  // the source tensor's name
  DType to = DType::F32;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Files of the source directory that are part of the model but not its weights.
bool copied_file(const std::string& name) {
  if (name == "config.json" || name == "model.safetensors.index.json") return false;
  if (ends_with(name, ".safetensors")) return false;
  if (name.empty() || name[0] == '.') return false;
  return ends_with(name, ".json") || ends_with(name, ".jinja") || ends_with(name, ".model") ||
         ends_with(name, ".tiktoken") || ends_with(name, ".txt") || ends_with(name, ".jsonl") ||
         ends_with(name, ".py");
}

}  // namespace

int parse_quantize_level(const std::string& level) {
  const std::string l = lower(level);
  if (l == "q4") return 4;
  if (l == "q8") return 8;
  throw Error("quantize", fmt::format("unsupported quantization type {}: ollmlx quantizes float "
                                      "weights to q4 or q8 (MLX affine, group size 64)", level));
}

QuantizeReport quantize_model_dir(const fs::path& src, const fs::path& dst, const QuantizeOptions& options) {
  const int bits = options.bits, gs = options.group_size;
  if (bits != 4 && bits != 8) throw_error("quantize", "bits must be 4 or 8, not {}", bits);
  if (gs != 32 && gs != 64 && gs != 128) throw_error("quantize", "group size must be 32, 64 or 128, not {}", gs);
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  auto check_cancel = [&] {
    if (options.cancel && options.cancel->load())
      throw store::StoreError(store::StoreErrorKind::Canceled, "quantize canceled");
  };

  // ---- config
  const fs::path cfg_path = src / "config.json";
  std::ifstream in(cfg_path, std::ios::binary);
  if (!in) throw_error("quantize", "{}: cannot read config.json", src.string());
  OJson cfg = OJson::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!cfg.is_object()) throw_error("quantize", "{}: config.json is not a JSON object", cfg_path.string());
  for (const char* key : {"quantization", "quantization_config"}) {
    auto it = cfg.find(key);
    if (it != cfg.end() && !it->is_null())
      throw_error("quantize", "{}: the model is already quantized (config.json has \"{}\"); "
                  "quantize needs float (F32/F16/BF16) weights", src.string(), key);
  }
  const std::optional<DType> cast_to = conversion_dtype(cfg);
  const bool tied = tied_embeddings(cfg);
  const format::WeightSet weights = format::WeightSet::open(src.string());

  // ---- plan: names sorted, as the writer and mlx-lm's index list them
  QuantizeReport rep;
  rep.dtype = cast_to ? std::string(dtype_name(*cast_to)) : "";
  std::vector<Planned> plan;
  for (const std::string& name : weights.names()) {
    if (ends_with(name, ".scales") || ends_with(name, ".biases")) {
      // ".biases" of a float model would be unusual; ".scales" means quantized weights.
      throw_error("quantize", "{}: tensor '{}': the model is already quantized; quantize needs "
                  "float (F32/F16/BF16) weights", src.string(), name);
    }
    if (ends_with(name, "rotary_emb.inv_freq") || (tied && name == "lm_head.weight")) {
      ++rep.dropped;
      continue;
    }
    const Tensor t = weights.get(name);
    const bool fl = is_float(t.dtype);
    const DType to = fl ? (cast_to ? *cast_to : (t.dtype == DType::F64 ? DType::F32 : t.dtype)) : t.dtype;
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 0;
    if (fl && ends_with(name, ".weight") && t.shape.size() == 2 && cols > 0 && cols % gs == 0 &&
        t.shape[0] > 0) {
      const int64_t rows = t.shape[0];
      const std::string base = name.substr(0, name.size() - 7);
      Planned w{{name, "U32", {rows, cols * bits / 32}, static_cast<uint64_t>(rows * cols * bits / 8)},
                Kind::QWeight, name, to};
      const uint64_t pbytes = static_cast<uint64_t>(rows * (cols / gs)) * dtype_size(to);
      Planned s{{base + ".scales", std::string(dtype_name(to)), {rows, cols / gs}, pbytes}, Kind::QScales, name, to};
      Planned b{{base + ".biases", std::string(dtype_name(to)), {rows, cols / gs}, pbytes}, Kind::QBiases, name, to};
      plan.push_back(std::move(w));
      plan.push_back(std::move(s));
      plan.push_back(std::move(b));
      ++rep.quantized;
    } else {
      std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
      const uint64_t n = static_cast<uint64_t>(t.numel());
      Planned p{{name, std::string(dtype_name(to)), shape, n * dtype_size(to)},
                fl && to != t.dtype ? Kind::Cast : Kind::Copy, name, to};
      plan.push_back(std::move(p));
      ++rep.kept;
    }
  }
  if (rep.quantized == 0)
    throw_error("quantize", "{}: no weight matrix whose width is a multiple of {} to quantize", src.string(), gs);
  std::sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) { return a.t.name < b.t.name; });

  // The quantized forms of one source matrix (weight, scales, biases) are made together and
  // handed out as the writer asks for each.
  struct Cache {
    std::string source;
    std::vector<uint8_t> w, s, b;
  } cache;
  auto quantize_source = [&](const Planned& p) {
    if (cache.source == p.source) return;
    const Tensor t = weights.get(p.source);
    const int64_t rows = t.shape[0], cols = t.shape[1], groups = cols / gs;
    const size_t psize = dtype_size(p.to);
    cache.w.assign(static_cast<size_t>(rows * cols * bits / 8), 0);
    cache.s.assign(static_cast<size_t>(rows * groups) * psize, 0);
    cache.b.assign(cache.s.size(), 0);
    std::vector<float> x(static_cast<size_t>(gs));
    std::vector<uint8_t> q(static_cast<size_t>(gs));
    for (int64_t r = 0; r < rows; ++r) {
      if ((r & 1023) == 0) check_cancel();
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t at = r * cols + g * gs;
        for (int i = 0; i < gs; ++i) x[static_cast<size_t>(i)] = element(t, at + i, p.to);
        float scale = 0.0f, bias = 0.0f;
        mlx_quantize_group(x.data(), gs, bits, q.data(), &scale, &bias);
        pack_bits(q.data(), gs, bits, cache.w.data() + at * bits / 8);
        store_float(scale, p.to, cache.s.data() + static_cast<size_t>(r * groups + g) * psize);
        store_float(bias, p.to, cache.b.data() + static_cast<size_t>(r * groups + g) * psize);
      }
    }
    cache.source = p.source;
  };
  auto produce = [&](const Planned& p, std::vector<uint8_t>& out) {
    check_cancel();
    switch (p.kind) {
      case Kind::QWeight: quantize_source(p); out = cache.w; return;
      case Kind::QScales: quantize_source(p); out = cache.s; return;
      case Kind::QBiases: quantize_source(p); out = cache.b; return;
      case Kind::Copy: {
        const Tensor t = weights.get(p.source);
        const auto* b = t.ptr<const uint8_t>();
        out.assign(b, b + t.nbytes());
        return;
      }
      case Kind::Cast: {
        const Tensor t = weights.get(p.source);
        const size_t sz = dtype_size(p.to);
        out.resize(static_cast<size_t>(t.numel()) * sz);
        for (int64_t i = 0; i < t.numel(); ++i) store_float(element(t, i, p.to), p.to, out.data() + i * sz);
        return;
      }
    }
  };

  // ---- write into a fresh directory; anything that fails removes it again
  std::error_code ec;
  if (fs::exists(dst, ec)) throw_error("quantize", "{} already exists", dst.string());
  fs::create_directories(dst, ec);
  if (ec) throw_error("quantize", "{}: {}", dst.string(), ec.message());
  try {
    log(fmt::format("quantizing {} weight matrices to {}-bit (MLX affine, group size {}){}", rep.quantized,
                    bits, gs, cast_to ? fmt::format(", other floats as {}", dtype_name(*cast_to)) : ""));
    std::vector<PlannedTensor> planned;
    for (const Planned& p : plan) planned.push_back(p.t);
    const MlxShards written = write_mlx_shards(
        dst, planned, options.max_shard_bytes, log,
        [&](size_t i, std::vector<uint8_t>& buf) { produce(plan[i], buf); });
    rep.total_size = written.total_size;
    int64_t n_params = 0;
    for (const Planned& p : plan) {
      if (p.kind == Kind::QScales || p.kind == Kind::QBiases) continue;
      int64_t elems = 1;
      for (int64_t d : p.t.shape) elems *= d;
      n_params += p.kind == Kind::QWeight ? elems * 32 / bits : elems;
    }
    store::write_file_atomic(dst / "model.safetensors.index.json", written.index_json(n_params));

    // config.json as mlx-lm's save_config writes it: the quantization block, sorted keys.
    OJson out_cfg = cfg;
    out_cfg.erase("_name_or_path");
    const OJson q{{"group_size", gs}, {"bits", bits}, {"mode", "affine"}};
    out_cfg["quantization"] = q;
    out_cfg["quantization_config"] = q;
    std::map<std::string, OJson> sorted;
    for (auto it = out_cfg.begin(); it != out_cfg.end(); ++it) sorted[it.key()] = it.value();
    OJson final_cfg = OJson::object();
    for (auto& [k, v] : sorted) final_cfg[k] = std::move(v);
    store::write_file_atomic(dst / "config.json", final_cfg.dump(4));

    for (const auto& entry : fs::directory_iterator(src)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || !copied_file(name)) continue;
      fs::copy_file(entry.path(), dst / name, fs::copy_options::overwrite_existing);
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(dst, ignored);
    throw;
  }
  return rep;
}

}  // namespace ollmlx::gguf
