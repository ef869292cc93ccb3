// The Ollama-style commands of the ollmlx binary, each a client of the server over HTTP (compat
// spec §4): run, pull, push, list/ls, ps, show, stop, cp, rm, create, import, and the -v/--version
// report. Every command but serve first checks that a server answers (HEAD /).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include <openssl/evp.h>

#include "api/keep_alive.h"
#include "api/ollama_host.h"
#include "cli/commands.h"
#include "cli/display.h"
#include "cli/format.h"
#include "cli/modelfile.h"
#include "cli/ollama_cli.h"
#include "cli/progress.h"
#include "cli/views.h"
#include "util/version.h"

namespace ollmlx::cli {
namespace {

std::atomic<bool> g_interrupted{false};
struct sigaction g_saved_sigint;
int g_guard_depth = 0;

void on_sigint(int) { g_interrupted.store(true); }

std::string str(const Json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_string()) return "";
  return o[key].get<std::string>();
}

// Cobra's argument checks, with its messages.
void exact_args(const std::vector<std::string>& args, size_t n) {
  if (args.size() != n) {
    throw CliError("accepts " + std::to_string(n) + " arg(s), received " + std::to_string(args.size()));
  }
}

void min_args(const std::vector<std::string>& args, size_t n) {
  if (args.size() < n) {
    throw CliError("requires at least " + std::to_string(n) + " arg(s), only received " +
                   std::to_string(args.size()));
  }
}

void max_args(const std::vector<std::string>& args, size_t n) {
  if (args.size() > n) {
    throw CliError("accepts at most " + std::to_string(n) + " arg(s), received " + std::to_string(args.size()));
  }
}

Client connect() {
  Client c = Client::from_env();
  c.heartbeat();
  return c;
}

// A keep-alive flag as the Go client sends it: a duration string ("5m0s"), or -1 for negative.
Json keep_alive_value(const std::string& text) {
  int64_t ns = 0;
  try {
    ns = api::parse_go_duration(text).count();
  } catch (const api::ApiError& e) {
    throw CliError(e.message());
  }
  if (ns < 0) return Json(-1);
  return Json(go_duration(ns));
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  if (g_guard_depth++ == 0) {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, &g_saved_sigint);
  }
}

InterruptGuard::~InterruptGuard() {
  if (--g_guard_depth == 0) sigaction(SIGINT, &g_saved_sigint, nullptr);
}

const std::atomic<bool>& InterruptGuard::flag() { return g_interrupted; }

Json format_value(const std::string& format) {
  if (format.empty()) return Json();
  if (format == "json") return Json("json");
  try {
    return Json::parse(format);
  } catch (const std::exception&) {
    return Json(format);
  }
}

void pull_model(Client& client, const std::string& name, bool insecure) {
  Progress p;
  std::map<std::string, Bar*> bars;
  std::string status;
  Spinner* spinner = nullptr;
  Json body = Json::object();
  body["model"] = name;
  if (insecure) body["insecure"] = true;
  client.stream("/api/pull", body, [&](const Json& r) {
    auto lock = p.lock();
    const std::string digest = str(r, "digest");
    const int64_t total = r.value("total", int64_t{0});
    const int64_t completed = r.value("completed", int64_t{0});
    const std::string st = str(r, "status");
    if (!digest.empty()) {
      if (completed == 0) return true;  // no bytes yet: no bar
      if (spinner) spinner->stop();
      auto it = bars.find(digest);
      if (it == bars.end()) {
        // "sha256:<64 hex>" (and ollmlx's "sha1:<40 hex>" for small git files) -> 12 hex.
        std::string short_name = digest;
        const auto colon = short_name.find(':');
        if (colon != std::string::npos) short_name = short_name.substr(colon + 1).substr(0, 12);
        lock.unlock();
        Bar* b = p.add_bar("pulling " + short_name + ":", total, completed);
        lock.lock();
        it = bars.emplace(digest, b).first;
      }
      it->second->set(completed);
    } else if (st != status) {
      if (spinner) spinner->stop();
      status = st;
      lock.unlock();
      spinner = p.add_spinner(status);
    }
    return true;
  });
  p.stop();
}

Json show_or_pull(Client& client, const std::string& name, bool insecure) {
  Json body = Json::object();
  body["model"] = name;
  try {
    return client.request("POST", "/api/show", &body);
  } catch (const StatusError& e) {
    if (e.status() != 404) throw;
  }
  pull_model(client, name, insecure);
  return client.request("POST", "/api/show", &body);
}

void load_or_unload(Client& client, const RunOptions& opts) {
  Progress p;
  p.add_spinner("");
  Json body = Json::object();
  body["model"] = opts.model;
  if (opts.keep_alive) body["keep_alive"] = *opts.keep_alive;
  if (opts.think) body["think"] = *opts.think;
  try {
    client.stream("/api/generate", body, [](const Json&) { return true; });
  } catch (...) {
    p.stop_and_clear();
    throw;
  }
  p.stop_and_clear();
}

void list_models(Client& client, const std::string& prefix) {
  const Json tags = client.request("GET", "/api/tags");
  std::fputs(render_list(tags, prefix, Instant::now()).c_str(), stdout);
  std::fflush(stdout);
}

std::string show_info_text(const Json& show, bool verbose) { return render_show_info(show, verbose); }

namespace {

// Streams a completion (generate or chat) and prints it; returns the final chunk, or null when
// cancelled with Ctrl+C.
struct Answer {
  bool cancelled = false;
  Json last;
  std::string content;
  std::string thinking;
  std::string role = "assistant";
};

Answer stream_answer(Client& client, const std::string& path, const Json& body, const RunOptions& opts,
                     bool chat) {
  Answer a;
  Progress p;
  p.add_spinner("");
  InterruptGuard guard;
  ResponseDisplay display(stdout, opts.word_wrap, terminal_width(1));
  bool think_open = false, think_closed = false;
  const bool plain = !isatty(1);
  const auto on_chunk = [&](const Json& r) {
    p.stop_and_clear();
    a.last = r;
    std::string content, thinking;
    bool tool_calls = false;
    if (chat) {
      const Json msg = r.contains("message") && r["message"].is_object() ? r["message"] : Json::object();
      content = str(msg, "content");
      thinking = str(msg, "thinking");
      if (!str(msg, "role").empty()) a.role = str(msg, "role");
      tool_calls = msg.contains("tool_calls") && msg["tool_calls"].is_array() && !msg["tool_calls"].empty();
    } else {
      content = str(r, "response");
      thinking = str(r, "thinking");
      tool_calls = r.contains("tool_calls") && r["tool_calls"].is_array() && !r["tool_calls"].empty();
    }
    if (!thinking.empty() && !opts.hide_thinking) {
      if (!think_open) {
        std::fputs(plain ? "Thinking...\n" : "\033[90mThinking...\033[0m\n", stdout);
        think_open = true;
        think_closed = false;
      }
      a.thinking += thinking;
      display.write(thinking);
    } else if (!thinking.empty()) {
      a.thinking += thinking;
    }
    if (think_open && !think_closed && (!content.empty() || tool_calls)) {
      if (!a.thinking.empty() && a.thinking.back() != '\n') std::fputs("\n", stdout);
      std::fputs(plain ? "...done thinking.\n\n" : "\033[90m...done thinking.\033[0m\n\n", stdout);
      think_open = false;
      think_closed = true;
      display.reset();
    }
    a.content += content;
    display.write(content);
    if (tool_calls) {
      const Json& calls = chat ? r["message"]["tool_calls"] : r["tool_calls"];
      for (const auto& c : calls) {
        const Json fn = c.contains("function") ? c["function"] : Json::object();
        std::printf("%s(%s)\n", str(fn, "name").c_str(),
                    fn.contains("arguments") ? fn["arguments"].dump().c_str() : "{}");
      }
    }
    return true;
  };
  bool ok = false;
  try {
    ok = client.stream(path, body, on_chunk, &InterruptGuard::flag());
  } catch (...) {
    p.stop_and_clear();
    throw;
  }
  p.stop_and_clear();
  std::fflush(stdout);
  a.cancelled = !ok;
  return a;
}

void print_summary(const Json& last) {
  std::fputs(metrics_summary(last).c_str(), stderr);
  std::fflush(stderr);
}

void generate_once(Client& client, const RunOptions& opts) {
  Json body = Json::object();
  body["model"] = opts.model;
  body["prompt"] = opts.prompt;
  if (!opts.system.empty()) body["system"] = opts.system;
  const Json format = format_value(opts.format);
  if (!format.is_null()) body["format"] = format;
  if (opts.keep_alive) body["keep_alive"] = *opts.keep_alive;
  body["options"] = opts.options;
  if (opts.think) body["think"] = *opts.think;
  const Answer a = stream_answer(client, "/api/generate", body, opts, false);
  if (a.cancelled) {
    std::fputs("\n", stdout);
    return;
  }
  if (!opts.prompt.empty()) std::fputs("\n\n", stdout);
  std::fflush(stdout);
  if (a.last.value("done", false) && opts.verbose) print_summary(a.last);
}

}  // namespace

std::optional<Json> chat_turn(Client& client, RunOptions& opts) {
  Json body = Json::object();
  body["model"] = opts.model;
  body["messages"] = opts.messages;
  const Json format = format_value(opts.format);
  if (!format.is_null()) body["format"] = format;
  body["options"] = opts.options;
  if (opts.keep_alive) body["keep_alive"] = *opts.keep_alive;
  if (opts.think) body["think"] = *opts.think;
  const Answer a = stream_answer(client, "/api/chat", body, opts, true);
  if (a.cancelled) {
    std::fputs("\n", stdout);
    std::fflush(stdout);
    return std::nullopt;
  }
  if (!opts.messages.empty()) std::fputs("\n\n", stdout);
  std::fflush(stdout);
  if (opts.verbose) print_summary(a.last);
  Json m = Json::object();
  m["role"] = a.role;
  m["content"] = a.content;
  if (!a.thinking.empty()) m["thinking"] = a.thinking;
  return m;
}

namespace {

struct RunArgs {
  std::vector<std::string> args;
  std::string format, keepalive, think;
  bool verbose = false, insecure = false, nowordwrap = false, hidethinking = false, truncate = false;
  int dimensions = 0;
};

void run_command(CLI::App* cmd, const RunArgs& a) {
  min_args(a.args, 1);
  Client client = connect();
  RunOptions opts;
  opts.model = a.args[0];
  opts.format = a.format;
  opts.verbose = a.verbose;
  opts.hide_thinking = a.hidethinking;
  if (cmd->count("--think") > 0) {
    const std::string& t = a.think;
    if (t.empty() || t == "true") opts.think = Json(true);
    else if (t == "false") opts.think = Json(false);
    else if (t == "high" || t == "medium" || t == "low" || t == "max") opts.think = Json(t);
    else throw CliError("invalid value for --think: \"" + t + "\" (must be true, false, high, medium, low, or max)");
  }
  if (!a.keepalive.empty()) opts.keep_alive = keep_alive_value(a.keepalive);

  std::vector<std::string> prompts(a.args.begin() + 1, a.args.end());
  bool interactive = true;
  if (!isatty(0)) {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    const std::string in = ss.str();
    if (!in.empty()) prompts.insert(prompts.begin(), in);
    interactive = false;
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (i) opts.prompt += ' ';
    opts.prompt += prompts[i];
  }
  if (!prompts.empty()) interactive = false;
  if (!isatty(1)) interactive = false;
  opts.word_wrap = !a.nowordwrap;

  const Json info = show_or_pull(client, opts.model, a.insecure);
  if (info.contains("details") && info["details"].is_object()) {
    opts.parent_model = str(info["details"], "parent_model");
  }
  if (interactive) {
    load_or_unload(client, opts);
    if (info.contains("messages") && info["messages"].is_array()) {
      for (const auto& m : info["messages"]) {
        const std::string role = str(m, "role");
        if (role == "user") {
          std::printf(">>> %s\n", str(m, "content").c_str());
        } else if (role == "assistant") {
          ResponseDisplay d(stdout, opts.word_wrap, terminal_width(1));
          d.write(str(m, "content"));
          std::fputs("\n\n", stdout);
        }
      }
      std::fflush(stdout);
    }
    run_interactive(client, opts);
    return;
  }
  generate_once(client, opts);
}

void pull_command(const std::vector<std::string>& args, bool insecure) {
  exact_args(args, 1);
  Client client = connect();
  pull_model(client, args[0], insecure);
}

void push_command(const std::vector<std::string>& args, bool insecure) {
  exact_args(args, 1);
  Client client = connect();
  Progress p;
  Json body = Json::object();
  body["model"] = args[0];
  if (insecure) body["insecure"] = true;
  std::string status;
  Spinner* spinner = nullptr;
  client.stream("/api/push", body, [&](const Json& r) {
    const std::string st = str(r, "status");
    if (st != status) {
      if (spinner) {
        auto lock = p.lock();
        spinner->stop();
      }
      status = st;
      spinner = p.add_spinner(st);
    }
    return true;
  });
}

void list_command(const std::vector<std::string>& args) {
  max_args(args, 1);
  Client client = connect();
  list_models(client, args.empty() ? "" : args[0]);
}

void ps_command(const std::vector<std::string>& args) {
  max_args(args, 1);
  Client client = connect();
  const Json ps = client.request("GET", "/api/ps");
  std::fputs(render_ps(ps, args.empty() ? "" : args[0], Instant::now()).c_str(), stdout);
}

struct ShowArgs {
  std::vector<std::string> args;
  bool license = false, modelfile = false, parameters = false, system = false, tmpl = false,
       verbose = false;
};

void show_command(const ShowArgs& a) {
  exact_args(a.args, 1);
  Client client = connect();
  const int set = a.license + a.modelfile + a.parameters + a.system + a.tmpl;
  if (set > 1) {
    throw CliError("only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified");
  }
  Json body = Json::object();
  body["model"] = a.args[0];
  if (a.verbose) body["verbose"] = true;
  const Json resp = client.request("POST", "/api/show", &body);
  if (a.license) std::printf("%s\n", str(resp, "license").c_str());
  else if (a.modelfile) std::printf("%s\n", str(resp, "modelfile").c_str());
  else if (a.parameters) std::printf("%s\n", str(resp, "parameters").c_str());
  else if (a.system) std::fputs(str(resp, "system").c_str(), stdout);
  else if (a.tmpl) std::fputs(str(resp, "template").c_str(), stdout);
  else std::fputs(show_info_text(resp, a.verbose).c_str(), stdout);
}

void stop_command(const std::vector<std::string>& args) {
  exact_args(args, 1);
  Client client = connect();
  RunOptions opts;
  opts.model = args[0];
  opts.keep_alive = Json("0s");
  try {
    load_or_unload(client, opts);
  } catch (const CliError& e) {
    if (std::string(e.what()).find("not found") != std::string::npos) {
      throw CliError("couldn't find model \"" + args[0] + "\" to stop");
    }
    throw;
  }
}

void copy_command(const std::vector<std::string>& args) {
  exact_args(args, 2);
  Client client = connect();
  Json body = Json::object();
  body["source"] = args[0];
  body["destination"] = args[1];
  client.request("POST", "/api/copy", &body);
  std::printf("copied '%s' to '%s'\n", args[0].c_str(), args[1].c_str());
}

void remove_command(const std::vector<std::string>& args) {
  min_args(args, 1);
  Client client = connect();
  for (const auto& name : args) {
    RunOptions opts;
    opts.model = name;
    opts.keep_alive = Json("0s");
    try {
      load_or_unload(client, opts);
    } catch (const CliError& e) {
      std::string msg = e.what();
      for (auto& c : msg) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (msg.find("not found") == std::string::npos) {
        std::fprintf(stderr, "Warning: unable to stop model '%s'\n", name.c_str());
      }
    }
    Json body = Json::object();
    body["model"] = name;
    client.request("DELETE", "/api/delete", &body);
    std::printf("deleted '%s'\n", name.c_str());
    std::fflush(stdout);
  }
}

struct CreateArgs {
  std::vector<std::string> args;
  std::string file, quantize, draft_quantize;
};

// sha256 of a file, streamed (GGUF files can be many GB).
std::string file_sha256_hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError("open " + path + ": cannot read the file");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw CliError("sha256: OpenSSL failed");
  std::vector<char> buf(size_t{1} << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

// create and import: parses `text` (a Modelfile whose relative paths are relative to `dir`),
// uploads the local GGUF files it names as blobs, then streams /api/create with Ollama's progress.
void create_model(const std::string& name, const std::string& text, const std::string& dir,
                  const std::string& quantize) {
  Client client = connect();
  Progress p;
  Spinner* spinner = p.add_spinner("gathering model components");
  Json req;
  std::vector<std::string> warnings;
  std::vector<LocalFile> files;
  try {
    const Modelfile mf = parse_modelfile(text);
    req = create_request(mf, dir, &warnings, &files);
  } catch (const ModelfileError& e) {
    p.stop();
    throw CliError(e.what());
  }
  {
    auto lock = p.lock();
    spinner->stop();
  }
  for (const auto& w : warnings) std::printf("%s\n", w.c_str());
  Json body = Json::object();
  body["model"] = name;
  for (const auto& [k, v] : req.items()) body[k] = v;
  if (!quantize.empty()) body["quantize"] = quantize;
  for (const LocalFile& f : files) {
    const std::string digest = "sha256:" + file_sha256_hex(f.path);
    if (!client.has_blob(digest)) {
      std::error_code ec;
      const auto size = static_cast<int64_t>(std::filesystem::file_size(f.path, ec));
      Bar* bar = p.add_bar("copying file " + digest, size, 0);
      client.upload_blob(digest, f.path, [&](uint64_t done) {
        auto lock = p.lock();
        bar->set(static_cast<int64_t>(done));
      });
      auto lock = p.lock();
      bar->set(size);
    }
    body["files"][f.name] = digest;
  }

  std::map<std::string, Bar*> bars;
  std::string status = "gathering model components";
  client.stream("/api/create", body, [&](const Json& r) {
    const std::string digest = str(r, "digest");
    const std::string st = str(r, "status");
    if (!digest.empty()) {
      auto it = bars.find(digest);
      if (it == bars.end()) {
        std::string msg = st;
        if (msg.empty()) {
          const auto colon = digest.find(':');
          msg = "pulling " + (colon == std::string::npos ? digest : digest.substr(colon + 1)).substr(0, 12) + "...";
        }
        Bar* b = p.add_bar(msg, r.value("total", int64_t{0}), r.value("completed", int64_t{0}));
        it = bars.emplace(digest, b).first;
      }
      auto lock = p.lock();
      it->second->set(r.value("completed", int64_t{0}));
    } else if (st != status) {
      {
        auto lock = p.lock();
        spinner->stop();
      }
      status = st;
      spinner = p.add_spinner(st);
    }
    return true;
  });
  p.stop();
}

void create_command(CLI::App* cmd, const CreateArgs& a) {
  exact_args(a.args, 1);
  namespace fs = std::filesystem;
  std::string text;
  std::string dir = fs::current_path().string();
  const bool given = cmd->count("--file") > 0 && !a.file.empty();
  const std::string filename = given ? a.file : "Modelfile";
  std::error_code ec;
  if (filename == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else if (!fs::exists(filename, ec)) {
    if (given) throw CliError("specified Modelfile wasn't found");
    text = "FROM .\n";  // like Ollama: the current directory is the model
  } else {
    const fs::path abs = fs::absolute(filename).lexically_normal();
    std::ifstream in(abs, std::ios::binary);
    if (!in) throw CliError("open " + abs.string() + ": permission denied");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    dir = abs.parent_path().string();
  }
  if (!a.draft_quantize.empty()) throw CliError("--draft-quantize requires a DRAFT model");
  create_model(a.args[0], text, dir, a.quantize);
}

// ollmlx import SOURCE [NAME]: SOURCE is "ollama:<name>" (the user's Ollama store, read by the
// server), a GGUF file or an MLX / Hugging Face model folder. NAME defaults to the Ollama name,
// the file's stem or the folder's name.
struct ImportArgs {
  std::vector<std::string> args;
  std::string quantize;
};

void import_command(const ImportArgs& a) {
  if (a.args.empty() || a.args.size() > 2) throw CliError("usage: ollmlx import SOURCE [NAME]");
  namespace fs = std::filesystem;
  const std::string& source = a.args[0];
  std::string name = a.args.size() == 2 ? a.args[1] : "";
  std::string from;
  if (source.rfind("ollama:", 0) == 0) {
    if (source.size() == 7) throw CliError("usage: ollmlx import ollama:<model name> [NAME]");
    from = source;
    if (name.empty()) name = source.substr(7);
  } else {
    std::error_code ec;
    if (!fs::exists(source, ec))
      throw CliError(source + " does not exist (import takes ollama:<name>, a GGUF file or a model folder)");
    const fs::path abs = fs::absolute(source).lexically_normal();
    from = abs.string();
    if (name.empty()) {
      name = fs::is_directory(abs, ec) ? (abs.has_filename() ? abs.filename() : abs.parent_path().filename()).string()
                                        : abs.stem().string();
    }
  }
  if (from.find('\n') != std::string::npos) throw CliError("SOURCE must not contain a newline");
  create_model(name, "FROM " + from + "\n", fs::current_path().string(), a.quantize);
}

}  // namespace

int version_command() {
  std::string server_version;
  try {
    Client client = Client::from_env();
    std::string api_version = client.version(&server_version);
    if (server_version.empty()) server_version = api_version;
  } catch (const std::exception&) {
    std::printf("Warning: could not connect to a running ollmlx instance\n");
  }
  if (!server_version.empty()) std::printf("ollmlx version is %s\n", server_version.c_str());
  if (server_version != kVersion) std::printf("Warning: client version is %s\n", kVersion);
  return 0;
}

void add_ollama_commands(CLI::App& app) {
  const char* host_env =
      "Environment Variables:\n"
      "      OLLAMA_HOST / OLLMLX_HOST   IP Address for the ollmlx server (default 127.0.0.1:11434)\n"
      "      OLLMLX_API_KEY              Bearer token sent to a server started with OLLMLX_API_KEY";

  {
    auto a = std::make_shared<CreateArgs>();
    CLI::App* c = app.add_subcommand("create", "Create a model from a Modelfile");
    c->add_option("args", a->args, "MODEL");
    c->add_option("-f,--file", a->file, "Name of the Modelfile (default \"Modelfile\")");
    c->add_option("-q,--quantize", a->quantize, "Quantize model to this level (e.g. q4_K_M)");
    c->add_option("--draft-quantize", a->draft_quantize, "Quantize the DRAFT model to this level");
    c->footer(host_env);
    c->callback([c, a] { create_command(c, *a); });
  }
  {
    auto a = std::make_shared<ImportArgs>();
    CLI::App* c = app.add_subcommand(
        "import", "Import a model: ollama:<name> from Ollama's store, a GGUF file or an MLX folder");
    c->add_option("args", a->args, "SOURCE [NAME]");
    c->add_option("-q,--quantize", a->quantize,
                  "Quantize float weights on import: q4 or q8 (MLX affine, group size 64)");
    c->footer(host_env);
    c->callback([a] { import_command(*a); });
  }
  {
    auto a = std::make_shared<ShowArgs>();
    CLI::App* c = app.add_subcommand("show", "Show information for a model");
    c->add_option("args", a->args, "MODEL");
    c->add_flag("--license", a->license, "Show license of a model");
    c->add_flag("--modelfile", a->modelfile, "Show Modelfile of a model");
    c->add_flag("--parameters", a->parameters, "Show parameters of a model");
    c->add_flag("--template", a->tmpl, "Show template of a model");
    c->add_flag("--system", a->system, "Show system message of a model");
    c->add_flag("-v,--verbose", a->verbose, "Show detailed model information");
    c->footer(host_env);
    c->callback([a] { show_command(*a); });
  }
  {
    auto a = std::make_shared<RunArgs>();
    CLI::App* c = app.add_subcommand("run", "Run a model");
    c->add_option("args", a->args, "MODEL [PROMPT]");
    c->add_option("--keepalive", a->keepalive, "Duration to keep a model loaded (e.g. 5m)");
    c->add_flag("--verbose", a->verbose, "Show timings for response");
    c->add_flag("--insecure", a->insecure, "Use an insecure registry");
    c->add_flag("--nowordwrap", a->nowordwrap, "Don't wrap words to the next line automatically");
    c->add_option("--format", a->format, "Response format (e.g. json)");
    c->add_option("--think", a->think,
                  "Enable thinking mode: true/false or high/medium/low for supported models");
    c->add_flag("--hidethinking", a->hidethinking, "Hide thinking output (if provided)");
    c->add_flag("--truncate", a->truncate,
                "For embedding models: truncate inputs exceeding context length (default: true)");
    c->add_option("--dimensions", a->dimensions, "Truncate output embeddings to specified dimension");
    c->footer(std::string(host_env) +
              "\n      OLLAMA_NOHISTORY            Do not preserve readline history");
    c->callback([c, a] { run_command(c, *a); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    CLI::App* c = app.add_subcommand("stop", "Stop a running model");
    c->add_option("args", *a, "MODEL");
    c->footer(host_env);
    c->callback([a] { stop_command(*a); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    auto insecure = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand("pull", "Pull a model from a registry (Hugging Face)");
    c->add_option("args", *a, "MODEL");
    c->add_flag("--insecure", *insecure, "Use an insecure registry");
    c->footer(host_env);
    c->callback([a, insecure] { pull_command(*a, *insecure); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    auto insecure = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand("push", "Push a model to a registry (not supported by ollmlx)");
    c->add_option("args", *a, "MODEL");
    c->add_flag("--insecure", *insecure, "Use an insecure registry");
    c->footer(host_env);
    c->callback([a, insecure] { push_command(*a, *insecure); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    CLI::App* c = app.add_subcommand("list", "List models");
    c->alias("ls");
    c->add_option("args", *a, "[PREFIX]");
    c->footer(host_env);
    c->callback([a] { list_command(*a); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    CLI::App* c = app.add_subcommand("ps", "List running models");
    c->add_option("args", *a, "[PREFIX]");
    c->footer(host_env);
    c->callback([a] { ps_command(*a); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    CLI::App* c = app.add_subcommand("cp", "Copy a model");
    c->add_option("args", *a, "SOURCE DESTINATION");
    c->footer(host_env);
    c->callback([a] { copy_command(*a); });
  }
  {
    auto a = std::make_shared<std::vector<std::string>>();
    CLI::App* c = app.add_subcommand("rm", "Remove a model");
    c->add_option("args", *a, "MODEL [MODEL...]");
    c->footer(host_env);
    c->callback([a] { remove_command(*a); });
  }
}

}  // namespace ollmlx::cli
