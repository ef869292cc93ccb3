// libFuzzer target for the tokenizer: random bytes encoded by real tokenizers, random ids
// decoded (and streamed), random tokenizer.json documents loaded, stop strings matched. The
// checks live in fuzz_tokenizer_checks.h (shared with the corpus replay unit test); inputs must
// be handled or rejected with ollmlx::Error, never crash.
#include <cstddef>
#include <cstdint>

#include "fuzz_tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ollmlx::tok::fuzz::run_one(data, size);
  } catch (const ollmlx::Error&) {
    // A clean rejection (e.g. a regex hitting PCRE2's match limit).
  }
  return 0;
}
