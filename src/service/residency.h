// Which models are in memory, for how long, and who is using them: Ollama's scheduler semantics
// (server/sched.go, spec §5) over ollmlx's batch runners.
//  * Models load lazily on first use, one load at a time; later requests for a loaded model use
//    it at once (its BatchRunner batches them).
//  * keep_alive is sticky per model: when the last user releases it, it stays for that long
//    (negative = forever, 0 = unload when idle); an expiry thread unloads it then.
//  * At most `max_loaded` models: loading another evicts an idle model with the shortest
//    keep-alive; if none is idle, the load waits for one to become idle.
//  * At most `max_queue` requests may wait for a model at once; more get 503 "server busy".
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/service.h"
#include "backend/backend.h"
#include "engine/batch_runner.h"
#include "engine/prompt.h"
#include "model/model.h"
#include "service/catalog.h"
#include "service/model_facts.h"

namespace ollmlx::service {

struct ResidencyConfig {
  int max_loaded = 3;                    // OLLAMA_MAX_LOADED_MODELS (0 = 3)
  int max_queue = 512;                   // OLLAMA_MAX_QUEUE
  int num_parallel = 4;                  // OLLAMA_NUM_PARALLEL: sequences batched per model
  int default_num_ctx = 4096;            // OLLAMA_CONTEXT_LENGTH
  std::chrono::nanoseconds default_keep_alive = std::chrono::minutes(5);  // OLLAMA_KEEP_ALIVE
  std::string device = "cpu";            // OLLMLX_DEVICE
  int threads = 0;                       // OLLMLX_NUM_THREADS (0 = all cores)
  int max_batch_rows = 512;
  std::string kv_cache_type;             // OLLAMA_KV_CACHE_TYPE: "" / f16, or q8_0 (cuda only)
  static ResidencyConfig from_env();
};

// A model in memory, shared by every request using it.
struct LoadedModel {
  CatalogEntry entry;
  ModelFacts facts;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  TextModel text;
  std::unique_ptr<BatchRunner> runner;
  int context = 0;  // positions per sequence the runner allows

  // Guarded by Residency's mutex.
  int users = 0;
  bool forever = false;
  std::chrono::nanoseconds keep_alive{0};
  std::chrono::system_clock::time_point expires_at;
  bool unloading = false;
};

class Residency {
 public:
  explicit Residency(ResidencyConfig config);
  ~Residency();

  // The loaded model for `entry`, loading it if needed; the caller must release() it.
  // `load_time` receives the time spent waiting/loading. `cancelled` is polled while waiting.
  // Throws ApiError (503 busy, 499 cancelled, 500 load failure).
  std::shared_ptr<LoadedModel> acquire(const CatalogEntry& entry, std::optional<api::KeepAlive> keep_alive,
                                       std::chrono::nanoseconds& load_time,
                                       const std::function<bool()>& cancelled = {});
  void release(const std::shared_ptr<LoadedModel>& m);
  // Unloads `name` now if loaded (waits for its users to finish).
  void unload(const std::string& name);
  bool is_loaded(const std::string& name);
  std::vector<api::RunningModel> running();
  const ResidencyConfig& config() const { return config_; }

 private:
  void expiry_loop();
  void evict_locked(std::unique_lock<std::mutex>& lock, const std::string& except);
  void drop_locked(const std::string& name);

  ResidencyConfig config_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<LoadedModel>> loaded_;  // by entry name
  std::mutex load_mutex_;  // one load at a time
  int waiting_ = 0;
  bool stop_ = false;
  std::thread expiry_;
};

}  // namespace ollmlx::service
