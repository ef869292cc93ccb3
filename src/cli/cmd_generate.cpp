// `ollmlx generate`: greedy or sampled continuation of token ids, printed as JSON with timings.
// (Text prompts arrive with the tokenizer; until then this works on ids.)
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "engine/generate.h"

namespace ollmlx::cli {
namespace {
struct GenArgs {
  std::string model, tokens, device, stop;
  int max_tokens = 32, threads = 0, ctx = 4096;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
  int top_k = 0;
  int64_t seed = -1;
};

void run_generate(const GenArgs& a) {
  const std::vector<int32_t> prompt = parse_token_list(a.tokens);
  auto backend = create_backend(resolve_device(a.device), resolve_threads(a.threads));
  auto model = load_model(a.model, *backend);
  const int ctx = std::max<int>(a.ctx, static_cast<int>(prompt.size()) + 1);
  auto cache = backend->create_kv_cache(model->kv_spec(1, ctx, 512));
  const int slot = cache->alloc_seq();
  SamplerParams sp;
  sp.temperature = a.temperature;
  sp.top_k = a.top_k;
  sp.top_p = a.top_p;
  sp.min_p = a.min_p;
  if (a.seed >= 0) sp.seed = static_cast<uint64_t>(a.seed);
  Sampler sampler(sp);
  GenerateOptions opt;
  opt.max_tokens = a.max_tokens;
  opt.stop_ids = a.stop.empty() ? model->info().config_eos_ids : parse_token_list(a.stop);
  GenerateResult r = generate(*model, *cache, slot, prompt, sampler, opt);
  nlohmann::json out = {{"tokens", r.tokens},
                        {"done_reason", r.done_reason},
                        {"prompt_tokens", r.prompt_tokens},
                        {"prefill_seconds", r.prefill_seconds},
                        {"decode_seconds", r.decode_seconds},
                        {"decode_tokens_per_s", r.tokens.size() > 1 && r.decode_seconds > 0
                                                    ? static_cast<double>(r.tokens.size() - 1) / r.decode_seconds
                                                    : 0.0}};
  std::printf("%s\n", out.dump().c_str());
}
}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Continue a sequence of token ids (JSON output)");
  cmd->add_option("--model", a->model, "MLX model directory")->required();
  cmd->add_option("--tokens", a->tokens, "Comma-separated prompt token ids")->required();
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens to generate (default 32)");
  cmd->add_option("--stop", a->stop, "Comma-separated stop token ids (default: config eos_token_id)");
  cmd->add_option("--temperature", a->temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", a->top_k, "");
  cmd->add_option("--top-p", a->top_p, "");
  cmd->add_option("--min-p", a->min_p, "");
  cmd->add_option("--seed", a->seed, "");
  cmd->add_option("--ctx", a->ctx, "Context length (default 4096)");
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores)");
  cmd->add_option("--device", a->device, "Backend (default: OLLMLX_DEVICE or cpu)");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ollmlx::cli
