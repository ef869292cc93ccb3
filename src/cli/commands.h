// Subcommands of the ollmlx binary. Each registers its options on the CLI11 app and returns the
// callback state it needs. Offline engine tools (eval, bench, generate) load a model in-process;
// the Ollama-style commands (run, pull, list...) talk to the server over HTTP only.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace ollmlx::cli {

void add_eval_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_text_commands(CLI::App& app);  // tokenize, detokenize, render
void add_serve_command(CLI::App& app);
// The Ollama-style commands, clients of the server (cmd_ollama.cpp): run, pull, push, list/ls,
// ps, show, stop, cp, rm, create.
void add_ollama_commands(CLI::App& app);
// `ollmlx -v`: "ollmlx version is X.Y.Z" and Ollama's warnings. Returns the exit status.
int version_command();

// Shared: parses "1,2,3" into token ids (throws Error("cli") on bad input).
std::vector<int32_t> parse_token_list(const std::string& s);
// Thread count from --threads or OLLMLX_NUM_THREADS (0 = all cores).
int resolve_threads(int requested);
// "cpu" unless OLLMLX_DEVICE or --device says otherwise.
std::string resolve_device(const std::string& requested);

}  // namespace ollmlx::cli
