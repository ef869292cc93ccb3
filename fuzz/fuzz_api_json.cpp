// libFuzzer target for the wire layer: random request bodies through every request decoder
// (native and /v1), the answers of decoded completions, and Go-style JSON round trips. The
// checks live in fuzz_api_checks.h (shared with the corpus replay unit test); a body must decode
// or be refused with api::ApiError; any other exception or a crash is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_api_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ollmlx::api::fuzz::run_one(data, size);
  return 0;
}
