// `ollmlx generate`: continues a prompt with a model directory, in-process. The prompt is a chat
// message (rendered with the model's chat template), raw text (--raw), or token ids (--tokens).
// Text streams to stdout as it is generated; --json prints ids and timings instead.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "engine/generate.h"
#include "engine/prompt.h"
#include "tokenizer/stream_decoder.h"
#include "util/error.h"

namespace ollmlx::cli {
namespace {
struct GenArgs {
  std::string model, tokens, prompt, system, device, stop;
  bool raw = false, json = false;
  int max_tokens = 128, threads = 0, ctx = 4096;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, repeat_penalty = 1.0f;
  int top_k = 0;
  int64_t seed = -1;
};

void run_generate(const GenArgs& a) {
  if (a.tokens.empty() == a.prompt.empty()) throw_error("cli", "give exactly one of --prompt and --tokens");
  auto backend = create_backend(resolve_device(a.device), resolve_threads(a.threads));
  auto model = load_model(a.model, *backend);
  std::optional<TextModel> text;
  std::vector<int32_t> prompt;
  if (!a.prompt.empty()) {
    text = TextModel::load(a.model);
    if (a.raw) {
      prompt = text->raw_tokens(a.prompt);
    } else {
      nlohmann::ordered_json messages = nlohmann::ordered_json::array();
      if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
      messages.push_back({{"role", "user"}, {"content", a.prompt}});
      prompt = text->chat_tokens(messages, nullptr, true);
    }
  } else {
    prompt = parse_token_list(a.tokens);
  }
  const int ctx = std::max<int>(a.ctx, static_cast<int>(prompt.size()) + 1);
  auto cache = backend->create_kv_cache(model->kv_spec(1, ctx, 512));
  const int slot = cache->alloc_seq();
  SamplerParams sp;
  sp.temperature = a.temperature;
  sp.top_k = a.top_k;
  sp.top_p = a.top_p;
  sp.min_p = a.min_p;
  sp.repeat_penalty = a.repeat_penalty;
  if (a.seed >= 0) sp.seed = static_cast<uint64_t>(a.seed);
  Sampler sampler(sp);
  GenerateOptions opt;
  opt.max_tokens = a.max_tokens;
  if (!a.stop.empty())
    opt.stop_ids = parse_token_list(a.stop);
  else
    opt.stop_ids = text ? text->tokenizer->eos_ids() : model->info().config_eos_ids;

  std::optional<tok::StreamDecoder> stream;
  if (text && !a.json) stream.emplace(*text->tokenizer, /*skip_special_tokens=*/true);
  GenerateResult r = generate(*model, *cache, slot, prompt, sampler, opt, [&](int32_t id) {
    if (stream) {
      std::fputs(stream->push(id).c_str(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  const double tps = r.tokens.size() > 1 && r.decode_seconds > 0
                         ? static_cast<double>(r.tokens.size() - 1) / r.decode_seconds
                         : 0.0;
  if (a.json) {
    nlohmann::json out = {{"tokens", r.tokens},
                          {"done_reason", r.done_reason},
                          {"prompt_tokens", r.prompt_tokens},
                          {"prefill_seconds", r.prefill_seconds},
                          {"decode_seconds", r.decode_seconds},
                          {"decode_tokens_per_s", tps}};
    if (text) out["text"] = text->tokenizer->decode(r.tokens, true);
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  if (stream) std::printf("%s\n", stream->flush().c_str());
  else {
    for (int32_t id : r.tokens) std::printf("%d ", id);
    std::printf("\n");
  }
  std::fflush(stdout);
  std::fprintf(stderr, "[%lld prompt tokens in %.0f ms; %zu tokens at %.1f tok/s; %s]\n",
               static_cast<long long>(r.prompt_tokens), r.prefill_seconds * 1000, r.tokens.size(), tps,
               r.done_reason.c_str());
}
}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Continue a prompt with a model directory (in-process)");
  cmd->add_option("--model,-m", a->model, "MLX model directory")->required();
  cmd->add_option("--prompt,-p", a->prompt, "User message (chat template applied) or raw text with --raw");
  cmd->add_option("--system", a->system, "System message (chat prompts)");
  cmd->add_flag("--raw", a->raw, "Use --prompt as raw text, without the chat template");
  cmd->add_option("--tokens", a->tokens, "Comma-separated prompt token ids instead of --prompt");
  cmd->add_option("--max-tokens,-n", a->max_tokens, "Most tokens to generate (default 128)");
  cmd->add_option("--stop", a->stop, "Comma-separated stop token ids (default: the model's EOS ids)");
  cmd->add_option("--temperature", a->temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", a->top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling threshold (1 = off)");
  cmd->add_option("--min-p", a->min_p, "Minimum probability relative to the best (0 = off)");
  cmd->add_option("--repeat-penalty", a->repeat_penalty, "Penalty for recent tokens (1 = off)");
  cmd->add_option("--seed", a->seed, "Random seed for sampling");
  cmd->add_option("--ctx", a->ctx, "Context length (default 4096)");
  cmd->add_option("--threads,-t", a->threads, "CPU threads (default: all cores)");
  cmd->add_option("--device", a->device, "Backend (default: OLLMLX_DEVICE or cpu)");
  cmd->add_flag("--json", a->json, "Print token ids, text and timings as JSON");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ollmlx::cli
