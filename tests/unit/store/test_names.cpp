// Model names: Ollama's parse and validity tables (compat spec §3, §6 item 22), display forms,
// ollmlx's Hugging Face host folding, path safety, the library table and Go quoting.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "store/hf_cache.h"
#include "store/library_names.h"
#include "store/names.h"
#include "store/store_error.h"

namespace ollmlx::store {
namespace {

const std::string part80(80, '8');
const std::string part350(350, '3');

TEST(Names, ValidityTableOfOllama) {
  // name -> valid, parsed without defaults (Ollama's TestNameIsValid).
  const std::map<std::string, bool> cases = {
      {"", false},
      {"_why/_the/_lucky:_stiff", true},
      {"h/n/m:t@d", true},
      {"host/namespace/model:tag", true},
      {"host/namespace/model", false},
      {"namespace/model", false},
      {"model", false},
      {"@sha256-1000000000000000000000000000000000000000000000000000000000000000", false},
      {"model@sha256-1000000000000000000000000000000000000000000000000000000000000000", false},
      {"model@sha256:1000000000000000000000000000000000000000000000000000000000000000", false},
      {part80 + "/" + part80 + "/" + part80 + ":" + part80, true},
      {part350 + "/" + part80 + "/" + part80 + ":" + part80, true},
      {"h/nn/mm:t@sha256-1000000000000000000000000000000000000000000000000000000000000000", true},
      {"h/nn/mm:t@sha256:1000000000000000000000000000000000000000000000000000000000000000", true},
      {"m", false},
      {"n/m:", false},
      {"h/n/m", false},
      {"@t", false},
      {"m@d", false},
      {"^", false},
      {"mm:", false},
      {"/nn/mm", false},
      {"//", false},
      {"//mm", false},
      {"hh//", false},
      {"//mm:@", false},
      {"00@", false},
      {"@", false},
      {"-hh/nn/mm:tt@dd", false},
      {"hh/-nn/mm:tt@dd", false},
      {"hh/nn/-mm:tt@dd", false},
      {"hh/nn/mm:-tt@dd", false},
      {"hh/nn/mm:tt@-dd", false},
      {"host:https/namespace/model:tag", true},
      {"host/name:space/model:tag", false},
  };
  int round_trips = 0;
  for (const auto& [in, want] : cases) {
    const Name n = Name::parse_bare(in);
    EXPECT_EQ(n.is_valid(), want) << "'" << in << "'";
    if (want) {
      EXPECT_EQ(n.to_string(), in);
      ++round_trips;
    }
  }
  EXPECT_GT(round_trips, 0);
}

TEST(Names, PartLengthsAndCharacters) {
  EXPECT_FALSE(Name::parse_bare("h/" + std::string(81, 'n') + "/m:t").is_valid());
  EXPECT_TRUE(is_valid_part(NamePart::Host, part350));
  EXPECT_FALSE(is_valid_part(NamePart::Host, part350 + "3"));
  EXPECT_FALSE(is_valid_part(NamePart::Model, part80 + "8"));
  EXPECT_FALSE(is_valid_part(NamePart::Tag, part80 + "8"));
  EXPECT_TRUE(is_valid_part(NamePart::Host, "a."));
  EXPECT_TRUE(is_valid_part(NamePart::Host, "a:123"));
  EXPECT_FALSE(is_valid_part(NamePart::Host, "a:123/aa/bb"));
  EXPECT_TRUE(is_valid_part(NamePart::Namespace, "bb"));
  EXPECT_FALSE(is_valid_part(NamePart::Namespace, "a."));
  EXPECT_FALSE(is_valid_part(NamePart::Model, "-h"));
  EXPECT_FALSE(is_valid_part(NamePart::Model, "a:b"));
  EXPECT_TRUE(is_valid_part(
      NamePart::Digest, "sha256-1000000000000000000000000000000000000000000000000000000000000000"));
}

TEST(Names, ParsePartsTableOfOllama) {
  struct Case {
    std::string in, host, ns, model, tag, relpath;
  };
  const std::vector<Case> cases = {
      {"registry.ollama.ai/library/dolphin-mistral:7b-v2.6-dpo-laser-q6_K", "registry.ollama.ai",
       "library", "dolphin-mistral", "7b-v2.6-dpo-laser-q6_K",
       "registry.ollama.ai/library/dolphin-mistral/7b-v2.6-dpo-laser-q6_K"},
      {"scheme://host:port/namespace/model:tag", "host:port", "namespace", "model", "tag",
       "host:port/namespace/model/tag"},
      {"host/namespace/model:tag", "host", "namespace", "model", "tag", "host/namespace/model/tag"},
      {"host:port/namespace/model:tag", "host:port", "namespace", "model", "tag",
       "host:port/namespace/model/tag"},
      {"host/namespace/model", "host", "namespace", "model", "", "host/namespace/model/latest"},
      {"host:port/namespace/model", "host:port", "namespace", "model", "",
       "host:port/namespace/model/latest"},
      {"namespace/model", "", "namespace", "model", "",
       "registry.ollama.ai/namespace/model/latest"},
      {"model", "", "", "model", "", "registry.ollama.ai/library/model/latest"},
      {"h/nn/mm:t", "h", "nn", "mm", "t", "h/nn/mm/t"},
  };
  for (const Case& c : cases) {
    const Name bare = Name::parse_bare(c.in);
    EXPECT_EQ(bare.host, c.host) << c.in;
    EXPECT_EQ(bare.ns, c.ns) << c.in;
    EXPECT_EQ(bare.model, c.model) << c.in;
    EXPECT_EQ(bare.tag, c.tag) << c.in;
    const Name full = Name::parse(c.in);
    ASSERT_TRUE(full.is_valid()) << c.in;
    EXPECT_EQ(full.relpath(), c.relpath) << c.in;
  }
  EXPECT_EQ(Name::parse_bare("model@sha256:123").model, "model");
  EXPECT_EQ(Name::parse_bare("model@sha256:123").digest, "sha256:123");
  EXPECT_EQ(Name::parse_bare("@digest").digest, "digest");
  EXPECT_EQ(Name::parse("xx").to_string(), "registry.ollama.ai/library/xx:latest");
}

TEST(Names, DisplayShortest) {
  const std::map<std::string, std::string> cases = {
      {"registry.ollama.ai/library/model:latest", "model:latest"},
      {"registry.ollama.ai/library/model:tag", "model:tag"},
      {"registry.ollama.ai/namespace/model:tag", "namespace/model:tag"},
      {"host/namespace/model:tag", "host/namespace/model:tag"},
      {"host/library/model:tag", "host/library/model:tag"},
      {"llama3.2", "llama3.2:latest"},
      {"REGISTRY.OLLAMA.AI/LIBRARY/llama3.2", "llama3.2:latest"},
      {"user/model:7b", "user/model:7b"},
      {"mlx-community/Llama-3.2-1B-Instruct-4bit",
       "mlx-community/Llama-3.2-1B-Instruct-4bit:latest"},
      {"hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
       "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"},
      {"host:5000/ns/m", "host:5000/ns/m:latest"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(Name::parse(in).display_shortest(), want) << in;
}

TEST(Names, HuggingFaceHostsFoldToHfCo) {
  for (const char* in : {"huggingface.co/org/Repo:main", "HuggingFace.co/org/Repo:main",
                         "hf.co/org/Repo:main", "https://huggingface.co/org/Repo:main"}) {
    const Name n = Name::parse(in);
    ASSERT_TRUE(n.is_valid()) << in;
    EXPECT_EQ(n.host, "hf.co") << in;
    EXPECT_TRUE(n.is_hf_host());
    EXPECT_EQ(n.display_shortest(), "hf.co/org/Repo:main") << in;
  }
  // HF organisations with '.' cannot be namespaces, repo names over 80 bytes cannot be models.
  EXPECT_FALSE(Name::parse("hf.co/my.org/repo").is_valid());
  EXPECT_FALSE(Name::parse("org/" + std::string(81, 'r')).is_valid());
}

TEST(Names, CaseInsensitiveEquality) {
  EXPECT_TRUE(Name::parse("MLX-Community/Foo:Latest").equal_fold(Name::parse("mlx-community/foo")));
  EXPECT_FALSE(Name::parse("a/foo:1").equal_fold(Name::parse("a/foo:2")));
  EXPECT_TRUE(iequals("ABC-def", "abc-DEF"));
  EXPECT_FALSE(iequals("abc", "abcd"));
}

TEST(Names, NeverEscapeTheStore) {
  const std::vector<std::string> hostile = {
      "..",
      "../x",
      "a/../b",
      "../../etc/passwd",
      "/abs/path",
      "/etc/passwd",
      "a\\b",
      "..\\..\\x",
      std::string("a\0b", 3),
      "a/b/c/d",
      "x:..",
      ".hidden",
      "a:b:c",
      "a/.:t",
      "h/n/..:t",
      "h/../m:t",
      "h/n/m:..",
      "./m",
      "m/.",
      "~/m",
      "m:t/../../x",
      "C:\\models\\m",
      "h//m:t",
      "m:",
      " m",
      "m ",
      "m\n",
      "%2e%2e",
      std::string("m:t\0x", 5),
  };
  for (const std::string& s : hostile) {
    const Name n = Name::parse(s);
    EXPECT_FALSE(n.is_valid()) << "'" << s << "' -> " << n.to_string();
  }
  // Random strings over a path-ish alphabet: whatever is valid has only safe parts.
  std::mt19937 rng(42);
  const std::string alphabet = "ab./\\:@-_~ \0";
  int valid = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int j = 0; j < len; ++j) s += alphabet[rng() % (alphabet.size() + 1)];
    const Name n = Name::parse(s);
    if (!n.is_valid()) continue;
    ++valid;
    for (const std::string* part : {&n.host, &n.ns, &n.model, &n.tag}) {
      EXPECT_NE(*part, "..");
      EXPECT_NE(*part, ".");
      EXPECT_EQ(part->find('/'), std::string::npos);
      EXPECT_EQ(part->find('\\'), std::string::npos);
      EXPECT_EQ(part->find('\0'), std::string::npos);
      EXPECT_NE(part->front(), '.');
    }
  }
  EXPECT_GT(valid, 0);
}

TEST(LibraryNames, SeedModelsAndDefaults) {
  EXPECT_EQ(library_repo("llama3.2", "latest"), "mlx-community/Llama-3.2-3B-Instruct-4bit");
  EXPECT_EQ(library_repo("llama3.2", "3b"), library_repo("llama3.2", "latest"));
  EXPECT_EQ(library_repo("llama3.2", "1b"), "mlx-community/Llama-3.2-1B-Instruct-4bit");
  EXPECT_EQ(library_repo("Llama3.2", "1B"), "mlx-community/Llama-3.2-1B-Instruct-4bit");
  EXPECT_EQ(library_repo("smollm2", "latest"), library_repo("smollm2", "1.7b"));
  EXPECT_EQ(library_repo("qwen2.5", "latest"), library_repo("qwen2.5", "7b"));
  for (const char* tag : {"0.5b", "1.5b", "3b", "7b", "14b", "32b", "72b"})
    EXPECT_TRUE(library_repo("qwen2.5", tag)) << tag;
  for (const char* tag : {"135m", "360m", "1.7b"}) EXPECT_TRUE(library_repo("smollm2", tag));
  for (const char* tag : {"latest", "270m", "1b", "4b", "12b", "27b"})
    EXPECT_TRUE(library_repo("gemma3", tag));
  for (const char* tag : {"latest", "0.6b", "1.7b", "4b", "8b", "14b", "32b"})
    EXPECT_TRUE(library_repo("qwen3", tag));
  EXPECT_TRUE(library_repo("mistral", "latest"));
  EXPECT_TRUE(library_repo("phi3.5", "latest"));
  EXPECT_TRUE(library_repo("gemma2", "2b"));
  EXPECT_FALSE(library_repo("llama3.2", "90b"));
  EXPECT_FALSE(library_repo("nosuchmodel", "latest"));
}

TEST(LibraryNames, EveryEntryIsAValidNameAndRepo) {
  std::map<std::string, int> defaults;
  for (const LibraryEntry& e : library_table()) {
    const Name n = Name::parse(std::string(e.model) + ":" + std::string(e.tag));
    EXPECT_TRUE(n.is_valid()) << e.model << ":" << e.tag;
    EXPECT_EQ(n.display_shortest(), std::string(e.model) + ":" + std::string(e.tag));
    EXPECT_TRUE(is_valid_repo_id(e.repo)) << e.repo;
    EXPECT_EQ(e.repo.substr(0, 14), "mlx-community/") << e.repo;
    if (e.tag == "latest") ++defaults[std::string(e.model)];
  }
  for (const LibraryEntry& e : library_table())
    EXPECT_EQ(defaults[std::string(e.model)], 1) << e.model << " needs exactly one default";
}

TEST(StoreErrors, GoQuote) {
  EXPECT_EQ(go_quote("x"), "\"x\"");
  EXPECT_EQ(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(go_quote("l\nt\t"), "\"l\\nt\\t\"");
  EXPECT_EQ(go_quote(std::string("\x01", 1)), "\"\\x01\"");
  StoreError e(StoreErrorKind::NotFound, "model 'x' not found");
  EXPECT_EQ(e.message(), "model 'x' not found");
  EXPECT_STREQ(e.what(), "[store] model 'x' not found");
  EXPECT_EQ(e.kind(), StoreErrorKind::NotFound);
}

}  // namespace
}  // namespace ollmlx::store
