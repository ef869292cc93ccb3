#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/modelfile.h"

namespace ollmlx::cli {
namespace {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> cmds(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : parse_modelfile(text).commands) out.emplace_back(c.name, c.args);
  return out;
}

using Cmds = std::vector<std::pair<std::string, std::string>>;

std::string error_of(const std::string& text) {
  try {
    parse_modelfile(text);
  } catch (const ModelfileError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelfileParse, Basic) {
  EXPECT_EQ(cmds("FROM model1\n"
                 "ADAPTER adapter1\n"
                 "LICENSE MIT\n"
                 "PARAMETER param1 value1\n"
                 "PARAMETER param2 value2\n"
                 "TEMPLATE template1\n"),
            (Cmds{{"model", "model1"},
                  {"adapter", "adapter1"},
                  {"license", "MIT"},
                  {"param1", "value1"},
                  {"param2", "value2"},
                  {"template", "template1"}}));
}

TEST(ModelfileParse, CaseCommentsAndSpacing) {
  EXPECT_EQ(cmds("# a comment\nfrom   llama3.2  \n\n  SyStEm   be brief  \nparameter temperature 0\n"),
            (Cmds{{"model", "llama3.2"}, {"system", "be brief"}, {"temperature", "0"}}));
  // No trailing newline.
  EXPECT_EQ(cmds("FROM x"), (Cmds{{"model", "x"}}));
  EXPECT_EQ(cmds("FROM x\r\nSYSTEM hi\r\n"), (Cmds{{"model", "x"}, {"system", "hi"}}));
}

TEST(ModelfileParse, Quotes) {
  EXPECT_EQ(cmds("FROM x\nSYSTEM \"You are a helpful assistant.\"\n"),
            (Cmds{{"model", "x"}, {"system", "You are a helpful assistant."}}));
  EXPECT_EQ(cmds("FROM x\nTEMPLATE \"\"\"{% for m in messages %}\n{{ m.content }}\n{% endfor %}\"\"\"\n"),
            (Cmds{{"model", "x"}, {"template", "{% for m in messages %}\n{{ m.content }}\n{% endfor %}"}}));
  EXPECT_EQ(cmds("FROM x\nSYSTEM \"\"\"\nsay \"hi\"\n\"\"\""), (Cmds{{"model", "x"}, {"system", "\nsay \"hi\"\n"}}));
  EXPECT_EQ(cmds("FROM x\nPARAMETER stop \"<|eot_id|>\"\nPARAMETER stop </s>\n"),
            (Cmds{{"model", "x"}, {"stop", "<|eot_id|>"}, {"stop", "</s>"}}));
}

TEST(ModelfileParse, Messages) {
  EXPECT_EQ(cmds("FROM x\nMESSAGE system You are a pirate.\nMESSAGE user \"\"\"Hi\nthere\"\"\"\nMESSAGE assistant Arr\n"),
            (Cmds{{"model", "x"},
                  {"message", "system: You are a pirate."},
                  {"message", "user: Hi\nthere"},
                  {"message", "assistant: Arr"}}));
  EXPECT_EQ(error_of("FROM x\nMESSAGE badrole hello\n"),
            "(line 2): message role must be one of \"system\", \"user\", or \"assistant\"");
}

TEST(ModelfileParse, Errors) {
  EXPECT_EQ(error_of("FROM x\nBADCOMMAND y\n"),
            "(line 2): command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "
            "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"");
  EXPECT_EQ(error_of("SYSTEM hi\n"), "no FROM line");
  EXPECT_EQ(error_of(""), "no FROM line");
  EXPECT_EQ(error_of("FROM x\nSYSTEM \"\"\"never closed\n"), "unexpected EOF");
  EXPECT_EQ(error_of("FROM x\nSYSTEM \"never closed\n"), "unexpected EOF");
  EXPECT_EQ(error_of("FROM"), "unexpected EOF");
  EXPECT_EQ(error_of("FROM x\nPARAMETER bad-name 1\n"), "unexpected EOF: bad");
}

TEST(FormatParam, Types) {
  EXPECT_EQ(format_param("temperature", {"0"}).dump(), "0");
  EXPECT_EQ(format_param("temperature", {"0.8"}).dump(), "0.8");
  EXPECT_EQ(format_param("top_p", {"0.9"}).dump(), "0.9");
  EXPECT_EQ(format_param("num_ctx", {"4096"}).dump(), "4096");
  EXPECT_EQ(format_param("seed", {"-1"}).dump(), "-1");
  EXPECT_EQ(format_param("use_mmap", {"false"}).dump(), "false");
  EXPECT_EQ(format_param("stop", {"a", "b"}).dump(), "[\"a\",\"b\"]");
  const auto err = [](const std::string& n, const std::string& v) {
    try {
      format_param(n, {v});
    } catch (const ModelfileError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(err("num_ctx", "abc"), "invalid int value [abc]");
  EXPECT_EQ(err("num_ctx", "1.5"), "invalid int value [1.5]");
  EXPECT_EQ(err("temperature", "hot"), "invalid float value [hot]");
  EXPECT_EQ(err("use_mmap", "maybe"), "invalid bool value [maybe]");
  EXPECT_EQ(err("nope", "1"), "unknown parameter 'nope'");
  EXPECT_TRUE(deprecated_parameter("mirostat"));
  EXPECT_FALSE(deprecated_parameter("temperature"));
}

TEST(GoTemplate, Detection) {
  EXPECT_TRUE(looks_like_go_template("{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}"));
  EXPECT_TRUE(looks_like_go_template("{{- range .Messages }}{{ .Content }}{{ end }}"));
  EXPECT_FALSE(looks_like_go_template("{% for m in messages %}{{ m.content }}{% endfor %}"));
  EXPECT_FALSE(looks_like_go_template("{{ bos_token }}{{ messages[0].content }}"));
  EXPECT_FALSE(looks_like_go_template("plain text"));
}

class CreateRequest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("ollmlx_cli_test_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "mlx");
    std::ofstream(dir / "mlx" / "config.json") << "{}";
    std::ofstream(dir / "mlx" / "model.safetensors") << "x";
    fs::create_directories(dir / "ggufdir");
    std::ofstream(dir / "ggufdir" / "m.gguf") << "GGUF";
    std::ofstream(dir / "model.gguf") << "GGUF....";
  }
  void TearDown() override { fs::remove_all(dir); }
  Json build(const std::string& text, std::vector<std::string>* w = nullptr) {
    return create_request(parse_modelfile(text), dir.string(), w);
  }
  std::string error(const std::string& text) {
    try {
      build(text);
    } catch (const ModelfileError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir;
};

TEST_F(CreateRequest, FromNameWithEverything) {
  std::vector<std::string> warnings;
  const Json r = build(
      "FROM llama3.2\n"
      "PARAMETER temperature 0\n"
      "PARAMETER stop <a>\n"
      "PARAMETER stop <b>\n"
      "PARAMETER num_predict 8\n"
      "PARAMETER mirostat 1\n"
      "SYSTEM be brief\n"
      "TEMPLATE \"{% for m in messages %}{{ m.content }}{% endfor %}\"\n"
      "LICENSE MIT\n"
      "LICENSE \"\"\"Apache\n2.0\"\"\"\n"
      "MESSAGE user hi\n"
      "MESSAGE assistant hello\n",
      &warnings);
  EXPECT_EQ(r.dump(),
            R"({"from":"llama3.2","system":"be brief","template":"{% for m in messages %}{{ m.content }}{% endfor %}",)"
            R"("parameters":{"temperature":0,"stop":["<a>","<b>"],"num_predict":8},)"
            R"("messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}],)"
            R"("license":["MIT","Apache\n2.0"]})");
  EXPECT_EQ(warnings, std::vector<std::string>({"warning: parameter mirostat is deprecated"}));
}

TEST_F(CreateRequest, FromDirectoryIsAbsolute) {
  EXPECT_EQ(build("FROM ./mlx\n")["from"], (dir / "mlx").string());
  EXPECT_EQ(build("FROM mlx/\n")["from"], (dir / "mlx").string());
  EXPECT_EQ(build("FROM " + (dir / "mlx").string() + "\n")["from"], (dir / "mlx").string());
  EXPECT_EQ(build("FROM " + (dir / "mlx" / ".." / "mlx").string() + "\n")["from"], (dir / "mlx").string());
}

TEST_F(CreateRequest, GgufFilesAreUploadedNotNamed) {
  std::vector<LocalFile> files;
  Json r = create_request(parse_modelfile("FROM ./model.gguf\nSYSTEM s\n"), dir.string(), nullptr, &files);
  EXPECT_FALSE(r.contains("from")) << r.dump();
  EXPECT_EQ(r["system"], "s");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].name, "model.gguf");
  EXPECT_EQ(files[0].path, (dir / "model.gguf").string());
  files.clear();
  r = create_request(parse_modelfile("FROM ./ggufdir\n"), dir.string(), nullptr, &files);  // its one GGUF
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, (dir / "ggufdir" / "m.gguf").string());
  std::ofstream(dir / "ggufdir" / "n.gguf") << "GGUF";
  files.clear();
  try {
    create_request(parse_modelfile("FROM ./ggufdir\n"), dir.string(), nullptr, &files);
    ADD_FAILURE() << "two GGUF files in one folder were accepted";
  } catch (const ModelfileError& e) {
    EXPECT_NE(std::string(e.what()).find("holds 2 GGUF files"), std::string::npos) << e.what();
  }
  fs::remove(dir / "ggufdir" / "n.gguf");
}

TEST_F(CreateRequest, Refusals) {
  // Without a list to upload to (no server), a GGUF cannot be named.
  EXPECT_NE(error("FROM ./model.gguf\n").find("importing GGUF files needs the server"), std::string::npos);
  EXPECT_EQ(error("FROM llama3\nADAPTER ./lora\n"), "ADAPTER is not supported by ollmlx yet");
  EXPECT_NE(error("FROM llama3\nTEMPLATE {{ .Prompt }}\n").find("TEMPLATE is a Go template"), std::string::npos);
  EXPECT_EQ(error("FROM llama3\nPARAMETER num_ctx big\n"), "invalid int value [big]");
  EXPECT_EQ(error("FROM llama3\nREQUIRES nope\n"), "requires must be a valid semver (e.g. 0.14.0)");
}

TEST(ExpandPath, HomeAndRelative) {
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    EXPECT_EQ(expand_path("~/models/x", "/tmp"), (fs::path(home) / "models" / "x").lexically_normal().string());
    EXPECT_EQ(expand_path("~", "/tmp"), fs::path(home).lexically_normal().string());
  }
  EXPECT_EQ(expand_path("a/b/../c", "/base"), "/base/a/c");
  EXPECT_EQ(expand_path("/abs/./p/", "/base"), "/abs/p");
}

}  // namespace
}  // namespace ollmlx::cli
