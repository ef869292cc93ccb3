// The Ollama-style commands (run, pull, push, list/ls, ps, show, stop, cp, rm, create, -v),
// clients of the ollmlx server over HTTP only (docs/ARCHITECTURE.md). Shared between the command
// handlers (cmd_ollama.cpp) and the interactive REPL (repl.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <optional>
#include <string>

#include "cli/client.h"

namespace ollmlx::cli {

using Json = nlohmann::ordered_json;

struct RunOptions {
  std::string model;
  std::string parent_model;
  std::string prompt;
  std::string system;
  std::string format;                // "" = none, "json", or a JSON schema text
  Json messages = Json::array();     // the chat so far
  Json options = Json::object();     // /set parameter values
  std::optional<Json> keep_alive;    // as sent: "5m0s" or -1
  std::optional<Json> think;         // true/false/"low"/...
  bool word_wrap = true;
  bool verbose = false;
  bool hide_thinking = false;
};

// SIGINT while a generation streams: the stream is cancelled (Ctrl+C stops the answer). Guards
// nest (the REPL holds one for its whole session, so a stray Ctrl+C never kills it); each new
// guard clears the flag.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  static const std::atomic<bool>& flag();
};

// Show the model; a 404 pulls it first (as `ollama run` does). Returns the /api/show answer.
Json show_or_pull(Client& client, const std::string& name, bool insecure);
// /api/pull with Ollama's progress display on stderr.
void pull_model(Client& client, const std::string& name, bool insecure);
// An empty /api/generate request: loads (or with keep_alive 0 unloads) the model.
void load_or_unload(Client& client, const RunOptions& opts);
// One /api/chat turn of the REPL; prints the answer and returns the assistant message (null
// when the user cancelled it).
std::optional<Json> chat_turn(Client& client, RunOptions& opts);
// The interactive session.
int run_interactive(Client& client, RunOptions& opts);
// `ollmlx list` (also the REPL's /list).
void list_models(Client& client, const std::string& prefix);
// The /api/show text of `show MODEL` (also /show info).
std::string show_info_text(const Json& show, bool verbose);

// "json" -> "json"; a JSON text -> its value; "" -> null.
Json format_value(const std::string& format);

}  // namespace ollmlx::cli
