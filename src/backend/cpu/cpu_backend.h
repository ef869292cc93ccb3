// The native CPU backend: float32 activations, weights used in place from the memory-mapped
// files, kernels vectorised with Highway and split over a persistent thread pool.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "util/thread_pool.h"

namespace ollmlx::cpu {

// Bump allocator for the activations of one forward pass (64-byte aligned blocks).
class Arena {
 public:
  float* alloc_floats(int64_t n);
  void reset();
  size_t capacity() const;

 private:
  struct Block {
    std::unique_ptr<float, void (*)(void*)> data{nullptr, nullptr};
    size_t size = 0;  // floats
    size_t used = 0;
  };
  std::vector<Block> blocks_;
  size_t current_ = 0;
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
  std::unique_ptr<KvCache> create_kv_cache(const KvCacheSpec& spec) override;

  Tensor embed(const Linear& table, const std::vector<int32_t>& ids, DType compute) override;
  Tensor linear(const Tensor& x, const Linear& w) override;
  Tensor rms_norm(const Tensor& x, const Tensor& w, float eps) override;
  Tensor rms_norm_heads(const Tensor& x, const Tensor& w, float eps, int head_dim) override;
  Tensor add(const Tensor& a, const Tensor& b) override;
  Tensor scale(const Tensor& x, float s) override;
  Tensor gated_act(const Tensor& gate, const Tensor& up, Activation act) override;
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
  Arena arena_;
  DType act_ = DType::F32;
};

}  // namespace ollmlx::cpu
