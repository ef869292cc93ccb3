// Sampling a token from each row of [rows, 128256] logits (Llama-3's vocabulary) that live on
// the default backend's device: the host path (copy every logit, then sample/sampler.cpp) against
// Backend::sample_rows (on CUDA, k_sample.cu: only ids are copied). Two parameter sets: Ollama's
// defaults (top_k 40, top_p 0.9, temperature 0.8) and mlx-lm's order with no filter (the whole
// vocabulary is a candidate), both with a repeat penalty over 64 tokens.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "sample/sampler.h"

namespace ollmlx {
namespace {

constexpr int64_t kVocab = 128256;

Backend& backend() {
  static std::unique_ptr<Backend> be = create_backend(default_backend_name(), 0);
  return *be;
}

SamplerParams params(bool ollama) {
  SamplerParams p;
  p.mlx_order = !ollama;
  p.temperature = ollama ? 0.8f : 1.0f;
  p.top_k = ollama ? 40 : 0;
  p.top_p = ollama ? 0.9f : 1.0f;
  p.repeat_penalty = 1.1f;
  p.seed = 1;
  return p;
}

struct Inputs {
  Tensor logits;
  std::vector<int32_t> history;
};

Inputs inputs(int64_t rows) {
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 3.0f);
  Tensor host = make_host_tensor(DType::F32, {rows, kVocab});
  for (int64_t i = 0; i < host.numel(); ++i) host.ptr<float>()[i] = n(rng);
  Inputs in;
  in.logits = backend().load_tensor(host);
  for (int i = 0; i < 64; ++i) in.history.push_back(static_cast<int32_t>(rng() % kVocab));
  return in;
}

void BM_HostSample(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const Inputs in = inputs(rows);
  std::vector<Sampler> samplers(static_cast<size_t>(rows), Sampler(params(state.range(1) != 0)));
  std::vector<float> host;
  for (auto _ : state) {
    backend().to_host(in.logits, host);
    for (int64_t r = 0; r < rows; ++r)
      benchmark::DoNotOptimize(samplers[static_cast<size_t>(r)].sample(host.data() + r * kVocab, kVocab, in.history));
  }
  state.SetLabel(state.range(1) ? "ollama defaults" : "mlx order, no filter");
}

void BM_BackendSample(benchmark::State& state) {
  if (!backend().supports_sampling()) {
    state.SkipWithError("the default backend does not sample");
    return;
  }
  const int64_t rows = state.range(0);
  const Inputs in = inputs(rows);
  std::vector<Sampler> samplers(static_cast<size_t>(rows), Sampler(params(state.range(1) != 0)));
  std::vector<RowSampling> req(static_cast<size_t>(rows));
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) req[static_cast<size_t>(r)] = samplers[static_cast<size_t>(r)].backend_request(in.history);
    benchmark::DoNotOptimize(backend().sample_rows(in.logits, req));
  }
  state.SetLabel(state.range(1) ? "ollama defaults" : "mlx order, no filter");
}

BENCHMARK(BM_HostSample)->ArgsProduct({{1, 32}, {1, 0}})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_BackendSample)->ArgsProduct({{1, 4, 8, 16, 32}, {1, 0}})->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace ollmlx

BENCHMARK_MAIN();
