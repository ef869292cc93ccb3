// Replays the fuzz seed corpus (fuzz/corpus/tokenizer) through the same checks as the libFuzzer
// target, so CI exercises it without clang. Inputs that once crashed belong in that corpus.
#include <gtest/gtest.h>

#include <filesystem>

#include "util/error.h"

#include "tok_test_util.h"

// Failed checks become test failures instead of aborts.
#define OLLMLX_FUZZ_FAIL(msg) ADD_FAILURE() << (msg)
#include "../../../fuzz/fuzz_tokenizer_checks.h"

namespace ollmlx::tok {
namespace {

TEST(TokenizerFuzzCorpus, EveryInputPassesTheChecks) {
  namespace fs = std::filesystem;
  const fs::path dir = OLLMLX_TOKENIZER_FUZZ_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string bytes = testing::read_file(entry.path().string());
    SCOPED_TRACE(entry.path().string());
    try {
      fuzz::run_one(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const Error&) {
      // A clean rejection, as the fuzzer accepts.
    }
  }
  EXPECT_GE(files, 5);
}

}  // namespace
}  // namespace ollmlx::tok
