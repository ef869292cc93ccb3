// Entry point of the ollmlx binary: dispatches to the subcommands; turns every error into a
// one-line "Error: ..." on stderr and exit status 1 (as Ollama's CLI does).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cli/commands.h"
#include "util/log.h"
#include "util/version.h"

int main(int argc, char** argv) {
  ollmlx::log::init();
  // Go's flag syntax for an optional value: a bare --think means --think=true, and the next
  // argument stays a positional one (`ollmlx run m --think "a prompt"`).
  std::vector<std::string> args(argv, argv + argc);
  for (auto& a : args) {
    if (a == "--think") a = "--think=true";
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());

  CLI::App app{"ollmlx: an Ollama-compatible server for MLX-format models"};
  bool version = false;
  app.add_flag("-v,--version", version, "Show version information");
  app.require_subcommand(0, 1);
  ollmlx::cli::add_serve_command(app);
  ollmlx::cli::add_ollama_commands(app);
  ollmlx::cli::add_eval_command(app);
  ollmlx::cli::add_bench_command(app);
  ollmlx::cli::add_generate_command(app);
  ollmlx::cli::add_text_commands(app);
  std::vector<std::string> help_for;
  CLI::App* help = app.add_subcommand("help", "Help about any command");
  help->add_option("command", help_for, "COMMAND");
  help->callback([&] {
    if (help_for.empty()) {
      std::fputs(app.help().c_str(), stdout);
      return;
    }
    for (CLI::App* sub : app.get_subcommands({})) {
      if (sub->get_name() == help_for[0] || sub->check_name(help_for[0])) {
        std::fputs(sub->help().c_str(), stdout);
        return;
      }
    }
    std::fprintf(stdout, "Unknown help topic [\"%s\"]\n", help_for[0].c_str());
    std::fputs(app.help().c_str(), stdout);
  });
  try {
    app.parse(static_cast<int>(av.size()), av.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "Error: %s\n", e.what());
    return 1;
  }
  if (version) {
    const int rc = ollmlx::cli::version_command();
    std::printf("backends: %s\n", ollmlx::compiled_backends().c_str());
    return rc;
  }
  if (app.get_subcommands().empty()) std::fputs(app.help().c_str(), stdout);
  return 0;
}
