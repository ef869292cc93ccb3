// `ollmlx serve` (alias `start`): the Ollama-compatible HTTP server over the engine service.
// Models come from the model store (ollmlx manifests + the Hugging Face hub cache), or with
// --models-dir from every model directory below one folder. SIGINT/SIGTERM stop the server
// cleanly: running requests are cancelled, then every model is unloaded.
#include <pthread.h>
#include <signal.h>

#include <memory>
#include <thread>

#include "cli/commands.h"
#include "server/http_server.h"
#include "service/engine_service.h"
#include "util/log.h"

namespace ollmlx::cli {
namespace {

struct ServeArgs {
  std::string models_dir;
};

void log_config(const server::ServerConfig& sc, const service::ResidencyConfig& rc) {
  log::info(
      "server config env=map[OLLAMA_CONTEXT_LENGTH:{} OLLAMA_HOST:{}:{} OLLAMA_KEEP_ALIVE:{}s "
      "OLLAMA_MAX_LOADED_MODELS:{} OLLAMA_MAX_QUEUE:{} OLLAMA_NUM_PARALLEL:{} OLLAMA_ORIGINS:{} "
      "OLLAMA_KV_CACHE_TYPE:{} OLLMLX_DEVICE:{} OLLMLX_NUM_THREADS:{} OLLMLX_API_KEY:{}]",
      rc.default_num_ctx, sc.host.empty() ? "0.0.0.0" : sc.host, sc.port,
      std::chrono::duration_cast<std::chrono::seconds>(rc.default_keep_alive).count(),
      rc.max_loaded, rc.max_queue, rc.num_parallel, fmt::join(sc.origins, ","), rc.kv_cache_type, rc.device,
      rc.threads, sc.api_key.empty() ? "off" : "on");
}

void run_serve(const ServeArgs& args) {
  // Block the stop signals in every thread; one thread waits for them and stops the server.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  service::ResidencyConfig rc = service::ResidencyConfig::from_env();
  std::unique_ptr<service::ModelCatalog> catalog =
      args.models_dir.empty() ? service::make_store_catalog()
                              : service::make_directory_catalog(args.models_dir);
  service::EngineService engine(std::move(catalog), rc);
  server::ServerConfig sc = server::config_from_env();
  server::HttpServer http(engine, sc);
  http.bind();
  log_config(sc, rc);

  std::thread signal_thread([&http, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) log::info("received signal {}, shutting down", sig);
    http.stop();
  });
  http.listen();
  // listen() also returns when the server fails; wake the signal thread in that case.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  log::info("server stopped; unloading models");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Start ollmlx (the Ollama-compatible server)");
  cmd->alias("start");
  cmd->add_option("--models-dir", args->models_dir,
                  "Serve every MLX model directory below this folder instead of the model store");
  cmd->footer(
      "Environment Variables:\n"
      "      OLLAMA_HOST / OLLMLX_HOST   IP Address for the server (default 127.0.0.1:11434)\n"
      "      OLLAMA_KEEP_ALIVE           How long models stay loaded in memory (default \"5m\")\n"
      "      OLLAMA_MAX_LOADED_MODELS    Maximum number of loaded models (default 3)\n"
      "      OLLAMA_MAX_QUEUE            Maximum number of queued requests (default 512)\n"
      "      OLLAMA_NUM_PARALLEL         Maximum number of parallel requests per model (default 4)\n"
      "      OLLAMA_CONTEXT_LENGTH       Context length to use unless otherwise specified (default 4096)\n"
      "      OLLAMA_ORIGINS              A comma separated list of allowed origins\n"
      "      OLLAMA_DEBUG                Show additional debug information (e.g. OLLAMA_DEBUG=1)\n"
      "      OLLAMA_KV_CACHE_TYPE        Quantization type for the K/V cache: f16 (default), q8_0 (cuda only)\n"
      "      OLLMLX_MODELS               The path to ollmlx's model manifests (default ~/.ollmlx/models)\n"
      "      HF_HUB_CACHE / HF_HOME      Where model weights live (the Hugging Face hub cache)\n"
      "      HF_TOKEN                    Token for gated or private Hugging Face repositories\n"
      "      OLLMLX_API_KEY              Require 'Authorization: Bearer <key>' on every route but /\n"
      "      OLLMLX_DEVICE               cpu, cuda or mlx (those of this build: ollmlx --version)\n"
      "      OLLMLX_CUDA_DEVICE          Which GPU the cuda backend uses (default 0)\n"
      "      OLLMLX_CUDA_GRAPHS          0 turns off CUDA graphs for decoding (default on)\n"
      "      OLLMLX_NUM_THREADS          CPU threads (default: all cores)");
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace ollmlx::cli
