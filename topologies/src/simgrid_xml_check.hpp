#pragma once
// Validation of a SimGrid XML platform before the calling process loads it (see the .cpp).
#include <filesystem>

namespace simgrid::s4u {
class Engine;
}

namespace moesim::topologies {

// Loads `file` in a forked child and refuses it with an InputError (one line naming the file, and
// line:col where the problem has one) when SimGrid would crash, abort or simulate nonsense on it:
// a link whose bandwidth is not a finite number > 0 or whose latency is not finite and >= 0, or
// an ordered pair of hosts without a route (no route at all, or only the other way round).
// Precondition: the network model is configured and no platform is loaded in `engine` yet.
void check_simgrid_xml(const std::filesystem::path& file, simgrid::s4u::Engine& engine);

}  // namespace moesim::topologies
