#include "cli/client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "api/ollama_host.h"

namespace ollmlx::cli {

StatusError::StatusError(int status, std::string reason, std::string message)
    : CliError([&] {
        // Go's StatusError.Error(): "<status>: <message>", or whichever of the two is set.
        if (!reason.empty() && !message.empty()) return reason + ": " + message;
        if (!reason.empty()) return reason;
        if (!message.empty()) return message;
        return std::string("something went wrong, please see the ollmlx server logs for details");
      }()),
      status_(status), message_(std::move(message)) {}

struct Client::Impl {
  std::string scheme, host;
  int port = 11434;
  std::string base_path;  // "" or "/prefix"
  std::string api_key;

  std::unique_ptr<httplib::Client> make() const {
    std::string h = host;
    if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
    auto c = std::make_unique<httplib::Client>(scheme + "://" + h + ":" + std::to_string(port));
    c->set_connection_timeout(30, 0);
    c->set_read_timeout(24 * 3600, 0);  // a model load or a long answer can take a while
    c->set_write_timeout(600, 0);
    c->set_keep_alive(false);
    if (!api_key.empty()) c->set_bearer_token_auth(api_key);
    c->set_default_headers({{"User-Agent", "ollmlx"}, {"Accept", "application/x-ndjson"}});
    return c;
  }

  std::string url(const std::string& path) const { return base_path + path; }
};

namespace {

[[noreturn]] void transport_error(httplib::Error e) {
  if (e == httplib::Error::Connection) throw CliError(kNotRunning);
  throw CliError(httplib::to_string(e));
}

// Go's http.Response.Status: "<code> <http.StatusText(code)>".
std::string reason_phrase(int status) {
  static const std::pair<int, const char*> kText[] = {
      {400, "Bad Request"},           {401, "Unauthorized"},        {403, "Forbidden"},
      {404, "Not Found"},             {405, "Method Not Allowed"},  {408, "Request Timeout"},
      {409, "Conflict"},              {413, "Request Entity Too Large"},
      {429, "Too Many Requests"},     {499, ""},                    {500, "Internal Server Error"},
      {501, "Not Implemented"},       {502, "Bad Gateway"},         {503, "Service Unavailable"},
      {504, "Gateway Timeout"},       {507, "Insufficient Storage"}};
  for (const auto& [code, text] : kText) {
    if (code == status) return std::to_string(status) + " " + text;
  }
  return std::to_string(status) + " status code " + std::to_string(status);
}

// The `error` of a JSON error body, or the whole body when it is not JSON.
std::string error_message(const std::string& body) {
  try {
    const Json j = Json::parse(body);
    if (j.is_object() && j.contains("error")) {
      const Json& e = j["error"];
      if (e.is_string()) return e.get<std::string>();
      if (e.is_object() && e.contains("message") && e["message"].is_string()) {
        return e["message"].get<std::string>();
      }
    }
    return "";
  } catch (const std::exception&) {
    return body;
  }
}

}  // namespace

Client Client::from_env() {
  std::string host = api::env_value("OLLMLX_HOST");
  if (host.empty()) host = api::env_value("OLLAMA_HOST");
  api::HostPort hp = api::parse_ollama_host(host);
  // A server listening on every interface is reached through loopback.
  if (hp.host == "0.0.0.0" || hp.host.empty()) hp.host = "127.0.0.1";
  if (hp.host == "::") hp.host = "::1";
  std::string path = hp.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.empty() && path.front() != '/') path = "/" + path;
  return Client(hp.scheme.empty() ? "http" : hp.scheme, hp.host, hp.port, path,
                api::env_value("OLLMLX_API_KEY"));
}

Client::Client(std::string scheme, std::string host, int port, std::string base_path,
               std::string api_key)
    : impl_(std::make_unique<Impl>()) {
  impl_->scheme = std::move(scheme);
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->base_path = std::move(base_path);
  impl_->api_key = std::move(api_key);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

std::string Client::base_url() const {
  std::string h = impl_->host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return impl_->scheme + "://" + h + ":" + std::to_string(impl_->port) + impl_->base_path;
}

void Client::heartbeat() {
  auto c = impl_->make();
  c->set_connection_timeout(10, 0);
  c->set_read_timeout(30, 0);
  auto res = c->Head(impl_->url("/").c_str());
  if (!res) transport_error(res.error());
  if (res->status >= 400) {
    throw StatusError(res->status, "", error_message(res->body).empty() ? reason_phrase(res->status)
                                                                      : error_message(res->body));
  }
}

std::string Client::version(std::string* ollmlx_version) {
  auto c = impl_->make();
  c->set_connection_timeout(10, 0);
  c->set_read_timeout(30, 0);
  auto res = c->Get(impl_->url("/api/version").c_str());
  if (!res) transport_error(res.error());
  if (res->status >= 400) throw StatusError(res->status, "", error_message(res->body));
  if (ollmlx_version) *ollmlx_version = res->get_header_value("X-Ollmlx-Version");
  try {
    const Json j = Json::parse(res->body);
    if (j.is_object() && j.contains("version") && j["version"].is_string()) return j["version"];
  } catch (const std::exception&) {
  }
  return "";
}

Json Client::request(const std::string& method, const std::string& path, const Json* body) {
  auto c = impl_->make();
  httplib::Request req;
  req.method = method;
  req.path = impl_->url(path);
  if (body) {
    req.body = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.set_header("Content-Type", "application/json");
  }
  req.set_header("Accept", "application/json");
  auto res = c->send(req);
  if (!res) transport_error(res.error());
  if (res->status >= 400) throw StatusError(res->status, "", error_message(res->body));
  if (res->body.empty()) return Json();
  try {
    return Json::parse(res->body);
  } catch (const std::exception& e) {
    throw CliError(std::string("invalid response from the server: ") + e.what());
  }
}

bool Client::has_blob(const std::string& digest) {
  auto c = impl_->make();
  auto res = c->Head(impl_->url("/api/blobs/" + digest).c_str());
  if (!res) transport_error(res.error());
  if (res->status == 404) return false;
  if (res->status >= 400) throw StatusError(res->status, "", error_message(res->body));
  return true;
}

void Client::upload_blob(const std::string& digest, const std::string& path,
                         const std::function<void(uint64_t)>& on_progress) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw CliError("stat " + path + ": " + ec.message());
  auto file = std::make_shared<std::ifstream>(path, std::ios::binary);
  if (!*file) throw CliError("open " + path + ": cannot read the file");
  auto c = impl_->make();
  auto res = c->Post(
      impl_->url("/api/blobs/" + digest).c_str(), static_cast<size_t>(size),
      [file, size, &on_progress](size_t offset, size_t length, httplib::DataSink& sink) {
        std::vector<char> buf(std::min<size_t>(length, size_t{1} << 20));
        file->seekg(static_cast<std::streamoff>(offset));
        file->read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto got = static_cast<size_t>(file->gcount());
        if (got == 0) return false;  // the file shrank under us
        if (!sink.write(buf.data(), got)) return false;
        if (on_progress) on_progress(std::min<uint64_t>(offset + got, size));
        return true;
      },
      "application/octet-stream");
  if (!res) transport_error(res.error());
  if (res->status >= 400) throw StatusError(res->status, "", error_message(res->body));
}

bool Client::stream(const std::string& path, const Json& body,
                    const std::function<bool(const Json&)>& on_line, const std::atomic<bool>* cancel) {
  auto c = impl_->make();
  httplib::Request req;
  req.method = "POST";
  req.path = impl_->url(path);
  req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  req.set_header("Content-Type", "application/json");
  int status = 0;
  bool stopped = false;       // on_line asked to stop, or cancelled
  std::exception_ptr failure;  // an error line, or on_line threw
  std::string pending;
  std::string error_body;

  const auto handle_line = [&](const std::string& line) -> bool {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return true;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const std::exception&) {
      if (status >= 400) failure = std::make_exception_ptr(StatusError(status, reason_phrase(status), line));
      else failure = std::make_exception_ptr(CliError(line));
      return false;
    }
    const std::string err = j.is_object() && j.contains("error") && j["error"].is_string()
                                ? j["error"].get<std::string>()
                                : "";
    if (status >= 400) {
      failure = std::make_exception_ptr(StatusError(status, reason_phrase(status), err));
      return false;
    }
    if (!err.empty()) {
      failure = std::make_exception_ptr(CliError(err));
      return false;
    }
    try {
      if (!on_line(j)) {
        stopped = true;
        return false;
      }
    } catch (...) {
      failure = std::current_exception();
      return false;
    }
    return true;
  };

  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (cancel && cancel->load()) {
      stopped = true;
      return false;
    }
    pending.append(data, n);
    size_t start = 0;
    for (;;) {
      const size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      const std::string line = pending.substr(start, nl - start);
      start = nl + 1;
      if (!handle_line(line)) {
        pending.clear();
        return false;
      }
    }
    pending.erase(0, start);
    return true;
  };

  // A cancel flag set while the read blocks (prompt evaluation, a model load) closes the socket.
  std::atomic<bool> finished{false};
  std::thread watcher;
  if (cancel) {
    watcher = std::thread([&] {
      while (!finished.load()) {
        if (cancel->load()) {
          c->stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  auto res = c->send(req);
  finished = true;
  if (watcher.joinable()) watcher.join();

  if (failure) std::rethrow_exception(failure);
  if (stopped || (cancel && cancel->load())) return false;
  if (!res) transport_error(res.error());
  if (!pending.empty()) {
    const std::string last = pending;
    pending.clear();
    if (!handle_line(last)) {
      if (failure) std::rethrow_exception(failure);
      return false;
    }
  }
  if (res->status >= 400 && status < 400) status = res->status;
  if (status >= 400) throw StatusError(status, reason_phrase(status), "");
  return true;
}

}  // namespace ollmlx::cli
