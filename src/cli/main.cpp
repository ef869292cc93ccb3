// Entry point of the ollmlx binary: dispatches to the subcommands; turns every error into a
// one-line message on stderr and exit status 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "util/log.h"
#include "util/version.h"

int main(int argc, char** argv) {
  ollmlx::log::init();
  CLI::App app{"ollmlx: an Ollama-compatible server for MLX-format models"};
  app.set_version_flag("-v,--version", std::string("ollmlx version ") + ollmlx::kVersion);
  app.require_subcommand(1);
  ollmlx::cli::add_eval_command(app);
  ollmlx::cli::add_bench_command(app);
  ollmlx::cli::add_generate_command(app);
  ollmlx::cli::add_text_commands(app);
  ollmlx::cli::add_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Error: %s\n", e.what());
    return 1;
  }
  return 0;
}
