// The fake hub's routes and fault injection (see fake_hub.h). Shapes follow
// shared/reference/huggingface-hub.md §1: revision JSON with "sha", tree entries with
// "oid"/"lfs.oid", 302 to a CDN for LFS files, X-Error-Code on errors.
#include "fake_hub.h"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "store/names.h"

namespace ollmlx::store::testing {
namespace {

using nlohmann::json;

void error(httplib::Response& res, int status, const std::string& code, const std::string& msg) {
  res.status = status;
  if (!code.empty()) res.set_header("X-Error-Code", code);
  res.set_content(json{{"error", msg}}.dump(), "application/json");
}

}  // namespace

FakeHub::FakeHub() : server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  server_->set_keep_alive_timeout(1);
  server_->set_tcp_nodelay(true);  // no Nagle/delayed-ACK stalls between headers and body
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> g(mu_);
    log_.push_back({req.path, req.get_header_value("Range"), req.get_header_value("Authorization"),
                    req.get_header_value("Host")});
    for (Failure& f : failures_) {
      if (f.times <= 0 || req.path.find(f.fragment) == std::string::npos) continue;
      --f.times;
      if (f.retry_after >= 0) res.set_header("Retry-After", std::to_string(f.retry_after));
      error(res, f.status, "", "injected failure");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_->Get(
      R"(/api/models/([^/]+)/([^/]+)/revision/(.+))",
      [this](const httplib::Request& req, httplib::Response& res) { on_revision(req, res); });
  server_->Get(R"(/api/models/([^/]+)/([^/]+)/tree/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) { on_tree(req, res); });
  server_->Get(
      R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
      [this](const httplib::Request& req, httplib::Response& res) { on_resolve(req, res); });
  server_->Get(R"(/cdn/([0-9a-f]{64}))",
               [this](const httplib::Request& req, httplib::Response& res) { on_cdn(req, res); });
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

FakeHub::~FakeHub() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  thread_.join();
}

std::string FakeHub::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeHub::add_repo(const FakeRepo& repo) {
  std::lock_guard<std::mutex> g(mu_);
  for (FakeRepo& r : repos_)
    if (r.id == repo.id) {
      r = repo;
      return;
    }
  repos_.push_back(repo);
}

void FakeHub::drop_after(const std::string& file, size_t bytes, int times) {
  std::lock_guard<std::mutex> g(mu_);
  drops_[file] = {bytes, times};
}

void FakeHub::corrupt(const std::string& file, int times) {
  std::lock_guard<std::mutex> g(mu_);
  corrupts_[file] = times;
}

void FakeHub::fail(const std::string& fragment, int status, int times, int retry_after) {
  std::lock_guard<std::mutex> g(mu_);
  failures_.push_back({fragment, status, times, retry_after});
}

void FakeHub::set_page_size(size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  page_size_ = n;
}

void FakeHub::set_chunk(size_t bytes, int delay_ms) {
  std::lock_guard<std::mutex> g(mu_);
  chunk_ = bytes;
  delay_ms_ = delay_ms;
}

void FakeHub::block_downloads(bool blocked) {
  {
    std::lock_guard<std::mutex> g(mu_);
    blocked_ = blocked;
  }
  cv_.notify_all();
}

std::vector<RequestLog> FakeHub::requests() const {
  std::lock_guard<std::mutex> g(mu_);
  return log_;
}

std::vector<RequestLog> FakeHub::downloads(const std::string& file) const {
  std::lock_guard<std::mutex> g(mu_);
  std::string sha;
  for (const FakeRepo& r : repos_)
    for (const auto& [commit, files] : r.trees)
      for (const RepoFile& f : files)
        if (f.path == file && f.lfs) sha = f.sha256();
  std::vector<RequestLog> out;
  for (const RequestLog& l : log_) {
    const std::string tail = "/" + file;
    const bool resolve = l.path.size() > tail.size() &&
                         l.path.compare(l.path.size() - tail.size(), tail.size(), tail) == 0 &&
                         l.path.find("/resolve/") != std::string::npos;
    const bool cdn = !sha.empty() && l.path == "/cdn/" + sha;
    if ((resolve && sha.empty()) || cdn) out.push_back(l);
  }
  return out;
}

size_t FakeHub::count(const std::string& fragment) const {
  std::lock_guard<std::mutex> g(mu_);
  size_t n = 0;
  for (const RequestLog& l : log_) n += l.path.find(fragment) != std::string::npos;
  return n;
}

const FakeRepo* FakeHub::readable_repo(const httplib::Request& req, httplib::Response& res) {
  const std::string id = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
  std::lock_guard<std::mutex> g(mu_);
  for (const FakeRepo& r : repos_) {
    if (!iequals(r.id, id)) continue;
    if (!r.token.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      if (auth.empty()) {
        error(res, 401, "GatedRepo",
              "Access to model " + r.id +
                  " is restricted. You must have access to it and be "
                  "authenticated to access it. Please log in.");
        return nullptr;
      }
      if (auth != "Bearer " + r.token) {
        error(res, 403, "GatedRepo",
              "Access to model " + r.id +
                  " is restricted and you are not in the authorized "
                  "list.");
        return nullptr;
      }
    }
    return &r;
  }
  error(res, 404, "RepoNotFound", "Repository not found");
  return nullptr;
}

void FakeHub::on_revision(const httplib::Request& req, httplib::Response& res) {
  const FakeRepo* r = readable_repo(req, res);
  if (!r) return;
  const std::string rev = req.matches[3];
  std::string sha;
  if (r->trees.count(rev))
    sha = rev;
  else if (auto it = r->refs.find(rev); it != r->refs.end())
    sha = it->second;
  if (sha.empty()) return error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
  json siblings = json::array();
  for (const RepoFile& f : r->trees.at(sha)) siblings.push_back({{"rfilename", f.path}});
  res.set_content(
      json{{"id", r->id}, {"sha", sha}, {"private", false}, {"siblings", siblings}}.dump(),
      "application/json");
}

void FakeHub::on_tree(const httplib::Request& req, httplib::Response& res) {
  const FakeRepo* r = readable_repo(req, res);
  if (!r) return;
  const std::string commit = req.matches[3];
  auto tree = r->trees.find(commit);
  if (tree == r->trees.end()) return error(res, 404, "RevisionNotFound", "Invalid rev id");
  json all = json::array();
  std::map<std::string, bool> dirs;
  for (const RepoFile& f : tree->second) {
    if (size_t slash = f.path.rfind('/');
        slash != std::string::npos && !dirs[f.path.substr(0, slash)]) {
      dirs[f.path.substr(0, slash)] = true;
      all.push_back({{"type", "directory"},
                     {"oid", fake_commit(7)},
                     {"size", 0},
                     {"path", f.path.substr(0, slash)}});
    }
    const int64_t size =
        f.listed_size >= 0 ? f.listed_size : static_cast<int64_t>(f.content.size());
    json e = {{"type", "file"}, {"oid", f.oid()}, {"size", size}, {"path", f.path}};
    if (f.lfs) e["lfs"] = {{"oid", f.sha256()}, {"size", size}, {"pointerSize", 134}};
    all.push_back(e);
  }
  size_t page;
  {
    std::lock_guard<std::mutex> g(mu_);
    page = page_size_;
  }
  size_t start = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor")) : 0;
  if (page == 0) page = all.size();
  json out = json::array();
  for (size_t i = start; i < all.size() && i < start + page; ++i) out.push_back(all[i]);
  if (start + page < all.size())
    res.set_header("Link", fmt::format("<{}/api/models/{}/tree/{}?recursive=true&expand=false&"
                                       "cursor={}>; rel=\"next\"",
                                       endpoint(), r->id, commit, start + page));
  res.set_content(out.dump(), "application/json");
}

void FakeHub::on_resolve(const httplib::Request& req, httplib::Response& res) {
  const FakeRepo* r = readable_repo(req, res);
  if (!r) return;
  std::string rev = req.matches[3];
  if (!r->trees.count(rev)) {
    auto it = r->refs.find(rev);
    if (it == r->refs.end()) return error(res, 404, "RevisionNotFound", "Invalid rev id");
    rev = it->second;
  }
  const std::string path = req.matches[4];
  for (const RepoFile& f : r->trees.at(rev)) {
    if (f.path != path) continue;
    res.set_header("X-Repo-Commit", rev);
    if (f.lfs) {
      // Like the hub: LFS bytes come from a CDN on another host (here the same server reached
      // as "localhost"), so the Authorization header must not follow the redirect.
      res.set_header("X-Linked-Etag", fmt::format("\"{}\"", f.sha256()));
      res.set_header("X-Linked-Size", std::to_string(f.content.size()));
      res.set_redirect("http://localhost:" + std::to_string(port_) + "/cdn/" + f.sha256(), 302);
      return;
    }
    res.set_header("ETag", fmt::format("\"{}\"", f.oid()));
    return serve_file(f, res);
  }
  error(res, 404, "EntryNotFound", path + " does not exist on \"" + rev + "\"");
}

void FakeHub::on_cdn(const httplib::Request& req, httplib::Response& res) {
  const std::string sha = req.matches[1];
  RepoFile found;
  bool ok = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (const FakeRepo& r : repos_)
      for (const auto& [commit, files] : r.trees)
        for (const RepoFile& f : files)
          if (f.lfs && f.sha256() == sha) {
            found = f;
            ok = true;
          }
  }
  if (!ok) return error(res, 404, "", "no such object");
  serve_file(found, res);
}

void FakeHub::serve_file(const RepoFile& f, httplib::Response& res) {
  auto body = std::make_shared<std::string>(f.content);
  size_t drop_at = SIZE_MAX;
  size_t chunk;
  int delay_ms;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (auto it = drops_.find(f.path); it != drops_.end() && it->second.second > 0) {
      drop_at = it->second.first;
      --it->second.second;
    }
    if (auto it = corrupts_.find(f.path); it != corrupts_.end() && it->second > 0) {
      (*body)[body->size() / 2] = static_cast<char>((*body)[body->size() / 2] ^ 0x5a);
      --it->second;
    }
    chunk = chunk_;
    delay_ms = delay_ms_;
  }
  res.set_content_provider(body->size(), "application/octet-stream",
                           [this, body, drop_at, chunk, delay_ms](size_t offset, size_t length,
                                                                  httplib::DataSink& sink) {
                             {
                               std::unique_lock<std::mutex> lk(mu_);
                               cv_.wait(lk, [this] { return !blocked_ || stopping_; });
                               if (stopping_) return false;
                             }
                             if (offset >= drop_at) return false;  // close the connection mid-body
                             const size_t n = std::min({length, chunk, drop_at - offset});
                             sink.write(body->data() + offset, n);
                             if (delay_ms > 0)
                               std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
                             return true;
                           });
}

}  // namespace ollmlx::store::testing
