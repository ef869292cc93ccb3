// End-to-end tests of the Ollama-style CLI (label `api`): the real `ollmlx serve` on a free
// loopback port with its own empty model store (OLLMLX_MODELS, HF_HUB_CACHE, HF_HUB_OFFLINE=1),
// a tiny model directory (an mlx-lm parity fixture's weights plus a 384-word tokenizer written
// here) registered with `ollmlx create`, and the real outputs of list, show, run (one-shot,
// piped, greedy through the Modelfile's PARAMETER temperature 0; interactive in a pseudo-
// terminal), ps, cp, rm, stop, pull/push errors, -v and the not-running error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "cli/format.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Env = std::map<std::string, std::string>;

const char* kCase = "q4_g64_bf16_tied";  // llama, vocab 384, 285 KB of weights

struct Result {
  int code = -1;
  std::string out, err;
};

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) {
    static const char* kHex = "0123456789abcdef";
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A free loopback port (bound for a moment, then closed; a race with another process is unlikely).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

void apply_env(const Env& env) {
  for (const auto& [k, v] : env) {
    if (v == "\x01unset") unsetenv(k.c_str());
    else setenv(k.c_str(), v.c_str(), 1);
  }
}

// The tiny model: parity weights + a WordLevel tokenizer with exactly the model's 384 ids and a
// one-line Jinja chat template.
void write_tiny_model(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst);
  for (const char* f : {"config.json", "model.safetensors", "model.safetensors.index.json"}) {
    if (fs::exists(src / f)) fs::create_symlink(src / f, dst / f);
  }
  Json vocab = Json::object();
  const char* words[] = {"<unk>", "<s>", "</s>", "hello", "world", "you", "are", "tiny", "."};
  int id = 0;
  for (const char* w : words) vocab[w] = id++;
  for (; id < 384; ++id) {
    std::string w = std::to_string(id);
    w.insert(w.begin(), 'w');
    vocab[w] = id;
  }
  Json added = Json::array();
  for (int i = 0; i < 3; ++i) {
    added.push_back({{"id", i}, {"content", words[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  const Json tok = {
      {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
      {"normalizer", {{"type", "Lowercase"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers", Json::array({{{"type", "WhitespaceSplit"}},
                                       {{"type", "Punctuation"}, {"behavior", "Isolated"}}})}}},
      {"post_processor", nullptr}, {"decoder", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}}};
  std::ofstream(dst / "tokenizer.json") << tok.dump(1);
  const Json cfg = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"},
                    {"chat_template", "{% for m in messages %}{{ m['content'] }} {% endfor %}"}};
  std::ofstream(dst / "tokenizer_config.json") << cfg.dump(1);
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    bin_ = OLLMLX_BIN;
    const char* fx = std::getenv("OLLMLX_FIXTURES");
    const char* srcdir = std::getenv("OLLMLX_SOURCE_DIR");
    fs::path fixtures = fx && *fx ? fs::path(fx)
                                  : fs::path(srcdir ? srcdir : ".") / "tests" / "fixtures" / "generated";
    fixtures_ = fixtures;
    const fs::path src = fixtures / "parity" / kCase;
    if (!fs::exists(src / "model.safetensors")) {
      skip_ = "missing fixture " + src.string() + " (run tools/prepare_test_data.sh)";
      return;
    }
    char tmpl[] = "/tmp/ollmlx_cli_e2e_XXXXXX";
    root_ = mkdtemp(tmpl);
    model_dir_ = root_ / "tiny";
    write_tiny_model(src, model_dir_);
    fs::create_directories(root_ / "home");
    port_ = free_port();
    env_ = {{"OLLAMA_HOST", "127.0.0.1:" + std::to_string(port_)},
            {"OLLMLX_HOST", "\x01unset"},
            {"OLLMLX_API_KEY", "\x01unset"},
            {"OLLAMA_NOHISTORY", "\x01unset"},
            {"OLLMLX_MODELS", (root_ / "models").string()},
            {"HF_HUB_CACHE", (root_ / "hf").string()},
            {"HF_HOME", (root_ / "hfhome").string()},
            {"HF_HUB_OFFLINE", "1"},
            {"OLLAMA_MODELS", (root_ / "ollama").string()},
            {"HOME", (root_ / "home").string()},
            {"OLLAMA_KEEP_ALIVE", "\x01unset"},
            {"OLLMLX_NUM_THREADS", "2"},
            {"TERM", "xterm-256color"}};
    std::ofstream(root_ / "Modelfile") << "FROM ./tiny\n"
                                          "PARAMETER temperature 0\n"
                                          "PARAMETER num_predict 8\n"
                                          "SYSTEM You are tiny.\n"
                                          "LICENSE MIT\n";
    start_server();
  }

  static void TearDownTestSuite() {
    if (server_pid_ > 0) {
      kill(server_pid_, SIGTERM);
      int st = 0;
      waitpid(server_pid_, &st, 0);
      server_pid_ = -1;
    }
    if (!root_.empty()) fs::remove_all(root_);
  }

  void SetUp() override {
    if (!skip_.empty()) {
      if (const char* r = std::getenv("OLLMLX_REQUIRE_FIXTURES"); r && std::string(r) == "1") FAIL() << skip_;
      GTEST_SKIP() << skip_;
    }
    ASSERT_GT(server_pid_, 0) << read_file(root_ / "server.log");
    if (!created_) {
      const Result r = run({"create", "tiny", "-f", (root_ / "Modelfile").string()});
      ASSERT_EQ(r.code, 0) << r.err;
      created_ = true;
    }
  }

  static void start_server() {
    const fs::path log = root_ / "server.log";
    server_pid_ = fork();
    if (server_pid_ == 0) {
      apply_env(env_);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      const int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
      execl(bin_.c_str(), bin_.c_str(), "serve", static_cast<char*>(nullptr));
      _exit(127);
    }
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1, 0);
    for (int i = 0; i < 600; ++i) {
      if (auto res = c.Head("/"); res && res->status == 200) return;
      int st = 0;
      if (waitpid(server_pid_, &st, WNOHANG) == server_pid_) {
        server_pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(server_pid_, SIGKILL);
    waitpid(server_pid_, nullptr, 0);
    server_pid_ = -1;
  }

  // Runs `ollmlx args...` with stdin from `input` (a pipe: never a terminal).
  static Result run(const std::vector<std::string>& args, const std::string& input = "", const Env& extra = {},
                    const fs::path& cwd = {}) {
    static int n = 0;
    const fs::path out = root_ / ("out" + std::to_string(++n)), err = root_ / ("err" + std::to_string(n));
    int in_pipe[2];
    if (pipe(in_pipe) != 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
      apply_env(env_);
      apply_env(extra);
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      dup2(in_pipe[0], 0);
      close(in_pipe[1]);
      const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<std::string> all = {bin_};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin_.c_str(), argv.data());
      _exit(127);
    }
    close(in_pipe[0]);
    if (!input.empty()) (void)!write(in_pipe[1], input.data(), input.size());
    close(in_pipe[1]);
    int st = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (waitpid(pid, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Result r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  static Json api(const std::string& method, const std::string& path, const Json& body = nullptr) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    httplib::Result res = method == "GET" ? c.Get(path.c_str())
                                          : c.Post(path.c_str(), body.dump(), "application/json");
    if (!res || res->body.empty()) return nullptr;
    return Json::parse(res->body);
  }

  // What the offline engine tool answers for the same conversation (greedy).
  static std::string expected_answer(const std::string& prompt, int tokens) {
    const Result r = run({"generate", "--model", model_dir_.string(), "--prompt", prompt, "--system",
                          "You are tiny.", "-n", std::to_string(tokens)});
    EXPECT_EQ(r.code, 0) << r.err;
    std::string s = r.out;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  static inline std::string bin_, skip_;
  static inline fs::path root_, model_dir_, fixtures_;
  static inline Env env_;
  static inline int port_ = 0;
  static inline pid_t server_pid_ = -1;
  static inline bool created_ = false;
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

TEST(CliNotRunning, Error) {
  const std::string bin = OLLMLX_BIN;
  const int port = free_port();  // nothing listens there any more
  for (const char* cmd : {"list", "ps"}) {
    const std::string line = "OLLAMA_HOST=127.0.0.1:" + std::to_string(port) + " OLLMLX_HOST= " + bin + " " +
                             cmd + " 2>&1; echo \"exit=$?\"";
    FILE* p = popen(line.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    EXPECT_EQ(out, "Error: could not connect to ollmlx server, run 'ollmlx serve' to start it\nexit=1\n");
  }
  const std::string line = "OLLAMA_HOST=127.0.0.1:" + std::to_string(port) + " OLLMLX_HOST= " + bin + " -v";
  FILE* p = popen(line.c_str(), "r");
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0);
  // Ollama's lines, then the backends of this build (issue 8: --version says what can serve).
  EXPECT_TRUE(std::regex_match(out, std::regex("Warning: could not connect to a running ollmlx instance\n"
                                               "Warning: client version is 0\\.1\\.0\n"
                                               "backends: cpu[^\n]*\n")))
      << out;
}

TEST_F(CliTest, VersionAndHelp) {
  Result r = run({"-v"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(std::regex_match(r.out, std::regex("ollmlx version is 0\\.1\\.0\nbackends: cpu[^\n]*\n")))
      << r.out;
  r = run({"run"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: requires at least 1 arg(s), only received 0\n");
  r = run({"cp", "a"});
  EXPECT_EQ(r.err, "Error: accepts 2 arg(s), received 1\n");
}

TEST_F(CliTest, List) {
  const Json tags = api("GET", "/api/tags");
  Json m;
  for (const auto& x : tags["models"]) {
    if (x["name"] == "tiny:latest") m = x;
  }
  ASSERT_TRUE(m.is_object()) << tags.dump();
  const Result r = run({"list", "tiny:"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto l = lines(r.out);
  ASSERT_EQ(l.size(), 2u) << r.out;
  const std::string size = ollmlx::cli::human_bytes(m["size"].get<int64_t>());
  const std::string id = m["digest"].get<std::string>().substr(0, 12);
  EXPECT_TRUE(std::regex_match(l[0], std::regex("NAME           ID              SIZE +MODIFIED +"))) << l[0];
  EXPECT_TRUE(std::regex_match(
      l[1], std::regex("tiny:latest    " + id + "    " + size + " +(Less than a second|\\d+ seconds|About a minute|\\d+ minutes) ago +")))
      << l[1];
  // The MODIFIED column may tick ("Less than a second" -> "1 second") between two runs on a
  // loaded machine: compare the rows up to it.
  const std::string row_start = "\ntiny:latest    " + id + "    " + size + " ";
  const auto same_rows = [&](const std::string& out) {
    const auto ls = lines(out);
    return ls.size() == l.size() && ls[0] == l[0] && ("\n" + ls[1]).rfind(row_start, 0) == 0;
  };
  EXPECT_TRUE(same_rows(run({"ls", "TINY:"}).out));  // alias, case-insensitive prefix
  EXPECT_EQ(lines(run({"ls", "zzz"}).out).size(), 1u);
  EXPECT_NE(run({"list"}).out.find(row_start), std::string::npos);
}

TEST_F(CliTest, Show) {
  Result r = run({"show", "tiny"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("  Model\n    architecture        llama"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    context length      2048 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    embedding length    128 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  Parameters\n    temperature    0    \n    num_predict    8    \n\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  System\n    You are tiny.    \n\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  License\n    MIT    \n\n"), std::string::npos) << r.out;
  EXPECT_EQ(run({"show", "tiny", "--license"}).out, "MIT\n");
  EXPECT_EQ(run({"show", "tiny", "--system"}).out, "You are tiny.");
  EXPECT_EQ(run({"show", "tiny", "--parameters"}).out,
            "temperature                    0\nnum_predict                    8\n");
  EXPECT_NE(run({"show", "tiny", "--modelfile"}).out.find("FROM " + model_dir_.string() + "\n"), std::string::npos);
  r = run({"show", "tiny", "--license", "--system"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "Error: only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified\n");
  r = run({"show", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: model 'nope:latest' not found\n");
}

TEST_F(CliTest, RunOneShotPsStop) {
  const std::string expected = expected_answer("hello world", 8);
  ASSERT_FALSE(expected.empty());
  Result r = run({"run", "tiny", "hello", "world"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n\n");
  EXPECT_EQ(r.err, "");
  // Piped stdin comes first in the prompt and forces a one-shot answer.
  r = run({"run", "tiny", "world", "--verbose"}, "hello");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n\n");
  EXPECT_TRUE(std::regex_search(r.err, std::regex("^total duration: +\\S+\nload duration: +\\S+\n"
                                                  "prompt eval count: +\\d+ token\\(s\\)\n")))
      << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\neval rate: +[0-9.]+ tokens/s\n$"))) << r.err;

  r = run({"ps"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto l = lines(r.out);
  ASSERT_EQ(l.size(), 2u) << r.out;
  EXPECT_TRUE(std::regex_match(l[0], std::regex("NAME           ID              SIZE +PROCESSOR +CONTEXT +UNTIL +"))) << l[0];
  EXPECT_TRUE(std::regex_match(l[1], std::regex("tiny:latest    [0-9a-f]{12}    \\S+ \\S+ +100% (CPU|GPU) +\\d+ +"
                                                 "(4|5) minutes from now +")))
      << l[1];

  r = run({"stop", "tiny"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(lines(run({"ps"}).out).size(), 1u);
  r = run({"stop", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: couldn't find model \"nope\" to stop\n");

  // --keepalive 0 unloads right after the answer.
  r = run({"run", "tiny", "hello world", "--keepalive", "0"});
  EXPECT_EQ(r.out, expected + "\n\n");
  for (int i = 0; i < 100 && lines(run({"ps"}).out).size() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(lines(run({"ps"}).out).size(), 1u);
}

TEST_F(CliTest, RunErrors) {
  Result r = run({"run", "tiny", "hi", "--keepalive", "soon"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: time: invalid duration \"soon\"\n");
  r = run({"run", "tiny", "hi", "--think=maybe"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: invalid value for --think: \"maybe\" (must be true, false, high, medium, low, or max)\n");
  r = run({"run", "tiny", "--think", "hi"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("does not support thinking"), std::string::npos) << r.err;
  // A model that is not there is pulled first; offline, the pull fails.
  r = run({"run", "nosuchmodel", "hi"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("pulling manifest\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Error: pull model manifest: file does not exist"), std::string::npos) << r.err;
  r = run({"pull", "nosuchmodel"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: pull model manifest: file does not exist"), std::string::npos) << r.err;
  r = run({"push", "tiny"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: 501 Not Implemented: push is not available"), std::string::npos) << r.err;
}

TEST_F(CliTest, CopyRemove) {
  Result r = run({"cp", "tiny", "tiny2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "copied 'tiny' to 'tiny2'\n");
  const auto id_of = [](const std::string& name) {
    for (const auto& line : lines(run({"list"}).out)) {
      if (line.rfind(name + "    ", 0) == 0) return line.substr(line.find_first_not_of(' ', name.size()), 12);
    }
    return std::string();
  };
  EXPECT_FALSE(id_of("tiny2:latest").empty());
  EXPECT_EQ(id_of("tiny2:latest"), id_of("tiny:latest"));  // copies share a digest
  r = run({"rm", "tiny2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "deleted 'tiny2'\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(id_of("tiny2:latest"), "");
  EXPECT_FALSE(id_of("tiny:latest").empty());
  r = run({"rm", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: model 'nope' not found\n");
  r = run({"cp", "nope", "x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: model \"nope\" not found\n");
}

TEST_F(CliTest, CreateVariants) {
  // Progress lines on a non-terminal stderr, then the model exists.
  std::ofstream(root_ / "Modelfile2") << "FROM tiny\nPARAMETER num_predict 2\nMESSAGE user hello\nMESSAGE assistant world\n";
  Result r = run({"create", "tiny-short", "-f", (root_ / "Modelfile2").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "gathering model components\nreading model metadata\ncreating new layer\nwriting manifest\nsuccess\n");
  const Json show = api("POST", "/api/show", {{"model", "tiny-short"}});
  EXPECT_EQ(show["messages"].size(), 2u) << show.dump();
  // Without -f, ./Modelfile of the working directory.
  r = run({"create", "tiny-cwd"}, "", {}, root_);
  EXPECT_EQ(r.code, 0) << r.err;
  r = run({"create", "x", "-f", (root_ / "missing").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: specified Modelfile wasn't found\n");
  std::ofstream(root_ / "GoTemplate") << "FROM tiny\nTEMPLATE {{ .Prompt }}\n";
  r = run({"create", "x", "-f", (root_ / "GoTemplate").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: TEMPLATE is a Go template"), std::string::npos) << r.err;
  std::ofstream(root_ / "model.gguf") << "GGUF\x03";
  std::ofstream(root_ / "Gguf") << "FROM ./model.gguf\n";
  r = run({"create", "x", "-f", (root_ / "Gguf").string()});
  EXPECT_EQ(r.code, 1);  // uploaded as a blob, refused by the server's GGUF reader
  EXPECT_NE(r.err.find("copying file sha256:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Error: [gguf] "), std::string::npos) << r.err;  // a mid-stream error line
  EXPECT_NE(r.err.find("truncated file"), std::string::npos) << r.err;
  std::ofstream(root_ / "Bad") << "FROM tiny\nFOO bar\n";
  r = run({"create", "x", "-f", (root_ / "Bad").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: (line 2): command must be one of"), std::string::npos) << r.err;
  std::ofstream(root_ / "NoModel") << "FROM nosuchmodel\n";
  r = run({"create", "x", "-f", (root_ / "NoModel").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: 404 Not Found: model \"nosuchmodel\" not found"), std::string::npos) << r.err;
  r = run({"create", "x", "-q", "q4_K_M", "-f", (root_ / "Modelfile2").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: 400 Bad Request: [quantize] unsupported quantization type q4_K_M: "
                       "ollmlx quantizes float weights to q4 or q8"), std::string::npos) << r.err;
}

// ollmlx import: a GGUF file (uploaded as a blob, converted by the server), an MLX folder, and a
// model of an Ollama store (OLLAMA_MODELS of the server: a manifest and its GGUF blob).
TEST_F(CliTest, ImportVariants) {
  const fs::path gguf = fixtures_ / "gguf_import" / "plain" / "model.gguf";
  if (!fs::exists(gguf)) GTEST_SKIP() << "missing " << gguf;
  Result r = run({"import", gguf.string(), "from-gguf"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("copying file sha256:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("parsing GGUF\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nsuccess\n"), std::string::npos) << r.err;
  Json show = api("POST", "/api/show", {{"model", "from-gguf"}});
  EXPECT_EQ(show["details"]["family"], "llama") << show.dump();
  // The blob is on the server now: no second upload.
  r = run({"import", gguf.string(), "from-gguf-2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("copying file"), std::string::npos) << r.err;

  // An MLX folder; the name defaults to the folder's (a link, so "tiny" itself stays as created).
  fs::create_directory_symlink(model_dir_, root_ / "tiny-folder");
  r = run({"import", (root_ / "tiny-folder").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(run({"list"}).out.find("tiny-folder:latest"), std::string::npos);

  // Ollama's store: manifests/registry.ollama.ai/library/<name>/<tag> -> blobs/sha256-<hex>.
  const fs::path store = root_ / "ollama";
  fs::create_directories(store / "blobs");
  fs::create_directories(store / "manifests" / "registry.ollama.ai" / "library" / "oldmodel");
  const std::string model_bytes = read_file(gguf);
  const std::string config_bytes = R"({"model_format":"gguf","model_family":"llama"})";
  auto put_blob = [&](const std::string& bytes) {
    const std::string hex = sha256_hex(bytes);
    std::ofstream(store / "blobs" / ("sha256-" + hex), std::ios::binary) << bytes;
    return Json{{"digest", "sha256:" + hex}, {"size", bytes.size()}};
  };
  Json config = put_blob(config_bytes), model = put_blob(model_bytes);
  config["mediaType"] = "application/vnd.docker.container.image.v1+json";
  model["mediaType"] = "application/vnd.ollama.image.model";
  const Json manifest = {{"schemaVersion", 2},
                         {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                         {"config", config},
                         {"layers", Json::array({model})}};
  std::ofstream(store / "manifests" / "registry.ollama.ai" / "library" / "oldmodel" / "latest") << manifest.dump();
  r = run({"import", "ollama:oldmodel"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("reading Ollama manifest"), std::string::npos) << r.err;
  show = api("POST", "/api/show", {{"model", "oldmodel"}});
  EXPECT_EQ(show["details"]["family"], "llama") << show.dump();

  r = run({"import", "ollama:nosuch"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: model \"nosuch\" not found in the Ollama store"), std::string::npos) << r.err;
  r = run({"import", (root_ / "nothing-here").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  r = run({"import"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: usage: ollmlx import SOURCE [NAME]\n");

  // --quantize: a float MLX folder (tools/make_quantize_fixtures.py) becomes 4-bit; a GGUF is
  // refused.
  const fs::path float_dir = fixtures_ / "quantize" / "llama_bf16" / "src";
  if (fs::exists(float_dir)) {
    r = run({"import", "--quantize", "q4", float_dir.string(), "tiny-q4"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("quantizing model to q4\n"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\nsuccess\n"), std::string::npos) << r.err;
    show = api("POST", "/api/show", {{"model", "tiny-q4"}});
    EXPECT_EQ(show["details"]["quantization_level"], "INT4") << show.dump();
  } else if (std::getenv("OLLMLX_REQUIRE_FIXTURES")) {
    ADD_FAILURE() << "missing " << float_dir;
  }
  r = run({"import", "-q", "q8", gguf.string(), "gguf-q8"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("quantize applies to float safetensors models"), std::string::npos) << r.err;
}

// The REPL in a pseudo-terminal.
class Pty {
 public:
  Pty(const std::string& bin, const std::vector<std::string>& args, const Env& env) {
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      apply_env(env);
      std::vector<std::string> all = {bin};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Pty() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  void type(const std::string& s) { (void)!write(fd_, s.data(), s.size()); }
  // Reads until `marker` appears after `from` in the output (carriage returns removed).
  bool expect(const std::string& marker, size_t* from = nullptr, int seconds = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    size_t start = from ? *from : 0;
    for (;;) {
      const size_t at = out_.find(marker, start);
      if (at != std::string::npos) {
        if (from) *from = at + marker.size();
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) return out_.find(marker, start) != std::string::npos;
        for (ssize_t i = 0; i < n; ++i) {
          if (buf[i] != '\r') out_ += buf[i];
        }
      }
    }
  }
  int wait_exit(int seconds = 30) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      expect("\x01never", nullptr, 0);  // drain
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  const std::string& output() const { return out_; }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  std::string out_;
};

TEST_F(CliTest, InteractiveRepl) {
  const std::string four = expected_answer("hello world", 4);
  Pty t(bin_, {"run", "tiny"}, env_);
  size_t at = 0;
  ASSERT_TRUE(t.expect(">>> ", &at)) << t.output();
  ASSERT_TRUE(t.expect("Send a message (/? for help)", &at)) << t.output();
  t.type("/set parameter num_predict 4\r");
  ASSERT_TRUE(t.expect("Set parameter 'num_predict' to '4'\n", &at)) << t.output();
  t.type("hello world\r");
  ASSERT_TRUE(t.expect(four + "\n\n", &at)) << t.output();
  // A multi-line message: the continuation prompt, then the answer.
  t.type("\"\"\"first\r");
  ASSERT_TRUE(t.expect("... ", &at)) << t.output();
  t.type("second\"\"\"\r");
  ASSERT_TRUE(t.expect("second\"\"\"", &at)) << t.output();
  ASSERT_TRUE(t.expect("\n\n", &at)) << t.output();
  ASSERT_TRUE(t.expect(">>> ", &at)) << t.output();
  t.type("/show parameters\r");
  ASSERT_TRUE(t.expect("Model defined parameters:\n  temperature                    0\n", &at)) << t.output();
  ASSERT_TRUE(t.expect("User defined parameters:\n  num_predict                    4\n", &at)) << t.output();
  t.type("/clear\r");
  ASSERT_TRUE(t.expect("Cleared session context\n", &at)) << t.output();
  t.type("/nope\r");
  ASSERT_TRUE(t.expect("Unknown command '/nope'. Type /? for help\n", &at)) << t.output();
  ASSERT_TRUE(t.expect("Send a message", &at)) << t.output();  // the editor is reading again
  t.type("\x03");  // Ctrl+C on an empty line
  ASSERT_TRUE(t.expect("Use Ctrl + d or /bye to exit.\n", &at)) << t.output();
  // Ctrl+C while the model answers stops the answer; the session goes on.
  t.type("/set parameter num_predict 2000\r");
  ASSERT_TRUE(t.expect("Set parameter 'num_predict' to '2000'\n", &at)) << t.output();
  t.type("hello world\r");
  ASSERT_TRUE(t.expect(four, &at)) << t.output();  // the answer has started
  const auto t0 = std::chrono::steady_clock::now();
  t.type("\x03");
  ASSERT_TRUE(t.expect("Send a message", &at, 10)) << t.output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  t.type("/load nope\r");
  ASSERT_TRUE(t.expect("Loading model 'nope'\n", &at)) << t.output();
  ASSERT_TRUE(t.expect("Couldn't find model 'nope'\n", &at)) << t.output();
  t.type("/save tiny-saved\r");
  ASSERT_TRUE(t.expect("Created new model 'tiny-saved'\n", &at)) << t.output();
  t.type("/bye\r");
  EXPECT_EQ(t.wait_exit(), 0) << t.output();
  EXPECT_NE(api("GET", "/api/tags").dump().find("tiny-saved:latest"), std::string::npos);
  // History was written.
  EXPECT_NE(read_file(root_ / "home" / ".ollmlx" / "history").find("hello world\n"), std::string::npos);
}

TEST_F(CliTest, InteractiveCtrlD) {
  Pty t(bin_, {"run", "tiny"}, env_);
  size_t at = 0;
  ASSERT_TRUE(t.expect(">>> ", &at)) << t.output();
  t.type("\x04");
  EXPECT_EQ(t.wait_exit(), 0) << t.output();
}

}  // namespace
