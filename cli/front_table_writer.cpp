#include "front_table_writer.hpp"

#include <fmt/format.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "moesim/common/atomic_file.hpp"

namespace moesim::cli_main {

namespace {

// Every command path below `app` (depth first, in --help order), `prefix` included.
void collect_paths(const CLI::App& app, const std::vector<std::string>& prefix, std::vector<std::vector<std::string>>& out) {
  out.push_back(prefix);
  for (const CLI::App* sub : named_subcommands(app)) {
    std::vector<std::string> path = prefix;
    path.push_back(sub->get_name());
    collect_paths(*sub, path, out);
  }
}

// What this executable prints on stdout for `moesim WORDS...`, a command line that only asks for
// help or the version: a fresh command tree per line, as a real run has.
std::string printed_for(const std::vector<std::string>& words) {
  auto app = make_app();
  cli::Commands commands;
  std::set<std::string> ignored;
  register_all(commands, *app, ignored);
  std::vector<const char*> argv{"moesim"};
  for (const std::string& w : words) argv.push_back(w.c_str());
  std::ostringstream out, err;
  try {
    app->parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0 && app->exit(e, out, err) == 0) return out.str();
  }
  throw std::logic_error(fmt::format("front table: '{}' did not print help", fmt::join(words, " ")));
}

// A C++ string literal holding `text` exactly: one literal piece per line of text.
std::string cpp_literal(const std::string& text) {
  std::string lit = "\"";
  for (unsigned char c : text) {
    if (c == '\\' || c == '"') {
      lit += '\\';
      lit += static_cast<char>(c);
    } else if (c == '\n') {
      lit += "\\n\"\n    \"";
    } else if (c >= 0x20 && c < 0x7f && c != '?') {  // '?': no trigraphs
      lit += static_cast<char>(c);
    } else {
      lit += fmt::format("\\{:03o}", c);  // three octal digits: the next character cannot extend it
    }
  }
  return lit + "\"";
}

}  // namespace

int write_front_table(const char* out_path) {
  try {
    auto app = make_app();
    cli::Commands commands;
    std::set<std::string> model_commands;
    register_all(commands, *app, model_commands);
    std::vector<std::vector<std::string>> paths;
    collect_paths(*app, {}, paths);

    std::string src = "// Generated at build time by cli/front_table_writer.cpp: do not edit.\n"
                      "#include \"front_table.hpp\"\n\nnamespace moesim::front {\n\nconst HelpText kHelpTexts[] = {\n";
    for (const auto& path : paths) {
      std::vector<std::string> words = path;
      words.push_back("--help");
      src += fmt::format("  {{{},\n   {}}},\n", cpp_literal(fmt::format("{}", fmt::join(path, " "))),
                         cpp_literal(printed_for(words)));
    }
    src += fmt::format("}};\nconst std::size_t kHelpTextCount = {};\n", paths.size());
    src += fmt::format("const char* const kVersionText = {};\n", cpp_literal(printed_for({"--version"})));
    src += "const char* const kModelCommands[] = {";
    for (const std::string& name : model_commands) src += cpp_literal(name) + ", ";
    src += "nullptr};\n";  // never empty (a zero-length array is not C++)
    src += fmt::format("const std::size_t kModelCommandCount = {};\n\n}}  // namespace moesim::front\n",
                       model_commands.size());
    write_file_atomically(out_path, src);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "moesim: failed: writing the front's help table {}: {}\n", out_path, e.what());
    return 1;
  }
}

}  // namespace moesim::cli_main
