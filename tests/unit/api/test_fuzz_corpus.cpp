// Replays the fuzz seed corpus (fuzz/corpus/api) through the same checks as the libFuzzer
// target, so CI exercises it without clang. Inputs that once crashed belong in that corpus.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

// Failed checks become test failures instead of aborts.
#define OLLMLX_FUZZ_FAIL(msg) ADD_FAILURE() << (msg)
#include "../../../fuzz/fuzz_api_checks.h"

namespace ollmlx::api {
namespace {

TEST(ApiFuzzCorpus, EveryInputPassesTheChecks) {
  namespace fs = std::filesystem;
  const fs::path dir = OLLMLX_API_FUZZ_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(fuzz::run_one(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
  EXPECT_GE(files, 20);
}

}  // namespace
}  // namespace ollmlx::api
