// Helpers of the model parity tests: locating the generated fixtures (tools/prepare_test_data.sh)
// and reading their reference.safetensors (tokens.<i>, logits.<i>, logits_f32.<i>, greedy.<i>).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ollmlx::test {

// $OLLMLX_FIXTURES, else <source>/tests/fixtures/generated.
std::string fixtures_dir();
// True when the run must fail on missing fixtures (OLLMLX_REQUIRE_FIXTURES=1, set by the test script).
bool fixtures_required();

struct RefSequence {
  std::vector<int32_t> tokens;
  std::vector<float> logits;      // [L, vocab] as the model computes in its dtype (MLX CPU)
  std::vector<float> logits_f32;  // [L, vocab] same weights computed in float32 (may be empty)
  std::vector<int32_t> greedy;    // greedy continuation (may be empty)
  int64_t vocab = 0;
};

// Reads every sequence of <dir>/reference.safetensors.
std::vector<RefSequence> read_reference(const std::string& model_dir);

// Largest |a - b| over a row, and the largest |b| of the row.
struct RowDiff {
  double max_abs = 0;
  double ref_scale = 0;
};
RowDiff row_diff(const float* a, const float* b, int64_t n);

}  // namespace ollmlx::test
