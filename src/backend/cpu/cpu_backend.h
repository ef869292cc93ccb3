// The native CPU backend: float32 activations, weights used in place from the memory-mapped
// files, kernels vectorised with Highway and split over a persistent thread pool.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "util/thread_pool.h"

namespace ollmlx::cpu {

// Recycles activation buffers: a tensor's memory goes back to the pool when its last reference
// is dropped, so a forward pass needs only the few buffers that are alive at once (the model's
// residual stream and the current layer's intermediates), not one per op.
class BufferPool {
 public:
  BufferPool();
  // A buffer of at least n floats (64-byte aligned); freed into the pool by the returned owner.
  std::shared_ptr<float> acquire(int64_t n);
  size_t bytes() const;  // memory held (in use and free)
  void trim();           // frees the buffers not in use
  void set_poison(bool on) { state_->poison = on; }

 private:
  struct State {
    std::mutex mutex;
    std::multimap<size_t, float*> free;  // capacity in floats -> buffer
    size_t total_floats = 0;
    bool poison = false;
    ~State();
  };
  std::shared_ptr<State> state_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads);
  std::string name() const override { return "cpu"; }
  ThreadPool& pool() { return pool_; }

  Linear load_linear(const Linear& host) override;
  Tensor load_tensor(const Tensor& host) override;
  void set_activation_dtype(DType dtype) override;
  DType activation_dtype() const override { return act_; }
  void begin_pass() override;
  void release_cached_memory() override;
  void set_debug_poison(bool on) override { buffers_.set_poison(on); }
  std::unique_ptr<KvCache> create_kv_cache(const KvCacheSpec& spec) override;

  Tensor embed(const Linear& table, const std::vector<int32_t>& ids, DType compute) override;
  Tensor linear(const Tensor& x, const Linear& w) override;
  std::vector<Tensor> linear_multi(const Tensor& x, const std::vector<const Linear*>& ws) override;
  Tensor rms_norm(const Tensor& x, const Tensor& w, float eps) override;
  Tensor rms_norm_heads(const Tensor& x, const Tensor& w, float eps, int head_dim) override;
  Tensor add(const Tensor& a, const Tensor& b) override;
  Tensor add_clipped(const Tensor& a, const Tensor& b, float bound) override;
  Tensor scale(const Tensor& x, float s) override;
  Tensor gated_act(const Tensor& gate, const Tensor& up, Activation act) override;
  Tensor linear_gated(Tensor gate, Tensor up, Activation act, const Linear& w) override;
  Tensor softcap(const Tensor& x, float cap) override;
  Tensor rope(const Tensor& x, int n_heads, int head_dim, const BatchLayout& batch,
              const RopeSpec& spec) override;
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                   const BatchLayout& batch, const AttentionParams& p) override;
  Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& rows) override;
  void to_host(const Tensor& x, std::vector<float>& out) override;

 private:
  Tensor alloc(int64_t rows, int64_t cols);
  void finish(Tensor& t);  // rounds to the activation dtype

  ThreadPool pool_;
  BufferPool buffers_;
  cpu::ScratchFn scratch_;  // kernel temporaries from buffers_
  DType act_ = DType::F32;
};

}  // namespace ollmlx::cpu
