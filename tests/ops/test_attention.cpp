// Attention with the KV cache through the Backend interface, against a naive double-precision
// reference that keeps each sequence's full key/value history: many head layouts (GQA), causal
// and sliding-window masks, softcap, activation and cache dtypes, batches mixing prefill chunks
// and decode steps at different positions, rewinding, long ring-buffer runs. Plus exactness
// properties (batched == separate calls, chunked prefill == one-shot prefill) and error cases.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <tuple>

#include "reference.h"
#include "test_util.h"
#include "util/error.h"

namespace ollmlx::test {
namespace {

struct Pass {
  int slot;
  int32_t pos0;
  int32_t count;
};

BatchLayout layout_of(const std::vector<Pass>& passes) {
  BatchLayout b;
  int32_t begin = 0;
  for (const Pass& p : passes) {
    b.seqs.push_back({p.slot, begin, p.count, p.pos0});
    begin += p.count;
  }
  finalize_layout(b);
  return b;
}

// Drives a cache of several layers and checks every pass of every layer against the reference.
class Harness {
 public:
  Harness(Backend& be, const std::vector<AttentionParams>& layers, DType act, DType cache_dt,
          int max_seqs, int max_context, int max_chunk, uint64_t seed)
      : be_(be), layers_(layers), act_(act), cache_dt_(cache_dt), rng_(seed) {
    KvCacheSpec spec;
    for (const AttentionParams& p : layers)
      spec.layers.push_back({p.n_kv_heads, p.head_dim, p.window});
    spec.dtype = cache_dt;
    spec.max_seqs = max_seqs;
    spec.max_context = max_context;
    spec.max_chunk = max_chunk;
    cache_ = be.create_kv_cache(spec);
    hist_k_.resize(static_cast<size_t>(max_seqs));
    hist_v_.resize(static_cast<size_t>(max_seqs));
    for (int s = 0; s < max_seqs; ++s) {
      EXPECT_EQ(cache_->alloc_seq(), s);
      hist_k_[static_cast<size_t>(s)].resize(layers.size());
      hist_v_[static_cast<size_t>(s)].resize(layers.size());
    }
  }

  KvCache& cache() { return *cache_; }
  int32_t len(int slot) const { return cache_->seq_len(slot); }

  // One forward pass over all layers. Tolerance (per element of a row):
  //   vmax * (2 ds + (keys/2 + keys/16 + 16) 2^-24 + 2e-6) + ulp_act / 2
  // with ds = (head_dim/8 + 8) 2^-24 * max_j scale * sum_i |q_i k_ji| the float32 error bound of
  // a score (dot products in >= 4-lane partial sums; a softmax weight moves by at most about
  // twice the score errors), the second term the float32 accumulation of the weighted values over
  // the row's keys (a running sum, rescaled once per tile), 2e-6 for exp and the final division,
  // and half an ulp for rounding the output to the activation dtype.
  void pass(const std::vector<Pass>& passes, const std::string& what) {
    const BatchLayout batch = layout_of(passes);
    const int64_t T = batch.rows();
    for (size_t li = 0; li < layers_.size(); ++li) {
      const AttentionParams& p = layers_[li];
      const int64_t qw = int64_t{p.n_heads} * p.head_dim, kw = int64_t{p.n_kv_heads} * p.head_dim;
      const std::vector<float> q = round_dt(act_, normal_vec(rng_, static_cast<size_t>(T * qw)));
      const std::vector<float> k = round_dt(act_, normal_vec(rng_, static_cast<size_t>(T * kw)));
      const std::vector<float> v = round_dt(act_, normal_vec(rng_, static_cast<size_t>(T * kw)));
      be_.set_activation_dtype(act_);
      poison_arena(be_);
      const std::vector<float> got =
          to_vec(be_, be_.attention(act_tensor(q, T, qw), act_tensor(k, T, kw),
                                    act_tensor(v, T, kw), *cache_, batch, p));
      for (const SeqSpan& s : batch.seqs) {
        std::vector<float>& hk = hist_k_[static_cast<size_t>(s.slot)][li];
        std::vector<float>& hv = hist_v_[static_cast<size_t>(s.slot)][li];
        hk.resize(static_cast<size_t>(s.pos0 * kw));  // rewinding drops the later history
        hv.resize(static_cast<size_t>(s.pos0 * kw));
        const auto kb = k.begin() + s.begin * kw, vb = v.begin() + s.begin * kw;
        const std::vector<float> kr = round_dt(cache_dt_, {kb, kb + s.count * kw});
        const std::vector<float> vr = round_dt(cache_dt_, {vb, vb + s.count * kw});
        hk.insert(hk.end(), kr.begin(), kr.end());
        hv.insert(hv.end(), vr.begin(), vr.end());
        const std::vector<float> qs(q.begin() + s.begin * qw, q.begin() + (s.begin + s.count) * qw);
        std::vector<double> max_dot;
        const std::vector<double> ref = ref::attention(qs, s.pos0, s.count, hk, hv, p, &max_dot);
        const std::vector<float> g(got.begin() + s.begin * qw,
                                   got.begin() + (s.begin + s.count) * qw);
        double vmax = 0;
        for (float x : hv) vmax = std::max(vmax, double{std::fabs(x)});
        const double u = std::ldexp(1.0, -24);
        EXPECT_TRUE(all_close(
            g, ref,
            [&](size_t i) {
              const size_t r = i / static_cast<size_t>(qw);
              const int32_t pos = s.pos0 + static_cast<int32_t>(r);
              const double keys = p.window > 0 ? std::min(pos + 1, p.window) : pos + 1;
              const double ds = (p.head_dim / 8.0 + 8) * u * max_dot[r];
              return vmax * (2 * ds + (keys / 2 + keys / 16 + 16) * u + 2e-6) +
                     0.5 * ulp(act_, std::max(std::fabs(ref[i]), double{std::fabs(g[i])}));
            },
            what + " layer " + std::to_string(li) + " slot " + std::to_string(s.slot) + " pos0 " +
                std::to_string(s.pos0) + " count " + std::to_string(s.count)));
      }
    }
    for (const Pass& p : passes) cache_->set_len(p.slot, p.pos0 + p.count);
  }

 private:
  Backend& be_;
  std::vector<AttentionParams> layers_;
  DType act_, cache_dt_;
  Rng rng_;
  std::unique_ptr<KvCache> cache_;
  std::vector<std::vector<std::vector<float>>> hist_k_, hist_v_;  // [slot][layer][pos*kw]
};

AttentionParams params(int heads, int kv_heads, int hd, int window = 0, float softcap = 0.0f,
                       int layer = 0) {
  AttentionParams p;
  p.layer = layer;
  p.n_heads = heads;
  p.n_kv_heads = kv_heads;
  p.head_dim = hd;
  p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  p.window = window;
  p.softcap = softcap;
  return p;
}

std::string cfg_name(const AttentionParams& p, DType act, DType cdt) {
  return std::to_string(p.n_heads) + "/" + std::to_string(p.n_kv_heads) + "x" +
         std::to_string(p.head_dim) + " w" + std::to_string(p.window) + " cap" +
         std::to_string(static_cast<int>(p.softcap)) + " act " + dt_name(act) + " cache " +
         dt_name(cdt);
}

TEST(Attention, ShapesMasksDtypes) {
  auto be = create_backend("cpu", 2);
  const std::vector<std::tuple<int, int, int>> shapes = {
      {1, 1, 32}, {4, 2, 64}, {9, 3, 64}, {8, 1, 128}, {4, 4, 80}, {2, 1, 256}, {3, 3, 4}};
  const std::vector<std::pair<DType, DType>> dts = {{DType::F32, DType::F32},
                                                    {DType::BF16, DType::BF16},
                                                    {DType::F16, DType::F16},
                                                    {DType::F32, DType::BF16},
                                                    {DType::F32, DType::F16}};
  uint64_t seed = 100;
  for (auto [h, kvh, hd] : shapes) {
    for (int window : {0, 5, 64}) {
      for (float softcap : {0.0f, 30.0f}) {
        for (auto [act, cdt] : dts) {
          if (softcap > 0 && act != DType::F32) continue;  // softcap covered in f32 and bf16 below
          const AttentionParams p = params(h, kvh, hd, window, softcap);
          Harness hs(*be, {p}, act, cdt, 1, 512, 80, seed++);
          const std::string what = cfg_name(p, act, cdt);
          hs.pass({{0, 0, 70}}, what + " prefill");
          hs.pass({{0, 70, 1}}, what + " decode");
          hs.pass({{0, 71, 3}}, what + " small chunk");
          hs.pass({{0, 74, 1}}, what + " decode");
        }
      }
    }
  }
  const AttentionParams p = params(8, 4, 64, 0, 50.0f);
  Harness hs(*be, {p}, DType::BF16, DType::BF16, 1, 512, 80, seed++);
  hs.pass({{0, 0, 40}}, "softcap bf16");
  hs.pass({{0, 40, 1}}, "softcap bf16 decode");
}

// Large scores: the softmax must subtract the running max (exp would overflow otherwise).
TEST(Attention, LargeScoresStayFinite) {
  auto be = create_backend("cpu", 2);
  AttentionParams p = params(2, 1, 64);
  p.scale = 40.0f;  // scores of several hundred
  Harness hs(*be, {p}, DType::F32, DType::F32, 1, 512, 200, 7);
  hs.pass({{0, 0, 150}}, "large scores prefill");
  hs.pass({{0, 150, 1}}, "large scores decode");
}

// Several sequences per pass at different positions: prefill chunks, decode steps and rewinds.
// With a sliding-window layer (its ring wraps many times) a rewind may go back at most max_chunk
// positions behind the furthest position ever written (older rows of the ring are reused);
// full layers can rewind anywhere.
void mixed_batches(Backend& be, bool with_ring, DType act, DType cdt, uint64_t seed) {
  std::vector<AttentionParams> layers = {params(6, 2, 64, 0, 0.0f, 0)};
  if (with_ring) layers.push_back(params(6, 2, 64, 24, 0.0f, 1));
  const int max_chunk = 16;
  Harness hs(be, layers, act, cdt, 4, 1024, max_chunk, seed);
  Rng rng(seed + 1);
  std::vector<int32_t> furthest(4, 0);
  for (int step = 0; step < 60; ++step) {
    std::vector<Pass> passes;
    for (int slot = 0; slot < 4; ++slot) {
      if (rng.integer(0, 3) == 0) continue;  // not in this pass
      const int32_t len = hs.len(slot);
      const int32_t lowest =
          with_ring ? std::max(0, furthest[static_cast<size_t>(slot)] - max_chunk) : 0;
      const int64_t kind = rng.integer(0, 9);
      int32_t pos0 = len, count = 1;
      if (kind < 3) {
        count = static_cast<int32_t>(rng.integer(2, max_chunk));
      } else if (kind == 3 && len > lowest) {  // rewind
        pos0 = static_cast<int32_t>(rng.integer(lowest, len - 1));
        count = static_cast<int32_t>(rng.integer(1, max_chunk));
      }
      passes.push_back({slot, pos0, count});
      int32_t& f = furthest[static_cast<size_t>(slot)];
      f = std::max(f, pos0 + count);
    }
    if (passes.empty()) {
      passes.push_back({0, hs.len(0), 1});
      furthest[0] = std::max(furthest[0], hs.len(0) + 1);
    }
    hs.pass(passes, std::string("mixed ") + (with_ring ? "ring " : "") + dt_name(act) + " step " +
                        std::to_string(step));
  }
}

TEST(Attention, MixedBatchesChunksDecodeRewind) {
  auto be = create_backend("cpu", 2);
  uint64_t seed = 42;
  for (bool ring : {false, true}) {
    mixed_batches(*be, ring, DType::F32, DType::F32, seed++);
    mixed_batches(*be, ring, DType::BF16, DType::BF16, seed++);
    mixed_batches(*be, ring, DType::F16, DType::F32, seed++);
  }
}

TEST(Attention, SlidingWindowRingLongDecode) {
  auto be = create_backend("cpu", 2);
  for (DType cdt : {DType::F32, DType::BF16}) {
    const AttentionParams p = params(4, 1, 32, 16);
    Harness hs(*be, {p}, DType::F32, cdt, 1, 4096, 4, 77);  // ring of 20 rows
    hs.pass({{0, 0, 4}}, "ring prefill");
    hs.pass({{0, 4, 3}}, "ring chunk");
    for (int step = 0; step < 300; ++step)
      hs.pass({{0, hs.len(0), 1}}, "ring decode " + std::to_string(step));
    hs.pass({{0, hs.len(0) - 4, 4}}, "ring rewind by 4");
    hs.pass({{0, hs.len(0), 4}}, "ring chunk after rewind");
  }
}

// ---- exactness ------------------------------------------------------------------------------

struct Inputs {
  std::vector<float> q, k, v;
};
Inputs random_inputs(Rng& rng, int64_t T, const AttentionParams& p) {
  const auto qw = static_cast<size_t>(p.n_heads * p.head_dim);
  const auto kw = static_cast<size_t>(p.n_kv_heads * p.head_dim);
  return {normal_vec(rng, static_cast<size_t>(T) * qw),
          normal_vec(rng, static_cast<size_t>(T) * kw),
          normal_vec(rng, static_cast<size_t>(T) * kw)};
}

std::vector<float> run(Backend& be, KvCache& c, const std::vector<Pass>& passes, const Inputs& in,
                       const AttentionParams& p) {
  const BatchLayout b = layout_of(passes);
  const int64_t T = b.rows(), qw = int64_t{p.n_heads} * p.head_dim,
                kw = int64_t{p.n_kv_heads} * p.head_dim;
  be.begin_pass();
  std::vector<float> out = to_vec(be, be.attention(act_tensor(in.q, T, qw), act_tensor(in.k, T, kw),
                                                   act_tensor(in.v, T, kw), c, b, p));
  for (const Pass& ps : passes) c.set_len(ps.slot, ps.pos0 + ps.count);
  return out;
}

Inputs rows_of(const Inputs& in, int64_t r0, int64_t n, const AttentionParams& p) {
  const int64_t qw = int64_t{p.n_heads} * p.head_dim, kw = int64_t{p.n_kv_heads} * p.head_dim;
  return {{in.q.begin() + r0 * qw, in.q.begin() + (r0 + n) * qw},
          {in.k.begin() + r0 * kw, in.k.begin() + (r0 + n) * kw},
          {in.v.begin() + r0 * kw, in.v.begin() + (r0 + n) * kw}};
}

KvCacheSpec spec_for(const AttentionParams& p, int seqs, DType dt) {
  KvCacheSpec s;
  s.layers = {{p.n_kv_heads, p.head_dim, p.window}};
  s.dtype = dt;
  s.max_seqs = seqs;
  s.max_context = 2048;
  s.max_chunk = 300;
  return s;
}

TEST(AttentionExact, BatchedEqualsSeparateCalls) {
  auto be = create_backend("cpu", 2);
  Rng rng(5);
  for (int window : {0, 40}) {
    const AttentionParams p = params(9, 3, 64, window);
    auto a = be->create_kv_cache(spec_for(p, 3, DType::BF16));
    auto b = be->create_kv_cache(spec_for(p, 3, DType::BF16));
    for (int s = 0; s < 3; ++s) {
      a->alloc_seq();
      b->alloc_seq();
    }
    // Same histories: slot s gets 50 * s + 20 rows, then one mixed pass.
    for (int s = 0; s < 3; ++s) {
      const Inputs h = random_inputs(rng, 50 * s + 20, p);
      run(*be, *a, {{s, 0, 50 * s + 20}}, h, p);
      run(*be, *b, {{s, 0, 50 * s + 20}}, h, p);
    }
    const std::vector<Pass> mixed = {{2, 120, 1}, {0, 20, 33}, {1, 70, 5}};
    const Inputs in = random_inputs(rng, 39, p);
    const std::vector<float> batched = run(*be, *a, mixed, in, p);
    const int64_t qw = int64_t{p.n_heads} * p.head_dim;
    int64_t r0 = 0;
    for (const Pass& ps : mixed) {
      const std::vector<float> sep = run(*be, *b, {ps}, rows_of(in, r0, ps.count, p), p);
      EXPECT_EQ(0, std::memcmp(sep.data(), batched.data() + r0 * qw, sep.size() * sizeof(float)))
          << "slot " << ps.slot << " window " << window;
      r0 += ps.count;
    }
  }
}

TEST(AttentionExact, ChunkedPrefillEqualsOneShot) {
  auto be = create_backend("cpu", 2);
  Rng rng(6);
  for (int window : {0, 50}) {
    for (DType dt : {DType::F32, DType::F16}) {
      const AttentionParams p = params(4, 2, 64, window);
      auto whole = be->create_kv_cache(spec_for(p, 1, dt));
      auto parts = be->create_kv_cache(spec_for(p, 1, dt));
      whole->alloc_seq();
      parts->alloc_seq();
      const Inputs in = random_inputs(rng, 203, p);
      const std::vector<float> ref = run(*be, *whole, {{0, 0, 203}}, in, p);
      std::vector<float> got;
      int32_t pos = 0;
      for (int32_t n : {37, 1, 62, 1, 1, 100, 1}) {
        const std::vector<float> o = run(*be, *parts, {{0, pos, n}}, rows_of(in, pos, n, p), p);
        got.insert(got.end(), o.begin(), o.end());
        pos += n;
      }
      ASSERT_EQ(got.size(), ref.size());
      EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), got.size() * sizeof(float)))
          << "window " << window << " " << dt_name(dt);
    }
  }
}

// ---- errors ---------------------------------------------------------------------------------

template <typename F>
void expect_error(F&& f, const std::string& subsystem, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error (expected '" << text << "')";
  } catch (const Error& e) {
    EXPECT_EQ(e.subsystem(), subsystem) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(AttentionErrors, ContextOverflowGapsAndBadCalls) {
  auto be = create_backend("cpu", 2);
  Rng rng(8);
  const AttentionParams p = params(2, 1, 32);
  KvCacheSpec spec = spec_for(p, 2, DType::F32);
  spec.max_context = 300;
  auto c = be->create_kv_cache(spec);
  c->alloc_seq();
  run(*be, *c, {{0, 0, 290}}, random_inputs(rng, 290, p), p);
  run(*be, *c, {{0, 290, 10}}, random_inputs(rng, 10, p), p);  // exactly fills the context
  expect_error(
      [&] {
        run(*be, *c, {{0, 300, 1}}, random_inputs(rng, 1, p), p);
      },
      "kv_cache", "context of 300 tokens exceeded");
  expect_error(
      [&] {
        run(*be, *c, {{0, 295, 10}}, random_inputs(rng, 10, p), p);
      },
      "kv_cache", "context of 300 tokens exceeded");
  // A gap after the stored history, an unallocated slot, a slot twice in one batch.
  c->set_len(0, 100);
  expect_error(
      [&] {
        run(*be, *c, {{0, 101, 1}}, random_inputs(rng, 1, p), p);
      },
      "kv_cache", "100 are stored");
  expect_error(
      [&] {
        run(*be, *c, {{1, 0, 1}}, random_inputs(rng, 1, p), p);
      },
      "kv_cache", "not allocated");
  c->alloc_seq();
  expect_error(
      [&] {
        run(*be, *c, {{1, 0, 1}, {1, 1, 1}}, random_inputs(rng, 2, p), p);
      },
      "attention", "twice");
  // A layout whose positions disagree with its spans.
  BatchLayout bad = layout_of({{0, 100, 2}});
  bad.positions[1] = 105;
  const Inputs two = random_inputs(rng, 2, p);
  expect_error(
      [&] {
        be->attention(act_tensor(two.q, 2, 64), act_tensor(two.k, 2, 32), act_tensor(two.v, 2, 32),
                      *c, bad, p);
      },
      "attention", "position 105");
  // Parameters that do not match the cache's layer.
  AttentionParams wrong = p;
  wrong.window = 8;
  expect_error(
      [&] {
        run(*be, *c, {{0, 100, 1}}, random_inputs(rng, 1, wrong), wrong);
      },
      "attention", "window");
  wrong = p;
  wrong.layer = 1;
  expect_error(
      [&] {
        run(*be, *c, {{0, 100, 1}}, random_inputs(rng, 1, wrong), wrong);
      },
      "attention", "layer 1");
}

TEST(AttentionErrors, SlidingWindowLimits) {
  auto be = create_backend("cpu", 2);
  Rng rng(9);
  const AttentionParams p = params(2, 1, 32, 8);
  KvCacheSpec spec = spec_for(p, 1, DType::F32);
  spec.max_chunk = 4;
  auto c = be->create_kv_cache(spec);
  c->alloc_seq();
  expect_error(
      [&] {
        run(*be, *c, {{0, 0, 5}}, random_inputs(rng, 5, p), p);
      },
      "kv_cache", "chunk limit of 4");
  for (int32_t pos = 0; pos < 40; pos += 4)
    run(*be, *c, {{0, pos, 4}}, random_inputs(rng, 4, p), p);
  // Rewinding by max_chunk keeps the window's history; further back it is gone (ring of 12).
  run(*be, *c, {{0, 36, 1}}, random_inputs(rng, 1, p), p);
  c->set_len(0, 30);
  expect_error(
      [&] {
        run(*be, *c, {{0, 30, 1}}, random_inputs(rng, 1, p), p);
      },
      "kv_cache", "no longer stored");
}

// ---- cache bookkeeping ----------------------------------------------------------------------

TEST(KvCache, SlotsLazyAllocationGrowthAndRelease) {
  auto be = create_backend("cpu", 2);
  Rng rng(10);
  const AttentionParams full = params(4, 2, 64, 0, 0.0f, 0);
  const AttentionParams slide = params(4, 2, 64, 32, 0.0f, 1);
  KvCacheSpec spec;
  spec.layers = {{2, 64, 0}, {2, 64, 32}};
  spec.dtype = DType::BF16;
  spec.max_seqs = 2;
  spec.max_context = 600;
  spec.max_chunk = 64;
  auto c = be->create_kv_cache(spec);
  EXPECT_EQ(c->alloc_seq(), 0);
  EXPECT_EQ(c->alloc_seq(), 1);
  expect_error([&] { c->alloc_seq(); }, "kv_cache", "in use");
  EXPECT_EQ(c->seq_len(0), 0);
  EXPECT_EQ(c->bytes(), 0u);          // nothing written yet
  const size_t row = 2 * 64 * 2 * 2;  // k and v, 2 heads x 64 dims, bf16
  run(*be, *c, {{0, 0, 1}}, random_inputs(rng, 1, full), full);
  EXPECT_EQ(c->bytes(), 256 * row);
  run(*be, *c, {{0, 0, 1}}, random_inputs(rng, 1, slide), slide);
  EXPECT_EQ(c->bytes(), 256 * row + 96 * row);  // ring of window + max_chunk rows
  // Growth by 256 positions, capped at max_context.
  c->set_len(0, 1);
  for (int32_t pos = 1; pos < 600; pos += 64) {
    const int32_t n = std::min(64, 600 - pos);
    run(*be, *c, {{0, pos, n}}, random_inputs(rng, n, full), full);
    const int32_t want = std::min(600, (pos + n + 255) / 256 * 256);
    EXPECT_EQ(c->bytes(), static_cast<size_t>(want) * row + 96 * row) << pos;
  }
  c->free_seq(0);
  EXPECT_EQ(c->bytes(), 0u);
  EXPECT_EQ(c->alloc_seq(), 0);
  EXPECT_EQ(c->seq_len(0), 0);
  expect_error([&] { c->set_len(0, 601); }, "kv_cache", "context");
  c->free_seq(1);
  expect_error([&] { c->free_seq(1); }, "kv_cache", "not allocated");
}

// ---- timing -----------------------------------------------------------------------------------

// Prefill of 512 tokens for a SmolLM2-135M-like layer (9 heads x 64, 3 kv heads), and decode
// steps at context 512 and 4096; run with --gtest_also_run_disabled_tests to print times per
// layer: wall time with 2 threads and CPU time of a 1-thread backend (robust on a busy machine).
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}
double wall_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TEST(AttentionPerf, DISABLED_Prefill512) {
  Rng rng(11);
  const AttentionParams p = params(9, 3, 64);
  for (int threads : {2, 1}) {
    auto be = create_backend("cpu", threads);
    for (DType dt : {DType::F32, DType::BF16}) {
      KvCacheSpec spec = spec_for(p, 1, dt);
      spec.max_context = 4200;
      spec.max_chunk = 512;
      auto c = be->create_kv_cache(spec);
      c->alloc_seq();
      const Inputs in = random_inputs(rng, 512, p);
      const auto clock = threads == 1 ? cpu_ms : wall_ms;
      run(*be, *c, {{0, 0, 512}}, in, p);  // warm up
      const int reps = 10;
      double t0 = clock();
      for (int i = 0; i < reps; ++i) run(*be, *c, {{0, 0, 512}}, in, p);
      const double prefill = (clock() - t0) / reps;
      const Inputs one = random_inputs(rng, 1, p);
      t0 = clock();
      for (int i = 0; i < 100; ++i) run(*be, *c, {{0, 512, 1}}, one, p);
      const double dec512 = (clock() - t0) / 100;
      for (int32_t pos = 512; pos < 4096; pos += 512)
        run(*be, *c, {{0, pos, 512}}, random_inputs(rng, 512, p), p);
      t0 = clock();
      for (int i = 0; i < 100; ++i) run(*be, *c, {{0, 4096, 1}}, one, p);
      const double dec4k = (clock() - t0) / 100;
      std::printf(
          "%d thread(s), %s, %s cache: prefill 512 = %.2f ms/layer (x30 = %.0f ms); "
          "decode at 512 = %.3f ms, at 4096 = %.3f ms per layer\n",
          threads, threads == 1 ? "cpu time" : "wall", dt_name(dt), prefill, prefill * 30, dec512,
          dec4k);
    }
  }
}

}  // namespace
}  // namespace ollmlx::test
