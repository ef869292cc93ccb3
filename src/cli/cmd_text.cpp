// Prompt-debugging commands: `ollmlx tokenize MODEL TEXT`, `ollmlx detokenize MODEL IDS...` and
// `ollmlx render MODEL --messages FILE`. MODEL is a model directory (store names arrive with the
// model store).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "engine/prompt.h"
#include "util/error.h"

namespace ollmlx::cli {
namespace {

nlohmann::ordered_json read_json_file(const std::string& path, const char* what) {
  std::ifstream f(path);
  if (!f) throw_error("cli", "cannot read {} file '{}'", what, path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw_error("cli", "{} file '{}' is not valid JSON: {}", what, path, e.what());
  }
}

struct TokenizeArgs {
  std::string model, text;
  bool json = false, no_special = false, raw_special = false;
};

void run_tokenize(const TokenizeArgs& a) {
  auto tok = tok::Tokenizer::load(a.model);
  const std::vector<int32_t> ids = tok->encode(a.text, !a.no_special, !a.raw_special);
  if (a.json) {
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) pieces.push_back(tok->id_to_token(id));
    std::printf("%s\n", nlohmann::json({{"ids", ids}, {"pieces", pieces}}).dump(-1, ' ', false,
                                                                                nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  for (int32_t id : ids) {
    const std::string piece = nlohmann::json(tok->id_to_token(id)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::printf("%8d -> %s\n", id, piece.c_str());
  }
}

struct DetokenizeArgs {
  std::string model;
  std::vector<std::string> ids;
  bool skip_special = false;
};

void run_detokenize(const DetokenizeArgs& a) {
  auto tok = tok::Tokenizer::load(a.model);
  std::vector<int32_t> ids;
  for (const std::string& s : a.ids)
    for (int32_t id : parse_token_list(s)) ids.push_back(id);
  std::printf("%s\n", tok->decode(ids, a.skip_special).c_str());
}

struct RenderArgs {
  std::string model, messages, tools, kwargs;
  bool no_generation_prompt = false;
};

void run_render(const RenderArgs& a) {
  TextModel m = TextModel::load(a.model);
  nlohmann::ordered_json messages = read_json_file(a.messages, "messages");
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  if (!messages.is_array()) throw_error("cli", "messages file must hold a JSON array of messages");
  nlohmann::ordered_json tools = a.tools.empty() ? nlohmann::ordered_json() : read_json_file(a.tools, "tools");
  nlohmann::ordered_json kwargs = a.kwargs.empty() ? nlohmann::ordered_json::object()
                                                   : nlohmann::ordered_json::parse(a.kwargs);
  std::fputs(m.render(messages, tools, !a.no_generation_prompt, kwargs).c_str(), stdout);
}

}  // namespace

void add_text_commands(CLI::App& app) {
  {
    auto a = std::make_shared<TokenizeArgs>();
    CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids and pieces of a text");
    cmd->add_option("model", a->model, "Model directory")->required();
    cmd->add_option("text", a->text, "Text to tokenize")->required();
    cmd->add_flag("--json", a->json, "JSON output");
    cmd->add_flag("--no-special", a->no_special, "Do not add BOS/EOS (the post-processor)");
    cmd->add_flag("--split-special", a->raw_special, "Treat special-token text as plain text");
    cmd->callback([a] { run_tokenize(*a); });
  }
  {
    auto a = std::make_shared<DetokenizeArgs>();
    CLI::App* cmd = app.add_subcommand("detokenize", "Print the text of token ids");
    cmd->add_option("model", a->model, "Model directory")->required();
    cmd->add_option("ids", a->ids, "Token ids (space or comma separated)")->required();
    cmd->add_flag("--skip-special", a->skip_special, "Leave special tokens out");
    cmd->callback([a] { run_detokenize(*a); });
  }
  {
    auto a = std::make_shared<RenderArgs>();
    CLI::App* cmd = app.add_subcommand("render", "Print the prompt the chat template makes of messages");
    cmd->add_option("model", a->model, "Model directory")->required();
    cmd->add_option("--messages", a->messages, "JSON file: an array of messages")->required();
    cmd->add_option("--tools", a->tools, "JSON file: an array of tool definitions");
    cmd->add_option("--kwargs", a->kwargs, "JSON object of extra template variables");
    cmd->add_flag("--no-generation-prompt", a->no_generation_prompt, "add_generation_prompt=false");
    cmd->callback([a] { run_render(*a); });
  }
}

}  // namespace ollmlx::cli
