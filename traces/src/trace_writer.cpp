// Trace v1 writer: extendible chunked datasets appended one step at a time, written to a temporary
// file that is renamed into place by close(). See traces/FORMAT.md.
#include "moesim/traces/trace_writer.hpp"

#include <H5Cpp.h>

#include <stdexcept>
#include <vector>

#include "moesim/common/atomic_file.hpp"
#include "trace_schema.hpp"

namespace moesim::traces {
namespace {

void write_string_attr(H5::H5Object& obj, const char* name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  H5::Attribute attr = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  const char* c = value.c_str();
  attr.write(type, &c);
}

void write_int_attr(H5::H5Object& obj, const char* name, std::int64_t value) {
  H5::Attribute attr = obj.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR));
  attr.write(H5::PredType::NATIVE_INT64, &value);
}

// An extendible dataset of `cols` columns (cols == 0: one-dimensional), chunked along tokens.
H5::DataSet create_appendable(H5::H5File& file, const std::string& name, const H5::PredType& type, hsize_t cols,
                              hsize_t chunk_tokens, int gzip_level) {
  const int rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, cols};
  hsize_t maxdims[2] = {H5S_UNLIMITED, cols};
  H5::DataSpace space(rank, dims, maxdims);
  H5::DSetCreatPropList props;
  hsize_t chunk[2] = {chunk_tokens, cols};
  props.setChunk(rank, chunk);
  if (gzip_level > 0) {
    props.setShuffle();  // byte-shuffle first: neighbouring ints/floats share their high bytes
    props.setDeflate(gzip_level);
  }
  return file.createDataSet(name, type, space, props);
}

// Appends `rows` rows from `data` (row-major, `cols` per row) to an extendible dataset.
void append_rows(H5::DataSet& ds, const H5::PredType& mem_type, const void* data, hsize_t rows, hsize_t cols,
                 hsize_t& length) {
  if (rows == 0) return;
  const int rank = cols ? 2 : 1;
  hsize_t new_dims[2] = {length + rows, cols};
  ds.extend(new_dims);
  H5::DataSpace file_space = ds.getSpace();
  hsize_t start[2] = {length, 0};
  hsize_t count[2] = {rows, cols};
  file_space.selectHyperslab(H5S_SELECT_SET, count, start);
  H5::DataSpace mem_space(rank, count);
  ds.write(data, mem_type, mem_space, file_space);
  length += rows;
}

struct LayerSets {
  H5::DataSet expert_ids, gates, probs, kept;
};

}  // namespace

struct TraceWriter::Impl {
  TraceHeader header;
  WriterOptions options;
  AtomicOutput output;
  H5::H5File file;
  H5::DataSet sequence_id, position, token_id;
  std::vector<LayerSets> layers;
  int id_width = 1;
  hsize_t tokens = 0;
  std::vector<std::uint64_t> step_offsets{0};
  std::vector<std::uint8_t> id_buffer, all_kept;
  bool closed = false;

  Impl(const std::filesystem::path& path, TraceHeader h, WriterOptions o)
      : header(std::move(h)), options(o), output(path) {
    if (header.num_layers <= 0 || header.num_experts <= 0 || header.top_k <= 0 || header.top_k > header.num_experts)
      throw std::invalid_argument("trace header: need num_layers > 0 and 0 < top_k <= num_experts");
    if (header.router_top_k < 0 || header.router_top_k > header.top_k)
      throw std::invalid_argument("trace header: need 0 <= router_top_k <= top_k");
    if (header.model_layers.empty())
      for (int l = 0; l < header.num_layers; ++l) header.model_layers.push_back(l);
    if (static_cast<int>(header.model_layers.size()) != header.num_layers)
      throw std::invalid_argument("trace header: model_layers must have num_layers entries");
    check_chunk_size();
    H5::Exception::dontPrint();
    // Format versions from HDF5 1.8 on checksum every metadata block, so a corrupted header is
    // refused by the library instead of being parsed (fuzzing found crashes on unchecked ones).
    H5::FileAccPropList access;
    access.setLibverBounds(H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    // STRONG: closing the file closes (and flushes) every object still open in it, so that no
    // dataset handle can keep the file open past close() and have HDF5 write after the rename.
    access.setFcloseDegree(H5F_CLOSE_STRONG);
    file = H5::H5File(output.temp_path().string(), H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, access);
    id_width = schema::id_width_bytes_for(header.num_experts);
    const hsize_t chunk = options.chunk_tokens;
    const int z = options.gzip_level;
    file.createGroup(schema::kTokensGroup);
    file.createGroup(schema::kStepsGroup);
    file.createGroup(schema::kLayersGroup);
    sequence_id = create_appendable(file, schema::kSequenceId, H5::PredType::STD_I32LE, 0, chunk, z);
    position = create_appendable(file, schema::kPosition, H5::PredType::STD_I32LE, 0, chunk, z);
    if (header.has_token_ids) token_id = create_appendable(file, schema::kTokenId, H5::PredType::STD_I32LE, 0, chunk, z);
    const hsize_t k = static_cast<hsize_t>(header.top_k);
    for (int l = 0; l < header.num_layers; ++l) {
      H5::Group g = file.createGroup(schema::layer_group(l));
      write_int_attr(g, "model_layer", header.model_layers[l]);
      LayerSets s;
      s.expert_ids = create_appendable(file, schema::layer_dataset(l, schema::kExpertIds), schema::id_file_type(id_width),
                                       k, chunk, options.compress_expert_ids ? z : 0);
      s.gates = create_appendable(file, schema::layer_dataset(l, schema::kGateWeights), H5::PredType::IEEE_F32LE, k,
                                  chunk, z);
      if (header.has_router_probs) {
        // Full probabilities are E times larger than the ids: use a shorter chunk so a chunk stays ~MBs.
        hsize_t probs_chunk = std::max<hsize_t>(1, chunk * k / static_cast<hsize_t>(header.num_experts));
        s.probs = create_appendable(file, schema::layer_dataset(l, schema::kRouterProbs), H5::PredType::IEEE_F32LE,
                                    static_cast<hsize_t>(header.num_experts), probs_chunk, z);
      }
      if (header.has_kept_mask)  // 0/1 bytes: deflate makes them nearly free
        s.kept = create_appendable(file, schema::layer_dataset(l, schema::kKept), H5::PredType::STD_U8LE, k, chunk, z);
      layers.push_back(std::move(s));
    }
  }

  // HDF5 refuses chunks of 4 GiB or more (deep inside H5Dcreate, as an environment-like error):
  // the widest row is a layer's router probabilities (num_experts floats) or its top_k ids/gates.
  void check_chunk_size() const {
    constexpr std::uint64_t kMaxChunkBytes = (std::uint64_t{1} << 32) - 1;
    const std::uint64_t widest_row_bytes =
        sizeof(float) * static_cast<std::uint64_t>(header.has_router_probs ? header.num_experts : header.top_k);
    if (options.chunk_tokens == 0 || options.chunk_tokens > kMaxChunkBytes / widest_row_bytes)
      throw std::invalid_argument("trace writer: chunk of " + std::to_string(options.chunk_tokens) +
                                  " tokens must be between 1 and " + std::to_string(kMaxChunkBytes / widest_row_bytes) +
                                  " (HDF5 chunks hold less than 4 GiB)");
  }

  // A mask holds only 0 and 1, so that a reader can count kept pairs by adding the bytes.
  const std::uint8_t* kept_rows(std::span<const std::uint8_t> kept, std::size_t pairs) {
    if (kept.empty()) {
      all_kept.assign(pairs, 1);
      return all_kept.data();
    }
    for (auto v : kept)
      if (v > 1) throw std::invalid_argument("trace writer: kept mask values must be 0 or 1");
    return kept.data();
  }

  // Ids arrive as int32 and are stored in the smallest unsigned width; out-of-range ids are a bug
  // in the producer, so they are refused here rather than written as a wrapped-around number.
  const void* narrow_ids(std::span<const std::int32_t> ids) {
    id_buffer.resize(ids.size() * static_cast<std::size_t>(id_width));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::int32_t e = ids[i];
      if (e < 0 || e >= header.num_experts)
        throw std::invalid_argument("trace writer: expert id " + std::to_string(e) + " outside 0.." +
                                    std::to_string(header.num_experts - 1));
      if (id_width == 1) id_buffer[i] = static_cast<std::uint8_t>(e);
      else if (id_width == 2) reinterpret_cast<std::uint16_t*>(id_buffer.data())[i] = static_cast<std::uint16_t>(e);
      else reinterpret_cast<std::uint32_t*>(id_buffer.data())[i] = static_cast<std::uint32_t>(e);
    }
    return id_buffer.data();
  }

  void append_part(const StepTokens& t, std::span<const LayerRouting> routing) {
    const hsize_t n = t.sequence_id.size();
    const std::size_t k = static_cast<std::size_t>(header.top_k);
    if (t.position.size() != n || (header.has_token_ids && t.token_id.size() != n))
      throw std::invalid_argument("trace writer: token arrays of a step differ in length");
    if (static_cast<int>(routing.size()) != header.num_layers)
      throw std::invalid_argument("trace writer: a step needs routing for every layer");
    for (const auto& r : routing) {
      if (r.expert_ids.size() != n * k || r.gates.size() != n * k ||
          (header.has_router_probs && r.router_probs.size() != n * static_cast<std::size_t>(header.num_experts)))
        throw std::invalid_argument("trace writer: layer routing shape does not match the step's tokens");
      if (!r.kept.empty() && (!header.has_kept_mask || r.kept.size() != n * k))
        throw std::invalid_argument(header.has_kept_mask ? "trace writer: kept mask shape does not match the step's tokens"
                                                         : "trace writer: a kept mask needs header.has_kept_mask");
    }
    const hsize_t start = tokens;
    hsize_t len = start;
    append_rows(sequence_id, H5::PredType::NATIVE_INT32, t.sequence_id.data(), n, 0, len);
    len = start;
    append_rows(position, H5::PredType::NATIVE_INT32, t.position.data(), n, 0, len);
    if (header.has_token_ids) {
      len = start;
      append_rows(token_id, H5::PredType::NATIVE_INT32, t.token_id.data(), n, 0, len);
    }
    for (int l = 0; l < header.num_layers; ++l) {
      const auto& r = routing[l];
      len = start;
      append_rows(layers[l].expert_ids, schema::id_mem_type(id_width), narrow_ids(r.expert_ids), n, k, len);
      len = start;
      append_rows(layers[l].gates, H5::PredType::NATIVE_FLOAT, r.gates.data(), n, k, len);
      if (header.has_kept_mask) {
        len = start;
        append_rows(layers[l].kept, H5::PredType::NATIVE_UINT8, kept_rows(r.kept, n * k), n, k, len);
      }
      if (header.has_router_probs) {
        len = start;
        append_rows(layers[l].probs, H5::PredType::NATIVE_FLOAT, r.router_probs.data(), n,
                    static_cast<hsize_t>(header.num_experts), len);
      }
    }
    tokens = start + n;
  }

  void end_step() { step_offsets.push_back(tokens); }

  void write_header_attrs() {
    header.num_tokens = tokens;
    header.num_steps = step_offsets.size() - 1;
    H5::Group root = file.openGroup("/");
    write_string_attr(root, "format", kFormatName);
    write_int_attr(root, "version", kFormatVersion);
    write_int_attr(root, "version_minor", kFormatMinorVersion);
    write_string_attr(root, "model", header.model);
    write_string_attr(root, "architecture", header.architecture);
    write_int_attr(root, "num_layers", header.num_layers);
    write_int_attr(root, "num_experts", header.num_experts);
    write_int_attr(root, "top_k", header.top_k);
    write_int_attr(root, "router_top_k", header.natural_top_k());
    write_int_attr(root, "hidden_size", header.hidden_size);
    write_string_attr(root, "dataset", header.dataset);
    write_string_attr(root, "tokenizer", header.tokenizer);
    write_string_attr(root, "routing_strategy", header.routing_strategy);
    write_string_attr(root, "created_by", header.created_by);
    write_string_attr(root, "created_at", header.created_at);
    write_int_attr(root, "num_tokens", static_cast<std::int64_t>(header.num_tokens));
    write_int_attr(root, "num_steps", static_cast<std::int64_t>(header.num_steps));
    write_int_attr(root, "has_token_ids", header.has_token_ids);
    write_int_attr(root, "has_router_probs", header.has_router_probs);
    write_int_attr(root, "has_kept_mask", header.has_kept_mask);
    hsize_t n = step_offsets.size();
    H5::DataSpace space(1, &n);
    H5::DataSet offsets = file.createDataSet(schema::kStepOffsets, H5::PredType::STD_U64LE, space);
    offsets.write(step_offsets.data(), H5::PredType::NATIVE_UINT64);
  }

  // Every handle closed before the file: HDF5 writes an open dataset's chunks and metadata when
  // its last handle goes, so a handle left open would write into the file after it was renamed
  // into place (a kill then would replace a good trace with a corrupt one).
  void close_all() {
    for (auto& s : layers) {
      s.expert_ids.close();
      s.gates.close();
      s.probs.close();
      s.kept.close();
    }
    sequence_id.close();
    position.close();
    token_id.close();
    file.close();
  }
};

TraceWriter::TraceWriter(const std::filesystem::path& path, TraceHeader header, WriterOptions options) {
  try {
    impl_ = std::make_unique<Impl>(path, std::move(header), options);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(path.string() + ": cannot create trace: " + e.getDetailMsg());
  }
}

TraceWriter::~TraceWriter() = default;

void TraceWriter::append_step(const StepTokens& tokens, std::span<const LayerRouting> layers) {
  append_step_part(tokens, layers);
  end_step();
}

void TraceWriter::append_step_part(const StepTokens& tokens, std::span<const LayerRouting> layers) {
  if (impl_->closed) throw std::logic_error("trace writer: append after close");
  try {
    impl_->append_part(tokens, layers);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(impl_->output.final_path().string() + ": write failed: " + e.getDetailMsg());
  }
}

void TraceWriter::end_step() {
  if (impl_->closed) throw std::logic_error("trace writer: append after close");
  impl_->end_step();
}

void TraceWriter::close() {
  if (impl_->closed) return;
  try {
    impl_->write_header_attrs();
    impl_->close_all();
  } catch (const H5::Exception& e) {
    throw std::runtime_error(impl_->output.final_path().string() + ": write failed: " + e.getDetailMsg());
  }
  impl_->output.commit();
  impl_->closed = true;
}

}  // namespace moesim::traces
