// Double-precision reference ops (see reference.h).
#include "reference.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "util/half.h"

namespace ollmlx::ref {

namespace {

double read_float(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32:
      return t.ptr<const float>()[i];
    case DType::F16:
      return f16_to_f32(t.ptr<const uint16_t>()[i]);
    case DType::BF16:
      return bf16_to_f32(t.ptr<const uint16_t>()[i]);
    default:
      throw std::runtime_error("reference: not a float tensor");
  }
}

double round_act(DType act, double v) {
  const float f = static_cast<float>(v);
  if (act == DType::BF16) return round_bf16(f);
  if (act == DType::F16) return round_f16(f);
  return v;
}

}  // namespace

std::vector<double> embed(const Linear& table, const std::vector<int32_t>& ids) {
  const int64_t D = table.in;
  std::vector<double> y;
  for (int32_t id : ids) {
    for (int64_t k = 0; k < D; ++k) {
      if (!table.quantized()) {
        y.push_back(read_float(table.weight, int64_t{id} * D + k));
        continue;
      }
      // Generic bit-stream rule: bits [k*bits, (k+1)*bits) of the row, bit i in word i/32.
      const int bits = table.quant.bits;
      const uint32_t* row = table.weight.ptr<const uint32_t>() + int64_t{id} * (D * bits / 32);
      uint32_t q = 0;
      for (int b = 0; b < bits; ++b) {
        const int64_t i = k * bits + b;
        q |= ((row[i / 32] >> (i % 32)) & 1u) << b;
      }
      const int64_t g = int64_t{id} * (D / table.quant.group_size) + k / table.quant.group_size;
      y.push_back(read_float(table.scales, g) * q + read_float(table.biases, g));
    }
  }
  return y;
}

std::vector<double> rms_norm(const std::vector<float>& x, int64_t rows, int64_t dim,
                             const std::vector<float>& w, double eps, DType act) {
  std::vector<double> y(static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) {
      const double v = x[static_cast<size_t>(r * dim + i)];
      ss += v * v;
    }
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) {
      const size_t j = static_cast<size_t>(r * dim + i);
      const double n = round_act(act, x[j] * inv);
      y[j] = round_act(act, w[static_cast<size_t>(i)] * n);
    }
  }
  return y;
}

std::vector<double> gated_act(const std::vector<float>& gate, const std::vector<float>& up,
                              Activation act) {
  std::vector<double> y(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    double a;
    if (act == Activation::Silu) {
      a = g / (1.0 + std::exp(-g));
    } else {
      const double c = std::sqrt(2.0 / M_PI);
      a = 0.5 * g * (1.0 + std::tanh(c * (g + 0.044715 * g * g * g)));
    }
    y[i] = a * up[i];
  }
  return y;
}

std::vector<float> dynamic_inv_freq(const RopeSpec& spec, int64_t len) {
  if (len <= spec.max_position) return spec.inv_freq;
  // base' = base * (factor * L / max_pos - (factor - 1))^(dims / (dims - 2)), rounded to float;
  // then base'^(-2i/dims). (A 1-ulp change of inv_freq moves the angle at position p by
  // p * 6e-8 rad, so this follows the same double-then-round steps as the spec requires.)
  const double f = spec.dynamic_factor;
  const double ratio = f * static_cast<double>(len) / spec.max_position - (f - 1.0);
  const double base = spec.base * std::pow(ratio, static_cast<double>(spec.dims) / (spec.dims - 2));
  const double b = static_cast<float>(base);
  std::vector<float> inv(static_cast<size_t>(spec.dims / 2));
  for (size_t i = 0; i < inv.size(); ++i)
    inv[i] = static_cast<float>(std::pow(b, -2.0 * static_cast<double>(i) / spec.dims));
  return inv;
}

std::vector<double> rope(const std::vector<float>& x, int n_heads, int head_dim,
                         const BatchLayout& batch, const RopeSpec& spec) {
  std::vector<double> y(x.begin(), x.end());
  const int half = spec.dims / 2;
  for (const SeqSpan& s : batch.seqs) {
    const std::vector<float> inv =
        spec.dynamic ? dynamic_inv_freq(spec, int64_t{s.pos0} + s.count) : spec.inv_freq;
    for (int32_t t = s.begin; t < s.begin + s.count; ++t) {
      const int32_t p = batch.positions[static_cast<size_t>(t)];
      for (int h = 0; h < n_heads; ++h) {
        double* xh = y.data() + (static_cast<size_t>(t) * n_heads + static_cast<size_t>(h)) *
                                    static_cast<size_t>(head_dim);
        for (int i = 0; i < half; ++i) {
          // The contract's float32 angle (see rope.cpp); everything after it in double.
          const float pos = spec.position_scale * static_cast<float>(p);
          const float theta = pos * inv[static_cast<size_t>(i)];
          const int i1 = spec.traditional ? 2 * i : i;
          const int i2 = spec.traditional ? 2 * i + 1 : i + half;
          const double x1 = xh[i1] * double{spec.mscale}, x2 = xh[i2] * double{spec.mscale};
          const double c = std::cos(double{theta}), sn = std::sin(double{theta});
          xh[i1] = x1 * c - x2 * sn;
          xh[i2] = x1 * sn + x2 * c;
        }
      }
    }
  }
  return y;
}

std::vector<double> attention(const std::vector<float>& q, int32_t pos0, int32_t count,
                              const std::vector<float>& k_hist, const std::vector<float>& v_hist,
                              const AttentionParams& p, std::vector<double>* max_dot) {
  const size_t hd = static_cast<size_t>(p.head_dim);
  const size_t qw = static_cast<size_t>(p.n_heads) * hd;
  const size_t kw = static_cast<size_t>(p.n_kv_heads) * hd;
  const int n_rep = p.n_heads / p.n_kv_heads;
  std::vector<double> out(static_cast<size_t>(count) * qw, 0.0);
  if (max_dot) max_dot->assign(static_cast<size_t>(count), 0.0);
  for (int32_t r = 0; r < count; ++r) {
    const int32_t pos = pos0 + r;
    const int32_t lo = p.window > 0 ? std::max(0, pos - p.window + 1) : 0;
    for (int h = 0; h < p.n_heads; ++h) {
      const size_t g = static_cast<size_t>(h / n_rep);
      const float* qv = q.data() + static_cast<size_t>(r) * qw + static_cast<size_t>(h) * hd;
      std::vector<double> s;
      for (int32_t j = lo; j <= pos; ++j) {
        const float* kv = k_hist.data() + static_cast<size_t>(j) * kw + g * hd;
        double dot = 0, abs_dot = 0;
        for (size_t i = 0; i < hd; ++i) {
          dot += double{qv[i]} * kv[i];
          abs_dot += std::fabs(double{qv[i]} * kv[i]);
        }
        double sc = p.scale * dot;
        if (p.softcap > 0) sc = std::tanh(sc / p.softcap) * p.softcap;
        s.push_back(sc);
        if (max_dot) {
          double& m = (*max_dot)[static_cast<size_t>(r)];
          m = std::max(m, std::fabs(double{p.scale}) * abs_dot);
        }
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& e : s) sum += (e = std::exp(e - mx));
      double* o = out.data() + static_cast<size_t>(r) * qw + static_cast<size_t>(h) * hd;
      for (int32_t j = lo; j <= pos; ++j) {
        const float* vv = v_hist.data() + static_cast<size_t>(j) * kw + g * hd;
        const double wgt = s[static_cast<size_t>(j - lo)] / sum;
        for (size_t i = 0; i < hd; ++i) o[i] += wgt * vv[i];
      }
    }
  }
  return out;
}

}  // namespace ollmlx::ref
