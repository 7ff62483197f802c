// Synthetic routing: each layer gets an expert popularity vector from a load model, and every
// token draws top_k distinct experts from it (successive draws without replacement).
#include "moesim/traces/synth.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>

#include "moesim/common/progress.hpp"

namespace moesim::traces {
namespace {

// One independent, reproducible stream per (seed, layer, purpose).
std::mt19937_64 stream(std::uint64_t seed, int layer, std::uint64_t purpose) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(layer), static_cast<std::uint32_t>(purpose)};
  return std::mt19937_64(seq);
}

std::vector<double> base_popularity(const SynthOptions& o, int layer) {
  const int E = o.experts;
  std::vector<double> p(E, 1.0 / E);
  switch (o.load) {
    case LoadModel::kUniform:
      break;
    case LoadModel::kZipf:  // expert e has rank e+1: p ∝ (e+1)^-s
      for (int e = 0; e < E; ++e) p[e] = std::pow(static_cast<double>(e + 1), -o.zipf_s);
      break;
    case LoadModel::kDirichlet: {  // normalised Gamma(alpha) draws; each layer its own draw
      auto rng = stream(o.seed, o.layer_variation > 0 ? layer : 0, 1);
      std::gamma_distribution<double> gamma(o.dirichlet_alpha, 1.0);
      for (auto& x : p) x = std::max(gamma(rng), 1e-300);
      break;
    }
    case LoadModel::kHot: {
      double hot_share = 0;
      std::vector<bool> is_hot(E, false);
      for (auto [e, share] : o.hot) hot_share += share, is_hot[e] = true;
      const int cold = E - static_cast<int>(std::count(is_hot.begin(), is_hot.end(), true));
      for (int e = 0; e < E; ++e) p[e] = is_hot[e] ? 0.0 : (cold ? (1.0 - hot_share) / cold : 0.0);
      for (auto [e, share] : o.hot) p[e] = share;
      break;
    }
  }
  double sum = std::accumulate(p.begin(), p.end(), 0.0);
  for (auto& x : p) x /= sum;
  return p;
}

void validate(const SynthOptions& o) {
  auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
  if (o.layers <= 0) bad("--layers must be positive");
  if (o.experts <= 0) bad("--experts must be positive");
  if (o.top_k <= 0 || o.top_k > o.experts) bad(fmt::format("--top-k must be in 1..{} (the number of experts)", o.experts));
  if (o.tokens == 0) bad("--tokens must be positive");
  if (o.steps == 0 || o.steps > o.tokens) bad("--steps must be in 1..tokens");
  if (o.seq_len <= 0) bad("--seq-len must be positive");
  if (o.zipf_s < 0) bad("zipf exponent s must be >= 0");
  if (o.dirichlet_alpha <= 0) bad("dirichlet alpha must be > 0");
  if (o.layer_variation < 0 || o.layer_variation > 1) bad("--layer-variation must be in [0, 1]");
  if (o.groups < 0 || (o.groups > 0 && o.experts % o.groups != 0))
    bad(fmt::format("--groups must divide the {} experts", o.experts));
  if (o.groups > 0 && (o.topk_groups < 1 || o.topk_groups > o.groups))
    bad(fmt::format("--topk-groups must be in 1..{} (the number of groups)", o.groups));
  if (o.groups > 0 && o.top_k > o.topk_groups * (o.experts / o.groups))
    bad(fmt::format("--top-k {} does not fit in {} groups of {} experts", o.top_k, o.topk_groups, o.experts / o.groups));
  if (o.groups == 0 && o.topk_groups != 0) bad("--topk-groups needs --groups");
  if (o.load == LoadModel::kHot) {
    if (o.hot.empty()) bad("the hot load model needs at least one expert:share pair");
    double total = 0;
    std::vector<bool> seen(o.experts, false);
    for (auto [e, share] : o.hot) {
      if (e < 0 || e >= o.experts) bad(fmt::format("hot expert {} is outside 0..{}", e, o.experts - 1));
      if (seen[e]) bad(fmt::format("hot expert {} is listed twice", e));
      if (share <= 0) bad(fmt::format("hot expert {} has share {}; shares must be > 0", e, share));
      seen[e] = true;
      total += share;
    }
    if (total > 1 + 1e-12) bad(fmt::format("hot shares add up to {} > 1", total));
  }
}

// Draws k distinct experts: draw from p, redraw duplicates (which samples exactly from p restricted
// to the experts not yet chosen); after many misses (a dominant expert), fall back to an explicit
// renormalised draw so that skewed loads cannot stall the generator.
// allowed: empty = every expert, else allowed[e] != 0 for the experts that may be drawn.
void draw_topk(std::discrete_distribution<int>& dist, const std::vector<double>& p, int k, std::mt19937_64& rng,
               std::int32_t* out, const std::vector<char>& allowed = {}) {
  constexpr int kMaxRedraws = 64;
  auto eligible = [&](int x, int j) { return (allowed.empty() || allowed[x]) && std::find(out, out + j, x) == out + j; };
  for (int j = 0; j < k; ++j) {
    int e = -1;
    for (int attempt = 0; attempt < kMaxRedraws && e < 0; ++attempt) {
      int c = dist(rng);
      if (eligible(c, j)) e = c;
    }
    if (e < 0) {
      double rest = 0;
      for (int x = 0; x < static_cast<int>(p.size()); ++x)
        if (eligible(x, j)) rest += p[x];
      double u = std::uniform_real_distribution<double>(0.0, rest)(rng);
      for (int x = 0; x < static_cast<int>(p.size()); ++x) {
        if (!eligible(x, j)) continue;
        e = x;  // the last eligible expert absorbs rounding
        if ((u -= p[x]) < 0) break;
      }
    }
    out[j] = e;
  }
}

// Group-limited routing: the token's topk_groups groups (drawn by popularity mass, without
// replacement), marked in `allowed` expert by expert.
void draw_groups(std::discrete_distribution<int>& group_dist, const std::vector<double>& group_mass,
                 const SynthOptions& o, std::mt19937_64& rng, std::vector<std::int32_t>& groups,
                 std::vector<char>& allowed) {
  groups.assign(o.topk_groups, -1);
  draw_topk(group_dist, group_mass, o.topk_groups, rng, groups.data());
  const int per_group = o.experts / o.groups;
  allowed.assign(o.experts, 0);
  for (std::int32_t g : groups) std::fill_n(allowed.begin() + g * per_group, per_group, 1);
}

std::string describe_load(const SynthOptions& o) {
  switch (o.load) {
    case LoadModel::kUniform: return "synthetic:uniform";
    case LoadModel::kZipf: return fmt::format("synthetic:zipf(s={})", o.zipf_s);
    case LoadModel::kDirichlet: return fmt::format("synthetic:dirichlet(alpha={})", o.dirichlet_alpha);
    case LoadModel::kHot: {
      std::string s = "synthetic:hot(";
      for (auto [e, share] : o.hot) s += fmt::format("{}{}:{}", s.back() == '(' ? "" : ",", e, share);
      return s + ")";
    }
  }
  return "synthetic";
}

std::string describe(const SynthOptions& o) {
  if (o.groups == 0) return describe_load(o);
  return fmt::format("{} top-{}-of-{}-groups", describe_load(o), o.topk_groups, o.groups);
}

std::string utc_now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

std::vector<double> expert_popularity(const SynthOptions& o, int layer) {
  validate(o);
  std::vector<double> p = base_popularity(o, layer);
  if (o.layer_variation > 0 && o.load != LoadModel::kDirichlet && o.load != LoadModel::kUniform) {
    // Which expert is hot changes from layer to layer in real models: blend the base popularity
    // with a seeded permutation of itself.
    std::vector<int> perm(o.experts);
    std::iota(perm.begin(), perm.end(), 0);
    auto rng = stream(o.seed, layer, 2);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<double> q(o.experts);
    for (int e = 0; e < o.experts; ++e) q[e] = (1 - o.layer_variation) * p[e] + o.layer_variation * p[perm[e]];
    p = std::move(q);
  }
  return p;
}

void write_synthetic_trace(const std::filesystem::path& path, const SynthOptions& o, const std::string& created_by,
                           Progress* progress, WriterOptions writer_options) {
  validate(o);
  TraceHeader h;
  h.model = "synthetic";
  h.architecture = "synthetic";
  h.num_layers = o.layers;
  h.num_experts = o.experts;
  h.top_k = o.top_k;
  h.hidden_size = o.hidden_size;
  h.dataset = describe(o);
  h.tokenizer = "none";
  h.created_by = created_by;
  h.created_at = utc_now_iso();
  TraceWriter writer(path, h, writer_options);

  const int L = o.layers, k = o.top_k;
  std::vector<std::vector<double>> popularity;
  std::vector<std::discrete_distribution<int>> dists;
  std::vector<std::mt19937_64> rngs;
  std::vector<std::vector<double>> group_mass(L);
  std::vector<std::discrete_distribution<int>> group_dists;
  for (int l = 0; l < L; ++l) {
    popularity.push_back(expert_popularity(o, l));
    dists.emplace_back(popularity.back().begin(), popularity.back().end());
    rngs.push_back(stream(o.seed, l, 3));
    if (o.groups > 0) {
      group_mass[l].assign(o.groups, 0.0);
      for (int e = 0; e < o.experts; ++e) group_mass[l][e / (o.experts / o.groups)] += popularity.back()[e];
    }
    group_dists.emplace_back(group_mass[l].begin(), group_mass[l].end());
  }
  std::vector<std::int32_t> token_groups;
  std::vector<char> allowed;
  // A step is generated and written in slices of tokens, so that memory stays bounded whatever the
  // trace size (a 256-GPU step of 2^21 tokens x 32 layers x top-8 is 4.3 GB of ids and gates). Each
  // layer draws from its own stream in token order, so the slices give the same trace as one piece.
  const std::uint64_t slice_tokens =
      std::max<std::uint64_t>(1, o.slice_bytes / (static_cast<std::uint64_t>(L) * static_cast<std::uint64_t>(k) *
                                                     (sizeof(std::int32_t) + sizeof(float))));
  std::vector<std::vector<std::int32_t>> ids(L);
  std::vector<std::vector<float>> gates(L);
  std::vector<std::int32_t> seq, pos;
  std::vector<LayerRouting> routing(L);
  std::uint64_t token = 0;
  for (std::uint64_t s = 0; s < o.steps; ++s) {
    // Steps split the tokens as evenly as possible: the first (tokens % steps) get one more.
    const std::uint64_t step_tokens = o.tokens / o.steps + (s < o.tokens % o.steps ? 1 : 0);
    for (std::uint64_t done = 0; done < step_tokens;) {
      const std::uint64_t n = std::min(slice_tokens, step_tokens - done);
      seq.resize(n);
      pos.resize(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        seq[i] = static_cast<std::int32_t>((token + i) / static_cast<std::uint64_t>(o.seq_len));
        pos[i] = static_cast<std::int32_t>((token + i) % static_cast<std::uint64_t>(o.seq_len));
      }
      for (int l = 0; l < L; ++l) {
        ids[l].resize(n * k);
        gates[l].resize(n * k);
        const auto& p = popularity[l];
        for (std::uint64_t i = 0; i < n; ++i) {
          std::int32_t* row = &ids[l][i * k];
          if (o.groups > 0) draw_groups(group_dists[l], group_mass[l], o, rngs[l], token_groups, allowed);
          draw_topk(dists[l], p, k, rngs[l], row, allowed);
          // Columns keep the draw order, so column 0 (the top-1 choice) is itself a draw from the
          // popularity. Gates are the chosen experts' popularities renormalised and sorted so that
          // they decrease along the row, as the format requires. (Sorting the experts by popularity
          // instead would make top-1 favour low ids whenever popularities tie, e.g. uniform load.)
          float* g = &gates[l][i * k];
          double sum = 0;
          for (int j = 0; j < k; ++j) sum += p[row[j]];
          for (int j = 0; j < k; ++j) g[j] = static_cast<float>(p[row[j]] / sum);
          std::sort(g, g + k, std::greater<float>());
        }
        routing[l] = LayerRouting{ids[l], gates[l], {}, {}};
      }
      writer.append_step_part(StepTokens{seq, pos, {}}, routing);
      token += n;
      done += n;
      if (progress) progress->advance(n);
    }
    writer.end_step();
  }
  writer.close();
}

}  // namespace moesim::traces
