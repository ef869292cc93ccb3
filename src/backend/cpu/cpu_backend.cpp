#include "backend/cpu/cpu_backend.h"

#if defined(__GLIBC__)
#include <malloc.h>  // malloc_trim (glibc only; macOS has no equivalent to call)
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <bit>
#include <cstring>
#include <limits>

#include "backend/cpu/kernels.h"
#include "util/error.h"

namespace ollmlx::cpu {

// ---- BufferPool -----------------------------------------------------------------------------

BufferPool::BufferPool() : state_(std::make_shared<State>()) {}

BufferPool::State::~State() {
  for (auto& [cap, p] : free) std::free(p);
}

std::shared_ptr<float> BufferPool::acquire(int64_t n) {
  // Round sizes up (to 1/8 of their power of two, at least 64 floats) so buffers are reusable
  // across slightly different shapes.
  size_t want = std::max<size_t>(64, static_cast<size_t>(n));
  size_t step = std::max<size_t>(64, std::bit_floor(want) / 8);
  want = (want + step - 1) / step * step;
  float* p = nullptr;
  size_t cap = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->free.lower_bound(want);
    if (it != state_->free.end() && it->first <= 2 * want) {
      cap = it->first;
      p = it->second;
      state_->free.erase(it);
    }
  }
  if (!p) {
    p = static_cast<float*>(std::aligned_alloc(64, want * sizeof(float)));
    if (!p) throw_error("cpu", "out of memory allocating {} activation bytes", want * sizeof(float));
    cap = want;
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->total_floats += cap;
  }
  if (state_->poison) std::fill(p, p + cap, std::numeric_limits<float>::quiet_NaN());
  std::shared_ptr<State> state = state_;
  return std::shared_ptr<float>(p, [state, cap](float* q) {
    std::lock_guard<std::mutex> lock(state->mutex);
    state->free.emplace(cap, q);
  });
}

size_t BufferPool::bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->total_floats * sizeof(float);
}

void BufferPool::trim() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  for (auto& [cap, p] : state_->free) {
    std::free(p);
    state_->total_floats -= cap;
  }
  state_->free.clear();
}

// ---- Backend --------------------------------------------------------------------------------

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {
  scratch_ = [this](int64_t n) { return buffers_.acquire(n); };
}

Linear CpuBackend::load_linear(const Linear& host) {
  validate_linear(host);
  // Used in place from the memory mapping. Views may be misaligned (MLX's writer does not pad
  // safetensors headers); every kernel reads weights with unaligned loads.
  return host;
}

Tensor CpuBackend::load_tensor(const Tensor& host) {
  if (!is_float(host.dtype) || host.dtype == DType::F64)
    throw_error("cpu", "tensor of dtype {} cannot be used as a float parameter", dtype_name(host.dtype));
  return host;
}

void CpuBackend::set_activation_dtype(DType dtype) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    throw_error("cpu", "activation dtype must be F32, F16 or BF16, not {}", dtype_name(dtype));
  act_ = dtype;
}

void CpuBackend::begin_pass() {}

void CpuBackend::release_cached_memory() {
  buffers_.trim();
#if defined(__GLIBC__)
  malloc_trim(0);  // also the heap arenas of request threads
#endif
}

std::unique_ptr<KvCache> CpuBackend::create_kv_cache(const KvCacheSpec& spec) {
  if (spec.q8_0)
    throw_error("kv_cache", "an 8-bit (q8_0) KV cache is implemented by the cuda backend only, not cpu");
  return make_kv_cache(spec);
}

Tensor CpuBackend::alloc(int64_t rows, int64_t cols) {
  Tensor t;
  t.dtype = DType::F32;
  t.shape = {rows, cols};
  std::shared_ptr<float> buf = buffers_.acquire(rows * cols);
  t.data = buf.get();
  t.owner = std::move(buf);
  return t;
}

void CpuBackend::finish(Tensor& t) { round_to(act_, t.ptr<float>(), t.numel()); }

namespace {
void expect_2d(const char* op, const Tensor& t) {
  if (t.rank() != 2 || t.dtype != DType::F32)
    throw_error("cpu", "{}: expected a 2-D F32 activation, got {} {}", op, dtype_name(t.dtype),
                shape_str(t.shape));
}
void expect_same(const char* op, const Tensor& a, const Tensor& b) {
  expect_2d(op, a);
  expect_2d(op, b);
  if (a.shape != b.shape)
    throw_error("cpu", "{}: shapes differ: {} vs {}", op, shape_str(a.shape), shape_str(b.shape));
}
}  // namespace

Tensor CpuBackend::embed(const Linear& table, const std::vector<int32_t>& ids, DType compute) {
  Tensor y = alloc(static_cast<int64_t>(ids.size()), table.in);
  cpu::embed(pool_, table, ids, compute, y.ptr<float>());
  round_to(compute, y.ptr<float>(), y.numel());
  finish(y);
  return y;
}

std::vector<Tensor> CpuBackend::linear_multi(const Tensor& x, const std::vector<const Linear*>& ws) {
  expect_2d("linear", x);
  std::vector<Tensor> ys;
  std::vector<float*> out;
  for (const Linear* w : ws) {
    if (x.dim(1) != w->in)
      throw_error("cpu", "linear {}: input has {} features, layer expects {}", w->name, x.dim(1), w->in);
    ys.push_back(alloc(x.dim(0), w->out));
    out.push_back(ys.back().ptr<float>());
  }
  cpu::linear_multi(pool_, x.ptr<float>(), x.dim(0), ws, out, &scratch_);
  for (Tensor& y : ys) finish(y);
  return ys;
}

Tensor CpuBackend::linear(const Tensor& x, const Linear& w) {
  expect_2d("linear", x);
  if (x.dim(1) != w.in)
    throw_error("cpu", "linear {}: input has {} features, layer expects {}", w.name, x.dim(1), w.in);
  Tensor y = alloc(x.dim(0), w.out);
  cpu::linear(pool_, x.ptr<float>(), x.dim(0), w, y.ptr<float>(), &scratch_);
  finish(y);
  return y;
}

Tensor CpuBackend::rms_norm(const Tensor& x, const Tensor& w, float eps) {
  expect_2d("rms_norm", x);
  if (w.numel() != x.dim(1))
    throw_error("cpu", "rms_norm: weight has {} elements for rows of {}", w.numel(), x.dim(1));
  Tensor y = alloc(x.dim(0), x.dim(1));
  cpu::rms_norm(pool_, x.ptr<float>(), x.dim(0), x.dim(1), w, eps, act_, y.ptr<float>());
  finish(y);
  return y;
}

Tensor CpuBackend::rms_norm_heads(const Tensor& x, const Tensor& w, float eps, int head_dim) {
  expect_2d("rms_norm_heads", x);
  if (head_dim <= 0 || x.dim(1) % head_dim != 0 || w.numel() != head_dim)
    throw_error("cpu", "rms_norm_heads: rows of {} with head_dim {} and weight of {}", x.dim(1),
                head_dim, w.numel());
  Tensor y = alloc(x.dim(0), x.dim(1));
  cpu::rms_norm(pool_, x.ptr<float>(), x.numel() / head_dim, head_dim, w, eps, act_, y.ptr<float>());
  finish(y);
  return y;
}

Tensor CpuBackend::add(const Tensor& a, const Tensor& b) {
  expect_same("add", a, b);
  Tensor y = alloc(a.dim(0), a.dim(1));
  const float* pa = a.ptr<float>();
  const float* pb = b.ptr<float>();
  float* py = y.ptr<float>();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
  finish(y);
  return y;
}

Tensor CpuBackend::add_clipped(const Tensor& a, const Tensor& b, float bound) {
  expect_same("add_clipped", a, b);
  if (!(bound > 0.0f)) throw_error("cpu", "add_clipped: bound {} must be positive", bound);
  Tensor y = alloc(a.dim(0), a.dim(1));
  const float* pa = a.ptr<float>();
  const float* pb = b.ptr<float>();
  float* py = y.ptr<float>();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) py[i] = std::clamp(pa[i] + pb[i], -bound, bound);
  finish(y);
  return y;
}

Tensor CpuBackend::scale(const Tensor& x, float s) {
  expect_2d("scale", x);
  Tensor y = alloc(x.dim(0), x.dim(1));
  const float* px = x.ptr<float>();
  float* py = y.ptr<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] * s;
  finish(y);
  return y;
}

Tensor CpuBackend::gated_act(const Tensor& gate, const Tensor& up, Activation act) {
  expect_same("gated_act", gate, up);
  Tensor y = alloc(gate.dim(0), gate.dim(1));
  cpu::gated_act(pool_, gate.ptr<float>(), up.ptr<float>(), gate.numel(), act, y.ptr<float>());
  finish(y);
  return y;
}

// When this call holds the only reference to the gate's buffer (the MLP's own intermediate,
// moved in), the activation overwrites it: one [T, F] buffer less at a long prefill's peak.
Tensor CpuBackend::linear_gated(Tensor gate, Tensor up, Activation act, const Linear& w) {
  expect_same("gated_act", gate, up);
  if (gate.owner.use_count() != 1 || up.data == gate.data)
    return Backend::linear_gated(std::move(gate), std::move(up), act, w);
  cpu::gated_act(pool_, gate.ptr<float>(), up.ptr<float>(), gate.numel(), act, gate.ptr<float>());
  finish(gate);
  up = Tensor();
  return linear(gate, w);
}

Tensor CpuBackend::softcap(const Tensor& x, float cap) {
  expect_2d("softcap", x);
  Tensor y = alloc(x.dim(0), x.dim(1));
  const float* px = x.ptr<float>();
  float* py = y.ptr<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) py[i] = std::tanh(px[i] / cap) * cap;
  finish(y);
  return y;
}

Tensor CpuBackend::rope(const Tensor& x, int n_heads, int head_dim, const BatchLayout& batch,
                        const RopeSpec& spec) {
  expect_2d("rope", x);
  if (x.dim(0) != batch.rows() || x.dim(1) != int64_t{n_heads} * head_dim)
    throw_error("cpu", "rope: input {} does not match {} rows of {} heads x {}", shape_str(x.shape),
                batch.rows(), n_heads, head_dim);
  Tensor y = alloc(x.dim(0), x.dim(1));
  std::memcpy(y.data, x.data, x.nbytes());
  cpu::rope(pool_, y.ptr<float>(), n_heads, head_dim, batch, spec);
  finish(y);
  return y;
}

Tensor CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                             const BatchLayout& batch, const AttentionParams& p) {
  expect_2d("attention", q);
  expect_same("attention", k, v);
  const int64_t T = batch.rows();
  if (q.dim(0) != T || k.dim(0) != T || q.dim(1) != int64_t{p.n_heads} * p.head_dim ||
      k.dim(1) != int64_t{p.n_kv_heads} * p.head_dim)
    throw_error("cpu", "attention: q {} k {} do not match {} rows, {}/{} heads of {}",
                shape_str(q.shape), shape_str(k.shape), T, p.n_heads, p.n_kv_heads, p.head_dim);
  Tensor y = alloc(T, q.dim(1));
  cpu::attention(pool_, q.ptr<float>(), k.ptr<float>(), v.ptr<float>(), cache, batch, p, y.ptr<float>());
  finish(y);
  return y;
}

Tensor CpuBackend::gather_rows(const Tensor& x, const std::vector<int32_t>& rows) {
  expect_2d("gather_rows", x);
  const int64_t D = x.dim(1);
  Tensor y = alloc(static_cast<int64_t>(rows.size()), D);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= x.dim(0))
      throw_error("cpu", "gather_rows: row {} outside [0, {})", rows[i], x.dim(0));
    std::memcpy(y.ptr<float>() + static_cast<int64_t>(i) * D, x.ptr<float>() + rows[i] * D,
                static_cast<size_t>(D) * sizeof(float));
  }
  return y;
}

void CpuBackend::to_host(const Tensor& x, std::vector<float>& out) {
  expect_2d("to_host", x);
  out.assign(x.ptr<float>(), x.ptr<float>() + x.numel());
}

}  // namespace ollmlx::cpu
