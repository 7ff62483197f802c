#pragma once
// Our platform as a SimGrid XML file (platform version 4.1), for users who run plain SimGrid tools
// on it, and as an independent check: the export loaded back must simulate the same times.
//
// Layout: one Full zone per node (GPUs, a gateway router, NVLink/mesh/NIC links, GPU<->GPU and
// GPU<->gateway routes) inside one Full zone with a zoneRoute per pair of nodes listing the
// scale-out links between them. Plain XML has no star zones, so this stores nodes²/2 zone routes:
// fine for export (a 1024-GPU platform is a few MB), which is why moesim builds SimGrid platforms
// in code instead.
#include <string>

#include "moesim/topologies/fabric.hpp"
#include "moesim/topologies/platform_spec.hpp"

namespace moesim::topologies {

std::string to_simgrid_xml(const PlatformSpec& spec, const Fabric& fabric);

}  // namespace moesim::topologies
