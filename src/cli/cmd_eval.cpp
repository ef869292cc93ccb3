// `ollmlx eval`: runs token ids through a model and prints the top-K raw logits of every
// position as JSON -- the tool for checking ollmlx against another implementation.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "cli/commands.h"
#include "engine/generate.h"
#include "util/error.h"

namespace ollmlx::cli {
namespace {
struct EvalArgs {
  std::string model, tokens, device, act_dtype;
  int top_k = 5;
  int threads = 0;
};

DType parse_act(const std::string& s) {
  if (s.empty()) return DType::F32;
  if (s == "f32" || s == "float32") return DType::F32;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "f16" || s == "float16") return DType::F16;
  throw_error("cli", "unknown activation dtype '{}' (f32, bf16 or f16)", s);
}

void run_eval(const EvalArgs& a) {
  const std::vector<int32_t> tokens = parse_token_list(a.tokens);
  auto backend = create_backend(resolve_device(a.device), resolve_threads(a.threads));
  ModelOptions opt;
  if (!a.act_dtype.empty()) opt.activation_dtype = parse_act(a.act_dtype);
  auto model = load_model(a.model, *backend, opt);
  const int n = static_cast<int>(tokens.size());
  auto cache = backend->create_kv_cache(model->kv_spec(1, std::max(n, 1), std::min(n, 512)));
  const int slot = cache->alloc_seq();
  Logits all;
  prefill(*model, *cache, slot, tokens, 512, &all, nullptr);
  const int64_t V = all.vocab;
  const int k = static_cast<int>(std::min<int64_t>(std::max(a.top_k, 1), V));
  nlohmann::json positions = nlohmann::json::array();
  std::vector<int32_t> idx(static_cast<size_t>(V));
  for (int64_t r = 0; r < all.rows; ++r) {
    const float* row = all.row(r);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t x, int32_t y) {
      return row[x] > row[y] || (row[x] == row[y] && x < y);
    });
    nlohmann::json top = nlohmann::json::array();
    for (int i = 0; i < k; ++i) top.push_back({{"id", idx[static_cast<size_t>(i)]}, {"logit", row[idx[static_cast<size_t>(i)]]}});
    positions.push_back({{"top", top}});
  }
  nlohmann::json out = {{"positions", positions}};
  std::printf("%s\n", out.dump().c_str());
}
}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Print the top-K raw logits of every input position as JSON");
  cmd->add_option("--model", args->model, "MLX model directory")->required();
  cmd->add_option("--tokens", args->tokens, "Comma-separated token ids")->required();
  cmd->add_option("--top-k", args->top_k, "Logits per position (default 5)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all cores)");
  cmd->add_option("--device", args->device, "Backend (default: OLLMLX_DEVICE or cpu)");
  cmd->add_option("--activation-dtype", args->act_dtype,
                  "Compute precision: f32, bf16 or f16 (default: as MLX would for the weights)");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace ollmlx::cli
