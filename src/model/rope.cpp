#include "model/rope.h"

#include <cmath>
#include <vector>

#include "util/error.h"

namespace ollmlx {
namespace {

using json = nlohmann::json;

double num(const json& j, const char* key, double fallback, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number())
    throw_error("config", "{}: rope_scaling field '{}' must be a number", file, key);
  return j[key].get<double>();
}

double required(const json& j, const char* key, const std::string& file) {
  if (!j.contains(key) || !j[key].is_number())
    throw_error("config", "{}: rope_scaling needs a numeric '{}'", file, key);
  return j[key].get<double>();
}

// Periods base^(2i/dims) in float32, as mlx-lm computes them with mx arrays.
std::vector<float> periods_f32(float base, int dims) {
  std::vector<float> p(static_cast<size_t>(dims / 2));
  for (int i = 0; i < dims / 2; ++i)
    p[static_cast<size_t>(i)] = std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dims));
  return p;
}

std::vector<float> invert(const std::vector<float>& periods) {
  std::vector<float> inv(periods.size());
  for (size_t i = 0; i < periods.size(); ++i) inv[i] = 1.0f / periods[i];
  return inv;
}

}  // namespace

RopeSpec rope_plain(double base, int dims, bool traditional, double position_scale,
                    const std::string& file) {
  if (dims <= 0 || dims % 2 != 0)
    throw_error("config", "{}: rotary dimensions must be positive and even, got {}", file, dims);
  if (!(base > 0.0)) throw_error("config", "{}: rope base must be positive, got {}", file, base);
  if (!(position_scale > 0.0) || !std::isfinite(position_scale))
    throw_error("config", "{}: rope scale must be positive, got {}", file, position_scale);
  RopeSpec spec;
  spec.dims = dims;
  spec.base = static_cast<float>(base);
  spec.traditional = traditional;
  spec.position_scale = static_cast<float>(position_scale);
  spec.inv_freq = rope_inv_freq(spec.base, dims);
  return spec;
}

RopeSpec rope_su_scaled(double base, int dims, const json& long_factor, int64_t max_pos,
                        int64_t original_max_pos, const std::string& file) {
  RopeSpec spec = rope_plain(base, dims, false, 1.0, file);
  if (original_max_pos <= 0 || max_pos <= 0)
    throw_error("config", "{}: longrope needs positive max_position_embeddings ({}) and "
                "original_max_position_embeddings ({})", file, max_pos, original_max_pos);
  std::vector<float> f = periods_f32(spec.base, dims);
  if (long_factor.is_array()) {
    if (long_factor.size() != f.size())
      throw_error("config", "{}: rope_scaling long_factor has {} values, {} expected", file,
                  long_factor.size(), f.size());
    for (size_t i = 0; i < f.size(); ++i) {
      if (!long_factor[i].is_number())
        throw_error("config", "{}: rope_scaling long_factor must be numbers", file);
      f[i] *= long_factor[i].get<float>();
    }
  } else if (long_factor.is_number()) {
    for (float& p : f) p *= long_factor.get<float>();
  } else {
    throw_error("config", "{}: rope_scaling long_factor must be a number or a list", file);
  }
  const double factor = static_cast<double>(max_pos) / static_cast<double>(original_max_pos);
  spec.mscale = static_cast<float>(
      factor <= 1.0 ? 1.0
                    : std::sqrt(1.0 + std::log(factor) / std::log(static_cast<double>(original_max_pos))));
  spec.inv_freq = invert(f);
  return spec;
}

RopeSpec rope_from_config(const json& cfg, int dims, const std::string& file,
                          const RopeDefaults& defaults) {
  if (dims <= 0 || dims % 2 != 0)
    throw_error("config", "{}: rotary dimensions must be positive and even, got {}", file, dims);
  RopeSpec spec;
  spec.dims = dims;
  double theta = defaults.theta;
  if (cfg.contains("rope_theta") && !cfg["rope_theta"].is_null()) {
    if (!cfg["rope_theta"].is_number()) throw_error("config", "{}: rope_theta must be a number", file);
    theta = cfg["rope_theta"].get<double>();
  }
  if (!(theta > 0.0)) throw_error("config", "{}: rope_theta must be positive", file);
  const float base = static_cast<float>(theta);
  spec.base = base;
  if (cfg.contains("rope_traditional") && cfg["rope_traditional"].is_boolean())
    spec.traditional = cfg["rope_traditional"].get<bool>();
  const int64_t max_pos = cfg.contains("max_position_embeddings") &&
                                  cfg["max_position_embeddings"].is_number_integer()
                              ? cfg["max_position_embeddings"].get<int64_t>()
                              : defaults.max_position;

  spec.inv_freq = rope_inv_freq(base, dims);
  if (!cfg.contains("rope_scaling") || cfg["rope_scaling"].is_null()) return spec;
  const json& sc = cfg["rope_scaling"];
  if (!sc.is_object()) throw_error("config", "{}: rope_scaling must be an object or null", file);
  std::string type = "default";
  if (sc.contains("type") && sc["type"].is_string())
    type = sc["type"].get<std::string>();
  else if (sc.contains("rope_type") && sc["rope_type"].is_string())
    type = sc["rope_type"].get<std::string>();

  if (type == "default") return spec;
  if (type == "linear") {
    const double factor = required(sc, "factor", file);
    if (!(factor > 0)) throw_error("config", "{}: rope_scaling factor must be positive", file);
    spec.position_scale = static_cast<float>(1.0 / factor);
    return spec;
  }
  if (type == "dynamic") {
    if (max_pos <= 0)
      throw_error("config", "{}: dynamic rope scaling needs max_position_embeddings", file);
    if (dims <= 2) throw_error("config", "{}: dynamic rope scaling needs more than 2 dims", file);
    spec.dynamic = true;
    spec.dynamic_factor = static_cast<float>(required(sc, "factor", file));
    spec.max_position = static_cast<int>(max_pos);
    return spec;
  }
  if (type == "llama3") {
    const float factor = static_cast<float>(required(sc, "factor", file));
    const float low = static_cast<float>(num(sc, "low_freq_factor", 1.0, file));
    const float high = static_cast<float>(num(sc, "high_freq_factor", 4.0, file));
    const float old_ctx = static_cast<float>(num(sc, "original_max_position_embeddings", 8192, file));
    if (!(high > low)) throw_error("config", "{}: llama3 rope needs high_freq_factor > low_freq_factor", file);
    const float low_wl = old_ctx / low, high_wl = old_ctx / high;
    const float two_pi = static_cast<float>(2.0 * M_PI);
    std::vector<float> f = periods_f32(base, dims);
    for (float& p : f) {
      const float wl = two_pi * p;
      const float scaled = wl > low_wl ? p * factor : p;
      if (wl > high_wl && wl < low_wl) {
        const float s = (old_ctx / wl - low) / (high - low);
        p = scaled / ((1.0f - s) / factor + s);
      } else {
        p = scaled;
      }
    }
    spec.inv_freq = invert(f);
    return spec;
  }
  if (type == "yarn" || type == "deepseek_yarn" || type == "telechat3-yarn") {
    const double factor = required(sc, "factor", file);
    const double orig = num(sc, "original_max_position_embeddings", 4096, file);
    const double beta_fast = num(sc, "beta_fast", 32, file);
    const double beta_slow = num(sc, "beta_slow", 1, file);
    const double mscale = num(sc, "mscale", 1, file);
    const double mscale_all = num(sc, "mscale_all_dim", 0, file);
    auto correction_dim = [&](double rotations) {
      return dims * std::log(orig / (rotations * 2 * M_PI)) / (2 * std::log(theta));
    };
    double lo = std::max(std::floor(correction_dim(beta_fast)), 0.0);
    double hi = std::min(std::ceil(correction_dim(beta_slow)), static_cast<double>(dims - 1));
    if (lo == hi) hi += 0.001;
    auto get_mscale = [](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
    spec.mscale = static_cast<float>(get_mscale(factor, mscale) / get_mscale(factor, mscale_all));
    std::vector<float> extra = periods_f32(base, dims);
    std::vector<float> f(extra.size());
    for (size_t i = 0; i < extra.size(); ++i) {
      const float ramp = std::clamp(static_cast<float>((static_cast<double>(i) - lo) / (hi - lo)), 0.0f, 1.0f);
      const float mask = 1.0f - ramp;
      const float inter = static_cast<float>(factor) * extra[i];
      f[i] = (inter * extra[i]) / (inter * mask + extra[i] * (1.0f - mask));
    }
    spec.inv_freq = invert(f);
    return spec;
  }
  if (type == "longrope" || type == "su") {
    const json& lf = sc.contains("long_factor") ? sc["long_factor"] : json();
    std::vector<float> f = periods_f32(base, dims);
    if (lf.is_array()) {
      if (lf.size() != f.size())
        throw_error("config", "{}: rope_scaling long_factor has {} values, {} expected", file,
                    lf.size(), f.size());
      for (size_t i = 0; i < f.size(); ++i) {
        if (!lf[i].is_number()) throw_error("config", "{}: rope_scaling long_factor must be numbers", file);
        f[i] *= lf[i].get<float>();
      }
    } else if (lf.is_number()) {
      for (float& p : f) p *= lf.get<float>();
    }
    double orig = num(sc, "original_max_position_embeddings", 0, file);
    if (orig <= 0 && cfg.contains("original_max_position_embeddings") &&
        cfg["original_max_position_embeddings"].is_number())
      orig = cfg["original_max_position_embeddings"].get<double>();
    if (orig <= 0) orig = 4096;
    const double mp = max_pos > 0 ? static_cast<double>(max_pos) : 131072.0;
    const double factor = mp / orig;
    const double long_mscale = num(sc, "long_mscale", 0, file);
    spec.mscale = static_cast<float>(
        long_mscale != 0 ? long_mscale
                         : (factor <= 1 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(orig))));
    spec.inv_freq = invert(f);
    return spec;
  }
  throw_error("config", "{}: unsupported rope_scaling type '{}'", file, type);
}

}  // namespace ollmlx
