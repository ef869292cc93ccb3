#include "parity_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "format/safetensors.h"
#include "util/error.h"

namespace ollmlx::test {

std::string fixtures_dir() {
  if (const char* e = std::getenv("OLLMLX_FIXTURES")) return e;
  const char* src = std::getenv("OLLMLX_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/fixtures/generated";
}

bool fixtures_required() {
  const char* e = std::getenv("OLLMLX_REQUIRE_FIXTURES");
  return e && std::string(e) == "1";
}

namespace {
template <typename T>
std::vector<T> read_vec(const format::SafetensorsFile& f, const std::string& name, DType want) {
  const format::TensorEntry* e = f.find(name);
  if (!e) return {};
  if (e->dtype != want) throw_error("test", "{}: tensor '{}' has dtype {}", f.path(), name, dtype_name(e->dtype));
  Tensor t = f.view(*e);
  std::vector<T> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data, t.nbytes());
  return v;
}
}  // namespace

std::vector<RefSequence> read_reference(const std::string& model_dir) {
  auto f = format::SafetensorsFile::open(model_dir + "/reference.safetensors");
  std::vector<RefSequence> out;
  for (int i = 0;; ++i) {
    const std::string s = std::to_string(i);
    if (!f->find("tokens." + s)) break;
    RefSequence r;
    r.tokens = read_vec<int32_t>(*f, "tokens." + s, DType::I32);
    const format::TensorEntry* le = f->find("logits." + s);
    if (!le || le->shape.size() != 2 || le->shape[0] != static_cast<int64_t>(r.tokens.size()))
      throw_error("test", "{}: logits.{} missing or of the wrong shape", f->path(), i);
    r.vocab = le->shape[1];
    r.logits = read_vec<float>(*f, "logits." + s, DType::F32);
    r.logits_f32 = read_vec<float>(*f, "logits_f32." + s, DType::F32);
    r.greedy = read_vec<int32_t>(*f, "greedy." + s, DType::I32);
    out.push_back(std::move(r));
  }
  return out;
}

RowDiff row_diff(const float* a, const float* b, int64_t n) {
  RowDiff d;
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    const double e = std::isfinite(x) ? std::fabs(x - y) : INFINITY;
    d.max_abs = std::max(d.max_abs, e);
    d.ref_scale = std::max(d.ref_scale, std::fabs(y));
  }
  return d;
}

}  // namespace ollmlx::test
