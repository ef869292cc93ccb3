// Microbenchmarks of the CPU linear kernels on the shapes of SmolLM2-135M (hidden 576,
// intermediate 1536, vocab 49152) in MLX affine 4-bit g32 with f16 scales (its Q4_1 conversion),
// for decode (T = 1) and prefill (T = 512). Reports GMAC/s and weight GB/s.
#include <benchmark/benchmark.h>

#include <cstring>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "util/half.h"

namespace ollmlx {
namespace {

Linear make_q(int64_t N, int64_t K, int bits, int gs) {
  Linear l;
  l.name = "bench";
  l.out = N;
  l.in = K;
  l.quant = {QuantMode::Affine, bits, gs};
  l.weight = make_host_tensor(DType::U32, {N, K * bits / 32});
  std::mt19937 rng(1);
  for (int64_t i = 0; i < l.weight.numel(); ++i) l.weight.ptr<uint32_t>()[i] = rng();
  l.scales = make_host_tensor(DType::F16, {N, K / gs});
  l.biases = make_host_tensor(DType::F16, {N, K / gs});
  for (int64_t i = 0; i < l.scales.numel(); ++i) {
    l.scales.ptr<uint16_t>()[i] = f32_to_f16(0.01f);
    l.biases.ptr<uint16_t>()[i] = f32_to_f16(-0.08f);
  }
  return l;
}

void BM_Linear(benchmark::State& state) {
  const int64_t N = state.range(0), K = state.range(1), T = state.range(2);
  const int bits = static_cast<int>(state.range(3)), gs = static_cast<int>(state.range(4));
  static cpu::CpuBackend be(std::getenv("OLLMLX_NUM_THREADS") ? std::atoi(std::getenv("OLLMLX_NUM_THREADS")) : 0);
  // copies > 1: cycle through that many matrices, more than the last-level cache holds, so the
  // weights stream from DRAM as in a real decode pass.
  const int64_t copies = state.range(5);
  std::vector<Linear> ls;
  for (int64_t c = 0; c < copies; ++c) ls.push_back(make_q(N, K, bits, gs));
  const Linear& l = ls[0];
  int64_t next = 0;
  Tensor x = make_host_tensor(DType::F32, {T, K});
  for (int64_t i = 0; i < x.numel(); ++i) x.ptr<float>()[i] = 0.01f * static_cast<float>(i % 97);
  for (auto _ : state) {
    be.begin_pass();
    Tensor y = be.linear(x, ls[static_cast<size_t>(next)]);
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(y.data);
  }
  const double macs = static_cast<double>(N * K * T);
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(l.weight.nbytes() + l.scales.nbytes() * 2) * 1e-9,
      benchmark::Counter::kIsIterationInvariantRate);
}

// {N, K, T, bits, group, copies}
BENCHMARK(BM_Linear)
    ->Args({1536, 576, 1, 4, 32, 1})
    ->Args({576, 1536, 1, 4, 32, 1})
    ->Args({49152, 576, 1, 4, 32, 1})
    ->Args({1536, 576, 512, 4, 32, 1})
    ->Args({576, 1536, 512, 4, 32, 1})
    ->Args({1536, 576, 1, 4, 64, 1})
    ->Args({1536, 576, 1, 8, 32, 1})
    ->Args({1536, 576, 512, 8, 32, 1})
    ->Args({1536, 576, 1, 6, 64, 1})
    ->Args({1536, 576, 512, 6, 64, 1})
    ->Args({1536, 576, 1, 4, 32, 128})
    ->Args({576, 1536, 1, 4, 32, 128})
    ->Args({49152, 576, 1, 8, 32, 2})
    ->UseRealTime();

}  // namespace
}  // namespace ollmlx

BENCHMARK_MAIN();
