// The MLX backend (docs/MLX.md): every op of backend/backend.h as MLX array operations, so a
// model runs on whatever device the linked libmlx has (Metal on Apple Silicon; CPU, or CUDA with
// mlx[cuda], on Linux) with MLX's own kernels: quantized_matmul for every MLX quantization mode,
// fast::rms_norm, fast::rope, fast::scaled_dot_product_attention (GQA, causal or explicit
// sliding-window masks; gemma2's logit softcap through explicit ops, as mlx-lm does it).
//
// * Lazy: an op only adds nodes to MLX's graph; to_host / argmax_rows evaluate the requested
//   tensor together with every KV-cache array written since the last evaluation (one graph per
//   forward pass); argmax_rows_async only starts that evaluation (mx::async_eval), so the engine
//   can build the next decode pass on its ids while it runs (pipelined decoding, as mlx-lm).
// * Dtypes: every op computes with its inputs cast to the activation dtype and returns that dtype
//   (MLX's type promotion for the model's parameters, see ARCHITECTURE "Numerics"), so a bf16
//   model computes in bf16 exactly as mlx-lm does; a float32 run upcasts the parameters on the
//   fly (mlx-lm's float32 reference converts them all).
// * The op sequences follow mlx-lm's module code (nn.Linear's addmm, QuantizedLinear,
//   (Quantized)Embedding, swiglu, gelu_approx, clip_residual, the RoPE classes), so results match
//   mlx-lm's up to the batch shape of the kernels.
// * Every op runs on one process-wide stream (new_thread_unsafe_stream), so graphs can be built
//   and evaluated from any thread (the engine loads on one and decodes on another).
// * Errors MLX throws (std::exception) become Error("mlx", "<op>: ...").
#include <mlx/mlx.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numbers>
#include <optional>

#include "backend/mlx/kv_cache_mlx.h"
#include "backend/mlx/mlx_factory.h"
#include "backend/mlx/mlx_tensor.h"
#include "util/error.h"
#include "util/log.h"

namespace ollmlx::mlxb {

// ---- tensors --------------------------------------------------------------------------------

mx::Dtype to_mx(DType t) {
  switch (t) {
    case DType::F32: return mx::float32;
    case DType::F16: return mx::float16;
    case DType::BF16: return mx::bfloat16;
    case DType::U8: return mx::uint8;
    case DType::U32: return mx::uint32;
    case DType::I32: return mx::int32;
    default: throw_error("mlx", "dtype {} has no MLX equivalent here", dtype_name(t));
  }
}

DType from_mx(mx::Dtype t) {
  if (t == mx::float32) return DType::F32;
  if (t == mx::float16) return DType::F16;
  if (t == mx::bfloat16) return DType::BF16;
  if (t == mx::uint8) return DType::U8;
  if (t == mx::uint32) return DType::U32;
  if (t == mx::int32) return DType::I32;
  throw_error("mlx", "MLX dtype of size {} has no ollmlx equivalent", t.size());
}

Tensor wrap(mx::array a) {
  Tensor t;
  t.dtype = from_mx(a.dtype());
  for (auto d : a.shape()) t.shape.push_back(d);
  std::shared_ptr<ArrayHolder> h(new ArrayHolder{std::move(a)}, ArrayHolderDeleter{});
  t.data = h.get();
  t.owner = std::move(h);
  return t;
}

const mx::array& unwrap(const Tensor& t, const char* what) {
  if (!t.owner || !std::get_deleter<ArrayHolderDeleter>(t.owner) || t.data != t.owner.get())
    throw_error("mlx", "{}: tensor {} {} was not made by the mlx backend (load weights with "
                "load_linear/load_tensor; views of loaded tensors are not supported)",
                what, dtype_name(t.dtype), shape_str(t.shape));
  return static_cast<const ArrayHolder*>(t.data)->a;
}

namespace {

// MLX reports errors as std::exception; the op interface promises Error.
template <typename F>
auto guard(const char* op, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw_error("mlx", "{}: {}", op, e.what());
  }
}

// Evaluations of different backends (models) may run on different threads; MLX's scheduler is
// shared, so they are serialised.
std::mutex& eval_mutex() {
  static std::mutex m;
  return m;
}

// One stream for every MLX backend of the process: MLX cannot destroy a stream (each has a
// worker thread), and the server creates a backend per model load, so a stream per backend would
// leak a thread per load. Sharing is safe: graphs only record the stream, and evaluations are
// serialised by eval_mutex().
mx::Stream shared_stream() {
  static const mx::Stream s = mx::new_thread_unsafe_stream(mx::default_device());
  return s;
}

const char* mode_name(QuantMode m) {
  switch (m) {
    case QuantMode::Affine: return "affine";
    case QuantMode::MxFp4: return "mxfp4";
    case QuantMode::MxFp8: return "mxfp8";
    case QuantMode::NvFp4: return "nvfp4";
    case QuantMode::None: break;
  }
  return "none";
}

mx::Shape mx_shape(const Shape& s, const char* what) {
  mx::Shape out;
  for (int64_t d : s) {
    if (d < 0 || d > INT32_MAX) throw_error("mlx", "{}: dimension {} does not fit MLX's int32 shapes", what, d);
    out.push_back(static_cast<int32_t>(d));
  }
  return out;
}

void expect_2d(const char* op, const mx::array& a) {
  if (a.ndim() != 2) throw_error("mlx", "{}: expected a 2-D activation, got {} dimensions", op, a.ndim());
}

class MlxBackend final : public Backend {
 public:
  explicit MlxBackend(int n_threads)
      : device_(mx::default_device()), stream_(shared_stream()) {
    if (n_threads > 0)
      log::debug("mlx: MLX schedules its own CPU threads; the requested {} threads do not apply", n_threads);
    log::info("mlx: MLX {} on {}", mx::version(), device_.type == mx::Device::gpu ? "gpu" : "cpu");
  }

  std::string name() const override { return "mlx"; }
  bool uses_device_memory() const override { return device_.type == mx::Device::gpu; }

  // ---- weights ----------------------------------------------------------------------------

  // A host tensor as an MLX array. MLX's array(void*, ...) constructor uses the memory without a
  // copy where its allocator can (Metal: page-aligned memory) and copies it otherwise (the CPU
  // allocator of MLX 0.32 always copies); the deleter keeps the host memory (the mapping) alive
  // for as long as MLX uses it.
  mx::array upload(const Tensor& host, const std::string& what) {
    if (host.empty() || !host.data) throw_error("mlx", "{}: empty tensor", what);
    std::shared_ptr<const void> keep = host.owner;
    mx::array a(host.data, mx_shape(host.shape, what.c_str()), to_mx(host.dtype),
                [keep](void*) mutable { keep.reset(); });
    return a;
  }

  Linear load_linear(const Linear& host) override {
    validate_linear(host);
    return guard("load_linear", [&] {
      Linear l = host;
      l.weight = wrap(upload(host.weight, host.name + ".weight"));
      if (host.quantized()) {
        l.scales = wrap(upload(host.scales, host.name + ".scales"));
        if (!host.biases.empty()) l.biases = wrap(upload(host.biases, host.name + ".biases"));
      }
      if (host.has_bias()) l.bias = wrap(upload(host.bias, host.name + ".bias"));
      return l;
    });
  }

  Tensor load_tensor(const Tensor& host) override {
    if (host.dtype != DType::F32 && host.dtype != DType::F16 && host.dtype != DType::BF16)
      throw_error("mlx", "tensor of dtype {} cannot be used as a float parameter", dtype_name(host.dtype));
    return guard("load_tensor", [&] { return wrap(upload(host, "tensor")); });
  }

  // ---- per pass ---------------------------------------------------------------------------

  void set_activation_dtype(DType dtype) override {
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
      throw_error("mlx", "activation dtype must be F32, F16 or BF16, not {}", dtype_name(dtype));
    act_ = dtype;
    adt_ = to_mx(dtype);
  }
  DType activation_dtype() const override { return act_; }
  void begin_pass() override {}
  void release_cached_memory() override { mx::clear_cache(); }
  // Every array an op returns is computed in full by MLX, and new KV-cache storage is always
  // NaN-filled (kv_cache_mlx.h), so there is no uninitialised memory left to poison.
  void set_debug_poison(bool on) override { poison_ = on; }

  std::unique_ptr<KvCache> create_kv_cache(const KvCacheSpec& spec) override {
    if (spec.q8_0)
      throw_error("kv_cache", "an 8-bit (q8_0) KV cache is implemented by the cuda backend only, not mlx");
    return guard("create_kv_cache", [&] { return std::make_unique<MlxKvCache>(spec, stream_); });
  }

  // ---- ops --------------------------------------------------------------------------------

  Tensor embed(const Linear& table, const std::vector<int32_t>& ids, DType compute) override {
    check_embed(table, compute);
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= table.out)
        throw_error("embed", "{}: token id {} (row {}) outside the vocabulary of {}", table.name, ids[i], i,
                    table.out);
    return guard("embed", [&] {
      return embed_rows(table, mx::array(ids.begin(), {static_cast<int32_t>(ids.size())}, mx::int32), compute);
    });
  }

  Tensor embed_ids(const Linear& table, const Tensor& ids, DType compute) override {
    check_embed(table, compute);
    return guard("embed_ids", [&] {
      const mx::array& a = unwrap(ids, "embed_ids");
      if (a.ndim() != 1 || a.dtype() != mx::int32)
        throw_error("mlx", "embed_ids {}: ids must be a 1-D int32 array, got {} dimensions of {}", table.name,
                    a.ndim(), dtype_name(from_mx(a.dtype())));
      // The host never sees these ids (argmax_rows_async's, in range by construction): clamp
      // rather than let take() read outside the table.
      const int32_t last = static_cast<int32_t>(std::min<int64_t>(table.out, INT32_MAX)) - 1;
      mx::array idx = mx::clip(a, mx::array(0, mx::int32), mx::array(last, mx::int32), s());
      return embed_rows(table, idx, compute);
    });
  }

  Tensor linear(const Tensor& xt, const Linear& w) override {
    return guard("linear", [&] {
      mx::array x = act(unwrap(xt, "linear"));
      expect_2d("linear", x);
      if (x.shape(1) != w.in)
        throw_error("mlx", "linear {}: input has {} features, layer expects {}", w.name, x.shape(1), w.in);
      const mx::array& wt = unwrap(w.weight, "linear");
      // No rows (a pass whose rows all skip the LM head): MLX 0.32's CPU quantized_matmul
      // divides by the row count (SIGFPE), so the empty result is made directly.
      if (x.shape(0) == 0) return wrap(mx::zeros({0, static_cast<int32_t>(w.out)}, adt_, s()));
      std::optional<mx::array> bias;
      if (w.has_bias()) bias = act(unwrap(w.bias, "linear"));
      if (!w.quantized()) {
        // nn.Linear: addmm(bias, x, W.T) or x @ W.T.
        mx::array wT = mx::transpose(act(wt), s());
        return out(bias ? mx::addmm(*bias, x, wT, 1.0f, 1.0f, s()) : mx::matmul(x, wT, s()));
      }
      const bool affine = w.quant.mode == QuantMode::Affine;
      mx::array sc = unwrap(w.scales, "linear");
      std::optional<mx::array> bi;
      if (affine) {
        sc = act(sc);
        bi = act(unwrap(w.biases, "linear"));
      }
      mx::array y = x;
      if (w.quant.mode == QuantMode::NvFp4 && w.global_scale > 0.0f) {
        // quantized_matmul takes no global scale: dequantize with it (mx.dequantize's formula),
        // then a dense product.
        mx::array g(w.global_scale, mx::float32);
        mx::array d = mx::dequantize(wt, sc, std::nullopt, w.quant.group_size, w.quant.bits, "nvfp4", g, adt_, s());
        y = mx::matmul(x, mx::transpose(d, s()), s());
      } else {
        // QuantizedLinear: quantized_matmul(x, w, scales, biases, transpose=True, ...) + bias.
        y = mx::quantized_matmul(x, wt, sc, bi, true, w.quant.group_size, w.quant.bits, mode_name(w.quant.mode), s());
      }
      if (bias) y = mx::add(y, *bias, s());
      return out(y);
    });
  }

  Tensor rms_norm(const Tensor& xt, const Tensor& wt, float eps) override {
    return guard("rms_norm", [&] {
      mx::array x = act(unwrap(xt, "rms_norm"));
      expect_2d("rms_norm", x);
      mx::array w = act(unwrap(wt, "rms_norm"));
      if (static_cast<int64_t>(w.size()) != x.shape(1))
        throw_error("mlx", "rms_norm: weight has {} elements for rows of {}", w.size(), x.shape(1));
      return out(mx::fast::rms_norm(x, mx::flatten(w, s()), eps, s()));
    });
  }

  Tensor rms_norm_heads(const Tensor& xt, const Tensor& wt, float eps, int head_dim) override {
    return guard("rms_norm_heads", [&] {
      mx::array x = act(unwrap(xt, "rms_norm_heads"));
      expect_2d("rms_norm_heads", x);
      mx::array w = act(unwrap(wt, "rms_norm_heads"));
      if (head_dim <= 0 || x.shape(1) % head_dim != 0 || static_cast<int64_t>(w.size()) != head_dim)
        throw_error("mlx", "rms_norm_heads: rows of {} with head_dim {} and weight of {}", x.shape(1), head_dim,
                    w.size());
      const int T = x.shape(0), H = x.shape(1) / head_dim;
      mx::array y = mx::fast::rms_norm(mx::reshape(x, {T, H, head_dim}, s()), mx::flatten(w, s()), eps, s());
      return out(mx::reshape(y, {T, H * head_dim}, s()));
    });
  }

  Tensor add(const Tensor& a, const Tensor& b) override {
    return guard("add", [&] {
      mx::array x = act(unwrap(a, "add")), y = act(unwrap(b, "add"));
      same_shape("add", x, y);
      return out(mx::add(x, y, s()));
    });
  }

  Tensor add_clipped(const Tensor& a, const Tensor& b, float bound) override {
    if (!(bound > 0.0f)) throw_error("mlx", "add_clipped: bound {} must be positive", bound);
    return guard("add_clipped", [&] {
      // mlx-lm's clip_residual: clip(x.astype(f32) + y.astype(f32), -bound, bound).astype(dtype).
      mx::array x = mx::astype(unwrap(a, "add_clipped"), mx::float32, s());
      mx::array y = mx::astype(unwrap(b, "add_clipped"), mx::float32, s());
      same_shape("add_clipped", x, y);
      mx::array r = mx::clip(mx::add(x, y, s()), mx::array(-bound, mx::float32), mx::array(bound, mx::float32), s());
      return out(r);
    });
  }

  Tensor scale(const Tensor& xt, float v) override {
    return guard("scale", [&] {
      mx::array x = act(unwrap(xt, "scale"));
      expect_2d("scale", x);
      return out(mx::multiply(x, mx::array(v, adt_), s()));
    });
  }

  Tensor gated_act(const Tensor& gate, const Tensor& up, Activation a) override {
    return guard("gated_act", [&] {
      mx::array g = act(unwrap(gate, "gated_act")), u = act(unwrap(up, "gated_act"));
      same_shape("gated_act", g, u);
      mx::array y = g;
      if (a == Activation::Silu) {
        // swiglu: nn.silu(gate) * x, silu(g) = g * sigmoid(g).
        y = mx::multiply(mx::multiply(g, mx::sigmoid(g, s()), s()), u, s());
      } else {
        // nn.gelu_approx(g) * x: 0.5 * g * (1 + tanh(sqrt(2/pi) * (g + 0.044715 * g**3))).
        auto c = [&](double v) { return mx::array(static_cast<float>(v), adt_); };
        mx::array inner = mx::add(g, mx::multiply(c(0.044715), mx::power(g, c(3.0), s()), s()), s());
        mx::array t = mx::tanh(mx::multiply(c(std::sqrt(2.0 / std::numbers::pi)), inner, s()), s());
        y = mx::multiply(mx::multiply(c(0.5), g, s()), mx::add(c(1.0), t, s()), s());
        y = mx::multiply(y, u, s());
      }
      return out(y);
    });
  }

  Tensor softcap(const Tensor& xt, float cap) override {
    if (!(cap > 0.0f)) throw_error("mlx", "softcap: cap {} must be positive", cap);
    return guard("softcap", [&] {
      mx::array x = act(unwrap(xt, "softcap"));
      expect_2d("softcap", x);
      mx::array c(cap, adt_);
      return out(mx::multiply(mx::tanh(mx::divide(x, c, s()), s()), c, s()));
    });
  }

  Tensor rope(const Tensor& xt, int n_heads, int head_dim, const BatchLayout& batch, const RopeSpec& spec) override {
    const int half = spec.dims / 2;
    if (spec.dims <= 0 || spec.dims % 2 != 0 || spec.dims > head_dim)
      throw_error("rope", "rotated dims {} must be even and within head_dim {}", spec.dims, head_dim);
    if (!spec.dynamic && spec.inv_freq.size() != static_cast<size_t>(half))
      throw_error("rope", "{} inverse frequencies for {} rotated dims", spec.inv_freq.size(), spec.dims);
    if (spec.dynamic && (spec.max_position <= 0 || spec.dims <= 2))
      throw_error("rope", "dynamic scaling needs max_position > 0 and dims > 2");
    const int32_t T = batch.rows();
    if (batch.seqs.empty() && T > 0) throw_error("rope", "batch of {} rows has no sequences", T);
    for (const SeqSpan& span : batch.seqs)
      if (span.begin < 0 || span.count < 0 || int64_t{span.begin} + span.count > T)
        throw_error("rope", "span of slot {} outside the batch of {} rows", span.slot, T);
    return guard("rope", [&] {
      mx::array x = act(unwrap(xt, "rope"));
      expect_2d("rope", x);
      if (x.shape(0) != T || x.shape(1) != int64_t{n_heads} * head_dim)
        throw_error("mlx", "rope: input [{}, {}] does not match {} rows of {} heads x {}", x.shape(0), x.shape(1), T,
                    n_heads, head_dim);
      // [T, H, 1, hd]: every row is its own "batch" entry with its own position offset, so one
      // fast::rope covers a batch of sequences at different positions.
      mx::array x4 = mx::reshape(x, {T, n_heads, 1, head_dim}, s());
      if (spec.mscale != 1.0f) {
        // x.at[..., :dims].multiply(mscale)
        mx::array m(spec.mscale, adt_);
        if (spec.dims == head_dim) {
          x4 = mx::multiply(x4, m, s());
        } else {
          mx::array a = mx::slice(x4, {0, 0, 0, 0}, {T, n_heads, 1, spec.dims}, s());
          mx::array b = mx::slice(x4, {0, 0, 0, spec.dims}, {T, n_heads, 1, head_dim}, s());
          x4 = mx::concatenate({mx::multiply(a, m, s()), b}, 3, s());
        }
      }
      const std::vector<float> no_freqs;
      if (!spec.dynamic) {
        mx::array y = apply_rope(x4, spec, positions_array(batch.positions), plain_base(spec, spec.inv_freq),
                                 spec.inv_freq);
        return out(mx::reshape(y, {T, n_heads * head_dim}, s()));
      }
      // Dynamic NTK: the base depends on each sequence's length (mlx-lm's DynamicNTKScalingRoPE
      // passes it as `base`); one call per sequence.
      std::vector<mx::array> parts;
      for (const SeqSpan& span : batch.seqs) {
        if (span.count == 0) continue;
        const int64_t len = int64_t{span.pos0} + span.count;
        double base = spec.base;
        if (len > spec.max_position) {
          const double ratio = spec.dynamic_factor * static_cast<double>(len) / spec.max_position -
                               (spec.dynamic_factor - 1.0);
          base = spec.base * std::pow(ratio, static_cast<double>(spec.dims) / (spec.dims - 2));
        }
        std::vector<int32_t> pos(batch.positions.begin() + span.begin,
                                 batch.positions.begin() + span.begin + span.count);
        mx::array xs = mx::slice(x4, {span.begin, 0, 0, 0}, {span.begin + span.count, n_heads, 1, head_dim}, s());
        mx::array offs(pos.begin(), {static_cast<int32_t>(pos.size())}, mx::int32);
        parts.push_back(apply_rope(xs, spec, offs, static_cast<float>(base), no_freqs));
      }
      mx::array y = parts.size() == 1 ? parts[0] : mx::concatenate(parts, 0, s());
      return out(mx::reshape(y, {T, n_heads * head_dim}, s()));
    });
  }

  Tensor attention(const Tensor& qt, const Tensor& kt, const Tensor& vt, KvCache& cache, const BatchLayout& batch,
                   const AttentionParams& p) override {
    if (p.n_heads < 1 || p.n_kv_heads < 1 || p.head_dim < 1 || p.n_heads % p.n_kv_heads != 0)
      throw_error("attention", "bad head layout: {} heads, {} kv heads, head_dim {}", p.n_heads, p.n_kv_heads,
                  p.head_dim);
    if (p.softcap < 0.0f || !std::isfinite(p.scale))
      throw_error("attention", "bad scale {} or softcap {}", p.scale, p.softcap);
    auto* kv = dynamic_cast<MlxKvCache*>(&cache);
    if (!kv) throw_error("attention", "the KV cache was not created by the mlx backend");
    const auto& layers = kv->spec().layers;
    if (p.layer < 0 || static_cast<size_t>(p.layer) >= layers.size())
      throw_error("attention", "layer {} outside the {} cached layers", p.layer, layers.size());
    const KvLayerSpec& ls = layers[static_cast<size_t>(p.layer)];
    if (ls.n_kv_heads != p.n_kv_heads || ls.head_dim != p.head_dim || ls.window != p.window)
      throw_error("attention", "layer {}: cache has {} kv heads x {} window {}, the op asks for {} x {} window {}",
                  p.layer, ls.n_kv_heads, ls.head_dim, ls.window, p.n_kv_heads, p.head_dim, p.window);
    // The layout: spans tile the rows in order (finalize_layout), positions follow pos0.
    int32_t next_row = 0;
    for (size_t si = 0; si < batch.seqs.size(); ++si) {
      const SeqSpan& sp = batch.seqs[si];
      for (size_t sj = 0; sj < si; ++sj)
        if (batch.seqs[sj].slot == sp.slot) throw_error("attention", "slot {} appears twice in one batch", sp.slot);
      if (sp.begin != next_row || sp.count < 1 || int64_t{sp.begin} + sp.count > batch.rows())
        throw_error("attention", "span of slot {} (rows [{}, +{})) does not continue at row {} of {}", sp.slot,
                    sp.begin, sp.count, next_row, batch.rows());
      for (int32_t r = sp.begin; r < sp.begin + sp.count; ++r)
        if (batch.positions[static_cast<size_t>(r)] != sp.pos0 + (r - sp.begin))
          throw_error("attention", "row {} has position {}, its span says {}", r,
                      batch.positions[static_cast<size_t>(r)], sp.pos0 + (r - sp.begin));
      next_row += sp.count;
    }
    if (next_row != batch.rows()) throw_error("attention", "the spans cover {} of {} rows", next_row, batch.rows());

    return guard("attention", [&] {
      const int H = p.n_heads, KV = p.n_kv_heads, hd = p.head_dim;
      mx::array q = act(unwrap(qt, "attention"));
      mx::array k = unwrap(kt, "attention"), v = unwrap(vt, "attention");
      expect_2d("attention", q);
      expect_2d("attention", k);
      const int32_t T = batch.rows();
      if (q.shape(0) != T || k.shape(0) != T || v.shape() != k.shape() || q.shape(1) != H * hd ||
          k.shape(1) != KV * hd)
        throw_error("mlx", "attention: q [{}, {}] k [{}, {}] do not match {} rows, {}/{} heads of {}", q.shape(0),
                    q.shape(1), k.shape(0), k.shape(1), T, H, KV, hd);
      const mx::Dtype cdt = to_mx(kv->spec().dtype);
      std::vector<mx::array> outs;
      for (const SeqSpan& sp : batch.seqs) {
        const int L = sp.count;
        auto heads = [&](const mx::array& a, int n) {  // rows of the span -> [1, n, L, hd]
          mx::array r = mx::slice(a, {sp.begin, 0}, {sp.begin + L, n * hd}, s());
          return mx::transpose(mx::reshape(r, {1, L, n, hd}, s()), {0, 2, 1, 3}, s());
        };
        mx::array qs = heads(q, H);
        mx::array ks = mx::astype(heads(k, KV), cdt, s());
        mx::array vs = mx::astype(heads(v, KV), cdt, s());
        MlxKvCache::Fetched f = kv->write_and_fetch(sp.slot, p.layer, sp.pos0, ks, vs);
        for (mx::array& a : kv->stored(sp.slot, p.layer)) pending_.push_back(std::move(a));
        mx::array keys = act(f.k), values = act(f.v);
        const int S = keys.shape(2);
        // Mask: none for one query row (every stored key is visible), MLX's "causal" when the
        // keys start at position 0 or all fit the window, else the sliding-window mask of
        // mlx-lm's create_causal_mask.
        const bool need_window = p.window > 0 && S > p.window;
        std::optional<mx::array> mask;
        if (L > 1 && (need_window || p.softcap > 0.0f)) {
          mx::array li = mx::reshape(mx::arange(sp.pos0, sp.pos0 + L, s()), {L, 1}, s());
          mx::array ri = mx::reshape(mx::arange(f.first, f.first + S, s()), {1, S}, s());
          mx::array m = mx::greater_equal(li, ri, s());
          if (p.window > 0)
            m = mx::logical_and(m, mx::less(li, mx::add(ri, mx::array(p.window), s()), s()), s());
          mask = m;
        }
        mx::array o = qs;
        if (p.softcap > 0.0f) {
          o = softcapped_attention(qs, keys, values, mask, p);
        } else if (mask) {
          o = mx::fast::scaled_dot_product_attention(qs, keys, values, p.scale, "array", mask, {}, false, s());
        } else {
          o = mx::fast::scaled_dot_product_attention(qs, keys, values, p.scale, L > 1 ? "causal" : "", {}, {},
                                                     false, s());
        }
        outs.push_back(mx::reshape(mx::transpose(o, {0, 2, 1, 3}, s()), {L, H * hd}, s()));
      }
      mx::array y = outs.size() == 1 ? outs[0] : mx::concatenate(outs, 0, s());
      return out(y);
    });
  }

  Tensor gather_rows(const Tensor& xt, const std::vector<int32_t>& rows) override {
    return guard("gather_rows", [&] {
      const mx::array& x = unwrap(xt, "gather_rows");
      expect_2d("gather_rows", x);
      for (int32_t r : rows)
        if (r < 0 || r >= x.shape(0)) throw_error("mlx", "gather_rows: row {} outside [0, {})", r, x.shape(0));
      mx::array idx(rows.begin(), {static_cast<int32_t>(rows.size())}, mx::int32);
      return wrap(mx::take(x, idx, 0, s()));
    });
  }

  void to_host(const Tensor& xt, std::vector<float>& result) override {
    guard("to_host", [&] {
      mx::array y = mx::contiguous(mx::astype(unwrap(xt, "to_host"), mx::float32, s()), false, s());
      std::vector<mx::array> todo = take_pending(y);
      {
        std::lock_guard<std::mutex> lock(eval_mutex());
        mx::eval(todo);
      }
      result.assign(y.data<float>(), y.data<float>() + y.size());
      return 0;
    });
  }

  // Greedy ids on the device: only [rows] int32 are copied, as mlx-lm samples on the device.
  std::vector<int32_t> argmax_rows(const Tensor& xt) override {
    return guard("argmax_rows", [&] {
      mx::array ids = argmax_array(xt, "argmax_rows");
      std::vector<mx::array> todo = take_pending(ids);
      {
        std::lock_guard<std::mutex> lock(eval_mutex());
        mx::eval(todo);
      }
      return std::vector<int32_t>(ids.data<int32_t>(), ids.data<int32_t>() + ids.size());
    });
  }

  // ---- pipelined greedy decoding ----------------------------------------------------------
  // mlx-lm's generate_step: the pass's graph (its ids and the KV-cache writes) is handed to
  // mx::async_eval, which schedules it on the stream's worker and returns; the engine builds the
  // next pass on these ids (embed_ids) and only then waits for them (read_ids, mlx-lm's .item()).
  bool supports_pipelined_decode() const override { return true; }

  Tensor argmax_rows_async(const Tensor& xt) override {
    return guard("argmax_rows_async", [&] {
      mx::array ids = argmax_array(xt, "argmax_rows_async");
      std::vector<mx::array> todo = take_pending(ids);
      {
        std::lock_guard<std::mutex> lock(eval_mutex());
        mx::async_eval(todo);
      }
      return wrap(ids);
    });
  }

  std::vector<int32_t> read_ids(const Tensor& t) override {
    return guard("read_ids", [&] {
      mx::array ids = unwrap(t, "read_ids");
      if (ids.ndim() != 1 || ids.dtype() != mx::int32)
        throw_error("mlx", "read_ids: expected a 1-D int32 array, got {} dimensions of {}", ids.ndim(),
                    dtype_name(from_mx(ids.dtype())));
      {
        // Waits for the evaluation argmax_rows_async started (or runs it, for any other array).
        std::lock_guard<std::mutex> lock(eval_mutex());
        mx::eval(ids);
      }
      return std::vector<int32_t>(ids.data<int32_t>(), ids.data<int32_t>() + ids.size());
    });
  }

 private:
  mx::Stream s() const { return stream_; }
  mx::array act(const mx::array& a) { return a.dtype() == adt_ ? a : mx::astype(a, adt_, s()); }
  Tensor out(const mx::array& a) { return wrap(act(a)); }

  static void check_embed(const Linear& table, DType compute) {
    if (compute != DType::F32 && compute != DType::F16 && compute != DType::BF16)
      throw_error("mlx", "embed {}: compute dtype {} is not a float type", table.name, dtype_name(compute));
    if (table.quantized() && table.quant.mode == QuantMode::NvFp4 && table.global_scale > 0.0f)
      throw_error("mlx", "embed {}: nvfp4 tables with a global scale are not supported by the mlx backend",
                  table.name);
  }

  // Rows `idx` ([T] int32, in range) of an embedding table, as mlx-lm looks them up.
  Tensor embed_rows(const Linear& table, const mx::array& idx, DType compute) {
    const mx::Dtype cdt = to_mx(compute);
    const mx::array& w = unwrap(table.weight, "embed");
    mx::array rows = mx::take(w, idx, 0, s());
    mx::array y = rows;
    if (!table.quantized()) {
      y = mx::astype(rows, cdt, s());
    } else {
      // mlx-lm's QuantizedEmbedding: mx.dequantize(weight[x], scales[x], biases[x], ...), in
      // the scales' dtype (an upcast run has converted them); fp modes return bfloat16.
      const bool affine = table.quant.mode == QuantMode::Affine;
      mx::array sc = mx::take(unwrap(table.scales, "embed"), idx, 0, s());
      std::optional<mx::array> bi;
      if (affine) {
        sc = mx::astype(sc, cdt, s());
        bi = mx::astype(mx::take(unwrap(table.biases, "embed"), idx, 0, s()), cdt, s());
      }
      y = mx::dequantize(rows, sc, bi, table.quant.group_size, table.quant.bits, mode_name(table.quant.mode),
                         std::nullopt, affine ? std::nullopt : std::optional<mx::Dtype>(cdt), s());
    }
    return out(y);
  }

  // The greedy ids of logits x [rows, n] as a lazy int32 array: NaN skipped (MLX's argmax would
  // pick it), ties to the lowest index, as util/argmax.h.
  mx::array argmax_array(const Tensor& xt, const char* op) {
    const mx::array& x = unwrap(xt, op);
    expect_2d(op, x);
    if (x.shape(1) < 1) throw_error("mlx", "{}: rows of zero logits", op);
    mx::array clean = mx::where(mx::isnan(x, s()), mx::array(-std::numeric_limits<float>::infinity(), x.dtype()),
                                x, s());
    return mx::astype(mx::argmax(clean, 1, false, s()), mx::int32, s());
  }

  // Everything written to KV caches since the last evaluation, plus `y`.
  std::vector<mx::array> take_pending(const mx::array& y) {
    std::vector<mx::array> todo = std::move(pending_);
    pending_.clear();
    todo.push_back(y);
    return todo;
  }

  static void same_shape(const char* op, const mx::array& a, const mx::array& b) {
    if (a.ndim() != 2 || a.shape() != b.shape())
      throw_error("mlx", "{}: expected two 2-D activations of the same shape", op);
  }

  // fast::rope's `base` when the inverse frequencies are the plain base^(-2i/dims) ones (MLX then
  // computes them itself, as nn.RoPE does), else nullopt and the periods 1/inv_freq go in `freqs`.
  static std::optional<float> plain_base(const RopeSpec& spec, const std::vector<float>& inv) {
    if (inv == rope_inv_freq(spec.base, spec.dims)) return spec.base;
    return std::nullopt;
  }

  mx::array apply_rope(const mx::array& x4, const RopeSpec& spec, const mx::array& offsets,
                       std::optional<float> base, const std::vector<float>& inv) {
    std::optional<mx::array> freqs;
    if (!base) {
      if (!freqs_ || freqs_inv_ != inv) {
        std::vector<float> periods(inv.size());
        for (size_t i = 0; i < inv.size(); ++i) periods[i] = 1.0f / inv[i];
        freqs_ = mx::array(periods.begin(), {static_cast<int32_t>(periods.size())}, mx::float32);
        freqs_inv_ = inv;
      }
      freqs = *freqs_;
    }
    return mx::fast::rope(x4, spec.dims, spec.traditional, base, spec.position_scale, offsets, freqs, s());
  }

  // The positions of a pass as an int32 array (every layer's rope of a pass uses the same).
  mx::array positions_array(const std::vector<int32_t>& pos) {
    if (!positions_ || positions_host_ != pos) {
      positions_ = mx::array(pos.begin(), {static_cast<int32_t>(pos.size())}, mx::int32);
      positions_host_ = pos;
    }
    return *positions_;
  }

  // gemma2's attention with attn_logit_softcapping, op for op as mlx-lm writes it:
  // scores = (q * scale) @ k^T; tanh(scores / cap) * cap; mask; softmax(precise); @ v.
  mx::array softcapped_attention(const mx::array& q, const mx::array& k, const mx::array& v,
                                 const std::optional<mx::array>& mask, const AttentionParams& p) {
    const int H = p.n_heads, KV = p.n_kv_heads, hd = p.head_dim, rep = H / KV;
    const int L = q.shape(2);
    mx::array qs = mx::multiply(q, mx::array(p.scale, adt_), s());
    mx::array keys = k, values = v;
    if (rep > 1) {
      qs = mx::reshape(qs, {1, KV, rep, L, hd}, s());
      keys = mx::expand_dims(keys, 2, s());
      values = mx::expand_dims(values, 2, s());
    }
    mx::array scores = mx::matmul(qs, mx::swapaxes(keys, -1, -2, s()), s());
    mx::array cap(p.softcap, adt_);
    scores = mx::multiply(mx::tanh(mx::divide(scores, cap, s()), s()), cap, s());
    if (mask) {
      const float lowest = adt_ == mx::float32 ? -std::numeric_limits<float>::max()
                           : adt_ == mx::float16 ? -65504.0f
                                                 : -3.38953139e38f;  // finfo(bfloat16).min
      scores = mx::where(*mask, scores, mx::array(lowest, adt_), s());
    }
    scores = mx::softmax(scores, std::vector<int>{-1}, true, s());
    mx::array o = mx::matmul(scores, values, s());
    if (rep > 1) o = mx::reshape(o, {1, H, L, hd}, s());
    return o;
  }

  mx::Device device_;
  mx::Stream stream_;
  DType act_ = DType::F32;
  mx::Dtype adt_ = mx::float32;
  bool poison_ = false;
  std::vector<mx::array> pending_;  // KV-cache arrays written since the last evaluation
  std::optional<mx::array> positions_;
  std::vector<int32_t> positions_host_;
  std::optional<mx::array> freqs_;
  std::vector<float> freqs_inv_;
};

}  // namespace

std::unique_ptr<Backend> make_mlx_backend(int n_threads) {
  return guard("init", [&]() -> std::unique_ptr<Backend> { return std::make_unique<MlxBackend>(n_threads); });
}

std::string mlx_description() {
  return fmt::format("{} ({})", mx::version(), mlx_gpu_default() ? "gpu" : "cpu");
}

bool mlx_gpu_default() {
  try {
    return mx::default_device().type == mx::Device::gpu;
  } catch (const std::exception&) {
    return false;
  }
}

const void* mlx_array_data(const Tensor& t) {
  const mx::array& a = unwrap(t, "mlx_array_data");
  return guard("mlx_array_data", [&] {
    mx::array c = a;
    {
      std::lock_guard<std::mutex> lock(eval_mutex());
      mx::eval(c);
    }
    return static_cast<const void*>(c.data<uint8_t>());
  });
}

}  // namespace ollmlx::mlxb
