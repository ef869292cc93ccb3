// Parity of every architecture's model code (llama, mistral, qwen2, qwen3, phi3, gemma2,
// gemma3_text, gemma3) and quantization mode with mlx-lm on tiny random models written by the real
// mlx-lm (tools/make_parity_fixtures.py): every position's logits within tolerance, the same
// argmax everywhere, the same 32-token greedy continuation (also with prefill chunks of 3 rows,
// so sliding-window layers' rotating KV caches wrap many times); a float32 run against mlx-lm's
// float32 run of the same weights; and batched decoding (several sequences at different positions
// in one pass, rings wrapping) equal to separate runs, bit for bit. One test per fixture case and
// check, registered from the fixtures' manifest.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/generate.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "parity_util.h"
#include "sample/sampler.h"

namespace ollmlx::test {
namespace {

namespace fs = std::filesystem;

// Tolerances. Errors are measured per position as max|diff| / max(1, max|reference logit|).
//  - float32 run against mlx-lm's float32 run of the same weights: only summation order
//    differs; 5e-5 covers a few float32 roundings per op compounded over a 30-layer model.
//  - run in the model's dtype (bf16/f16) against mlx-lm's run in that dtype: MLX on the CPU
//    rounds to bf16/f16 after every op and even accumulates some reductions in that dtype, so
//    its own result is far from the float32 truth (up to ~10% on these fixtures for bf16). The
//    fixtures carry that truth (logits_f32), so the bound is derived from MLX's own arithmetic:
//    with e_mlx = MLX's worst deviation from float32 over the fixture's sequences, ollmlx
//    (which rounds at the same op boundaries, so has rounding noise of the same size) must
//    satisfy |ours - truth| <= 1.5 e_mlx + floor, and then by the triangle inequality
//    |ours - mlx| <= 2.5 e_mlx + floor. The floor (2^-8, one bf16 rounding) covers fixtures
//    where MLX happens to be nearly exact.
constexpr double kF32Tolerance = 5e-5;
constexpr double kRoundingFloor = 1.0 / 256;

double rel_error(const float* got, const float* ref, int64_t n) {
  RowDiff d = row_diff(got, ref, n);
  return d.max_abs / std::max(1.0, d.ref_scale);
}

struct Loaded {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
};

Loaded load(const std::string& dir, std::optional<DType> act = std::nullopt) {
  Loaded l;
  l.backend = create_backend("cpu", 2);
  ModelOptions opt;
  opt.activation_dtype = act;
  l.model = load_model(dir, *l.backend, opt);
  return l;
}

Logits all_logits(Model& m, const std::vector<int32_t>& tokens, int chunk = 512) {
  auto cache = m.backend().create_kv_cache(m.kv_spec(1, static_cast<int>(tokens.size()) + 64, 512));
  const int slot = cache->alloc_seq();
  Logits out;
  prefill(m, *cache, slot, tokens, chunk, &out, nullptr);
  return out;
}

void check_logits(const std::string& dir, bool high_precision) {
  const auto refs = read_reference(dir);
  ASSERT_FALSE(refs.empty());
  Loaded l = load(dir, high_precision ? std::optional<DType>(DType::F32) : std::nullopt);
  // A float32 model is compared at the float32 tolerance -- unless part of it (gemma3's float16
  // residual stream) rounds to a narrower dtype, which makes it a reduced-precision model.
  const bool f32_model = l.model->info().activation_dtype == DType::F32 && !l.model->info().residual_dtype;
  // MLX's own deviation from float32 over all sequences (0 when the reference is float32).
  const bool have_truth = !high_precision && !f32_model && !refs[0].logits_f32.empty();
  double e_mlx = 0;
  for (const RefSequence& r : refs) {
    if (!have_truth) break;
    for (size_t p = 0; p < r.tokens.size(); ++p)
      e_mlx = std::max(e_mlx, rel_error(r.logits.data() + p * r.vocab, r.logits_f32.data() + p * r.vocab, r.vocab));
  }
  // Without a float32 truth, a reduced-precision model (Gemma-3-270M: float16 residual stream
  // clamped at +-65504, which changes the result, so an all-float32 run is no truth) is held to
  // the rounding floor against mlx-lm directly.
  const double tol_mlx = have_truth ? 2.5 * e_mlx + kRoundingFloor : f32_model ? kF32Tolerance : kRoundingFloor;
  const double tol_truth = 1.5 * e_mlx + kRoundingFloor;
  double worst_vs_mlx = 0, worst_vs_truth = 0;
  for (size_t s = 0; s < refs.size(); ++s) {
    const RefSequence& r = refs[s];
    const std::vector<float>& ref = high_precision ? r.logits_f32 : r.logits;
    if (ref.empty()) GTEST_SKIP() << "no float32 reference in this fixture";
    ASSERT_EQ(l.model->info().vocab, r.vocab);
    Logits got = all_logits(*l.model, r.tokens);
    ASSERT_EQ(got.rows, static_cast<int64_t>(r.tokens.size()));
    const int64_t V = r.vocab;
    for (int64_t p = 0; p < got.rows; ++p) {
      const float* g = got.row(p);
      const float* e = ref.data() + p * V;
      const double err = rel_error(g, e, V);
      worst_vs_mlx = std::max(worst_vs_mlx, err);
      EXPECT_LE(err, tol_mlx) << "sequence " << s << " position " << p;
      if (have_truth) {
        const double et = rel_error(g, r.logits_f32.data() + p * V, V);
        worst_vs_truth = std::max(worst_vs_truth, et);
        EXPECT_LE(et, tol_truth) << "sequence " << s << " position " << p << ": less accurate than MLX";
      }
      EXPECT_EQ(argmax(g, V), argmax(e, V)) << "sequence " << s << " position " << p;
    }
  }
  std::printf("[ parity ] %-24s %-6s vs mlx-lm %.3g (tol %.3g), vs float32 %.3g (tol %.3g), mlx-lm vs float32 %.3g\n",
              fs::path(dir).filename().c_str(), high_precision ? "f32" : "native", worst_vs_mlx, tol_mlx,
              worst_vs_truth, tol_truth, e_mlx);
}

// max_chunk: the most rows one pass may add per sequence; the prompt is prefilled in chunks of that
// size, and a sliding-window layer's ring holds window + max_chunk positions, so a small value
// makes the rings wrap (mlx-lm's RotatingKVCache semantics must hold whatever the chunking).
void check_greedy(const std::string& dir, int max_chunk = 512) {
  const auto refs = read_reference(dir);
  Loaded l = load(dir);
  if (max_chunk < 512 && l.model->info().pass_dependent)
    GTEST_SKIP() << "dynamic NTK RoPE: the reference's split of the prompt into passes is part of "
                    "the result (see Greedy32)";
  for (size_t s = 0; s < refs.size(); ++s) {
    const RefSequence& r = refs[s];
    if (r.greedy.empty()) continue;
    auto cache = l.backend->create_kv_cache(l.model->kv_spec(1, 256, max_chunk));
    const int slot = cache->alloc_seq();
    Sampler greedy(SamplerParams{});
    GenerateOptions opt;
    opt.max_tokens = static_cast<int>(r.greedy.size());
    GenerateResult g = generate(*l.model, *cache, slot, r.tokens, greedy, opt);
    EXPECT_EQ(g.tokens, r.greedy) << "sequence " << s;
  }
}

// Sequences advance through one shared pass each step with different chunk sizes (prefill chunks
// and single-token steps mixed); every row's logits must equal the separate run bit for bit.
void check_batched(const std::string& dir) {
  const auto refs = read_reference(dir);
  Loaded l = load(dir);
  if (l.model->info().pass_dependent)
    GTEST_SKIP() << "dynamic NTK RoPE depends on each pass's length by definition (mlx-lm), so "
                    "results depend on how a sequence is split into passes";
  Model& m = *l.model;
  std::vector<Logits> single;
  for (const auto& r : refs) single.push_back(all_logits(m, r.tokens));
  const int n = static_cast<int>(refs.size());
  // Chunks of at most 13 rows: sliding-window rings (window + 13 positions) wrap within the
  // fixtures' sequences.
  auto cache = l.backend->create_kv_cache(m.kv_spec(n, 256, 13));
  std::vector<int> slots;
  for (int i = 0; i < n; ++i) slots.push_back(cache->alloc_seq());
  std::vector<size_t> done(static_cast<size_t>(n), 0);
  const int sizes[] = {1, 5, 13, 1, 2};
  for (int pass = 0;; ++pass) {
    ForwardBatch b;
    std::vector<std::pair<int, size_t>> row_src;  // (sequence, position) of each row
    for (int i = 0; i < n; ++i) {
      const auto& toks = refs[static_cast<size_t>(i)].tokens;
      if (done[static_cast<size_t>(i)] == toks.size()) continue;
      const size_t take = std::min<size_t>(toks.size() - done[static_cast<size_t>(i)], static_cast<size_t>(sizes[(pass + i) % 5]));
      SeqSpan s{slots[static_cast<size_t>(i)], static_cast<int32_t>(b.tokens.size()), static_cast<int32_t>(take),
                static_cast<int32_t>(done[static_cast<size_t>(i)])};
      b.layout.seqs.push_back(s);
      for (size_t k = 0; k < take; ++k) {
        b.logit_rows.push_back(static_cast<int32_t>(b.tokens.size()));
        b.tokens.push_back(toks[done[static_cast<size_t>(i)] + k]);
        row_src.push_back({i, done[static_cast<size_t>(i)] + k});
      }
      done[static_cast<size_t>(i)] += take;
    }
    if (b.tokens.empty()) break;
    finalize_layout(b.layout);
    Logits out;
    m.forward(b, *cache, out);
    for (size_t row = 0; row < row_src.size(); ++row) {
      const auto [seq, pos] = row_src[row];
      const float* want = single[static_cast<size_t>(seq)].row(static_cast<int64_t>(pos));
      ASSERT_EQ(0, std::memcmp(out.row(static_cast<int64_t>(row)), want, static_cast<size_t>(out.vocab) * sizeof(float)))
          << "pass " << pass << ": sequence " << seq << " position " << pos
          << " differs from the separate run";
    }
  }
}

class Fn : public ::testing::Test {
 public:
  explicit Fn(std::function<void()> f) : f_(std::move(f)) {}
  void TestBody() override { f_(); }

 private:
  std::function<void()> f_;
};

// A prompt longer than a sliding window (long.safetensors: tokens.0 and mlx-lm's greedy.0, run
// with its RotatingKVCache): the same greedy continuation, prefilled in 512-row chunks and again in
// 100-row chunks (the rings wrap mid-prompt).
void check_long_greedy(const std::string& dir) {
  auto f = format::SafetensorsFile::open(dir + "/long.safetensors");
  auto read_i32 = [&](const std::string& name) {
    const format::TensorEntry* e = f->find(name);
    if (!e || e->dtype != DType::I32) throw std::runtime_error(dir + ": missing int32 " + name);
    Tensor t = f->view(*e);
    return std::vector<int32_t>(t.ptr<const int32_t>(), t.ptr<const int32_t>() + t.numel());
  };
  const std::vector<int32_t> tokens = read_i32("tokens.0"), want = read_i32("greedy.0");
  Loaded l = load(dir);
  for (int chunk : {512, 100}) {
    auto cache = l.backend->create_kv_cache(
        l.model->kv_spec(1, static_cast<int>(tokens.size() + want.size()) + 8, chunk));
    Sampler greedy(SamplerParams{});
    GenerateOptions opt;
    opt.max_tokens = static_cast<int>(want.size());
    GenerateResult g = generate(*l.model, *cache, cache->alloc_seq(), tokens, greedy, opt);
    EXPECT_EQ(g.tokens, want) << "prompt of " << tokens.size() << " tokens, chunks of " << chunk;
  }
}

// Real models converted from GGUF files shipped by PyPI packages, with mlx-lm's logits and greedy
// continuations on the converted directories: SmolLM2-135M-Instruct (Q4_1, tools/gguf_to_mlx.py,
// llama) and Gemma-3-270M (Q4_K_M, tools/make_gemma3_golden.py, gemma3_text).
void register_golden(const std::string& suite, const std::string& sub, bool long_prompt) {
  const std::string dir = fixtures_dir() + "/" + sub;
  if (!fs::exists(dir + "/reference.safetensors")) {
    ::testing::RegisterTest(suite.c_str(), "FixturesPresent", nullptr, nullptr, __FILE__, __LINE__,
                            [dir]() -> ::testing::Test* {
                              return new Fn([dir] {
                                if (fixtures_required()) FAIL() << "missing " << dir << " (run tools/prepare_test_data.sh)";
                                GTEST_SKIP() << "missing " << dir;
                              });
                            });
    return;
  }
  auto add = [&](const char* check, std::function<void()> f) {
    ::testing::RegisterTest(suite.c_str(), check, nullptr, nullptr, __FILE__, __LINE__,
                            [f]() -> ::testing::Test* { return new Fn(f); });
  };
  add("Logits", [dir] { check_logits(dir, false); });
  add("Greedy32", [dir] { check_greedy(dir); });
  add("BatchedEqualsSeparate", [dir] { check_batched(dir); });
  if (long_prompt) add("LongPromptGreedy32", [dir] { check_long_greedy(dir); });
}

void register_tests() {
  register_golden("Golden/SmolLM2", "smollm2", false);
  register_golden("Golden/Gemma3_270M", "gemma3_270m", true);
  const std::string root = fixtures_dir() + "/parity";
  const std::string manifest = root + "/manifest.json";
  if (!fs::exists(manifest)) {
    ::testing::RegisterTest("Parity", "FixturesPresent", nullptr, nullptr, __FILE__, __LINE__,
                            [manifest]() -> ::testing::Test* {
                              return new Fn([manifest] {
                                if (fixtures_required()) FAIL() << "missing " << manifest << " (run tools/prepare_test_data.sh)";
                                GTEST_SKIP() << "missing " << manifest << " (run tools/prepare_test_data.sh)";
                              });
                            });
    return;
  }
  nlohmann::json j = nlohmann::json::parse(std::ifstream(manifest));
  for (const auto& c : j.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    const std::string dir = root + "/" + name;
    auto add = [&](const char* check, std::function<void()> f) {
      ::testing::RegisterTest(("Parity/" + name).c_str(), check, nullptr, nullptr, __FILE__, __LINE__,
                              [f]() -> ::testing::Test* { return new Fn(f); });
    };
    add("Logits", [dir] { check_logits(dir, false); });
    add("LogitsFloat32", [dir] { check_logits(dir, true); });
    add("Greedy32", [dir] { check_greedy(dir); });
    add("Greedy32SmallChunks", [dir] { check_greedy(dir, 3); });
    add("BatchedEqualsSeparate", [dir] { check_batched(dir); });
  }
}

}  // namespace
}  // namespace ollmlx::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ollmlx::test::register_tests();
  return RUN_ALL_TESTS();
}
