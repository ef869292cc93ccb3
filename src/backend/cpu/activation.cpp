// Gated activations of the MLP on the CPU: out = act(gate) * up with act = SiLU or tanh-GELU,
// in float32 (the backend glue rounds to the activation dtype). Vectorised with Highway
// (runtime dispatch); exp/tanh come from Highway's contrib math (~1-4 ulp). Written so that no
// input overflows an intermediate: sigmoid(g) uses exp(-|g|) <= 1.
#include "backend/cpu/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/activation.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format off
#include "hwy/contrib/math/math-inl.h"  // after highway.h: per-target Exp/Tanh
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace ollmlx::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

namespace {  // per-target helpers; names must not collide with other kernels' targets

// g * sigmoid(g): e = exp(-|g|); sigmoid = 1/(1+e) for g >= 0, e/(1+e) otherwise.
HWY_INLINE VF SiluV(DF d, VF g) {
  const VF one = hn::Set(d, 1.0f);
  const VF e = hn::Exp(d, hn::Neg(hn::Abs(g)));
  const VF num = hn::IfThenElse(hn::Ge(g, hn::Zero(d)), one, e);
  return hn::Mul(g, hn::Div(num, hn::Add(one, e)));
}

// 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
HWY_INLINE VF GeluTanhV(DF d, VF g) {
  const VF c = hn::Set(d, 0.7978845608028654f);
  const VF g3 = hn::Mul(hn::Mul(g, g), g);
  VF u = hn::Mul(c, hn::MulAdd(hn::Set(d, 0.044715f), g3, g));
  // tanh(+-10) is +-1 in float32; clamping keeps huge |g| (g^3 = inf) away from inf/inf.
  u = hn::Min(hn::Max(u, hn::Set(d, -10.0f)), hn::Set(d, 10.0f));
  const VF t = hn::Tanh(d, u);
  return hn::Mul(hn::Mul(hn::Set(d, 0.5f), g), hn::Add(hn::Set(d, 1.0f), t));
}

}  // namespace

void GatedAct(const float* gate, const float* up, int64_t n, bool silu, float* out) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF g = hn::LoadU(d, gate + i);
    const VF a = silu ? SiluV(d, g) : GeluTanhV(d, g);
    hn::StoreU(hn::Mul(a, hn::LoadU(d, up + i)), d, out + i);
  }
  if (i < n) {  // tail through a zero-padded vector
    HWY_ALIGN float g_buf[hn::MaxLanes(DF())] = {};
    HWY_ALIGN float u_buf[hn::MaxLanes(DF())] = {};
    for (int64_t j = i; j < n; ++j) {
      g_buf[j - i] = gate[j];
      u_buf[j - i] = up[j];
    }
    const VF g = hn::Load(d, g_buf);
    const VF a = silu ? SiluV(d, g) : GeluTanhV(d, g);
    hn::Store(hn::Mul(a, hn::Load(d, u_buf)), d, g_buf);
    for (int64_t j = i; j < n; ++j) out[j] = g_buf[j - i];
  }
}

}  // namespace ollmlx::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ollmlx::cpu {

HWY_EXPORT(GatedAct);

void gated_act(ThreadPool& pool, const float* gate, const float* up, int64_t n, Activation act,
               float* out) {
  const bool silu = act == Activation::Silu;
  pool.parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(GatedAct)(gate + b, up + b, e - b, silu, out + b);
  });
}

}  // namespace ollmlx::cpu
#endif  // HWY_ONCE
