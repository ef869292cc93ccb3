// The interactive session of `ollmlx run` (Ollama's generateInteractive): a chat over /api/chat
// with the slash commands /set, /show, /load, /save, /clear, /list, /bye (/exit), /? (/help),
// multi-line messages between """ and """, Ctrl+C and Ctrl+D.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "api/ollama_host.h"
#include "cli/format.h"
#include "cli/line_editor.h"
#include "cli/modelfile.h"
#include "cli/ollama_cli.h"
#include "cli/views.h"

namespace ollmlx::cli {
namespace {

enum class Multiline { None, Prompt, System };

void err(const char* s) { std::fputs(s, stderr); }

void usage() {
  err("Available Commands:\n"
      "  /set            Set session variables\n"
      "  /show           Show model information\n"
      "  /load <model>   Load a session or model\n"
      "  /save <model>   Save your current session\n"
      "  /clear          Clear session context\n"
      "  /bye            Exit\n"
      "  /?, /help       Help for a command\n"
      "  /? shortcuts    Help for keyboard shortcuts\n"
      "\n"
      "Use \"\"\" to begin a multi-line message.\n"
      "\n");
}

void usage_set() {
  err("Available Commands:\n"
      "  /set parameter ...     Set a parameter\n"
      "  /set system <string>   Set system message\n"
      "  /set history           Enable history\n"
      "  /set nohistory         Disable history\n"
      "  /set wordwrap          Enable wordwrap\n"
      "  /set nowordwrap        Disable wordwrap\n"
      "  /set format json       Enable JSON mode\n"
      "  /set noformat          Disable formatting\n"
      "  /set verbose           Show LLM stats\n"
      "  /set quiet             Disable LLM stats\n"
      "  /set think             Enable thinking\n"
      "  /set nothink           Disable thinking\n"
      "\n");
}

void usage_shortcuts() {
  err("Available keyboard shortcuts:\n"
      "  Ctrl + a            Move to the beginning of the line (Home)\n"
      "  Ctrl + e            Move to the end of the line (End)\n"
      "   Alt + b            Move back (left) one word\n"
      "   Alt + f            Move forward (right) one word\n"
      "  Ctrl + k            Delete the sentence after the cursor\n"
      "  Ctrl + u            Delete the sentence before the cursor\n"
      "  Ctrl + w            Delete the word before the cursor\n"
      "\n"
      "  Ctrl + l            Clear the screen\n"
      "  Ctrl + c            Stop the model from responding\n"
      "  Ctrl + d            Exit ollmlx (/bye)\n"
      "\n");
}

void usage_show() {
  err("Available Commands:\n"
      "  /show info         Show details for this model\n"
      "  /show license      Show model license\n"
      "  /show modelfile    Show Modelfile for this model\n"
      "  /show parameters   Show parameters for this model\n"
      "  /show system       Show system message\n"
      "  /show template     Show prompt template\n"
      "\n");
}

void usage_parameters() {
  err("Available Parameters:\n"
      "  /set parameter seed <int>             Random number seed\n"
      "  /set parameter num_predict <int>      Max number of tokens to predict\n"
      "  /set parameter top_k <int>            Pick from top k num of tokens\n"
      "  /set parameter top_p <float>          Pick token based on sum of probabilities\n"
      "  /set parameter min_p <float>          Pick token based on top token probability * min_p\n"
      "  /set parameter num_ctx <int>          Set the context size\n"
      "  /set parameter temperature <float>    Set creativity level\n"
      "  /set parameter repeat_penalty <float> How strongly to penalize repetitions\n"
      "  /set parameter repeat_last_n <int>    Set how far back to look for repetitions\n"
      "  /set parameter num_gpu <int>          The number of layers to send to the GPU\n"
      "  /set parameter stop <string> <string> ...   Set the stop parameters\n"
      "\n");
}

std::vector<std::string> fields(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

bool cut_prefix(std::string& s, const std::string& p) {
  if (s.rfind(p, 0) != 0) return false;
  s.erase(0, p.size());
  return true;
}

bool cut_suffix(std::string& s, const std::string& p) {
  if (s.size() < p.size() || s.compare(s.size() - p.size(), p.size(), p) != 0) return false;
  s.erase(s.size() - p.size());
  return true;
}

std::string str(const Json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_string()) return "";
  return o[key].get<std::string>();
}

// Ollama's envconfig.Bool: unset/empty false, strconv.ParseBool, anything else unparsable true.
bool env_bool(const char* name) {
  const std::string v = api::env_value(name);
  if (v.empty()) return false;
  return !(v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False");
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return std::string(home) + "/.ollmlx/history";
}

// Go's %v of a parameter value (float32s short, string lists as [a b]).
std::string param_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ' ';
      s += param_text(v[i]);
    }
    return s + "]";
  }
  if (v.is_number_float()) return go_g(v.get<double>());
  return v.dump();
}

}  // namespace

int run_interactive(Client& client, RunOptions& opts) {
  InterruptGuard no_sigint_exit;  // Ctrl+C outside the line editor must not end the session
  LineEditor ed;
  const std::string hist = history_path();
  if (!hist.empty()) ed.set_history_file(hist);
  if (env_bool("OLLAMA_NOHISTORY")) ed.history_enable(false);

  std::fputs("\033[?2004h", stdout);  // bracketed paste
  std::fflush(stdout);
  struct EndPaste {
    ~EndPaste() {
      std::fputs("\033[?2004l", stdout);
      std::fflush(stdout);
    }
  } end_paste;

  std::string sb;
  Multiline multiline = Multiline::None;
  for (;;) {
    std::string line;
    const ReadStatus st = ed.read_line(line);
    if (st == ReadStatus::Eof) {
      std::fputs("\n", stdout);
      return 0;
    }
    if (st == ReadStatus::Interrupt) {
      if (line.empty()) std::fputs("Use Ctrl + d or /bye to exit.\n", stdout);
      ed.prompt.use_alt = false;
      multiline = Multiline::None;
      sb.clear();
      continue;
    }

    if (multiline != Multiline::None) {
      // Inside """: a line ending with """ closes the message.
      std::string before = line;
      const bool closed = cut_suffix(before, "\"\"\"");
      sb += before;
      if (!closed) {
        sb += "\n";
        ed.prompt.use_alt = true;
        continue;
      }
      if (multiline == Multiline::System) {
        opts.system = sb;
        Json m = Json::object();
        m["role"] = "system";
        m["content"] = opts.system;
        opts.messages.push_back(m);
        std::printf("Set system message.\n");
        sb.clear();
      }
      multiline = Multiline::None;
      ed.prompt.use_alt = false;
    } else if (starts_with(line, "\"\"\"")) {
      std::string rest = line.substr(3);
      const bool closed = cut_suffix(rest, "\"\"\"");
      sb += rest;
      if (!closed) {
        sb += "\n";
        multiline = Multiline::Prompt;
        ed.prompt.use_alt = true;
      }
    } else if (ed.pasting()) {
      sb += line + "\n";
      continue;
    } else if (starts_with(line, "/list")) {
      const auto args = fields(line);
      list_models(client, args.size() > 1 ? args[1] : "");
      continue;
    } else if (starts_with(line, "/load")) {
      const auto args = fields(line);
      if (args.size() != 2) {
        std::printf("Usage:\n  /load <modelname>\n");
        continue;
      }
      const RunOptions saved = opts;
      opts.model = args[1];
      opts.messages = Json::array();
      std::printf("Loading model '%s'\n", opts.model.c_str());
      std::fflush(stdout);
      try {
        load_or_unload(client, opts);
      } catch (const CliError& e) {
        const std::string msg = e.what();
        if (msg.find("not found") != std::string::npos) {
          std::printf("Couldn't find model '%s'\n", opts.model.c_str());
          opts = saved;
          continue;
        }
        if (msg.find("does not support thinking") != std::string::npos) {
          std::printf("error: %s\n", msg.c_str());
          continue;
        }
        throw;
      }
      continue;
    } else if (starts_with(line, "/save")) {
      const auto args = fields(line);
      if (args.size() != 2) {
        std::printf("Usage:\n  /save <modelname>\n");
        continue;
      }
      Json body = Json::object();
      body["model"] = args[1];
      body["from"] = opts.parent_model.empty() ? opts.model : opts.parent_model;
      if (!opts.system.empty()) body["system"] = opts.system;
      if (!opts.options.empty()) body["parameters"] = opts.options;
      if (!opts.messages.empty()) body["messages"] = opts.messages;
      try {
        client.stream("/api/create", body, [](const Json&) { return true; });
      } catch (const CliError& e) {
        if (std::string(e.what()).find("invalid model name") != std::string::npos) {
          std::printf("error: The model name '%s' is invalid\n", args[1].c_str());
          continue;
        }
        throw;
      }
      std::printf("Created new model '%s'\n", args[1].c_str());
      continue;
    } else if (starts_with(line, "/clear")) {
      opts.messages = Json::array();
      if (!opts.system.empty()) {
        Json m = Json::object();
        m["role"] = "system";
        m["content"] = opts.system;
        opts.messages.push_back(m);
      }
      std::printf("Cleared session context\n");
      continue;
    } else if (starts_with(line, "/set")) {
      const auto args = fields(line);
      if (args.size() < 2) {
        usage_set();
        continue;
      }
      const std::string& what = args[1];
      if (what == "history") {
        ed.history_enable(true);
      } else if (what == "nohistory") {
        ed.history_enable(false);
      } else if (what == "wordwrap") {
        opts.word_wrap = true;
        std::printf("Set 'wordwrap' mode.\n");
      } else if (what == "nowordwrap") {
        opts.word_wrap = false;
        std::printf("Set 'nowordwrap' mode.\n");
      } else if (what == "verbose") {
        opts.verbose = true;
        std::printf("Set 'verbose' mode.\n");
      } else if (what == "quiet") {
        opts.verbose = false;
        std::printf("Set 'quiet' mode.\n");
      } else if (what == "think") {
        opts.think = args.size() > 2 ? Json(args[2]) : Json(true);
        if (args.size() > 2) std::printf("Set 'think' mode to '%s'.\n", args[2].c_str());
        else std::printf("Set 'think' mode.\n");
      } else if (what == "nothink") {
        opts.think = Json(false);
        std::printf("Set 'nothink' mode.\n");
      } else if (what == "format") {
        if (args.size() < 3 || args[2] != "json") {
          std::printf("Invalid or missing format. For 'json' mode use '/set format json'\n");
        } else {
          opts.format = args[2];
          std::printf("Set format to '%s' mode.\n", args[2].c_str());
        }
      } else if (what == "noformat") {
        opts.format.clear();
        std::printf("Disabled format.\n");
      } else if (what == "parameter") {
        if (args.size() < 4) {
          usage_parameters();
          continue;
        }
        const std::vector<std::string> values(args.begin() + 3, args.end());
        Json v;
        try {
          v = format_param(args[2], values);
        } catch (const ModelfileError& e) {
          std::printf("Couldn't set parameter: \"%s\"\n", e.what());
          continue;
        }
        std::string joined;
        for (size_t i = 0; i < values.size(); ++i) {
          if (i) joined += ", ";
          joined += values[i];
        }
        std::printf("Set parameter '%s' to '%s'\n", args[2].c_str(), joined.c_str());
        opts.options[args[2]] = v;
      } else if (what == "system") {
        if (args.size() < 3) {
          usage_set();
          continue;
        }
        multiline = Multiline::System;
        std::string text;
        for (size_t i = 2; i < args.size(); ++i) {
          if (i > 2) text += ' ';
          text += args[i];
        }
        if (!cut_prefix(text, "\"\"\"")) {
          multiline = Multiline::None;
        } else if (cut_suffix(text, "\"\"\"")) {
          multiline = Multiline::None;
        }
        sb += text;
        if (multiline != Multiline::None) {
          sb += "\n";
          ed.prompt.use_alt = true;
          continue;
        }
        opts.system = sb;
        Json m = Json::object();
        m["role"] = "system";
        m["content"] = sb;
        if (!opts.messages.empty() && str(opts.messages.back(), "role") == "system") {
          opts.messages.back() = m;
        } else {
          opts.messages.push_back(m);
        }
        std::printf("Set system message.\n");
        sb.clear();
        continue;
      } else {
        std::printf("Unknown command '/set %s'. Type /? for help\n", what.c_str());
      }
      continue;
    } else if (starts_with(line, "/show")) {
      const auto args = fields(line);
      if (args.size() < 2) {
        usage_show();
        continue;
      }
      Json body = Json::object();
      body["model"] = opts.model;
      if (!opts.system.empty()) body["system"] = opts.system;
      if (!opts.options.empty()) body["options"] = opts.options;
      Json resp;
      try {
        resp = client.request("POST", "/api/show", &body);
      } catch (const CliError&) {
        std::printf("error: couldn't get model\n");
        throw;
      }
      const std::string& what = args[1];
      if (what == "info") {
        std::fputs(show_info_text(resp, false).c_str(), stderr);
      } else if (what == "license") {
        if (str(resp, "license").empty()) std::printf("No license was specified for this model.\n");
        else std::printf("%s\n", str(resp, "license").c_str());
      } else if (what == "modelfile") {
        std::printf("%s\n", str(resp, "modelfile").c_str());
      } else if (what == "parameters") {
        std::printf("Model defined parameters:\n");
        const std::string params = str(resp, "parameters");
        if (params.empty()) {
          std::printf("  No additional parameters were specified for this model.\n");
        } else {
          std::istringstream in(params);
          std::string l;
          while (std::getline(in, l)) std::printf("  %s\n", l.c_str());
        }
        std::printf("\n");
        if (!opts.options.empty()) {
          std::printf("User defined parameters:\n");
          for (const auto& [k, v] : opts.options.items()) {
            std::printf("  %-30s %s\n", k.c_str(), param_text(v).c_str());
          }
          std::printf("\n");
        }
      } else if (what == "system") {
        if (!opts.system.empty()) std::printf("%s\n\n", opts.system.c_str());
        else if (!str(resp, "system").empty()) std::printf("%s\n\n", str(resp, "system").c_str());
        else std::printf("No system message was specified for this model.\n");
      } else if (what == "template") {
        if (!str(resp, "template").empty()) std::printf("%s\n", str(resp, "template").c_str());
        else std::printf("No prompt template was specified for this model.\n");
      } else {
        std::printf("Unknown command '/show %s'. Type /? for help\n", what.c_str());
      }
      std::fflush(stdout);
      continue;
    } else if (starts_with(line, "/help") || starts_with(line, "/?")) {
      const auto args = fields(line);
      if (args.size() > 1) {
        const std::string& what = args[1];
        if (what == "set" || what == "/set") usage_set();
        else if (what == "show" || what == "/show") usage_show();
        else if (what == "shortcut" || what == "shortcuts") usage_shortcuts();
      } else {
        usage();
      }
      continue;
    } else if (starts_with(line, "/exit") || starts_with(line, "/bye")) {
      return 0;
    } else if (starts_with(line, "/")) {
      const auto args = fields(line);
      std::printf("Unknown command '%s'. Type /? for help\n", args.empty() ? "/" : args[0].c_str());
      continue;
    } else {
      sb += line;
    }

    if (!sb.empty() && multiline == Multiline::None) {
      Json m = Json::object();
      m["role"] = "user";
      m["content"] = sb;
      opts.messages.push_back(m);
      std::optional<Json> answer;
      try {
        answer = chat_turn(client, opts);
      } catch (const CliError& e) {
        const std::string msg = e.what();
        if (msg.find("does not support thinking") != std::string::npos ||
            msg.find("invalid think value") != std::string::npos) {
          std::printf("error: %s\n", msg.c_str());
          sb.clear();
          continue;
        }
        throw;
      }
      if (answer) opts.messages.push_back(*answer);
      sb.clear();
    }
  }
}

}  // namespace ollmlx::cli
