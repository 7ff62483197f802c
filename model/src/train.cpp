// The trainer of train.hpp: AdamW with warmup + cosine, clipping, accumulation, bf16 autocast on
// CUDA, balance terms, periodic evaluation, atomic checkpoints and exact --resume. The only file
// of model/ that includes <torch/torch.h> (for torch::optim).
#include "train.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <ftw.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <type_traits>

#include "balance_losses.hpp"
#include "moesim/common/atomic_file.hpp"
#include "moesim/common/error.hpp"
#include "moesim/common/json_number.hpp"
#include "moesim/common/progress.hpp"
#include "moesim/traces/balance_metrics.hpp"
#include "perplexity.hpp"
#include "train_model.hpp"
#include "weights.hpp"

namespace moesim::model {

namespace fs = std::filesystem;

using json = nlohmann::json;

json eval_fields(const EvalResult& r) {
  return {{"loss", r.loss}, {"ppl", r.ppl}, {"tokens", r.tokens}, {"gini", r.gini}, {"cv", r.cv},
          {"max_mean", r.max_mean}, {"entropy", r.entropy}};
}

namespace {

// bf16 autocast for the forward pass on CUDA; the API moved between LibTorch 1.13 and 2.4.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on) : on_(on) { set(on_); }
  ~Bf16Autocast() {
    if (!on_) return;
    set(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  static void set(bool enabled) {
    if (!enabled) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
      at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
      at::autocast::set_enabled(false);
#endif
      return;
    }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  bool on_;
};

double learning_rate(const TrainOptions& o, std::int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const double span = static_cast<double>(std::max<std::int64_t>(1, o.steps - o.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  const double floor = o.lr * o.min_lr_ratio;
  return floor + 0.5 * (o.lr - floor) * (1.0 + std::cos(M_PI * progress));
}

// Training sequences: the stream cut into windows of seq + 1 tokens (stride seq), visited in a
// fresh seeded permutation each epoch. Sample position p (counted over the whole run) is the data
// position saved in checkpoints: it alone decides every later batch.
class DataOrder {
 public:
  DataOrder(std::int64_t windows, std::uint64_t seed) : windows_(windows), seed_(seed) {}
  std::int64_t window(std::int64_t position) {
    const std::int64_t epoch = position / windows_;
    if (epoch != epoch_) {
      order_.resize(static_cast<std::size_t>(windows_));
      std::iota(order_.begin(), order_.end(), 0);
      std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch));
      std::shuffle(order_.begin(), order_.end(), rng);
      epoch_ = epoch;
    }
    return order_[static_cast<std::size_t>(position % windows_)];
  }

 private:
  std::int64_t windows_;
  std::uint64_t seed_;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> order_;
};

at::Tensor to_device_stream(const std::vector<std::int32_t>& tokens, at::Device device) {
  return at::tensor(at::ArrayRef<std::int32_t>(tokens), at::kInt).to(at::kLong).to(device);  // (N)
}

void check_tokens(const std::vector<std::int32_t>& tokens, int vocab, const char* what) {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      throw InputError(fmt::format("{} data: token id {} at position {} is outside the vocabulary [0, {})", what,
                                   tokens[i], i, vocab));
}

EvalResult evaluate(const LoadedNetwork& net, const std::vector<std::int32_t>& valid_tokens, const TrainOptions& o) {
  at::NoGradGuard no_grad;
  Bf16Autocast autocast(net.device.is_cuda() && o.bf16_autocast);
  std::vector<std::int32_t> tokens = valid_tokens;
  if (o.eval_tokens > 0 && static_cast<std::int64_t>(tokens.size()) > o.eval_tokens) tokens.resize(static_cast<std::size_t>(o.eval_tokens));
  const int E = net.config.num_experts;
  std::vector<at::Tensor> loads;  // per MoE layer (E) int64: top-k assignments per expert
  LogitsFn logits_of = [&](const at::Tensor& ids, const at::Tensor& valid) {
    return net.network->forward(ids, valid, [&](int moe_index, int, const layers::Routing& r) {
      at::Tensor counts = r.expert_ids.reshape({-1}).bincount({}, E);
      if (static_cast<int>(loads.size()) <= moe_index) loads.push_back(counts);
      else loads[static_cast<std::size_t>(moe_index)] += counts;
    }, /*want_logits=*/true);
  };
  NllSum sum = sliding_window_nll(logits_of, tokens, o.seq_len, o.seq_len, o.batch_size, net.device);
  EvalResult r;
  r.loss = sum.loss();
  r.ppl = sum.ppl();
  r.tokens = sum.tokens;
  for (const at::Tensor& l : loads) {
    at::Tensor c = l.to(at::kCPU).contiguous();
    std::vector<std::uint64_t> counts(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
    traces::BalanceMetrics m = traces::balance_metrics(counts);
    r.gini.push_back(m.gini);
    r.max_mean.push_back(m.max_mean_ratio);
    r.cv.push_back(m.cv);
    r.entropy.push_back(m.entropy_norm);
  }
  return r;
}

json eval_json(std::int64_t step, const EvalResult& r) {
  return {{"step", step}, {"eval", eval_fields(r)}};
}

std::string hex_of(const at::Tensor& bytes) {
  at::Tensor c = bytes.to(at::kCPU).contiguous();
  const auto* p = c.data_ptr<std::uint8_t>();
  std::string s;
  for (std::int64_t i = 0; i < c.numel(); ++i) s += fmt::format("{:02x}", p[i]);
  return s;
}

at::Tensor bytes_of(const std::string& hex) {
  at::Tensor t = at::empty({static_cast<std::int64_t>(hex.size() / 2)}, at::kByte);
  auto* p = t.data_ptr<std::uint8_t>();
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) p[i / 2] = static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return t;
}

// Directory removal and listing through POSIX rather than std::filesystem::remove_all and
// directory_iterator: the LibTorch of PyTorch ≥ 2.5 wheels exports its own statically linked copy of
// libstdc++'s filesystem iterators (pytorch/pytorch#133437), which then serve this program's calls
// with another GCC's object layout. On LibTorch 2.11 remove_all of a non-empty checkpoint
// directory crashed (SIGSEGV) at the first checkpoint that replaced an older one.
void remove_tree(const fs::path& dir) {
  auto remove_entry = [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); };
  if (::nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    throw std::runtime_error(located(dir, fmt::format("cannot remove: {}", std::strerror(errno))));
}

std::vector<std::string> directory_entries(const fs::path& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw std::runtime_error(located(dir, fmt::format("cannot list: {}", std::strerror(errno))));
  while (const dirent* e = ::readdir(d))
    if (std::string n = e->d_name; n != "." && n != "..") names.push_back(n);
  ::closedir(d);
  return names;
}

// Files of a model directory other than weights that a saved model carries along.
void copy_model_files(const TrainOptions& o, const fs::path& dir) {
  fs::copy_file(o.init_dir / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json"})
    if (fs::exists(o.init_dir / name)) fs::copy_file(o.init_dir / name, dir / name, fs::copy_options::overwrite_existing);
  if (!o.tokenizer.empty()) fs::copy_file(o.tokenizer, dir / o.tokenizer.filename(), fs::copy_options::overwrite_existing);
}

// A directory written under DIR.tmp and renamed into place: readers see all of it or none.
void commit_directory(const fs::path& tmp, const fs::path& final_dir) {
  remove_tree(final_dir);
  fs::rename(tmp, final_dir);
}

// The optimizer's state as plain tensors (optimizer.safetensors; its step in trainer_state.json)
// rather than torch::save: the file reads back under any LibTorch version and keeps TorchScript
// archives out of the training process. The state map's key is a TensorImpl* in LibTorch 2.x and
// its printed form in 1.x.
template <typename StateMap>
auto state_key(const StateMap&, const at::Tensor& p) {
  if constexpr (std::is_same_v<typename StateMap::key_type, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<void*>(p.unsafeGetTensorImpl());
  }
}

std::int64_t save_optimizer(const fs::path& file, torch::optim::AdamW& optimizer, const NamedWeights& weights) {
  NamedWeights moments;
  std::int64_t step = 0;
  for (const auto& [name, p] : weights) {
    auto it = optimizer.state().find(state_key(optimizer.state(), p));
    if (it == optimizer.state().end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    moments.emplace_back(name + ".exp_avg", s.exp_avg());
    moments.emplace_back(name + ".exp_avg_sq", s.exp_avg_sq());
    step = s.step();
  }
  save_weights(file, moments, at::kFloat);
  return step;
}

void load_optimizer(const fs::path& file, torch::optim::AdamW& optimizer, const NamedWeights& weights, std::int64_t step) {
  SafetensorsFile f(file);
  for (const auto& [name, p] : weights) {
    const TensorView* avg = f.find(name + ".exp_avg");
    const TensorView* avg_sq = f.find(name + ".exp_avg_sq");
    if (!avg || !avg_sq) continue;  // never stepped (no gradient yet)
    if (avg->shape != p.sizes().vec() || avg_sq->shape != p.sizes().vec())
      throw InputError(located(file, fmt::format("optimizer state of {} does not match the weight's shape", name)));
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(step);
    s->exp_avg(view_as_tensor(*avg).to(p.device(), at::kFloat, false, /*copy=*/true));
    s->exp_avg_sq(view_as_tensor(*avg_sq).to(p.device(), at::kFloat, false, /*copy=*/true));
    optimizer.state()[state_key(optimizer.state(), p)] = std::move(s);
  }
}

struct Position {
  std::int64_t step = 0;     // optimizer steps done
  std::int64_t samples = 0;  // training windows consumed (data position)
};

// Removes all but the newest `keep` complete checkpoint-<step> folders (names sort by step: 8 digits).
void remove_old_checkpoints(const fs::path& out_dir, int keep) {
  std::vector<std::string> names;
  for (const std::string& n : directory_entries(out_dir))
    if (n.rfind("checkpoint-", 0) == 0 && !n.ends_with(".tmp")) names.push_back(n);
  std::sort(names.begin(), names.end());
  const std::size_t kept = static_cast<std::size_t>(std::max(keep, 1));
  for (std::size_t i = 0; i + kept < names.size(); ++i) remove_tree(out_dir / names[i]);
}

void write_checkpoint(const TrainOptions& o, const LoadedNetwork& net, torch::optim::AdamW& optimizer,
                      const Position& pos) {
  const std::string name = fmt::format("checkpoint-{:08d}", pos.step);
  const fs::path tmp = o.out_dir / (name + ".tmp"), final_dir = o.out_dir / name;
  remove_tree(tmp);
  fs::create_directories(tmp);
  save_weights(tmp / "model.safetensors", net.weights, at::kFloat);
  copy_model_files(o, tmp);
  const std::int64_t optimizer_step = save_optimizer(tmp / "optimizer.safetensors", optimizer, net.weights);
  json state = {{"step", pos.step},
                {"optimizer_step", optimizer_step},
                {"samples", pos.samples},
                {"seed", o.seed},
                {"cpu_rng", hex_of(at::detail::getDefaultCPUGenerator().get_state())}};
  write_file_atomically(tmp / "trainer_state.json", state.dump(1));
  commit_directory(tmp, final_dir);
  write_file_atomically(o.out_dir / "latest", name + "\n");
  remove_old_checkpoints(o.out_dir, o.keep_checkpoints);
}

// The best model by validation perplexity so far: OUT/best/ (weights, config, tokenizer, best.json
// with its step and perplexity), replaced atomically when an evaluation beats it.
void write_best(const TrainOptions& o, const LoadedNetwork& net, std::int64_t step, const EvalResult& r) {
  const fs::path tmp = o.out_dir / "best.tmp";
  remove_tree(tmp);
  fs::create_directories(tmp);
  save_weights(tmp / "model.safetensors", net.weights, at::kFloat);
  copy_model_files(o, tmp);
  write_file_atomically(tmp / "best.json", json({{"step", step}, {"eval", eval_fields(r)}}).dump(1));
  commit_directory(tmp, o.out_dir / "best");
}

// The best perplexity among the history's evaluations (after --resume truncated it); OUT/best from
// an abandoned later step is removed, so that best/ always belongs to this history.
double best_ppl_so_far(const fs::path& out_dir) {
  double best = std::numeric_limits<double>::infinity();
  std::ifstream in(out_dir / "history.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("eval")) best = std::min(best, j["eval"].value("ppl", best));
  }
  std::ifstream best_in(out_dir / "best" / "best.json");
  json b = json::parse(best_in, nullptr, false);
  if (b.is_discarded() || !b.contains("eval") || b["eval"].value("ppl", -1.0) != best) remove_tree(out_dir / "best");
  return best;
}

// History lines of steps after `step` belong to a run that is being replaced by --resume.
void truncate_history(const fs::path& file, std::int64_t step) {
  if (!fs::exists(file)) return;
  std::ifstream in(file);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("step", std::int64_t{0}) <= step) kept += line + "\n";
  }
  write_file_atomically(file, kept);
}

}  // namespace

void write_initial_model(const fs::path& config_json, const fs::path& dir, std::uint64_t seed, double init_std) {
  fs::create_directories(dir);
  fs::copy_file(config_json, dir / "config.json", fs::copy_options::overwrite_existing);
  const ModelConfig config = load_config(dir);
  at::manual_seed(seed);
  save_weights(dir / "model.safetensors", init_weights(config, init_std), at::kFloat);
}

TrainSummary train_model(const TrainOptions& o) {
  if (o.seq_len < 2 || o.batch_size < 1 || o.grad_accum < 1 || o.steps < 1)
    throw InputError("--seq must be ≥ 2, --batch ≥ 1, --grad-accum ≥ 1, --steps ≥ 1");
  if (o.warmup_steps < 0 || o.warmup_steps > o.steps) throw InputError("--warmup must be between 0 and --steps");
  if (o.keep_checkpoints < 1) throw InputError("--keep must be at least 1 (the newest checkpoint is what --resume needs)");
  const std::vector<BalanceTerm> terms = parse_balance_terms(o.balance);
  fs::create_directories(o.out_dir);
  const fs::path history_file = o.out_dir / "history.jsonl";

  // Where to start: the newest checkpoint (--resume) or the initial model.
  Position pos;
  fs::path weights_dir = o.init_dir;
  json state;
  if (o.resume) {
    const fs::path latest = o.out_dir / "latest";
    if (!fs::exists(latest)) throw InputError(located(latest, "no checkpoint to resume from (run without --resume first)"));
    std::ifstream in(latest);
    std::string name;
    in >> name;
    weights_dir = o.out_dir / name;
    std::ifstream state_in(weights_dir / "trainer_state.json");
    state = json::parse(state_in, nullptr, false);
    if (state.is_discarded() || !state.contains("step"))
      throw InputError(located(weights_dir / "trainer_state.json", "not a moesim trainer state"));
    const fs::path state_file = weights_dir / "trainer_state.json";
    pos.step = json_integer(state["step"], state_file, "field 'step'", 0, std::numeric_limits<std::int64_t>::max());
    pos.samples = json_integer(state["samples"], state_file, "field 'samples'", 0, std::numeric_limits<std::int64_t>::max());
    // Nothing would train: the summary then showed an evaluation never run ("valid ppl 0.00").
    if (pos.step >= o.steps)
      throw InputError(fmt::format("--resume: the checkpoint {} is at step {}, so --steps {} leaves nothing to train "
                                   "(give --steps above {})",
                                   weights_dir.string(), pos.step, o.steps, pos.step));
    if (!state["seed"].is_number_unsigned()) throw InputError(located(state_file, "field 'seed' is not a seed"));
    if (state["seed"].get<std::uint64_t>() != o.seed)
      throw InputError(fmt::format("--resume: checkpoint was trained with --seed {}, not {}", state["seed"].get<std::uint64_t>(), o.seed));
    truncate_history(history_file, pos.step);
  } else if (fs::exists(history_file)) {
    fs::remove(history_file);
  }

  LoadedNetwork net = load_network(weights_dir, o.device, "float32", /*trainable=*/true);
  check_tokens(o.train_tokens, net.config.vocab_size, "training");
  check_tokens(o.valid_tokens, net.config.vocab_size, "validation");
  const std::int64_t windows = (static_cast<std::int64_t>(o.train_tokens.size()) - 1) / o.seq_len;
  if (windows < 1) throw InputError(fmt::format("training data: {} tokens is less than one sequence of --seq {} + 1",
                                                o.train_tokens.size(), o.seq_len));

  // AdamW without weight decay on vectors (norms, biases), as is usual for transformers.
  std::vector<at::Tensor> decay, no_decay, all;
  for (auto& [name, t] : net.weights) (t.dim() >= 2 ? decay : no_decay).push_back(t), all.push_back(t);
  auto adamw = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(adamw));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(adamw.weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups), torch::optim::AdamWOptions(o.lr));
  if (o.resume) {
    load_optimizer(weights_dir / "optimizer.safetensors", optimizer, net.weights, state.value("optimizer_step", pos.step));
    at::Generator cpu_generator = at::detail::getDefaultCPUGenerator();  // shares the default generator
    cpu_generator.set_state(bytes_of(state["cpu_rng"].get<std::string>()));
  }

  at::Tensor stream = to_device_stream(o.train_tokens, net.device);                  // (N) int64
  at::Tensor offsets = at::arange(o.seq_len + 1, stream.options());                 // (S+1)
  DataOrder order(windows, o.seed);
  const std::int64_t V = net.config.vocab_size;
  const bool autocast = net.device.is_cuda() && o.bf16_autocast;

  std::ofstream history(history_file, std::ios::app);
  auto log_line = [&](const json& j) { history << j.dump() << '\n' << std::flush; };

  TrainSummary summary;
  summary.first_step = pos.step;
  double best_ppl = best_ppl_so_far(o.out_dir);
  auto log_eval = [&](std::int64_t step, const EvalResult& r) {
    log_line(eval_json(step, r));
    if (r.ppl < best_ppl) best_ppl = r.ppl, write_best(o, net, step, r);
  };
  if (pos.step == 0) {
    summary.before = evaluate(net, o.valid_tokens, o);
    log_eval(0, summary.before);
    if (!o.quiet) fmt::print(stderr, "step 0: valid loss {:.4f} ppl {:.2f}\n", summary.before.loss, summary.before.ppl);
  }

  Progress progress("train", static_cast<std::uint64_t>(o.steps - pos.step), "steps", !o.quiet);
  const auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  const std::int64_t tokens_per_step = static_cast<std::int64_t>(o.batch_size) * o.grad_accum * o.seq_len;
  double loss_sum = 0, lm_sum = 0, bal_sum = 0;
  std::vector<double> term_sums(terms.size(), 0.0);  // each balance term apart, unweighted
  std::int64_t logged = 0;
  while (pos.step < o.steps) {
    const double lr = learning_rate(o, pos.step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer.zero_grad();
    double step_loss = 0, step_lm = 0, step_bal = 0;
    std::vector<double> step_terms(terms.size(), 0.0);
    for (int micro = 0; micro < o.grad_accum; ++micro) {
      std::vector<std::int64_t> starts;
      for (int b = 0; b < o.batch_size; ++b) starts.push_back(order.window(pos.samples++) * o.seq_len);
      at::Tensor first = at::tensor(starts, at::kLong).to(net.device).unsqueeze(1);           // (B, 1)
      at::Tensor seqs = stream.index_select(0, (first + offsets).reshape({-1})).reshape({o.batch_size, -1});  // (B, S+1)
      at::Tensor ids = seqs.narrow(1, 0, o.seq_len), targets = seqs.narrow(1, 1, o.seq_len);  // (B, S)
      at::Tensor valid = at::ones_like(ids, ids.options().dtype(at::kBool));
      std::vector<layers::Routing> routing;
      at::Tensor lm, balance = at::zeros({}, stream.options().dtype(at::kFloat));
      {
        Bf16Autocast guard(autocast);
        at::Tensor logits = net.network->forward(
            ids, valid, [&](int, int, const layers::Routing& r) { routing.push_back(r); }, /*want_logits=*/true);
        lm = at::cross_entropy_loss(logits.reshape({-1, V}), targets.reshape({-1}));
        for (std::size_t i = 0; i < terms.size(); ++i) {
          at::Tensor layer_sum = at::zeros({}, balance.options());
          for (const layers::Routing& r : routing) layer_sum = layer_sum + balance_loss(terms[i].kind, r);
          const at::Tensor term_mean = layer_sum / static_cast<double>(std::max<std::size_t>(1, routing.size()));
          balance = balance + terms[i].weight * term_mean;
          step_terms[i] += term_mean.item<double>() / o.grad_accum;
        }
      }
      at::Tensor loss = (lm + balance) / static_cast<double>(o.grad_accum);
      loss.backward();
      step_loss += loss.item<double>();
      step_lm += lm.item<double>() / o.grad_accum;
      step_bal += balance.item<double>() / o.grad_accum;
    }
    const double grad_norm = o.clip_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(all, o.clip_grad_norm) : 0.0;
    optimizer.step();
    ++pos.step;
    if (!std::isfinite(step_loss)) throw std::runtime_error(fmt::format("training diverged at step {}: loss {}", pos.step, step_loss));
    loss_sum += step_loss, lm_sum += step_lm, bal_sum += step_bal, ++logged;
    for (std::size_t i = 0; i < terms.size(); ++i) term_sums[i] += step_terms[i];
    summary.final_loss = step_loss;
    if (pos.step % o.log_every == 0 || pos.step == o.steps) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      json balance_terms = json::object();  // name → unweighted value (balance_loss = Σ weight × value)
      for (std::size_t i = 0; i < terms.size(); ++i) {
        balance_terms[balance_loss_name(terms[i].kind)] = term_sums[i] / logged;
        term_sums[i] = 0;
      }
      log_line({{"step", pos.step}, {"lr", lr}, {"loss", loss_sum / logged}, {"lm_loss", lm_sum / logged},
                {"balance_loss", bal_sum / logged}, {"balance_terms", balance_terms}, {"grad_norm", grad_norm},
                {"tokens_per_s", seconds > 0 ? static_cast<double>(tokens_per_step * logged) / seconds : 0.0}});
      loss_sum = lm_sum = bal_sum = 0, logged = 0, window_start = now;
    }
    progress.advance();
    const bool last = pos.step == o.steps;
    if ((o.eval_every > 0 && pos.step % o.eval_every == 0) || last) {
      EvalResult r = evaluate(net, o.valid_tokens, o);
      log_eval(pos.step, r);
      if (last) summary.after = r;
    }
    const bool stop = o.stop_after > 0 && pos.step >= o.stop_after;
    if ((o.checkpoint_every > 0 && pos.step % o.checkpoint_every == 0) || last || stop) write_checkpoint(o, net, optimizer, pos);
    if (stop) break;
  }
  progress.finish();
  summary.last_step = pos.step;
  summary.train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.tokens_per_s = summary.train_s > 0 ? static_cast<double>((pos.step - summary.first_step) * tokens_per_step) / summary.train_s : 0;
  if (pos.step == o.steps) {
    const fs::path tmp = o.out_dir / "model.tmp";
    remove_tree(tmp);
    fs::create_directories(tmp);
    save_weights(tmp / "model.safetensors", net.weights, dtype_from_name(o.save_dtype));
    copy_model_files(o, tmp);
    commit_directory(tmp, o.out_dir / "model");
    summary.model_dir = o.out_dir / "model";
  }
  return summary;
}

}  // namespace moesim::model
