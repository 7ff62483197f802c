#pragma once
// What the front knows without loading a back end (front_table_writer.hpp writes the definitions).
#include <cstddef>

namespace moesim::front {

struct HelpText {
  const char* path;  // the command words joined by one space; "" for `moesim` itself
  const char* text;  // what `moesim PATH --help` prints on stdout
};

extern const HelpText kHelpTexts[];
extern const std::size_t kHelpTextCount;
extern const char* const kVersionText;     // what `moesim --version` prints
extern const char* const kModelCommands[];  // top-level commands that moesim-model runs
extern const std::size_t kModelCommandCount;

}  // namespace moesim::front
