#include "service/residency.h"

#include <algorithm>
#include <cstdlib>

#include "util/error.h"
#include "util/log.h"

namespace ollmlx::service {
namespace {

using SysClock = std::chrono::system_clock;

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  std::string s(v);
  while (!s.empty() && (s.front() == ' ' || s.front() == '"' || s.front() == '\'')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\'')) s.pop_back();
  if (s.empty()) return std::nullopt;
  return s;
}

int env_int(const char* name, int fallback) {
  auto v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v->c_str(), &end, 10);
  if (*end != '\0' || n < 0 || n > 1'000'000) {
    log::warn("invalid {}={}, using {}", name, *v, fallback);
    return fallback;
  }
  return static_cast<int>(n);
}

// OLLAMA_KEEP_ALIVE: a Go duration ("5m", "1h30m", "-1s") or an integer number of seconds.
std::optional<std::chrono::nanoseconds> parse_keep_alive_env(const std::string& s) {
  char* end = nullptr;
  const long long secs = std::strtoll(s.c_str(), &end, 10);
  if (*end == '\0') return std::chrono::seconds(secs);
  // Go duration: sequence of <number><unit>.
  double total_ns = 0;
  size_t i = 0;
  bool neg = false;
  if (s[i] == '-' || s[i] == '+') neg = s[i++] == '-';
  if (i >= s.size()) return std::nullopt;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    const double num = std::strtod(s.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    const std::string unit = s.substr(j, k - j);
    double mult = 0;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return std::nullopt;
    total_ns += num * mult;
    i = k;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(neg ? -total_ns : total_ns));
}

}  // namespace

ResidencyConfig ResidencyConfig::from_env() {
  ResidencyConfig c;
  c.max_loaded = env_int("OLLAMA_MAX_LOADED_MODELS", 0);
  if (c.max_loaded <= 0) c.max_loaded = 3;
  c.max_queue = env_int("OLLAMA_MAX_QUEUE", 512);
  c.num_parallel = env_int("OLLAMA_NUM_PARALLEL", 0);
  if (c.num_parallel <= 0) c.num_parallel = 4;
  c.default_num_ctx = env_int("OLLAMA_CONTEXT_LENGTH", 0);
  if (c.default_num_ctx <= 0) c.default_num_ctx = 4096;
  if (auto ka = env("OLLAMA_KEEP_ALIVE")) {
    if (auto d = parse_keep_alive_env(*ka))
      c.default_keep_alive = *d;
    else
      log::warn("invalid OLLAMA_KEEP_ALIVE={}, using 5m", *ka);
  }
  if (auto d = env("OLLMLX_DEVICE")) c.device = *d;
  if (auto t = env("OLLAMA_KV_CACHE_TYPE")) {
    try {
      kv_cache_type_is_q8(*t);
    } catch (const Error& e) {
      throw_error("config", "OLLAMA_KV_CACHE_TYPE: {}", e.what());
    }
    c.kv_cache_type = *t;
  }
  c.threads = env_int("OLLMLX_NUM_THREADS", 0);
  return c;
}

Residency::Residency(ResidencyConfig config) : config_(std::move(config)) {
  expiry_ = std::thread([this] { expiry_loop(); });
}

Residency::~Residency() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  expiry_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  loaded_.clear();  // runners finish (cancel) their sequences in their destructors
}

std::shared_ptr<LoadedModel> Residency::acquire(const CatalogEntry& entry,
                                                std::optional<api::KeepAlive> keep_alive,
                                                std::chrono::nanoseconds& load_time,
                                                const std::function<bool()>& cancelled) {
  const auto t0 = std::chrono::steady_clock::now();
  auto apply_keep_alive = [&](LoadedModel& m) {
    if (keep_alive) {
      m.forever = keep_alive->forever;
      m.keep_alive = keep_alive->duration;
    }
  };
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = loaded_.find(entry.name);
    if (it != loaded_.end() && !it->second->unloading && it->second->entry.digest == entry.digest) {
      ++it->second->users;
      apply_keep_alive(*it->second);
      load_time = std::max(std::chrono::nanoseconds(1), std::chrono::steady_clock::now() - t0);
      return it->second;
    }
    if (waiting_ >= config_.max_queue)
      throw api::ApiError(503, "server busy, please try again.  maximum pending requests exceeded");
    ++waiting_;
  }
  struct Unwait {
    Residency* r;
    ~Unwait() {
      std::lock_guard<std::mutex> lock(r->mutex_);
      --r->waiting_;
    }
  } unwait{this};

  std::unique_lock<std::mutex> load_lock(load_mutex_);
  {
    // Loaded by another request while we waited for the load lock?
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = loaded_.find(entry.name);
    if (it != loaded_.end() && !it->second->unloading && it->second->entry.digest == entry.digest) {
      ++it->second->users;
      apply_keep_alive(*it->second);
      load_time = std::max(std::chrono::nanoseconds(1), std::chrono::steady_clock::now() - t0);
      return it->second;
    }
    if (it != loaded_.end()) drop_locked(entry.name);  // stale (model changed on disk)
    // Make room.
    while (static_cast<int>(loaded_.size()) >= config_.max_loaded) {
      if (cancelled && cancelled()) throw api::ApiError(499, "request canceled");
      evict_locked(lock, entry.name);
    }
  }
  if (cancelled && cancelled()) throw api::ApiError(499, "request canceled");

  auto m = std::make_shared<LoadedModel>();
  m->entry = entry;
  try {
    log::info("loading model {} from {}", entry.name, entry.dir);
    m->facts = read_model_facts(entry.dir);
    m->backend = create_backend(config_.device, config_.threads);
    m->model = load_model(entry.dir, *m->backend);
    m->text = TextModel::load(entry.dir);
    int64_t trained = m->model->info().context_length;
    m->context = static_cast<int>(std::min<int64_t>(trained > 0 ? trained : 131072, 131072));
    BatchRunnerOptions ro;
    ro.slots = config_.num_parallel;
    ro.context = m->context;
    ro.max_batch_rows = config_.max_batch_rows;
    ro.kv_cache_type = config_.kv_cache_type;
    m->runner = std::make_unique<BatchRunner>(*m->model, ro);
  } catch (const api::ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw api::ApiError(500, std::string("failed to load model: ") + e.what());
  }
  m->forever = config_.default_keep_alive.count() < 0;
  m->keep_alive = config_.default_keep_alive;
  apply_keep_alive(*m);
  m->users = 1;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    loaded_[entry.name] = m;
  }
  load_time = std::max(std::chrono::nanoseconds(1), std::chrono::steady_clock::now() - t0);
  log::info("loaded model {} in {:.0f} ms", entry.name,
            std::chrono::duration<double, std::milli>(load_time).count());
  return m;
}

void Residency::release(const std::shared_ptr<LoadedModel>& m) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--m->users > 0) return;
    if (!m->forever && m->keep_alive.count() <= 0) {
      auto it = loaded_.find(m->entry.name);
      if (it != loaded_.end() && it->second == m) drop_locked(m->entry.name);
    } else if (m->forever) {
      m->expires_at = SysClock::time_point::max();
    } else {
      m->expires_at = SysClock::now() + std::chrono::duration_cast<SysClock::duration>(m->keep_alive);
    }
  }
  changed_.notify_all();
}

void Residency::drop_locked(const std::string& name) {
  auto it = loaded_.find(name);
  if (it == loaded_.end()) return;
  it->second->unloading = true;
  log::info("unloading model {}", name);
  loaded_.erase(it);  // memory goes when the last request holding it finishes
}

void Residency::evict_locked(std::unique_lock<std::mutex>& lock, const std::string& except) {
  // An idle model with the shortest keep-alive (forever counts as longest).
  std::shared_ptr<LoadedModel> victim;
  for (auto& [name, m] : loaded_) {
    if (name == except || m->users > 0) continue;
    auto key = [](const LoadedModel& x) { return x.forever ? std::chrono::nanoseconds::max() : x.keep_alive; };
    if (!victim || key(*m) < key(*victim) || (key(*m) == key(*victim) && name < victim->entry.name)) victim = m;
  }
  if (victim) {
    drop_locked(victim->entry.name);
    changed_.notify_all();
    return;
  }
  changed_.wait_for(lock, std::chrono::milliseconds(100));  // wait for a model to become idle
}

void Residency::unload(const std::string& name) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = loaded_.find(name);
  if (it == loaded_.end()) return;
  auto m = it->second;
  if (m->users == 0) {
    drop_locked(name);
  } else {
    // Unload once idle.
    m->forever = false;
    m->keep_alive = std::chrono::nanoseconds(0);
  }
}

bool Residency::is_loaded(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return loaded_.count(name) > 0;
}

std::vector<api::RunningModel> Residency::running() {
  std::vector<api::RunningModel> out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, m] : loaded_) {
    api::RunningModel r;
    r.name = name;
    r.size = static_cast<int64_t>(m->model->info().weight_bytes + m->runner->kv_cache_bytes());
    r.size_vram = m->backend->uses_device_memory() ? r.size : 0;
    r.digest = m->entry.digest;
    r.details = m->facts.details;
    r.expires_at = m->users > 0 ? (m->forever ? SysClock::time_point::max()
                                              : SysClock::now() + std::chrono::duration_cast<SysClock::duration>(m->keep_alive))
                                : m->expires_at;
    r.context_length = m->context;
    r.backend = m->backend->name();
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const api::RunningModel& a, const api::RunningModel& b) { return a.expires_at > b.expires_at; });
  return out;
}

void Residency::expiry_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    const auto now = SysClock::now();
    auto next = now + std::chrono::seconds(1);
    std::vector<std::string> expired;
    for (auto& [name, m] : loaded_) {
      if (m->users > 0 || m->forever) continue;
      if (m->expires_at <= now)
        expired.push_back(name);
      else
        next = std::min(next, m->expires_at);
    }
    for (const auto& name : expired) drop_locked(name);
    changed_.wait_until(lock, next);
  }
}

}  // namespace ollmlx::service
