// Matrix input: one layer whose dispatch is a given GPUs x GPUs byte matrix and whose combine is its
// transpose at the combine width. Beside replay_trace.cpp, the other way into the replay engine.
#include <fmt/format.h>

#include "moesim/common/error.hpp"
#include "moesim/sim/replay.hpp"
#include "moesim/sim/simulation.hpp"

namespace moesim::sim {

ReplayResult replay_matrix(const TrafficMatrix& dispatch, double combine_scale, const PlatformSource& platform,
                           int ep_gpus, const ReplayOptions& options) {
  if (ep_gpus == 0) ep_gpus = dispatch.gpus;
  if (dispatch.gpus != ep_gpus)
    throw InputError(fmt::format("the matrix is {0}×{0} but the expert-parallel degree is {1}: a matrix needs one row "
                                 "and one column per GPU",
                                 dispatch.gpus, ep_gpus));
  return run_simulation(platform, ep_gpus, [&](FlowNetwork& net) {
    ReplayEngine engine(net, ep_gpus, options);
    LayerWork w;
    w.dispatch = dispatch;
    w.combine = dispatch.transposed().scaled(combine_scale);
    engine.replay_layer(w);
    engine.result().settings.placement = "none (traffic matrix)";
    return std::move(engine.result());
  });
}

}  // namespace moesim::sim
