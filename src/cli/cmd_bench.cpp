// `ollmlx bench`: prompt processing (pp) and token generation (tg) throughput, measured like
// llama-bench: pp = one batch of -p random tokens into an empty cache; tg = -n tokens decoded one
// at a time from an empty cache (or after a -d token prompt); --parallel N adds an aggregate test:
// N sequences (each after a 16-token prompt) decoded together, one batched pass per step. Each
// test is repeated -r times; mean and standard deviation.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include "cli/client.h"
#include "cli/commands.h"
#include "engine/batch_runner.h"
#include "engine/generate.h"
#include "util/error.h"
#include "util/sysinfo.h"

namespace ollmlx::cli {
namespace {
struct BenchArgs {
  std::string model, device;
  int n_prompt = 512, n_gen = 128, reps = 3, threads = 0, depth = 0, parallel = 0;
  bool host_argmax = false;  // --host-argmax: the parallel test copies all logits and picks on the host
  bool no_pipeline = false;  // --no-pipeline: wait for each step's ids before building the next
  std::string kv_cache_type = "f16";  // --kv-cache-type: f16 (the model's dtype) or q8_0 (cuda)
  bool json = false;
};

struct Stat {
  double mean = 0, sd = 0;
};
Stat stats(const std::vector<double>& v) {
  Stat s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / static_cast<double>(v.size() - 1)) : 0;
  return s;
}

std::string human_bytes(double b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    ++i;
  }
  return fmt::format("{:.2f} {}", b, u[i]);
}

// `n` greedy decode steps of the sequences in `slots` (one row each, inputs `next`, which ends
// holding the last step's ids). Pipelined (a backend with supports_pipelined_decode, as the batch
// runner decodes there): step i+1 is submitted on step i's ids before those are read.
void decode_steps(Model& model, KvCache& cache, const std::vector<int>& slots, std::vector<int32_t>& next, int n,
                  bool pipeline) {
  auto batch = [&] {
    ForwardBatch b;
    for (size_t k = 0; k < slots.size(); ++k) {
      const auto row = static_cast<int32_t>(k);
      b.layout.seqs.push_back({slots[k], row, 1, cache.seq_len(slots[k])});
      b.logit_rows.push_back(row);
    }
    finalize_layout(b.layout);
    b.argmax_only = true;  // greedy, as a server decoding at temperature 0
    return b;
  };
  Logits cur, following;
  for (int i = 0; i < n; ++i) {
    if (!pipeline) {
      ForwardBatch b = batch();
      b.tokens = next;
      model.forward(b, cache, cur);
      next = cur.argmax;
      continue;
    }
    if (i == 0) {
      ForwardBatch b = batch();
      b.tokens = next;
      b.argmax_async = true;
      model.forward(b, cache, cur);
    }
    if (i + 1 < n) {
      ForwardBatch b = batch();
      b.token_ids = cur.pending_ids;
      b.argmax_async = true;
      model.forward(b, cache, following);
    }
    next = model.backend().read_ids(cur.pending_ids);
    std::swap(cur, following);
  }
}

void run_bench(const BenchArgs& a) {
  using Clock = std::chrono::steady_clock;
  if (a.host_argmax && a.parallel <= 0) throw CliError("--host-argmax applies to the --parallel test");
  int threads = resolve_threads(a.threads);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto backend = create_backend(resolve_device(a.device), threads);
  auto model = load_model(a.model, *backend);
  const bool pipeline = !a.no_pipeline && backend->supports_pipelined_decode();
  const ModelInfo& info = model->info();
  constexpr int kParallelPrompt = 16;
  const int ctx = std::max({a.n_prompt, a.depth + a.n_gen, kParallelPrompt + a.n_gen}) + 1;
  const int slots = std::max(1, a.parallel);
  KvCacheSpec spec = model->kv_spec(slots, ctx, std::max({a.n_prompt, a.depth, kParallelPrompt, 1}));
  spec.q8_0 = kv_cache_type_is_q8(a.kv_cache_type);
  auto cache = backend->create_kv_cache(spec);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(info.vocab - 1));
  std::vector<double> pp, tg, tgp;
  std::vector<double> tgp_pick_share;  // share of the parallel decode spent choosing tokens on the host
  size_t kv_bytes = 0;
  Logits logits;
  // Warm-up (page in the weights, size the arenas), not timed.
  {
    const int slot = cache->alloc_seq();
    std::vector<int32_t> t(static_cast<size_t>(std::min(a.n_prompt, 32)) + 1);
    for (auto& x : t) x = tok(rng);
    prefill(*model, *cache, slot, t, a.n_prompt, nullptr, &logits);
    cache->free_seq(slot);
  }
  for (int r = 0; r < a.reps && a.n_prompt > 0; ++r) {
    const int slot = cache->alloc_seq();
    std::vector<int32_t> t(static_cast<size_t>(a.n_prompt));
    for (auto& x : t) x = tok(rng);
    const auto t0 = Clock::now();
    prefill(*model, *cache, slot, t, a.n_prompt, nullptr, &logits);
    pp.push_back(a.n_prompt / std::chrono::duration<double>(Clock::now() - t0).count());
    kv_bytes = std::max(kv_bytes, cache->bytes());
    cache->free_seq(slot);
  }
  for (int r = 0; r < a.reps && a.n_gen > 0; ++r) {
    const int slot = cache->alloc_seq();
    int32_t next = tok(rng);
    if (a.depth > 0) {  // the context decoding starts from (not timed)
      std::vector<int32_t> t(static_cast<size_t>(a.depth));
      for (auto& x : t) x = tok(rng);
      prefill(*model, *cache, slot, t, a.depth, nullptr, &logits);
      next = argmax(logits.data.data(), logits.vocab);
    }
    const auto t0 = Clock::now();
    std::vector<int32_t> ids = {next};
    decode_steps(*model, *cache, {slot}, ids, a.n_gen, pipeline);
    tg.push_back(a.n_gen / std::chrono::duration<double>(Clock::now() - t0).count());
    kv_bytes = std::max(kv_bytes, cache->bytes());
    cache->free_seq(slot);
  }
  for (int r = 0; r < a.reps && a.n_gen > 0 && a.parallel > 0; ++r) {
    std::vector<int> seqs;
    std::vector<int32_t> next;
    for (int i = 0; i < a.parallel; ++i) {
      seqs.push_back(cache->alloc_seq());
      std::vector<int32_t> t(kParallelPrompt);
      for (auto& x : t) x = tok(rng);
      prefill(*model, *cache, seqs.back(), t, kParallelPrompt, nullptr, &logits);
      next.push_back(argmax(logits.data.data(), logits.vocab));
    }
    const auto t0 = Clock::now();
    double pick_s = 0;  // host-side token choice (argmax over the logits), for the breakdown
    if (!a.host_argmax) decode_steps(*model, *cache, seqs, next, a.n_gen, pipeline);
    for (int i = 0; i < a.n_gen && a.host_argmax; ++i) {
      ForwardBatch b;
      for (size_t k = 0; k < seqs.size(); ++k) {
        const auto row = static_cast<int32_t>(k);
        b.tokens.push_back(next[k]);
        b.layout.seqs.push_back({seqs[k], row, 1, cache->seq_len(seqs[k])});
        b.logit_rows.push_back(row);
      }
      finalize_layout(b.layout);
      model->forward(b, *cache, logits);
      const auto p0 = Clock::now();
      for (size_t k = 0; k < seqs.size(); ++k) next[k] = argmax(logits.row(static_cast<int64_t>(k)), logits.vocab);
      pick_s += std::chrono::duration<double>(Clock::now() - p0).count();
    }
    tgp_pick_share.push_back(pick_s / std::chrono::duration<double>(Clock::now() - t0).count());
    tgp.push_back(static_cast<double>(a.parallel) * a.n_gen /
                  std::chrono::duration<double>(Clock::now() - t0).count());
    kv_bytes = std::max(kv_bytes, cache->bytes());
    for (int s : seqs) cache->free_seq(s);
  }
  const uint64_t rss = peak_rss_bytes();
  const std::string name = a.model.substr(a.model.find_last_of('/') == std::string::npos ? 0 : a.model.find_last_of('/') + 1);
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"architecture", info.architecture},
                        {"quantization", info.quantization},
                        {"backend", backend->name()},
                        {"pipelined", pipeline},
                        {"threads", threads},
                        {"n_params", info.n_params},
                        {"weights_bytes", info.weight_bytes},
                        {"kv_cache_bytes", kv_bytes},
                        {"kv_cache_type", a.kv_cache_type},
                        {"peak_rss_bytes", rss}};
    if (!pp.empty()) {
      Stat s = stats(pp);
      j["pp"] = {{"tokens", a.n_prompt}, {"tokens_per_s", s.mean}, {"stddev", s.sd}, {"samples", pp}};
    }
    if (!tg.empty()) {
      Stat s = stats(tg);
      j["tg"] = {{"tokens", a.n_gen}, {"depth", a.depth}, {"tokens_per_s", s.mean}, {"stddev", s.sd},
                 {"samples", tg}};
    }
    if (!tgp.empty()) {
      Stat s = stats(tgp);
      j["tg_parallel"] = {{"sequences", a.parallel}, {"tokens", a.n_gen}, {"tokens_per_s", s.mean},
                          {"stddev", s.sd}, {"samples", tgp}, {"host_argmax_share", tgp_pick_share}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("| model | quant | size | params | backend | threads | test | t/s |\n");
  std::printf("| --- | --- | ---: | ---: | --- | ---: | --- | ---: |\n");
  auto row = [&](const std::string& test, const std::vector<double>& v) {
    Stat s = stats(v);
    std::printf("| %s | %s | %s | %.2f M | %s | %d | %s | %.2f ± %.2f |\n", name.c_str(),
                info.quantization.c_str(), human_bytes(static_cast<double>(info.weight_bytes)).c_str(),
                static_cast<double>(info.n_params) / 1e6, backend->name().c_str(), threads, test.c_str(),
                s.mean, s.sd);
  };
  if (!pp.empty()) row(fmt::format("pp{}", a.n_prompt), pp);
  if (!tg.empty()) row(a.depth > 0 ? fmt::format("tg{} @ d{}", a.n_gen, a.depth) : fmt::format("tg{}", a.n_gen), tg);
  if (!tgp.empty()) row(fmt::format("tg{} x{} seqs (aggregate)", a.n_gen, a.parallel), tgp);
  if (pipeline) std::printf("\ndecode pipelined (step N+1 submitted before step N's ids are read; --no-pipeline: off)\n");
  std::printf("\npeak RSS %s (weights %s, KV cache %s)\n", human_bytes(static_cast<double>(rss)).c_str(),
              human_bytes(static_cast<double>(info.weight_bytes)).c_str(),
              human_bytes(static_cast<double>(kv_bytes)).c_str());
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt processing and generation speed");
  cmd->add_option("--model,-m", args->model, "MLX model directory")->required();
  cmd->add_option("-p,--n-prompt", args->n_prompt, "Prompt tokens for the pp test (default 512)");
  cmd->add_option("-n,--n-gen", args->n_gen, "Generated tokens for the tg test (default 128)");
  cmd->add_option("-r,--repetitions", args->reps, "Repetitions of each test (default 3)")->check(CLI::PositiveNumber);
  cmd->add_option("-t,--threads", args->threads, "CPU threads (default: all cores)");
  cmd->add_option("--device", args->device, "Backend (default: OLLMLX_DEVICE or cpu)");
  cmd->add_flag("--host-argmax", args->host_argmax,
                "In the --parallel test, copy every logit to the host and pick tokens there "
                "(the comparison for the backend's own argmax)");
  cmd->add_option("--kv-cache-type", args->kv_cache_type, "KV cache storage: f16 (the model's dtype) or q8_0 (cuda only)");
  cmd->add_flag("--no-pipeline", args->no_pipeline,
                "Decode without pipelining on a backend that pipelines (mlx): wait for each step's "
                "tokens before building the next step");
  cmd->add_option("-d,--depth", args->depth, "Prompt tokens in the cache before the tg test (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--parallel", args->parallel,
                  "Also decode N sequences together and report the aggregate tokens/s (default: off)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", args->json, "Print JSON instead of a table");
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace ollmlx::cli
