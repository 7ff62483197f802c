// Trace v1 reader. Everything about a file that can be wrong is checked when it is opened, so that
// a replay never fails half-way through on a structural problem; data errors found later (a
// truncated or corrupted chunk) still surface as one InputError line naming the file.
#include "moesim/traces/trace_reader.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>
#include <fmt/format.h>

#include "moesim/common/error.hpp"
#include "moesim/common/isolated.hpp"
#include "trace_schema.hpp"

namespace moesim::traces {
namespace fs = std::filesystem;

namespace {
constexpr std::int64_t kMaxHeaderCount = std::int64_t{1} << 24;  // layers, experts, top_k
constexpr std::int64_t kMaxHiddenSize = std::int64_t{1} << 24;
}  // namespace

struct TraceReader::Impl {
  fs::path path;
  H5::H5File file;
  TraceHeader header;
  std::vector<std::uint64_t> offsets;
  int id_width = 1;
  std::vector<H5::DataSet> expert_ids, gates, probs, kept;
  H5::DataSet sequence_id, position, token_id;
  // Per layer: 1 once a whole pass over its ids (for_each_id_slice) found them valid. A replay with
  // EPLB placement reads every layer whole for the loads, then again step by step: the ids of a file
  // opened read-only do not change between the two, so the second read skips the checks.
  mutable std::vector<std::uint8_t> ids_checked;

  [[noreturn]] void fail(const std::string& what) const { throw InputError(located(path, what)); }
  // Opens the file and reads and checks all of its structure (everything but the token data).
  void open();

  H5::Attribute attr(const char* name) const {
    if (!file.attrExists(name)) fail(fmt::format("missing attribute '{}' (not a moesim trace v{}?)", name, kFormatVersion));
    return file.openAttribute(name);
  }
  std::string str_attr(const char* name) const {
    H5::Attribute a = attr(name);
    if (a.getTypeClass() != H5T_STRING) fail(fmt::format("attribute '{}' should be a string", name));
    H5::StrType type = a.getStrType();
    if (type.isVariableStr()) {
      // Not a.read(type, std::string&): for a null variable-length string HDF5 returns a null
      // pointer, on which the C++ wrapper calls strlen (a crash found by fuzzing;
      // tests/fuzz/regressions/trace_reader/).
      char* c = nullptr;
      if (H5Aread(a.getId(), type.getId(), &c) < 0) throw H5::AttributeIException("H5Aread", "H5Aread failed");
      if (!c) fail(fmt::format("attribute '{}' is a null string", name));
      std::string value(c);
      H5free_memory(c);
      return value;
    }
    std::string value;
    a.read(type, value);
    return value;
  }
  std::int64_t int_attr(const char* name) const {
    H5::Attribute a = attr(name);
    if (a.getTypeClass() != H5T_INTEGER) fail(fmt::format("attribute '{}' should be an integer", name));
    std::int64_t v = 0;
    a.read(H5::PredType::NATIVE_INT64, &v);
    return v;
  }

  // True when every link of "a/b/c" exists (H5Lexists fails, not false, below a missing group).
  bool path_exists(const std::string& name) const {
    for (std::size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
      if (!file.nameExists(name.substr(0, slash))) return false;
    return file.nameExists(name);
  }

  H5::DataSet dataset(const std::string& name) const {
    if (!path_exists(name)) fail(fmt::format("missing dataset '{}'", name));
    return file.openDataSet(name);
  }
  // Checks a dataset's shape is exactly {rows} or {rows, cols}.
  void expect_shape(const H5::DataSet& ds, const std::string& name, hsize_t rows, hsize_t cols) const {
    H5::DataSpace s = ds.getSpace();
    int rank = s.getSimpleExtentNdims();
    hsize_t dims[2] = {0, 0};
    if (rank == (cols ? 2 : 1)) s.getSimpleExtentDims(dims);
    if (rank != (cols ? 2 : 1))  // dims are unread: name the rank, not a made-up 0x0 shape
      fail(fmt::format("dataset '{}' has {} dimension{}, expected {} ({})", name, rank, rank == 1 ? "" : "s",
                       cols ? 2 : 1, cols ? fmt::format("{}x{}: tokens x width", rows, cols) : fmt::format("{} entries", rows)));
    if (dims[0] != rows || (cols && dims[1] != cols))
      fail(cols ? fmt::format("dataset '{}' has shape {}x{}, expected {}x{} (tokens x width)", name, dims[0], dims[1],
                              rows, cols)
                : fmt::format("dataset '{}' has {} entries, expected {}", name, dims[0], rows));
  }

  // Every chunk present (chunked layout), or the storage allocated (contiguous layout).
  static bool fully_stored(const H5::DataSet& ds) {
    H5::DSetCreatPropList props = ds.getCreatePlist();
    if (props.getLayout() != H5D_CHUNKED) {
      H5D_space_status_t status = H5D_SPACE_STATUS_NOT_ALLOCATED;
      ds.getSpaceStatus(status);
      return status == H5D_SPACE_STATUS_ALLOCATED;
    }
    hsize_t chunk[2] = {1, 1}, dims[2] = {0, 1};
    int rank = props.getChunk(2, chunk);
    ds.getSpace().getSimpleExtentDims(dims);
    hsize_t expected = 1;
    for (int d = 0; d < rank; ++d) expected *= (dims[d] + chunk[d] - 1) / chunk[d];
    hsize_t stored = 0;
    H5::DataSpace space = ds.getSpace();
    if (H5Dget_num_chunks(ds.getId(), space.getId(), &stored) < 0) return false;
    return stored == expected;
  }

  void read_header() {
    std::string format = str_attr("format");
    if (format != kFormatName) fail(fmt::format("format is '{}', expected '{}'", format, kFormatName));
    std::int64_t version = int_attr("version");
    if (version != kFormatVersion)
      fail(fmt::format("trace format version {} — this moesim reads version {}; regenerate the trace with "
                       "`moesim capture` or `moesim trace synth` of this version",
                       version, kFormatVersion));
    header.model = str_attr("model");
    header.architecture = str_attr("architecture");
    header.dataset = str_attr("dataset");
    header.tokenizer = str_attr("tokenizer");
    header.routing_strategy = str_attr("routing_strategy");
    header.created_by = str_attr("created_by");
    header.created_at = str_attr("created_at");
    auto positive = [&](const char* name) {
      std::int64_t v = int_attr(name);
      if (v <= 0 || v > kMaxHeaderCount) fail(fmt::format("attribute '{}' = {} is out of range", name, v));
      return static_cast<int>(v);
    };
    header.num_layers = positive("num_layers");
    header.num_experts = positive("num_experts");
    header.top_k = positive("top_k");
    if (header.top_k > header.num_experts)
      fail(fmt::format("top_k {} exceeds num_experts {}", header.top_k, header.num_experts));
    // 0 = unknown (replay then needs bytes per token); beyond 2^24 no model exists, and the value
    // would be cast to int and multiplied into byte counts.
    const std::int64_t hidden = int_attr("hidden_size");
    if (hidden < 0 || hidden > kMaxHiddenSize)
      fail(fmt::format("attribute 'hidden_size' = {} is out of range (0..{}; 0 = unknown)", hidden, kMaxHiddenSize));
    header.hidden_size = static_cast<int>(hidden);
    std::int64_t tokens = int_attr("num_tokens"), steps = int_attr("num_steps");
    if (tokens < 0 || steps < 0) fail("negative num_tokens or num_steps");
    header.num_tokens = static_cast<std::uint64_t>(tokens);
    header.num_steps = static_cast<std::uint64_t>(steps);
    header.has_token_ids = int_attr("has_token_ids") != 0;
    header.has_router_probs = int_attr("has_router_probs") != 0;
    // Added in 1.1: a file without them is 1.0, whose every slot is a kept pair.
    header.version_minor = file.attrExists("version_minor") ? static_cast<int>(int_attr("version_minor")) : 0;
    header.has_kept_mask = file.attrExists("has_kept_mask") && int_attr("has_kept_mask") != 0;
    if (file.attrExists("router_top_k")) {
      std::int64_t rk = int_attr("router_top_k");
      if (rk < 1 || rk > header.top_k) fail(fmt::format("router_top_k {} must be in 1..top_k ({})", rk, header.top_k));
      header.router_top_k = static_cast<int>(rk);
    }
  }

  void read_offsets() {
    H5::DataSet ds = dataset(schema::kStepOffsets);
    expect_shape(ds, schema::kStepOffsets, header.num_steps + 1, 0);
    offsets.resize(header.num_steps + 1);
    ds.read(offsets.data(), H5::PredType::NATIVE_UINT64);
    if (offsets.front() != 0 || offsets.back() != header.num_tokens || !std::is_sorted(offsets.begin(), offsets.end()))
      fail(fmt::format("'{}' must rise from 0 to num_tokens ({})", schema::kStepOffsets, header.num_tokens));
  }

  // A dataset that was created but never (fully) written reads back as fill values (every token on
  // expert 0, every gate 0): refuse it instead of returning a silently wrong trace. This also walks
  // each dataset's whole chunk index, which the open in a checking child relies on (see open()).
  void expect_stored(const H5::DataSet& ds, const std::string& name) const {
    if (header.num_tokens > 0 && !fully_stored(ds))
      fail(fmt::format("dataset '{}' was never completely written (an interrupted writer?)", name));
  }

  H5::DataSet token_dataset(const char* name) const {
    H5::DataSet ds = dataset(name);
    expect_shape(ds, name, header.num_tokens, 0);
    expect_stored(ds, name);
    return ds;
  }

  void open_datasets() {
    const hsize_t T = header.num_tokens, k = static_cast<hsize_t>(header.top_k);
    sequence_id = token_dataset(schema::kSequenceId);
    position = token_dataset(schema::kPosition);
    if (header.has_token_ids) token_id = token_dataset(schema::kTokenId);
    id_width = schema::id_width_bytes_for(header.num_experts);
    for (int l = 0; l < header.num_layers; ++l) {
      std::string ids_name = schema::layer_dataset(l, schema::kExpertIds);
      H5::DataSet ids = dataset(ids_name);
      expect_shape(ids, ids_name, T, k);
      if (ids.getTypeClass() != H5T_INTEGER) fail(fmt::format("dataset '{}' must hold integers", ids_name));
      // Writers in other languages may pick another integer width; the fast path needs the canonical one.
      if (ids.getIntType().getSize() != static_cast<std::size_t>(id_width) || ids.getIntType().getSign() != H5T_SGN_NONE)
        fail(fmt::format("dataset '{}' must be uint{} for {} experts (see FORMAT.md)", ids_name, 8 * id_width,
                         header.num_experts));
      expect_stored(ids, ids_name);
      expert_ids.push_back(ids);
      ids_checked.push_back(0);
      std::string gates_name = schema::layer_dataset(l, schema::kGateWeights);
      gates.push_back(dataset(gates_name));
      expect_shape(gates.back(), gates_name, T, k);
      expect_stored(gates.back(), gates_name);
      if (header.has_router_probs) {
        std::string probs_name = schema::layer_dataset(l, schema::kRouterProbs);
        probs.push_back(dataset(probs_name));
        expect_shape(probs.back(), probs_name, T, static_cast<hsize_t>(header.num_experts));
        expect_stored(probs.back(), probs_name);
      }
      open_kept_mask(l, T, k);
      H5::Group g = file.openGroup(schema::layer_group(l));
      std::int64_t model_layer = l;
      if (g.attrExists("model_layer")) g.openAttribute("model_layer").read(H5::PredType::NATIVE_INT64, &model_layer);
      header.model_layers.push_back(static_cast<int>(model_layer));
    }
  }

  // The mask and the header must agree: a mask the header does not announce would be ignored by
  // nothing here, but a missing one would make dropped pairs count as sent.
  void open_kept_mask(int l, hsize_t T, hsize_t k) {
    const std::string name = schema::layer_dataset(l, schema::kKept);
    if (!header.has_kept_mask) {
      if (path_exists(name)) fail(fmt::format("dataset '{}' exists but attribute 'has_kept_mask' is not 1", name));
      return;
    }
    H5::DataSet ds = dataset(name);
    expect_shape(ds, name, T, k);
    if (ds.getTypeClass() != H5T_INTEGER || ds.getIntType().getSize() != 1)
      fail(fmt::format("dataset '{}' must be uint8 (1 = pair kept, 0 = dropped; see FORMAT.md)", name));
    expect_stored(ds, name);
    kept.push_back(ds);
  }

  // Reads one layer's mask of tokens [begin, end) and checks it holds only 0 and 1.
  void read_kept(int layer, std::uint64_t begin, std::uint64_t end, std::vector<std::uint8_t>& out) const {
    const hsize_t k = static_cast<hsize_t>(header.top_k);
    out.resize((end - begin) * k);
    read_rows(kept[layer], H5::PredType::NATIVE_UINT8, begin, end, k, out.data(), "kept mask");
    for (std::size_t i = 0; i < out.size(); ++i)
      if (out[i] > 1)
        fail(fmt::format("layer {} token {} has kept value {} (must be 0 or 1)", layer, begin + i / k, out[i]));
  }

  // Reads rows [begin, end) of a 1-D or 2-D dataset into `out` as `mem_type`.
  void read_rows(const H5::DataSet& ds, const H5::PredType& mem_type, std::uint64_t begin, std::uint64_t end,
                 hsize_t cols, void* out, const char* what) const {
    if (end <= begin) return;
    try {
      H5::DataSpace file_space = ds.getSpace();
      hsize_t start[2] = {begin, 0}, count[2] = {end - begin, cols};
      int rank = cols ? 2 : 1;
      file_space.selectHyperslab(H5S_SELECT_SET, count, start);
      H5::DataSpace mem_space(rank, count);
      ds.read(out, mem_type, mem_space, file_space);
    } catch (const H5::Exception& e) {
      fail(fmt::format("cannot read {} of tokens [{}, {}): the file is truncated or corrupt ({})", what, begin, end,
                       e.getDetailMsg()));
    }
  }

  // Every expert id in range, and distinct within a token: top-k picks k different experts, and a
  // token listing one twice would count that expert twice in the statistics and send it the token
  // twice in a replay. `ids` holds tokens of top_k entries. Each expert remembers the last token
  // that listed it, so a token costs k look-ups (2.3x faster than comparing its k(k-1)/2 pairs at
  // top-8, measured; this check runs on every id a replay reads).
  template <class Id>
  void check_ids(int layer, std::uint64_t begin, const Id* ids, std::size_t n) const {
    const std::size_t k = static_cast<std::size_t>(header.top_k);
    const auto experts = static_cast<std::uint64_t>(header.num_experts);
    std::vector<std::uint64_t> last_token(experts, 0);  // token + 1
    for (std::size_t t = 0; t < n; t += k) {
      const std::uint64_t token = t / k + 1;
      for (std::size_t j = 0; j < k; ++j) {
        const Id e = ids[t + j];
        if (std::cmp_less(e, 0) || std::cmp_greater_equal(e, experts))
          fail(fmt::format("layer {} holds expert id {} but the trace declares {} experts", layer,
                           static_cast<std::int64_t>(e), header.num_experts));
        std::uint64_t& last = last_token[static_cast<std::size_t>(e)];
        if (last == token)
          fail(fmt::format("layer {} token {} lists expert {} twice (top-k experts must differ)", layer,
                           begin + t / k, static_cast<std::int64_t>(e)));
        last = token;
      }
    }
  }

  void check_range(int layer, std::uint64_t begin, std::uint64_t end) const {
    if (layer < 0 || layer >= header.num_layers)
      throw InputError(located(path, fmt::format("layer {} does not exist (the trace has layers 0..{})", layer,
                                                 header.num_layers - 1)));
    if (begin > end || end > header.num_tokens) throw std::out_of_range("trace reader: token range out of bounds");
  }
};

namespace {

constexpr double kDefaultCheckTimeout_s = 120;  // a multi-GB trace's metadata reads in well under 1 s

double check_timeout_s(const TraceOpenOptions& options) {
  if (options.check_timeout_s > 0) return options.check_timeout_s;
  if (const char* env = std::getenv("MOESIM_TRACE_CHECK_TIMEOUT_S")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && *end == '\0' && v > 0) return v;
  }
  return kDefaultCheckTimeout_s;
}

}  // namespace

void TraceReader::Impl::open() {
  H5::Exception::dontPrint();
  try {
    if (!H5::H5File::isHdf5(path.string())) throw InputError(located(path, "not an HDF5 file (expected a moesim trace)"));
    file = H5::H5File(path.string(), H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw InputError(located(path, "cannot open as HDF5 (truncated or corrupt?): " + e.getDetailMsg()));
  }
  try {
    read_header();
    read_offsets();
    open_datasets();
  } catch (const H5::Exception& e) {
    throw InputError(located(path, "corrupt trace: " + e.getDetailMsg()));
  }
}

TraceReader::TraceReader(const fs::path& path, const TraceOpenOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(located(path, "no such file"));
  if (options.check_in_child) {
    // The same open, in a child: a bad file's InputError comes back as is; a crash or a hang in
    // libhdf5 becomes one. Everything open() reads is metadata, so data reads later are safe.
    const double timeout_s = check_timeout_s(options);
    try {
      run_isolated(
          [&] {
            Impl probe;
            probe.path = path;
            probe.open();
            return std::string();
          },
          {.timeout_s = timeout_s});
    } catch (const IsolatedProcessDied& e) {
      throw InputError(located(
          path, e.timed_out()
                    ? fmt::format("corrupt HDF5 metadata: reading the file's structure did not finish in {} s "
                                  "(libhdf5 loops on some damaged files; MOESIM_TRACE_CHECK_TIMEOUT_S sets the limit)",
                                  timeout_s)
                    : fmt::format("corrupt HDF5 metadata: libhdf5 crashed reading the file's structure in a checking "
                                  "process ({}); the file is damaged",
                                  e.what())));
    }
  }
  impl_->open();
}

TraceReader::~TraceReader() = default;
TraceReader::TraceReader(TraceReader&&) noexcept = default;

const TraceHeader& TraceReader::header() const { return impl_->header; }
const fs::path& TraceReader::path() const { return impl_->path; }
const std::vector<std::uint64_t>& TraceReader::step_offsets() const { return impl_->offsets; }
int TraceReader::id_width_bytes() const { return impl_->id_width; }

LayerBlock TraceReader::read_layer(int layer, std::uint64_t begin, std::uint64_t end, ReadWhat what) const {
  LayerBlock b;
  read_layer_into(layer, begin, end, what, b);
  return b;
}

void TraceReader::read_layer_into(int layer, std::uint64_t begin, std::uint64_t end, ReadWhat what,
                                  LayerBlock& b) const {
  impl_->check_range(layer, begin, end);
  const auto& h = impl_->header;
  const hsize_t k = static_cast<hsize_t>(h.top_k);
  // What is not read is left empty (a reused block may hold an earlier read's); what is read keeps
  // its buffer (resize to the same size writes nothing).
  if (!what.gates) b.gates.clear();
  if (!(what.router_probs && h.has_router_probs)) b.router_probs.clear();
  if (!(what.kept && h.has_kept_mask)) b.kept.clear();
  b.layer = layer;
  b.top_k = h.top_k;
  b.begin = begin;
  b.expert_ids.resize((end - begin) * k);
  impl_->read_rows(impl_->expert_ids[layer], H5::PredType::NATIVE_INT32, begin, end, k, b.expert_ids.data(),
                   "expert ids");
  if (what.gates) {
    b.gates.resize((end - begin) * k);
    impl_->read_rows(impl_->gates[layer], H5::PredType::NATIVE_FLOAT, begin, end, k, b.gates.data(), "gate weights");
  }
  if (what.router_probs && h.has_router_probs) {
    const hsize_t E = static_cast<hsize_t>(h.num_experts);
    b.router_probs.resize((end - begin) * E);
    impl_->read_rows(impl_->probs[layer], H5::PredType::NATIVE_FLOAT, begin, end, E, b.router_probs.data(),
                     "router probabilities");
  }
  if (what.kept && h.has_kept_mask) impl_->read_kept(layer, begin, end, b.kept);
  // Ids are validated here, once, so that every consumer can index by them without checks:
  // in range, and distinct within a token (top-k picks k different experts).
  if (!impl_->ids_checked[layer]) impl_->check_ids(layer, begin, b.expert_ids.data(), b.expert_ids.size());
  // Gates weight what each expert sends back: NaN or a negative weight is a broken writer, not a number to average.
  for (std::size_t i = 0; i < b.gates.size(); ++i)
    if (!std::isfinite(b.gates[i]) || b.gates[i] < 0)
      impl_->fail(fmt::format("layer {} token {} has gate weight {} (gates must be finite and >= 0)", layer,
                              begin + i / k, b.gates[i]));
}

LayerBlock TraceReader::read_step(int layer, std::uint64_t step, ReadWhat what) const {
  LayerBlock b;
  read_step_into(layer, step, what, b);
  return b;
}

void TraceReader::read_step_into(int layer, std::uint64_t step, ReadWhat what, LayerBlock& into) const {
  if (step >= impl_->header.num_steps)
    throw InputError(located(impl_->path, fmt::format("step {} does not exist (the trace has {} steps)", step,
                                                      impl_->header.num_steps)));
  read_layer_into(layer, impl_->offsets[step], impl_->offsets[step + 1], what, into);
}

TokenBlock TraceReader::read_tokens(std::uint64_t begin, std::uint64_t end) const {
  impl_->check_range(0, begin, end);
  TokenBlock t;
  t.begin = begin;
  t.sequence_id.resize(end - begin);
  t.position.resize(end - begin);
  impl_->read_rows(impl_->sequence_id, H5::PredType::NATIVE_INT32, begin, end, 0, t.sequence_id.data(), "sequence ids");
  impl_->read_rows(impl_->position, H5::PredType::NATIVE_INT32, begin, end, 0, t.position.data(), "positions");
  if (impl_->header.has_token_ids) {
    t.token_id.resize(end - begin);
    impl_->read_rows(impl_->token_id, H5::PredType::NATIVE_INT32, begin, end, 0, t.token_id.data(), "token ids");
  }
  return t;
}

void TraceReader::for_each_id_slice(int layer, std::uint64_t slice_tokens,
                                    const std::function<void(const IdSlice&)>& fn) const {
  impl_->check_range(layer, 0, 0);
  const auto& h = impl_->header;
  const hsize_t k = static_cast<hsize_t>(h.top_k);
  slice_tokens = std::max<std::uint64_t>(1, slice_tokens);
  std::vector<std::uint8_t> buffer(std::min<std::uint64_t>(slice_tokens, h.num_tokens) * k * impl_->id_width), kept;
  const bool checked = impl_->ids_checked[layer];
  for (std::uint64_t begin = 0; begin < h.num_tokens; begin += slice_tokens) {
    std::uint64_t end = std::min(h.num_tokens, begin + slice_tokens);
    impl_->read_rows(impl_->expert_ids[layer], schema::id_mem_type(impl_->id_width), begin, end, k, buffer.data(),
                     "expert ids");
    if (h.has_kept_mask) impl_->read_kept(layer, begin, end, kept);
    IdSlice s{buffer.data(), impl_->id_width, begin, end - begin, h.top_k, h.has_kept_mask ? kept.data() : nullptr};
    // The same checks as read_layer(), so that `trace stats` and replay accept and refuse the same files.
    if (!checked) s.visit([&](const auto* ids, std::size_t n) { impl_->check_ids(layer, begin, ids, n); });
    fn(s);
  }
  impl_->ids_checked[layer] = 1;  // every id of the layer was read and found valid
}

}  // namespace moesim::traces
