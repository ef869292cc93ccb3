// The CUDA backend: the op interface of backend/backend.h on an NVIDIA GPU.
//
// * Weights are copied to device memory once, at load (load_linear / load_tensor), in their file
//   layout and dtypes (MLX affine packing, bf16/f16/f32 scales), so a model's parameter dtypes
//   and therefore its activation dtype are the same as on the CPU.
// * Activations are float32 [rows, features] device buffers, recycled through a pool by
//   reference count (like the CPU backend's BufferPool); every op runs on one stream, so a buffer
//   released by the host may be handed to the next op at once (stream order protects it).
// * Small per-op host data (token ids, positions, attention work lists) goes through a pinned
//   staging area and one async copy, de-duplicated within a pass (every layer of a pass uses the
//   same positions).
// * linear: up to kGemvMaxRows tokens, a fused dequantize-GEMV (k_linear.cu), or for 4-bit
//   weights (repacked at load) the tensor-core GEMV up to kQ4mmaMaxRows tokens; more tokens
//   (prefill) dequantize the weights in row chunks to the activation dtype (bf16/f16/f32) and
//   multiply with cuBLAS (tensor cores for bf16/f16; float32 accumulation), then add the bias and
//   round. Dense weights go to cuBLAS directly.
// * Only to_host synchronises with the device.
// * Decode passes (every sequence adds one row) are recorded as a CUDA graph the first time a
//   layout shape (rows, logit rows, activation dtype) is seen, and replayed afterwards: on a
//   replay the model's host code runs as usual, but ops only validate their arguments, refresh
//   their small host data (token ids, positions, attention work lists) in the graph's own pinned
//   staging area and hand back the tensors recorded for them; to_host then copies the staging
//   area to the device and launches the whole pass as one graph. Everything a graph's kernels
//   read that varies between steps lives in that staging area; the attention split of decode
//   passes is a function of the layout alone. A graph is keyed on the model too (its embedding
//   table, the pass's first op), dropped when any weight or scratch buffer is freed, and every
//   replayed launch is checked against the recorded one (weights, sizes, launch parameters).
//   OLLMLX_CUDA_GRAPHS=0 turns graphs off.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <unordered_set>

#include "backend/cuda/cublas_lazy.h"
#include "backend/cuda/cuda_factory.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_cache_cuda.h"
#include "util/error.h"
#include "util/log.h"

namespace ollmlx::cuda {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_error("cuda", "{}: {}", what, cudaGetErrorString(e));
}
#define OLLMLX_CUDA_CHECK(call) ::ollmlx::cuda::check_cuda((call), #call)

void check_launch(const char* op) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_error("cuda", "{}: kernel launch failed: {}", op, cudaGetErrorString(e));
}

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw_error("cuda", "{}: cuBLAS error {} ({})", what, static_cast<int>(s), cublas().status_string(s));
}

Dt to_dt(DType t, const char* what) {
  switch (t) {
    case DType::F32: return Dt::F32;
    case DType::F16: return Dt::F16;
    case DType::BF16: return Dt::BF16;
    default: throw_error("cuda", "{}: dtype {} is not a float type the backend handles", what, dtype_name(t));
  }
}

cudaDataType_t cuda_type(Dt t) {
  return t == Dt::F32 ? CUDA_R_32F : t == Dt::F16 ? CUDA_R_16F : CUDA_R_16BF;
}

size_t dt_size(Dt t) { return t == Dt::F32 ? 4 : 2; }

int device_from_env() {
  if (const char* e = std::getenv("OLLMLX_CUDA_DEVICE")) return std::atoi(e);
  return 0;
}

// Activation buffers recycled by reference count (see cpu::BufferPool). Device memory.
class DevicePool {
 public:
  DevicePool() : state_(std::make_shared<State>()) {}
  void set_stream(cudaStream_t stream) { state_->stream = stream; }

  std::shared_ptr<float> acquire(int64_t n) {
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
      const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&p), want * sizeof(float));
      if (e != cudaSuccess) {
        cudaGetLastError();
        throw_error("cuda", "out of GPU memory allocating {} activation bytes ({})",
                    want * sizeof(float), cudaGetErrorString(e));
      }
      cap = want;
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->total += cap * sizeof(float);
    }
    if (state_->poison)
      OLLMLX_CUDA_CHECK(cudaMemsetAsync(p, 0xff, cap * sizeof(float), state_->stream));  // NaN
    std::shared_ptr<State> state = state_;
    return std::shared_ptr<float>(p, [state, cap](float* q) {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->free.emplace(cap, q);
    });
  }
  void set_poison(bool on) { state_->poison = on; }
  bool poison() const { return state_->poison; }
  size_t bytes() const { return state_->total; }

 private:
  struct State {
    std::mutex mutex;
    std::multimap<size_t, float*> free;
    size_t total = 0;
    bool poison = false;
    cudaStream_t stream = nullptr;
    ~State() {
      if (free.empty()) return;
      cudaDeviceSynchronize();
      for (auto& [cap, p] : free) cudaFree(p);
    }
  };
  std::shared_ptr<State> state_;
};

// Device buffers holding 4-bit weights in the tiled layout (kernels.h); an entry lives as long
// as its buffer.
struct TiledSet {
  std::mutex mutex;
  std::unordered_set<const void*> ptrs;
  bool contains(const void* p) {
    std::lock_guard<std::mutex> lock(mutex);
    return ptrs.count(p) != 0;
  }
};

void expect_2d(const char* op, const Tensor& t) {
  if (t.rank() != 2 || t.dtype != DType::F32)
    throw_error("cuda", "{}: expected a 2-D F32 activation, got {} {}", op, dtype_name(t.dtype),
                shape_str(t.shape));
}
void expect_same(const char* op, const Tensor& a, const Tensor& b) {
  expect_2d(op, a);
  expect_2d(op, b);
  if (a.shape != b.shape)
    throw_error("cuda", "{}: shapes differ: {} vs {}", op, shape_str(a.shape), shape_str(b.shape));
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      cudaGetLastError();
      throw_error("cuda", "no usable CUDA device ({})",
                  e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    }
    if (device < 0 || device >= count)
      throw_error("cuda", "device {} does not exist ({} devices)", device, count);
    OLLMLX_CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop{};
    OLLMLX_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    num_sms_ = prop.multiProcessorCount;
    OLLMLX_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    pool_.set_stream(stream_);
    check_cublas(cublas().create(&cublas_), "cublasCreate");
    check_cublas(cublas().set_stream(cublas_, stream_), "cublasSetStream");
    // A fixed workspace: cuBLAS must not allocate while a graph is being captured.
    OLLMLX_CUDA_CHECK(cudaMalloc(&cublas_ws_, kCublasWorkspace));
    check_cublas(cublas().set_workspace(cublas_, cublas_ws_, kCublasWorkspace), "cublasSetWorkspace");
    if (const char* g = std::getenv("OLLMLX_CUDA_GRAPHS")) graphs_enabled_ = std::string(g) != "0";
    log::info("cuda: device {} {} (sm_{}{}, {} SMs, {:.1f} GiB)", device, prop.name, prop.major,
              prop.minor, num_sms_, static_cast<double>(prop.totalGlobalMem) / (1 << 30));
  }

  ~CudaBackend() override {
    abandon_graph_pass();
    cudaStreamSynchronize(stream_);
    graphs_.clear();
    if (cublas_ws_) cudaFree(cublas_ws_);
    for (Scratch& s : scratch_)
      if (s.p) cudaFree(s.p);
    if (stage_host_) cudaFreeHost(stage_host_);
    if (stage_dev_) cudaFree(stage_dev_);
    if (host_out_) cudaFreeHost(host_out_);
    if (ids_host_) cudaFreeHost(ids_host_);
    if (ids_dev_) cudaFree(ids_dev_);
    if (sample_io_host_) cudaFreeHost(sample_io_host_);
    if (sample_io_dev_) cudaFree(sample_io_dev_);
    if (sample_scratch_) cudaFree(sample_scratch_);
    if (counters_) cudaFree(counters_);
    if (cublas_) cublas().destroy(cublas_);
    // The stream is left to the process: activation tensors may outlive the backend and their
    // pool still uses it for poisoning; it is destroyed with the context at exit.
  }

  std::string name() const override { return "cuda"; }
  uint64_t graph_launches() const { return graph_launches_; }

  // ---- weights ----------------------------------------------------------------------------

  Tensor upload_param(const Tensor& host, const std::string& what) {
    Tensor t;
    t.dtype = host.dtype;
    t.shape = host.shape;
    const size_t n = host.nbytes();
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(n, 16));
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw_error("cuda",
                  "out of GPU memory loading {} ({} bytes; {:.2f} GiB already loaded, {:.2f} of "
                  "{:.2f} GiB free)",
                  what, n, static_cast<double>(weight_bytes_) / (1 << 30),
                  static_cast<double>(free_b) / (1 << 30), static_cast<double>(total_b) / (1 << 30));
    }
    if (n > 0) OLLMLX_CUDA_CHECK(cudaMemcpy(p, host.data, n, cudaMemcpyHostToDevice));
    t.data = p;
    std::shared_ptr<std::atomic<uint64_t>> epoch = weights_epoch_;
    t.owner = std::shared_ptr<void>(p, [epoch](void* q) {
      ++*epoch;  // recorded graphs may point at it
      cudaFree(q);
    });
    const size_t before = weight_bytes_ >> 30;
    weight_bytes_ += n;
    if ((weight_bytes_ >> 30) != before)
      log::info("cuda: {} GiB of weights on the device", weight_bytes_ >> 30);
    return t;
  }

  // A 4-bit matrix in the tiled layout of the tensor-core GEMV (kernels.h): uploaded as is, then
  // repacked on the device. The tensor keeps the file's dtype and shape (U32 [N, K/8]).
  Tensor upload_q4_tiled(const Linear& host) {
    const Tensor raw = upload_param(host.weight, host.name + ".weight");
    const size_t bytes = static_cast<size_t>(q4_tiled_words(host.out, host.in)) * 4;
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw_error("cuda", "out of GPU memory loading {} ({} bytes)", host.name, bytes);
    }
    launch_repack_q4(static_cast<const uint32_t*>(raw.data), host.out, host.in, static_cast<uint32_t*>(p), stream_);
    check_launch("repack q4");
    OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
    weight_bytes_ += bytes - raw.nbytes();  // raw is freed when it goes out of scope
    Tensor t = raw;
    t.data = p;
    {
      std::lock_guard<std::mutex> lock(tiled_->mutex);
      tiled_->ptrs.insert(p);
    }
    std::shared_ptr<TiledSet> set = tiled_;
    std::shared_ptr<std::atomic<uint64_t>> epoch = weights_epoch_;
    t.owner = std::shared_ptr<void>(p, [set, epoch](void* q) {
      {
        std::lock_guard<std::mutex> lock(set->mutex);
        set->ptrs.erase(q);
      }
      ++*epoch;
      cudaFree(q);
    });
    return t;
  }

  Linear load_linear(const Linear& host) override {
    validate_linear(host);
    if (host.quantized() && host.quant.mode != QuantMode::Affine)
      throw_error("cuda", "{}: {} weights are not supported by the cuda backend", host.name,
                  quant_str(host.quant));
    Linear d = host;
    if (host.quantized() && host.quant.bits == 4 && host.in % 64 == 0)
      d.weight = upload_q4_tiled(host);
    else
      d.weight = upload_param(host.weight, host.name + ".weight");
    if (host.quantized()) {
      d.scales = upload_param(host.scales, host.name + ".scales");
      d.biases = upload_param(host.biases, host.name + ".biases");
    }
    if (host.has_bias()) d.bias = upload_param(host.bias, host.name + ".bias");
    return d;
  }

  Tensor load_tensor(const Tensor& host) override {
    if (!is_float(host.dtype) || host.dtype == DType::F64)
      throw_error("cuda", "tensor of dtype {} cannot be used as a float parameter", dtype_name(host.dtype));
    return upload_param(host, "tensor " + shape_str(host.shape));
  }

  // ---- per pass -----------------------------------------------------------------------------

  void set_activation_dtype(DType dtype) override {
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
      throw_error("cuda", "activation dtype must be F32, F16 or BF16, not {}", dtype_name(dtype));
    act_ = dtype;
  }
  DType activation_dtype() const override { return act_; }
  void begin_pass() override {
    abandon_graph_pass();
    upload_cache_.clear();
    xconv_owner_.reset();
  }
  void begin_forward_pass(const BatchLayout& batch, size_t logit_rows) override;
  void start_graph_pass(const void* model);
  void set_debug_poison(bool on) override { pool_.set_poison(on); }
  std::unique_ptr<KvCache> create_kv_cache(const KvCacheSpec& spec) override {
    return std::make_unique<CudaKvCache>(spec, stream_);
  }

  // ---- ops ----------------------------------------------------------------------------------

  Tensor embed(const Linear& table, const std::vector<int32_t>& ids, DType compute) override {
    const bool affine = table.quant.mode == QuantMode::Affine;
    if (table.quantized() && !affine)
      throw_error("embed", "{}: {} embedding tables are not supported", table.name, quant_str(table.quant));
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= table.out)
        throw_error("embed", "{}: token id {} (row {}) outside the vocabulary of {}", table.name,
                    ids[i], i, table.out);
    if (mode_ == Mode::Pending) start_graph_pass(table.weight.data);
    Tensor y = alloc(static_cast<int64_t>(ids.size()), table.in);
    if (ids.empty()) return y;
    const auto* d_ids = static_cast<const int32_t*>(upload(ids.data(), ids.size() * sizeof(int32_t)));
    QuantMatrix qm;
    if (affine) qm = quant_matrix(table);
    note({1, u(table.weight.data), u(table.scales.data), u(table.biases.data), u(ids.size()),
          u(table.in), u(y.data), u(static_cast<int>(compute))});
    if (live()) {
      launch_embed(qm, affine ? nullptr : table.weight.data,
                   affine ? Dt::F32 : to_dt(table.weight.dtype, "embed"), table.in, d_ids,
                   static_cast<int64_t>(ids.size()), to_dt(compute, "embed compute"), act(), y.ptr<float>(),
                   stream_);
      check_launch("embed");
    }
    return y;
  }

  Tensor linear(const Tensor& x, const Linear& w) override {
    expect_2d("linear", x);
    if (x.dim(1) != w.in)
      throw_error("cuda", "linear {}: input has {} features, layer expects {}", w.name, x.dim(1), w.in);
    const int64_t T = x.dim(0);
    if (w.quantized() && w.quant.mode != QuantMode::Affine)
      throw_error("cuda", "linear {}: {} is not supported by the cuda backend", w.name, quant_str(w.quant));
    if (std::vector<Tensor> ys; try_q4dec(x, {&w}, ys)) return std::move(ys[0]);
    Tensor y = alloc(T, w.out);
    if (T == 0) return y;
    const void* bias = w.has_bias() ? w.bias.data : nullptr;
    note({2, u(w.weight.data), u(w.scales.data), u(w.biases.data), u(bias), u(T), u(x.data), u(y.data)});
    const Dt bias_dt = w.has_bias() ? to_dt(w.bias.dtype, "bias") : Dt::F32;
    if (w.quantized() && T <= std::max(kGemvMaxRows, kQ4mmaMaxRows)) {
      const QuantMatrix qm = quant_matrix(w);
      if (!qm.tiled && T <= kGemvMaxRows) {
        if (live()) {
          launch_qgemv(qm, x.ptr<float>(), static_cast<int>(T), bias, bias_dt, act(), y.ptr<float>(), stream_);
          check_launch("linear (gemv)");
        }
        return y;
      }
      // Tiled 4-bit weights, up to 32 rows (a batch of decoding sequences): the tensor-core GEMV
      // reads the 4-bit weights once for all rows. Float32 runs take the float32 GEMM below.
      if (qm.tiled && act_ != DType::F32) {
        const int splits = q4mma_splits(qm, num_sms_);
        const int64_t tiles = (qm.N + 15) / 16;
        float* part = nullptr;
        int* counters = nullptr;
        if (splits > 1) {
          part = static_cast<float*>(scratch(
              kScratchQ4Part, static_cast<size_t>(q4mma_part_floats(tiles, splits, static_cast<int>(T))) * sizeof(float)));
          counters = q4_counters(tiles);
        }
        if (live()) {
          launch_qgemv_q4mma(qm, x.ptr<float>(), static_cast<int>(T), bias, bias_dt, act(), y.ptr<float>(),
                             splits, part, counters, stream_);
          check_launch("linear (tensor-core gemv)");
        }
        return y;
      }
    }
    gemm(x, w, y);
    if (live()) {
      launch_bias_round(y.ptr<float>(), T, w.out, bias, bias_dt, act(), stream_);
      check_launch("linear (bias)");
    }
    return y;
  }

  std::vector<Tensor> linear_multi(const Tensor& x, const std::vector<const Linear*>& ws) override {
    expect_2d("linear", x);
    if (std::vector<Tensor> ys; try_q4dec(x, ws, ys)) return ys;
    return Backend::linear_multi(x, ws);
  }

  Tensor linear_gated(Tensor gate, Tensor up, Activation a, const Linear& w) override {
    expect_same("gated_act", gate, up);
    if (std::vector<Tensor> ys; try_q4dec(gate, {&w}, ys, &up, a)) return std::move(ys[0]);
    return Backend::linear_gated(std::move(gate), std::move(up), a, w);
  }

  // The decode GEMV (T <= kQ4decMaxRows) over 1..kQ4decMaxJobs tiled 4-bit matrices that share
  // x, in one launch. False (nothing done) when it does not apply: the caller falls back to the
  // separate ops. With `up`: the input is round_act(act(x) * up), computed while x is staged.
  bool try_q4dec(const Tensor& x, const std::vector<const Linear*>& ws, std::vector<Tensor>& ys,
                 const Tensor* up = nullptr, Activation gate_act = Activation::Silu) {
    const int64_t T = x.dim(0);
    if (T < 1 || T > kQ4decMaxRows || act_ == DType::F32 || ws.empty() ||
        ws.size() > static_cast<size_t>(kQ4decMaxJobs))
      return false;
    Q4DecJobs j;
    for (const Linear* w : ws) {
      if (!w->quantized() || w->quant.mode != QuantMode::Affine || w->quant.bits != 4 || x.dim(1) != w->in)
        return false;
      j.m[j.n] = quant_matrix(*w);
      j.bias[j.n] = w->has_bias() ? w->bias.data : nullptr;
      j.bias_dt[j.n] = w->has_bias() ? to_dt(w->bias.dtype, "bias") : Dt::F32;
      ++j.n;
    }
    if (!q4dec_compatible(j)) return false;
    if (up) {
      j.up = up->ptr<float>();
      j.gate = gate_act == Activation::Silu ? 1 : 2;
      note({22, u(up->data), u(j.gate)});
    }
    ys.clear();
    for (int i = 0; i < j.n; ++i) {
      const Linear& w = *ws[static_cast<size_t>(i)];
      ys.push_back(alloc(T, w.out));
      j.y[i] = ys.back().ptr<float>();
      note({20, u(w.weight.data), u(w.scales.data), u(w.biases.data), u(j.bias[i]), u(T), u(x.data), u(j.y[i])});
    }
    const int splits = q4dec_splits(j, num_sms_);
    float* part = nullptr;
    int* counters = nullptr;
    if (splits > 1) {
      part = static_cast<float*>(scratch(kScratchQ4Part, static_cast<size_t>(q4dec_part_floats(j, splits)) * sizeof(float)));
      counters = q4_counters(q4dec_counters(j));
    }
    if (live()) {
      launch_qgemv_q4dec(j, x.ptr<float>(), static_cast<int>(T), act(), num_sms_, part, counters, stream_);
      check_launch("linear (decode gemv)");
    }
    return true;
  }

  Tensor rms_norm(const Tensor& x, const Tensor& w, float eps) override {
    expect_2d("rms_norm", x);
    if (w.numel() != x.dim(1))
      throw_error("cuda", "rms_norm: weight has {} elements for rows of {}", w.numel(), x.dim(1));
    Tensor y = alloc(x.dim(0), x.dim(1));
    note({3, u(x.data), u(w.data), u(y.data), u(x.dim(0)), u(x.dim(1)), u(std::bit_cast<uint32_t>(eps))});
    if (live()) {
      launch_rms_norm(x.ptr<float>(), x.dim(0), x.dim(1), w.data, to_dt(w.dtype, "rms_norm"), eps,
                      act(), y.ptr<float>(), stream_);
      check_launch("rms_norm");
    }
    return y;
  }

  Tensor rms_norm_heads(const Tensor& x, const Tensor& w, float eps, int head_dim) override {
    expect_2d("rms_norm_heads", x);
    if (head_dim <= 0 || x.dim(1) % head_dim != 0 || w.numel() != head_dim)
      throw_error("cuda", "rms_norm_heads: rows of {} with head_dim {} and weight of {}", x.dim(1),
                  head_dim, w.numel());
    Tensor y = alloc(x.dim(0), x.dim(1));
    note({3, u(x.data), u(w.data), u(y.data), u(x.numel()), u(head_dim), u(std::bit_cast<uint32_t>(eps))});
    if (live()) {
      launch_rms_norm(x.ptr<float>(), x.numel() / head_dim, head_dim, w.data,
                      to_dt(w.dtype, "rms_norm_heads"), eps, act(), y.ptr<float>(), stream_);
      check_launch("rms_norm_heads");
    }
    return y;
  }

  SumAndNorm add_rms_norm(const Tensor& a, const Tensor& b, const Tensor& w, float eps) override {
    expect_same("add_rms_norm", a, b);
    if (w.numel() != a.dim(1))
      throw_error("cuda", "add_rms_norm: weight has {} elements for rows of {}", w.numel(), a.dim(1));
    SumAndNorm r{alloc(a.dim(0), a.dim(1)), alloc(a.dim(0), a.dim(1))};
    note({21, u(a.data), u(b.data), u(w.data), u(r.sum.data), u(r.norm.data), u(a.dim(0)), u(a.dim(1)),
          u(std::bit_cast<uint32_t>(eps))});
    if (live()) {
      launch_add_rms_norm(a.ptr<float>(), b.ptr<float>(), a.dim(0), a.dim(1), w.data,
                          to_dt(w.dtype, "rms_norm"), eps, act(), r.sum.ptr<float>(), r.norm.ptr<float>(), stream_);
      check_launch("add_rms_norm");
    }
    return r;
  }
  Tensor add(const Tensor& a, const Tensor& b) override {
    expect_same("add", a, b);
    return elementwise(EwOp::Add, a, &b, 0.0f, "add");
  }
  Tensor add_clipped(const Tensor& a, const Tensor& b, float bound) override {
    expect_same("add_clipped", a, b);
    if (!(bound > 0.0f)) throw_error("cuda", "add_clipped: bound {} must be positive", bound);
    return elementwise(EwOp::AddClip, a, &b, bound, "add_clipped");
  }
  Tensor scale(const Tensor& x, float s) override {
    expect_2d("scale", x);
    return elementwise(EwOp::Scale, x, nullptr, s, "scale");
  }
  Tensor gated_act(const Tensor& gate, const Tensor& up, Activation a) override {
    expect_same("gated_act", gate, up);
    return elementwise(a == Activation::Silu ? EwOp::Silu : EwOp::GeluTanh, gate, &up, 0.0f, "gated_act");
  }
  Tensor softcap(const Tensor& x, float cap) override {
    expect_2d("softcap", x);
    return elementwise(EwOp::Softcap, x, nullptr, cap, "softcap");
  }

  Tensor rope(const Tensor& x, int n_heads, int head_dim, const BatchLayout& batch,
              const RopeSpec& spec) override {
    expect_2d("rope", x);
    if (x.dim(0) != batch.rows() || x.dim(1) != int64_t{n_heads} * head_dim)
      throw_error("cuda", "rope: input {} does not match {} rows of {} heads x {}", shape_str(x.shape),
                  batch.rows(), n_heads, head_dim);
    const int half = spec.dims / 2;
    if (spec.dims <= 0 || spec.dims % 2 != 0 || spec.dims > head_dim)
      throw_error("rope", "rotated dims {} must be even and within head_dim {}", spec.dims, head_dim);
    if (!spec.dynamic && spec.inv_freq.size() != static_cast<size_t>(half))
      throw_error("rope", "{} inverse frequencies for {} rotated dims", spec.inv_freq.size(), spec.dims);
    if (spec.dynamic && (spec.max_position <= 0 || spec.dims <= 2))
      throw_error("rope", "dynamic scaling needs max_position > 0 and dims > 2");
    const int32_t T = batch.rows();
    if (batch.seqs.empty() && T > 0) throw_error("rope", "batch of {} rows has no sequences", T);
    std::vector<float> tables;
    std::vector<int32_t> table_of_row(static_cast<size_t>(T), 0);
    if (!spec.dynamic) tables = spec.inv_freq;
    for (size_t s = 0; s < batch.seqs.size(); ++s) {
      const SeqSpan& span = batch.seqs[s];
      if (span.begin < 0 || span.count < 0 || int64_t{span.begin} + span.count > T)
        throw_error("rope", "span of slot {} outside the batch of {} rows", span.slot, T);
      if (!spec.dynamic) continue;
      const std::vector<float> f = rope_inv_freq_for_length(spec, int64_t{span.pos0} + span.count);
      if (f.size() != static_cast<size_t>(half))
        throw_error("rope", "{} inverse frequencies for {} rotated dims", f.size(), spec.dims);
      const int32_t idx = static_cast<int32_t>(tables.size() / static_cast<size_t>(half));
      tables.insert(tables.end(), f.begin(), f.end());
      for (int32_t r = span.begin; r < span.begin + span.count; ++r) table_of_row[static_cast<size_t>(r)] = idx;
    }
    Tensor y = alloc(x.dim(0), x.dim(1));
    if (T == 0) return y;
    RopeArgs a;
    a.x = x.ptr<float>();
    a.y = y.ptr<float>();
    a.positions = static_cast<const int32_t*>(upload(batch.positions.data(), batch.positions.size() * 4));
    a.table_of_row = static_cast<const int32_t*>(upload(table_of_row.data(), table_of_row.size() * 4));
    a.inv_freq = static_cast<const float*>(upload(tables.data(), tables.size() * 4));
    a.rows = T;
    a.n_heads = n_heads;
    a.head_dim = head_dim;
    a.dims = spec.dims;
    a.traditional = spec.traditional;
    a.position_scale = spec.position_scale;
    a.mscale = spec.mscale;
    a.act = act();
    note({5, u(a.x), u(a.y), u(T), u(n_heads), u(head_dim), u(spec.dims), u(spec.traditional),
          u(std::bit_cast<uint32_t>(spec.position_scale)), u(std::bit_cast<uint32_t>(spec.mscale)),
          u(tables.size())});
    if (live()) {
      launch_rope(a, stream_);
      check_launch("rope");
    }
    return y;
  }

  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                   const BatchLayout& batch, const AttentionParams& p) override;

  Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& rows) override {
    expect_2d("gather_rows", x);
    const int64_t D = x.dim(1);
    for (int32_t r : rows)
      if (r < 0 || r >= x.dim(0)) throw_error("cuda", "gather_rows: row {} outside [0, {})", r, x.dim(0));
    Tensor y = alloc(static_cast<int64_t>(rows.size()), D);
    if (rows.empty()) return y;
    const auto* d_rows = static_cast<const int32_t*>(upload(rows.data(), rows.size() * 4));
    note({6, u(x.data), u(y.data), u(rows.size()), u(D)});
    if (live()) {
      launch_gather_rows(x.ptr<float>(), D, d_rows, static_cast<int64_t>(rows.size()), y.ptr<float>(), stream_);
      check_launch("gather_rows");
    }
    return y;
  }

  // The pass (graph) runs, then one block per row picks its largest logit on the device; only
  // the ids are copied back.
  std::vector<int32_t> argmax_rows(const Tensor& x) override {
    expect_2d("argmax_rows", x);
    settle();
    if (mode_ != Mode::Eager) launch_graph_pass();
    const int64_t rows = x.dim(0);
    std::vector<int32_t> ids(static_cast<size_t>(rows));
    if (rows == 0) return ids;
    const size_t bytes = static_cast<size_t>(rows) * sizeof(int32_t);
    if (bytes > ids_cap_) {
      OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (ids_dev_) cudaFree(ids_dev_);
      if (ids_host_) cudaFreeHost(ids_host_);
      ids_dev_ = nullptr;
      ids_host_ = nullptr;
      ids_cap_ = 0;
      // ids, then the two-stage reduction's partials (2 * rows * kArgmaxChunks 4-byte values)
      OLLMLX_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ids_dev_),
                                   bytes + 2 * bytes * static_cast<size_t>(cuda::kArgmaxChunks)));
      OLLMLX_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&ids_host_), bytes));
      ids_cap_ = bytes;
    }
    float* partials = reinterpret_cast<float*>(ids_dev_ + ids_cap_ / sizeof(int32_t));
    cuda::launch_argmax_rows(x.ptr<float>(), rows, x.dim(1), ids_dev_, partials, stream_);
    check_launch("argmax_rows");
    OLLMLX_CUDA_CHECK(cudaMemcpyAsync(ids_host_, ids_dev_, bytes, cudaMemcpyDeviceToHost, stream_));
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) throw_error("cuda", "device error (reported at argmax_rows): {}", cudaGetErrorString(e));
    std::copy(ids_host_, ids_host_ + rows, ids.begin());
    return ids;
  }

  // The pass (graph) runs, then k_sample.cu applies each row's penalties, filters and draw on
  // the device; only the ids are copied back.
  bool supports_sampling() const override { return true; }
  std::vector<int32_t> sample_rows(const Tensor& x, const std::vector<RowSampling>& rows) override {
    expect_2d("sample_rows", x);
    const int64_t R = x.dim(0), V = x.dim(1);
    if (static_cast<int64_t>(rows.size()) != R)
      throw_error("cuda", "sample_rows: {} sampling entries for {} rows of logits", rows.size(), R);
    if (V <= 0 || V >= (int64_t{1} << 31)) throw_error("cuda", "sample_rows: vocabulary of {} entries", V);
    settle();
    if (mode_ != Mode::Eager) launch_graph_pass();
    std::vector<int32_t> ids(static_cast<size_t>(R));
    if (R == 0) return ids;
    std::vector<cuda::SampleRow> params(static_cast<size_t>(R));
    std::vector<int32_t> counts;
    // Rows that never look past their top_k best candidates (greedy: 1) let k_sample.cu select
    // those instead of sorting the whole vocabulary.
    int select_k = 1;
    for (int64_t r = 0; r < R; ++r) {
      const RowSampling& in = rows[static_cast<size_t>(r)];
      cuda::SampleRow& p = params[static_cast<size_t>(r)];
      p.temperature = in.temperature;
      p.inv_temperature = in.inv_temperature;
      p.top_p = in.top_p;
      p.min_p = in.min_p;
      p.log_min_p = in.log_min_p;
      p.repeat_penalty = in.repeat_penalty;
      p.presence_penalty = in.presence_penalty;
      p.frequency_penalty = in.frequency_penalty;
      p.top_k = in.top_k;
      p.mlx_order = in.mlx_order ? 1 : 0;
      p.u01 = in.u01;
      p.counts_begin = static_cast<int32_t>(counts.size() / 2);
      for (const auto& [tok, n] : in.counts) {
        counts.push_back(tok);
        counts.push_back(n);
      }
      p.counts_end = static_cast<int32_t>(counts.size() / 2);
      const int need = in.temperature == 0.0f ? 1 : in.top_k > 0 ? in.top_k : 0;
      select_k = need > 0 && select_k > 0 ? std::max(select_k, need) : 0;
    }
    if (select_k > cuda::kSampleSelectMax) select_k = 0;
    // One block per row selects; below 8 rows the whole-GPU sort is as fast or faster (H200,
    // Ollama's defaults: 1 row 128 us sorting vs 188 selecting, 8 rows 220 vs 221, 16 rows 358
    // vs 263, 32 rows 546 vs 383).
    constexpr int64_t kSelectMinRows = 8;
    if (R < kSelectMinRows) select_k = 0;
    // One pinned block and its device copy: params, counts, then the ids coming back.
    const auto align = [](size_t n) { return (n + 255) & ~size_t{255}; };
    const size_t pbytes = align(params.size() * sizeof(cuda::SampleRow));
    const size_t cbytes = align(std::max<size_t>(counts.size(), 2) * sizeof(int32_t));
    const size_t ibytes = static_cast<size_t>(R) * sizeof(int32_t);
    const size_t total = pbytes + cbytes + ibytes;
    const size_t scratch = cuda::sample_scratch_bytes(R, V);
    if (total > sample_io_cap_ || scratch > sample_scratch_cap_) {
      OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (total > sample_io_cap_) {
        if (sample_io_host_) cudaFreeHost(sample_io_host_);
        if (sample_io_dev_) cudaFree(sample_io_dev_);
        sample_io_host_ = sample_io_dev_ = nullptr;
        sample_io_cap_ = 0;
        OLLMLX_CUDA_CHECK(cudaMallocHost(&sample_io_host_, total));
        OLLMLX_CUDA_CHECK(cudaMalloc(&sample_io_dev_, total));
        sample_io_cap_ = total;
      }
      if (scratch > sample_scratch_cap_) {
        if (sample_scratch_) cudaFree(sample_scratch_);
        sample_scratch_ = nullptr;
        sample_scratch_cap_ = 0;
        if (cudaMalloc(&sample_scratch_, scratch) != cudaSuccess) {
          (void)cudaGetLastError();
          throw_error("cuda", "sample_rows: out of device memory for the {} MiB of sorting scratch ({} x {} logits)",
                      scratch >> 20, R, V);
        }
        sample_scratch_cap_ = scratch;
      }
    }
    auto* h = static_cast<uint8_t*>(sample_io_host_);
    auto* d = static_cast<uint8_t*>(sample_io_dev_);
    std::memcpy(h, params.data(), params.size() * sizeof(cuda::SampleRow));
    if (!counts.empty()) std::memcpy(h + pbytes, counts.data(), counts.size() * sizeof(int32_t));
    OLLMLX_CUDA_CHECK(cudaMemcpyAsync(d, h, pbytes + cbytes, cudaMemcpyHostToDevice, stream_));
    auto* d_ids = reinterpret_cast<int32_t*>(d + pbytes + cbytes);
    const cudaError_t le = cuda::launch_sample_rows(x.ptr<float>(), R, V, reinterpret_cast<const cuda::SampleRow*>(d),
                                                    reinterpret_cast<const int32_t*>(d + pbytes), select_k,
                                                    d_ids, sample_scratch_, stream_);
    if (le != cudaSuccess) throw_error("cuda", "sample_rows: launch failed: {}", cudaGetErrorString(le));
    OLLMLX_CUDA_CHECK(cudaMemcpyAsync(h + pbytes + cbytes, d_ids, ibytes, cudaMemcpyDeviceToHost, stream_));
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) throw_error("cuda", "device error (reported at sample_rows): {}", cudaGetErrorString(e));
    std::memcpy(ids.data(), h + pbytes + cbytes, ibytes);
    return ids;
  }

  void to_host(const Tensor& x, std::vector<float>& out) override {
    expect_2d("to_host", x);
    settle();
    if (mode_ != Mode::Eager) launch_graph_pass();
    const size_t n = static_cast<size_t>(x.numel());
    if (n > host_out_cap_) {
      OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (host_out_) cudaFreeHost(host_out_);
      host_out_ = nullptr;
      host_out_cap_ = 0;
      OLLMLX_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_out_), n * sizeof(float)));
      host_out_cap_ = n;
    }
    if (n > 0)
      OLLMLX_CUDA_CHECK(cudaMemcpyAsync(host_out_, x.data, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) throw_error("cuda", "device error (reported at to_host): {}", cudaGetErrorString(e));
    out.assign(host_out_, host_out_ + n);
  }

 private:
  Dt act() const { return to_dt(act_, "activation"); }

  Tensor alloc(int64_t rows, int64_t cols) {
    settle();
    if (mode_ == Mode::Replay) {
      PassGraph& g = *cur_;
      if (g.next_alloc >= g.allocs.size() || g.allocs[g.next_alloc].shape != Shape{rows, cols})
        graph_mismatch(fmt::format("activation {} of shape [{}, {}]", g.next_alloc, rows, cols));
      return g.allocs[g.next_alloc++];
    }
    Tensor t;
    t.dtype = DType::F32;
    t.shape = {rows, cols};
    std::shared_ptr<float> buf = pool_.acquire(rows * cols);
    t.data = buf.get();
    t.owner = std::move(buf);
    if (mode_ == Mode::Record) cur_->allocs.push_back(t);  // kept: the graph writes there
    return t;
  }

  Tensor elementwise(EwOp op, const Tensor& a, const Tensor* b, float s, const char* what) {
    Tensor y = alloc(a.dim(0), a.dim(1));
    note({4, u(static_cast<int>(op)), u(a.data), u(b ? b->data : nullptr), u(y.data), u(a.numel()),
          u(std::bit_cast<uint32_t>(s))});
    if (live()) {
      launch_elementwise(op, a.ptr<float>(), b ? b->ptr<float>() : nullptr, s, a.numel(), act(),
                         y.ptr<float>(), stream_);
      check_launch(what);
    }
    return y;
  }

  QuantMatrix quant_matrix(const Linear& w) const {
    QuantMatrix m;
    m.w = static_cast<const uint32_t*>(w.weight.data);
    m.scales = w.scales.data;
    m.biases = w.biases.data;
    m.sdt = to_dt(w.scales.dtype, "scales");
    m.bits = w.quant.bits;
    m.group_size = w.quant.group_size;
    m.N = w.out;
    m.K = w.in;
    m.tiled = tiled_->contains(w.weight.data);
    return m;
  }

  // Small host data -> device, through pinned staging; identical contents within a pass share
  // one copy. The staging area is reused only after the stream has drained.
  const void* upload(const void* data, size_t n) {
    if (n == 0) return nullptr;
    settle();
    if (mode_ != Mode::Eager) {
      if (const void* d = graph_upload(data, n)) return d;
    }
    for (const Cached& c : upload_cache_)
      if (c.bytes.size() == n && std::memcmp(c.bytes.data(), data, n) == 0) return c.dev;
    const size_t need = (n + 255) & ~size_t{255};
    if (stage_used_ + need > stage_cap_) {
      OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
      stage_used_ = 0;
      upload_cache_.clear();
      if (need > stage_cap_) {
        if (stage_host_) cudaFreeHost(stage_host_);
        if (stage_dev_) cudaFree(stage_dev_);
        stage_host_ = nullptr;
        stage_dev_ = nullptr;
        stage_cap_ = 0;
        const size_t cap = std::max<size_t>(need, 4 << 20);
        OLLMLX_CUDA_CHECK(cudaMallocHost(&stage_host_, cap));
        OLLMLX_CUDA_CHECK(cudaMalloc(&stage_dev_, cap));
        stage_cap_ = cap;
      }
    }
    uint8_t* h = static_cast<uint8_t*>(stage_host_) + stage_used_;
    uint8_t* d = static_cast<uint8_t*>(stage_dev_) + stage_used_;
    std::memcpy(h, data, n);
    OLLMLX_CUDA_CHECK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, stream_));
    stage_used_ += need;
    Cached c;
    c.bytes.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + n);
    c.dev = d;
    upload_cache_.push_back(std::move(c));
    return d;
  }

  // Zeroed per-tile counters of the split tensor-core GEMV (each launch leaves them zero).
  int* q4_counters(int64_t tiles) {
    if (tiles > counters_cap_) {
      before_growth("split counters");
      OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (counters_) cudaFree(counters_);
      counters_ = nullptr;
      counters_cap_ = 0;
      const int64_t cap = std::max<int64_t>(tiles, 4096);
      OLLMLX_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&counters_), static_cast<size_t>(cap) * sizeof(int)));
      OLLMLX_CUDA_CHECK(cudaMemsetAsync(counters_, 0, static_cast<size_t>(cap) * sizeof(int), stream_));
      counters_cap_ = cap;
    }
    return counters_;
  }

  // Scratch buffer `i` of at least `bytes` (contents not preserved when it grows).
  void* scratch(int i, size_t bytes) {
    Scratch& s = scratch_[i];
    if (bytes > s.cap) {
      before_growth("scratch");
      if (i == kScratchX) xconv_owner_.reset();
      OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (s.p) cudaFree(s.p);
      s.p = nullptr;
      s.cap = 0;
      const cudaError_t e = cudaMalloc(&s.p, bytes);
      if (e != cudaSuccess) {
        cudaGetLastError();
        throw_error("cuda", "out of GPU memory allocating {} bytes of scratch ({})", bytes,
                    cudaGetErrorString(e));
      }
      s.cap = bytes;
    }
    return s.p;
  }

  // y[T, N] = x W^T (no bias, not rounded) through cuBLAS in the activation dtype.
  void gemm(const Tensor& x, const Linear& w, Tensor& y) {
    if (!live()) return;  // replaying a recorded pass
    const int64_t T = x.dim(0), K = w.in, N = w.out;
    const Dt c = act();
    const void* xc = x.data;
    if (c != Dt::F32) {
      // Activations are never modified after an op produced them, so while x's buffer is alive
      // its converted copy stays valid: q/k/v (and gate/up) convert their shared input once.
      const bool cached = x.owner && xconv_owner_.lock() == x.owner && xconv_data_ == x.data &&
                          xconv_n_ == T * K && xconv_dt_ == c;
      if (!cached) {
        xconv_owner_.reset();
        void* buf = scratch(kScratchX, static_cast<size_t>(T * K) * dt_size(c));
        launch_convert(x.data, Dt::F32, buf, c, T * K, stream_);
        check_launch("linear (convert x)");
        xconv_owner_ = x.owner;
        xconv_data_ = x.data;
        xconv_n_ = T * K;
        xconv_dt_ = c;
      }
      xc = scratch_[kScratchX].p;
    }
    const bool direct = !w.quantized() && to_dt(w.weight.dtype, "weight") == c;
    int64_t chunk = N;
    if (!direct) {
      chunk = std::max<int64_t>(64, (kScratchElems / K) / 64 * 64);
      chunk = std::min(chunk, N);
    }
    const float alpha = 1.0f, beta = 0.0f;
    const QuantMatrix qm = w.quantized() ? quant_matrix(w) : QuantMatrix{};
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
      const int64_t nc = std::min(chunk, N - n0);
      const void* wc;
      if (direct) {
        wc = static_cast<const uint8_t*>(w.weight.data) + static_cast<size_t>(n0 * K) * dt_size(c);
      } else {
        void* buf = scratch(kScratchW, static_cast<size_t>(chunk * K) * dt_size(c));
        if (w.quantized())
          launch_dequant_rows(qm, n0, nc, buf, c, stream_);
        else
          launch_convert(static_cast<const uint8_t*>(w.weight.data) +
                             static_cast<size_t>(n0 * K) * dtype_size(w.weight.dtype),
                         to_dt(w.weight.dtype, "weight"), buf, c, nc * K, stream_);
        check_launch("linear (dequantize)");
        wc = buf;
      }
      check_cublas(cublas().gemm_ex(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nc),
                                static_cast<int>(T), static_cast<int>(K), &alpha, wc, cuda_type(c),
                                static_cast<int>(K), xc, cuda_type(c), static_cast<int>(K), &beta,
                                y.ptr<float>() + n0, CUDA_R_32F, static_cast<int>(N),
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx");
    }
  }

  // ---- CUDA graphs of decode passes (see the top of the file) -------------------------------
  // Pending: a decode pass has begun; its first op (embed) names the model and decides.
  enum class Mode { Eager, Pending, Record, Replay };
  // embedding table (the model), rows, logit rows, act dtype, poison
  using GraphKey = std::tuple<const void*, int32_t, size_t, int, bool>;
  static constexpr int32_t kGraphMaxRows = 64;
  static constexpr size_t kMaxGraphs = 8;

  struct PassGraph {
    std::vector<Tensor> allocs;   // every activation of the pass, in op order (the graph's buffers)
    std::vector<size_t> uploads;  // bytes of every upload, in op order
    std::vector<uint64_t> sigs;   // every launch's weights and parameters, hashed, in op order
    cudaGraphExec_t exec = nullptr;
    void* stage_host = nullptr;   // pinned; refreshed by the ops of each replay
    void* stage_dev = nullptr;    // what the graph's kernels read
    size_t stage_cap = 0, stage_used = 0;
    size_t next_alloc = 0, next_upload = 0, next_sig = 0;
    uint64_t generation = 0;      // scratch buffers' generation when recorded
    uint64_t weights_epoch = 0;   // weight frees when recorded
    uint64_t last_use = 0;
    PassGraph() = default;
    PassGraph(const PassGraph&) = delete;
    PassGraph& operator=(const PassGraph&) = delete;
    ~PassGraph() {
      if (exec) cudaGraphExecDestroy(exec);
      if (stage_host) cudaFreeHost(stage_host);
      if (stage_dev) cudaFree(stage_dev);
    }
  };

  bool live() const { return mode_ != Mode::Replay; }
  // A pending decode pass whose first op is not embed runs eagerly.
  void settle() {
    if (mode_ == Mode::Pending) mode_ = Mode::Eager;
  }

  // Records (or, replaying, checks) what a launch depends on besides its staged data: weight
  // pointers, sizes and parameters. A replay never runs a launch that differs.
  void note(std::initializer_list<uint64_t> v) {
    if (mode_ != Mode::Record && mode_ != Mode::Replay) return;
    uint64_t h = 1469598103934665603ull;
    for (uint64_t x : v) h = (h ^ x) * 1099511628211ull + (h >> 29);
    PassGraph& g = *cur_;
    if (mode_ == Mode::Record) {
      g.sigs.push_back(h);
    } else if (g.next_sig >= g.sigs.size() || g.sigs[g.next_sig++] != h) {
      graph_mismatch(fmt::format("launch {} differs", g.next_sig - 1));
    }
  }
  static uint64_t u(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }
  template <typename T>
    requires std::is_arithmetic_v<T>
  static uint64_t u(T v) { return static_cast<uint64_t>(v); }

  // Small host data of a recorded/replayed pass: into the graph's staging area, at the same
  // offset on every replay. nullptr: recording stopped (the area is full), upload eagerly.
  const void* graph_upload(const void* data, size_t n) {
    PassGraph& g = *cur_;
    const size_t need = (n + 255) & ~size_t{255};
    if (g.stage_used + need > g.stage_cap) {
      if (mode_ == Mode::Replay) graph_mismatch("more staged data than recorded");
      stage_hint_[cur_key_] = 2 * (g.stage_cap + need);
      flush_partial_recording("staging area full");
      return nullptr;
    }
    if (mode_ == Mode::Replay) {
      if (g.next_upload >= g.uploads.size() || g.uploads[g.next_upload] != n)
        graph_mismatch(fmt::format("upload {} of {} bytes", g.next_upload, n));
      ++g.next_upload;
    } else {
      g.uploads.push_back(n);
    }
    std::memcpy(static_cast<uint8_t*>(g.stage_host) + g.stage_used, data, n);
    const void* d = static_cast<uint8_t*>(g.stage_dev) + g.stage_used;
    g.stage_used += need;
    return d;
  }

  // A scratch buffer is about to be reallocated: graphs recorded with the old one are stale.
  void before_growth(const char* what) {
    if (mode_ == Mode::Record) flush_partial_recording(what);
    if (mode_ == Mode::Replay) graph_mismatch(fmt::format("{} must grow", what));
    ++generation_;
  }

  // Ends a recording that cannot go on: what was captured runs now, the rest of the pass
  // eagerly; the layout is recorded again on its next pass. The graph's staging stays alive until
  // the next pass (device pointers into it may still be used by the op in progress).
  void flush_partial_recording(const char* why) {
    mode_ = Mode::Eager;
    PassGraph& g = *cur_;
    cudaGraph_t graph = nullptr;
    OLLMLX_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    auto node = graphs_.extract(cur_key_);
    aborted_.push_back(std::move(node.mapped()));
    cur_ = nullptr;
    if (e != cudaSuccess) throw_error("cuda", "instantiating a partial graph: {}", cudaGetErrorString(e));
    if (g.stage_used)
      OLLMLX_CUDA_CHECK(cudaMemcpyAsync(g.stage_dev, g.stage_host, g.stage_used, cudaMemcpyHostToDevice, stream_));
    OLLMLX_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
    OLLMLX_CUDA_CHECK(cudaStreamSynchronize(stream_));
    cudaGraphExecDestroy(exec);
    log::debug("cuda: graph recording stopped ({}); the pass finishes eagerly", why);
  }

  [[noreturn]] void graph_mismatch(const std::string& what) {
    mode_ = Mode::Eager;
    cur_ = nullptr;
    graphs_.erase(cur_key_);
    throw_error("cuda", "graph replay: the pass differs from the recorded one ({})", what);
  }

  // to_host of a recorded or replayed pass: instantiate (first time), stage, launch.
  void launch_graph_pass() {
    PassGraph& g = *cur_;
    if (mode_ == Mode::Record) {
      mode_ = Mode::Eager;
      cudaGraph_t graph = nullptr;
      cudaError_t e = cudaStreamEndCapture(stream_, &graph);
      if (e == cudaSuccess) {
        e = cudaGraphInstantiate(&g.exec, graph, 0);
        cudaGraphDestroy(graph);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        graphs_.erase(cur_key_);
        cur_ = nullptr;
        graphs_enabled_ = false;
        throw_error("cuda", "recording a decode pass as a CUDA graph failed ({}); graphs are off "
                    "from now on (OLLMLX_CUDA_GRAPHS=0 turns them off at start)", cudaGetErrorString(e));
      }
      log::debug("cuda: decode pass of {} rows recorded as a graph ({} launches, {} activations, {} "
                 "staged bytes)", std::get<1>(cur_key_), g.sigs.size(), g.allocs.size(), g.stage_used);
    } else {
      if (g.next_alloc != g.allocs.size() || g.next_upload != g.uploads.size() || g.next_sig != g.sigs.size())
        graph_mismatch(fmt::format("{} of {} activations, {} of {} uploads", g.next_alloc,
                                   g.allocs.size(), g.next_upload, g.uploads.size()));
      mode_ = Mode::Eager;
    }
    cur_ = nullptr;
    if (g.stage_used)
      OLLMLX_CUDA_CHECK(cudaMemcpyAsync(g.stage_dev, g.stage_host, g.stage_used, cudaMemcpyHostToDevice, stream_));
    OLLMLX_CUDA_CHECK(cudaGraphLaunch(g.exec, stream_));
    ++graph_launches_;
  }

  // A pass that ended without to_host (an error in the model, or a test's bare begin_pass):
  // a recording is dropped unexecuted, a replay simply not launched.
  void abandon_graph_pass() {
    aborted_.clear();  // their kernels finished before the flush returned
    if (mode_ == Mode::Eager || mode_ == Mode::Pending) {
      mode_ = Mode::Eager;
      return;
    }
    if (mode_ == Mode::Record) {
      cudaGraph_t graph = nullptr;
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();
      graphs_.erase(cur_key_);
    }
    mode_ = Mode::Eager;
    cur_ = nullptr;
  }

  struct Cached {
    std::vector<uint8_t> bytes;
    const void* dev = nullptr;
  };
  struct Scratch {
    void* p = nullptr;
    size_t cap = 0;
  };
  static constexpr int kScratchX = 0, kScratchW = 1, kScratchPart = 2, kScratchQ4Part = 3;
  static constexpr int64_t kScratchElems = int64_t{32} << 20;  // dequantized weight rows per GEMM

  int device_ = 0;
  int num_sms_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DevicePool pool_;
  std::shared_ptr<TiledSet> tiled_ = std::make_shared<TiledSet>();
  DType act_ = DType::F32;
  size_t weight_bytes_ = 0;
  void* stage_host_ = nullptr;
  void* stage_dev_ = nullptr;
  size_t stage_cap_ = 0, stage_used_ = 0;
  std::vector<Cached> upload_cache_;
  Scratch scratch_[4];
  int* counters_ = nullptr;
  int64_t counters_cap_ = 0;
  std::weak_ptr<const void> xconv_owner_;  // the activation whose conversion scratch X holds
  const void* xconv_data_ = nullptr;
  int64_t xconv_n_ = 0;
  Dt xconv_dt_ = Dt::F32;
  float* host_out_ = nullptr;
  size_t host_out_cap_ = 0;
  int32_t* ids_dev_ = nullptr;   // argmax_rows: device ids and their pinned host copy
  int32_t* ids_host_ = nullptr;
  size_t ids_cap_ = 0;
  void* sample_io_host_ = nullptr;  // sample_rows: parameters, counts and ids (pinned + device)
  void* sample_io_dev_ = nullptr;
  size_t sample_io_cap_ = 0;
  void* sample_scratch_ = nullptr;  // sample_rows: k_sample.cu's sorting scratch
  size_t sample_scratch_cap_ = 0;
  static constexpr size_t kCublasWorkspace = size_t{32} << 20;
  void* cublas_ws_ = nullptr;
  // Graphs (see the top of the file).
  bool graphs_enabled_ = true;
  Mode mode_ = Mode::Eager;
  PassGraph* cur_ = nullptr;  // the graph being recorded or replayed
  GraphKey cur_key_{};
  std::map<GraphKey, std::unique_ptr<PassGraph>> graphs_;
  std::map<GraphKey, size_t> stage_hint_;
  std::vector<std::unique_ptr<PassGraph>> aborted_;
  uint64_t generation_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> weights_epoch_ = std::make_shared<std::atomic<uint64_t>>(0);
  GraphKey pending_key_{};
  uint64_t clock_ = 0;
  uint64_t graph_launches_ = 0;

};

void CudaBackend::begin_forward_pass(const BatchLayout& batch, size_t logit_rows) {
  begin_pass();
  if (!graphs_enabled_) return;
  const int32_t rows = batch.rows();
  if (rows < 1 || rows > kGraphMaxRows) return;
  for (const SeqSpan& s : batch.seqs)
    if (s.count != 1) return;  // graphs are for decode passes only
  pending_key_ = GraphKey{nullptr, rows, logit_rows, static_cast<int>(act_), pool_.poison()};
  mode_ = Mode::Pending;
}

void CudaBackend::start_graph_pass(const void* model) {
  mode_ = Mode::Eager;
  GraphKey key = pending_key_;
  std::get<0>(key) = model;
  ++clock_;
  cur_key_ = key;
  const uint64_t epoch = weights_epoch_->load();
  auto it = graphs_.find(key);
  if (it != graphs_.end() && it->second->exec && it->second->generation == generation_ &&
      it->second->weights_epoch == epoch) {
    cur_ = it->second.get();
    cur_->next_alloc = cur_->next_upload = cur_->next_sig = 0;
    cur_->stage_used = 0;
    cur_->last_use = clock_;
    mode_ = Mode::Replay;
    return;
  }
  if (it != graphs_.end()) graphs_.erase(it);
  while (graphs_.size() >= kMaxGraphs) {
    auto lru = graphs_.begin();
    for (auto g = graphs_.begin(); g != graphs_.end(); ++g)
      if (g->second->last_use < lru->second->last_use) lru = g;
    graphs_.erase(lru);
  }
  auto g = std::make_unique<PassGraph>();
  auto hint = stage_hint_.find(key);
  g->stage_cap = hint != stage_hint_.end() ? hint->second : size_t{256} << 10;
  OLLMLX_CUDA_CHECK(cudaMallocHost(&g->stage_host, g->stage_cap));
  OLLMLX_CUDA_CHECK(cudaMalloc(&g->stage_dev, g->stage_cap));
  g->generation = generation_;
  g->weights_epoch = epoch;
  g->last_use = clock_;
  PassGraph* raw = g.get();
  graphs_[key] = std::move(g);
  OLLMLX_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  cur_ = raw;
  mode_ = Mode::Record;
}

int32_t first_key(int32_t p, int window) { return window > 0 ? std::max<int32_t>(0, p - window + 1) : 0; }

Tensor CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                              const BatchLayout& batch, const AttentionParams& p) {
  expect_2d("attention", q);
  expect_same("attention", k, v);
  const int64_t T = batch.rows();
  if (q.dim(0) != T || k.dim(0) != T || q.dim(1) != int64_t{p.n_heads} * p.head_dim ||
      k.dim(1) != int64_t{p.n_kv_heads} * p.head_dim)
    throw_error("cuda", "attention: q {} k {} do not match {} rows, {}/{} heads of {}",
                shape_str(q.shape), shape_str(k.shape), T, p.n_heads, p.n_kv_heads, p.head_dim);
  if (p.n_heads < 1 || p.n_kv_heads < 1 || p.head_dim < 1 || p.n_heads % p.n_kv_heads != 0)
    throw_error("attention", "bad head layout: {} heads, {} kv heads, head_dim {}", p.n_heads,
                p.n_kv_heads, p.head_dim);
  if (p.softcap < 0.0f || !std::isfinite(p.scale))
    throw_error("attention", "bad scale {} or softcap {}", p.scale, p.softcap);
  const int max_m = attention_max_queries(p.head_dim);
  if (max_m < 1)
    throw_error("cuda", "attention: head_dim {} is not supported by the cuda backend (at most 256)",
                p.head_dim);
  auto* kv = dynamic_cast<CudaKvCache*>(&cache);
  if (!kv) throw_error("attention", "the KV cache was not created by the cuda backend");
  const auto& layers = kv->spec().layers;
  if (p.layer < 0 || static_cast<size_t>(p.layer) >= layers.size())
    throw_error("attention", "layer {} outside the {} cached layers", p.layer, layers.size());
  const KvLayerSpec& ls = layers[static_cast<size_t>(p.layer)];
  if (ls.n_kv_heads != p.n_kv_heads || ls.head_dim != p.head_dim || ls.window != p.window)
    throw_error("attention",
                "layer {}: cache has {} kv heads x {} window {}, the op asks for {} x {} window {}",
                p.layer, ls.n_kv_heads, ls.head_dim, ls.window, p.n_kv_heads, p.head_dim, p.window);

  // 1. Layout checks (as the CPU backend), cache preparation.
  int32_t next_row = 0;
  for (size_t si = 0; si < batch.seqs.size(); ++si) {
    const SeqSpan& s = batch.seqs[si];
    for (size_t sj = 0; sj < si; ++sj)
      if (batch.seqs[sj].slot == s.slot) throw_error("attention", "slot {} appears twice in one batch", s.slot);
    if (s.begin != next_row || s.count < 1 || int64_t{s.begin} + s.count > batch.rows())
      throw_error("attention", "span of slot {} (rows [{}, +{})) does not continue at row {} of {}",
                  s.slot, s.begin, s.count, next_row, batch.rows());
    for (int32_t r = s.begin; r < s.begin + s.count; ++r)
      if (batch.positions[static_cast<size_t>(r)] != s.pos0 + (r - s.begin))
        throw_error("attention", "row {} has position {}, its span says {}", r,
                    batch.positions[static_cast<size_t>(r)], s.pos0 + (r - s.begin));
    next_row += s.count;
  }
  if (next_row != batch.rows())
    throw_error("attention", "the spans cover {} of {} rows", next_row, batch.rows());
  Tensor y = alloc(T, q.dim(1));
  if (T == 0) return y;
  std::vector<AttnSpan> spans;
  for (const SeqSpan& s : batch.seqs) {
    CudaKvCache::Store& st = kv->prepare_write(s.slot, p.layer, s.pos0, s.count);
    AttnSpan a;
    a.k = st.k;
    a.v = st.v;
    a.k_w = st.k;
    a.v_w = st.v;
    a.capacity = st.capacity;
    a.ring = p.window > 0 ? 1 : 0;
    a.begin = s.begin;
    a.count = s.count;
    a.pos0 = s.pos0;
    spans.push_back(a);
  }
  const Dt kv_dt = kv->spec().q8_0 ? Dt::Q8 : to_dt(kv->spec().dtype, "kv cache");
  const auto* d_spans = static_cast<const AttnSpan*>(upload(spans.data(), spans.size() * sizeof(AttnSpan)));
  if (live()) {
    launch_kv_append(d_spans, static_cast<int>(spans.size()), k.ptr<float>(), v.ptr<float>(), T,
                     p.n_kv_heads, p.head_dim, kv_dt, stream_);
    check_launch("attention (kv append)");
  }

  // 2. Work items: row tiles x kv heads (x head chunks), long key ranges split over blocks.
  const int n_rep = p.n_heads / p.n_kv_heads;
  const int heads_per_item = std::min(n_rep, max_m);
  const int head_chunks = (n_rep + heads_per_item - 1) / heads_per_item;
  bool decode_pass = true;
  int64_t total_rows = 0;
  for (const SeqSpan& s : batch.seqs) {
    decode_pass = decode_pass && s.count == 1;
    total_rows += s.count;
  }
  // Query rows per block: as many as shared memory allows, except that a prefill keeps about 8
  // blocks per SM, down to 2 rows (more warps in flight; the kernel is latency-bound. ncu, 1B
  // pp512: attention was 56% of the pass at 256 blocks of 64 queries; 7.9 -> 6.1 ms at 2048
  // blocks of 8 queries; 7B pp512 51.3 -> 47.7 ms).
  int rows_per_tile = std::max(1, std::min(64, max_m / heads_per_item));
  if (!decode_pass) {
    const int64_t per_row_tile = int64_t{p.n_kv_heads} * head_chunks;
    while (rows_per_tile > 2 &&
           (total_rows / rows_per_tile) * per_row_tile < 8 * int64_t{num_sms_})
      rows_per_tile /= 2;
  }
  struct Tile {
    int span;
    int32_t r0, r1, k0, k1;
  };
  std::vector<Tile> tiles;
  for (size_t si = 0; si < batch.seqs.size(); ++si) {
    const SeqSpan& s = batch.seqs[si];
    for (int32_t r0 = s.begin; r0 < s.begin + s.count; r0 += rows_per_tile) {
      const int32_t r1 = std::min(r0 + rows_per_tile, s.begin + s.count);
      const int32_t p_first = s.pos0 + (r0 - s.begin), p_last = s.pos0 + (r1 - 1 - s.begin);
      tiles.push_back({static_cast<int>(si), r0, r1, first_key(p_first, p.window), p_last + 1});
    }
  }
  const int64_t base_blocks = static_cast<int64_t>(tiles.size()) * p.n_kv_heads * head_chunks;
  // Decode attention is latency-bound per block: about 3 blocks per SM measured best (H200, 1B
  // shape at 512 and 3000 positions, against 2 and 4; BENCHMARKS.md).
  const int64_t target = 3 * int64_t{num_sms_};
  constexpr int32_t kMinSplitKeys = 64;
  constexpr int64_t kMaxDecodeSplits = 128;
  std::vector<AttnItem> items;
  std::vector<int32_t> row_part(static_cast<size_t>(T), -1);
  std::vector<int32_t> combine;  // (row, first slot, nsplit) triples
  int32_t slots = 0;
  int max_items_m = 1;
  for (const Tile& t : tiles) {
    const int32_t keys = t.k1 - t.k0;
    int32_t nsplit = 1, split_len = keys;
    if (decode_pass) {
      // Decode passes (replayed as graphs): the split count depends on the layout only; splits
      // past the keys are empty (a partial with sum 0, which the combine skips).
      if (base_blocks < target) {
        nsplit = static_cast<int32_t>(std::min<int64_t>((target + base_blocks - 1) / base_blocks, kMaxDecodeSplits));
        split_len = ((keys + nsplit - 1) / nsplit + 31) / 32 * 32;
      }
    } else if (base_blocks < target && keys >= 2 * kMinSplitKeys) {
      const int64_t want = std::min<int64_t>({(target + base_blocks - 1) / base_blocks,
                                              int64_t{keys / kMinSplitKeys}, kMaxAttnSplits});
      split_len = static_cast<int32_t>(((keys + want - 1) / want + 31) / 32 * 32);
      nsplit = (keys + split_len - 1) / split_len;
    }
    if (nsplit > 1) {
      for (int32_t r = t.r0; r < t.r1; ++r) {
        row_part[static_cast<size_t>(r)] = slots;
        combine.insert(combine.end(), {r, slots, nsplit});
        slots += nsplit;
      }
    }
    for (int g = 0; g < p.n_kv_heads; ++g) {
      for (int hc = 0; hc < head_chunks; ++hc) {
        const int h0 = g * n_rep + hc * heads_per_item;
        const int h1 = std::min(h0 + heads_per_item, (g + 1) * n_rep);
        max_items_m = std::max(max_items_m, (t.r1 - t.r0) * (h1 - h0));
        for (int32_t sp = 0; sp < nsplit; ++sp) {
          const int32_t k0 = std::min(t.k1, t.k0 + sp * split_len);
          const int32_t k1 = std::min(t.k1, k0 + split_len);
          items.push_back({t.span, g, h0, h1, t.r0, t.r1, k0, k1, sp, nsplit});
        }
      }
    }
  }
  AttnArgs a;
  a.q = q.ptr<float>();
  a.out = y.ptr<float>();
  a.spans = d_spans;
  a.items = static_cast<const AttnItem*>(upload(items.data(), items.size() * sizeof(AttnItem)));
  a.n_items = static_cast<int>(items.size());
  a.max_m = max_items_m;
  a.n_heads = p.n_heads;
  a.head_dim = p.head_dim;
  a.window = p.window;
  a.scale = p.scale;
  a.softcap = p.softcap;
  a.kv_dt = kv_dt;
  a.act = act();
  if (slots > 0) {
    a.part = static_cast<float*>(scratch(kScratchPart, static_cast<size_t>(slots) * p.n_heads *
                                                           (p.head_dim + 2) * sizeof(float)));
    a.row_part = static_cast<const int32_t*>(upload(row_part.data(), row_part.size() * 4));
  }
  note({7, u(a.q), u(k.data), u(v.data), u(a.out), u(p.layer), u(a.n_items), u(a.max_m), u(slots),
        u(combine.size()), u(a.part), u(p.n_heads), u(p.head_dim), u(p.window),
        u(std::bit_cast<uint32_t>(p.scale)), u(std::bit_cast<uint32_t>(p.softcap)),
        u(static_cast<int>(kv_dt)), u(spans.size())});
  if (live()) {
    launch_attention(a, stream_);
    check_launch("attention");
  }
  if (slots > 0) {
    const auto* d_comb = static_cast<const int32_t*>(upload(combine.data(), combine.size() * 4));
    if (live()) {
      launch_attention_combine(a.part, d_comb, static_cast<int>(combine.size() / 3), p.n_heads,
                               p.head_dim, act(), y.ptr<float>(), stream_);
      check_launch("attention (combine)");
    }
  }
  return y;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() {
  return std::make_unique<CudaBackend>(device_from_env());
}

uint64_t cuda_graph_launches(const Backend& backend) {
  const auto* b = dynamic_cast<const CudaBackend*>(&backend);
  return b ? b->graph_launches() : 0;
}

bool cuda_device_available(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA devices";
    return false;
  }
  return true;
}

}  // namespace ollmlx::cuda
