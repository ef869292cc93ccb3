// Tokenizer throughput: encodes ~1 MB of text with each tokenizer and prints MB/s (best of N
// single-threaded encode calls), plus load time and decode speed. Compare with Hugging Face
// `tokenizers` on the same text: tools/bench_tokenizer_hf.py writes the text and times
// Tokenizer.encode the same way.
//
//   build/bench/bench_tokenizer [--text FILE] [--repeat N] [DIR...]
// DIRs default to every real (non syn_*) tokenizer under tests/fixtures/generated/tokenizers (or
// $OLLMLX_FIXTURES/tokenizers); the text defaults to the parity corpus
// (tests/data/tokenizer_corpus/corpus.json) joined with newlines and repeated to 1,000,000 bytes.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The corpus texts joined by "\n", repeated and cut to at most `bytes` (on a char boundary).
std::string corpus_text(const std::string& corpus_path, size_t bytes) {
  const auto corpus = nlohmann::json::parse(read_file(corpus_path));
  std::string one;
  for (const auto& e : corpus) {
    one += e["text"].get<std::string>();
    one += '\n';
  }
  std::string text;
  while (text.size() < bytes) text += one;
  size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string src = OLLMLX_BENCH_SOURCE_DIR;
  std::string text_path;
  int repeat = 5;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--text" && i + 1 < argc) {
      text_path = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: %s [--text FILE] [--repeat N] [TOKENIZER_DIR...]\n", argv[0]);
      return 0;
    } else {
      dirs.push_back(a);
    }
  }
  try {
    if (dirs.empty()) {
      const char* fx = std::getenv("OLLMLX_FIXTURES");
      const std::string root =
          (fx != nullptr ? std::string(fx) : src + "/tests/fixtures/generated") + "/tokenizers";
      if (std::filesystem::is_directory(root)) {
        for (const auto& e : std::filesystem::directory_iterator(root)) {
          const bool synthetic = e.path().filename().string().rfind("syn_", 0) == 0;
          if (!synthetic && std::filesystem::exists(e.path() / "tokenizer.json")) {
            dirs.push_back(e.path());
          }
        }
      }
      std::sort(dirs.begin(), dirs.end());
      if (dirs.empty()) {
        std::fprintf(stderr, "no tokenizers under %s (run tools/make_tokenizer_refs.py)\n",
                     root.c_str());
        return 1;
      }
    }
    const std::string text = text_path.empty()
                                 ? corpus_text(src + "/tests/data/tokenizer_corpus/corpus.json",
                                               1000000)
                                 : read_file(text_path);
    std::printf("text: %zu bytes (%s), best of %d\n", text.size(),
                text_path.empty() ? "parity corpus repeated" : text_path.c_str(), repeat);
    std::printf("%-10s %9s %9s %10s %10s %10s\n", "tokenizer", "load s", "tokens", "encode ms",
                "MB/s", "decode MB/s");
    for (const std::string& dir : dirs) {
      auto t0 = Clock::now();
      const auto tok = ollmlx::tok::Tokenizer::load(dir);
      const double load_s = seconds_since(t0);
      double best = 1e30, best_dec = 1e30;
      std::vector<int32_t> ids;
      for (int r = 0; r < repeat; ++r) {
        t0 = Clock::now();
        ids = tok->encode(text);
        best = std::min(best, seconds_since(t0));
        t0 = Clock::now();
        const std::string back = tok->decode(ids);
        best_dec = std::min(best_dec, seconds_since(t0));
      }
      const double mb = static_cast<double>(text.size()) / 1e6;
      std::printf("%-10s %9.2f %9zu %10.1f %10.2f %10.2f\n",
                  std::filesystem::path(dir).filename().c_str(), load_s, ids.size(), best * 1e3,
                  mb / best, mb / best_dec);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
