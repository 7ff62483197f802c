// The trainer end to end on a tiny Mixtral: loss goes down, the saved model loads through the
// ordinary loader, and a run interrupted and resumed ends with exactly the weights of one that was not.
#include "doctest_torch.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "moesim/common/error.hpp"
#include "moesim/model/model.hpp"
#include "moesim/model/safetensors.hpp"
#include "train.hpp"
#include "train_model.hpp"
#include "moesim/testing/scratch.hpp"

using namespace moesim::model;
namespace fs = std::filesystem;

namespace {

fs::path tiny_config(const fs::path& dir) {
  nlohmann::json c = {{"model_type", "mixtral"}, {"vocab_size", 32}, {"hidden_size", 16}, {"intermediate_size", 24},
                      {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                      {"head_dim", 4}, {"num_local_experts", 4}, {"num_experts_per_tok", 2},
                      {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"tie_word_embeddings", true},
                      {"max_position_embeddings", 64}};
  std::ofstream(dir / "config.json") << c.dump(1);
  return dir / "config.json";
}

// A stream with structure to learn: mostly "next = (current · 3 + 1) mod 32", sometimes a jump.
std::vector<std::int32_t> tokens(int n, int salt) {
  std::vector<std::int32_t> t{static_cast<std::int32_t>(salt % 32)};
  for (int i = 1; i < n; ++i) t.push_back(i % 17 == 0 ? (i * 7 + salt) % 32 : (t.back() * 3 + 1) % 32);
  return t;
}

TrainOptions tiny_run(const fs::path& out, const fs::path& init) {
  TrainOptions o;
  o.out_dir = out;
  o.init_dir = init;
  o.train_tokens = tokens(2000, 1);
  o.valid_tokens = tokens(300, 5);
  o.seq_len = 16;
  o.batch_size = 4;
  o.grad_accum = 2;
  o.steps = 8;
  o.warmup_steps = 2;
  o.lr = 1e-2;
  o.balance = "gini=0.1,z=0.01";
  o.seed = 7;
  o.log_every = 1;
  o.quiet = true;
  return o;
}

std::vector<float> all_weights(const fs::path& model_dir) {
  SafetensorsFile f(model_dir / "model.safetensors");
  std::vector<float> out;
  for (const auto& [name, view] : f.tensors()) {
    const float* p = reinterpret_cast<const float*>(view.bytes.data());
    out.insert(out.end(), p, p + view.numel());
  }
  return out;
}

}  // namespace

TEST_CASE("train: loss falls, history has Gini per layer, the model loads like any checkpoint") {
  fs::path dir = moesim::testing::scratch_subdir("basic");
  write_initial_model(tiny_config(dir), dir / "init", 7, 0.02);
  TrainOptions o = tiny_run(dir / "run", dir / "init");
  o.steps = 30;
  TrainSummary s = train_model(o);
  CHECK(s.after.ppl < 0.5 * s.before.ppl);
  REQUIRE(s.after.gini.size() == 2);
  CHECK(s.after.gini[0] >= 0.0);
  CHECK(s.after.gini[0] <= 0.75);
  std::ifstream history(dir / "run" / "history.jsonl");
  std::string line;
  int evals = 0, steps = 0;
  while (std::getline(history, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("eval")) {
      ++evals;
      CHECK(j["eval"]["gini"].size() == 2);
    } else {
      ++steps;
      CHECK(j["balance_loss"].get<double>() > 0);
    }
  }
  CHECK(evals == 2);
  CHECK(steps == 30);
  auto model = MoeModel::load(dir / "run" / "model");
  CHECK(model->config().num_experts == 4);
  CHECK(model->forward({{1, 2, 3}}).logits.size() == 3 * 32);
}

TEST_CASE("train: each balance term logged apart, evaluations with CV and entropy, --keep, best by perplexity") {
  fs::path dir = moesim::testing::scratch_subdir("history");
  write_initial_model(tiny_config(dir), dir / "init", 7, 0.02);
  TrainOptions o = tiny_run(dir / "run", dir / "init");  // balance gini=0.1,z=0.01
  o.eval_every = 2;
  o.checkpoint_every = 2;
  o.keep_checkpoints = 2;
  train_model(o);
  std::ifstream history(dir / "run" / "history.jsonl");
  std::string line;
  double best_ppl = 1e300;
  std::int64_t best_step = -1;
  while (std::getline(history, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("eval")) {
      const auto& e = j["eval"];
      REQUIRE(e["cv"].size() == 2);
      REQUIRE(e["entropy"].size() == 2);
      for (int l = 0; l < 2; ++l) {
        CHECK(e["entropy"][l].get<double>() > 0.0);
        CHECK(e["entropy"][l].get<double>() <= 1.0 + 1e-12);
        CHECK((e["cv"][l].get<double>() > 0) == (e["gini"][l].get<double>() > 0));  // both 0 only at balance
      }
      if (e["ppl"].get<double>() < best_ppl) best_ppl = e["ppl"].get<double>(), best_step = j["step"].get<std::int64_t>();
    } else {
      // The logged total is the weighted sum of the terms logged apart.
      const auto& t = j["balance_terms"];
      REQUIRE(t.size() == 2);
      CHECK(j["balance_loss"].get<double>() ==
            doctest::Approx(0.1 * t["gini"].get<double>() + 0.01 * t["z"].get<double>()).epsilon(1e-5));
    }
  }
  // Steps 8 with a checkpoint every 2 and --keep 2: the newest two remain.
  CHECK(fs::exists(dir / "run" / "checkpoint-00000008"));
  CHECK(fs::exists(dir / "run" / "checkpoint-00000006"));
  CHECK(!fs::exists(dir / "run" / "checkpoint-00000004"));
  std::ifstream best_in(dir / "run" / "best" / "best.json");
  auto best = nlohmann::json::parse(best_in);
  CHECK(best["step"].get<std::int64_t>() == best_step);
  CHECK(best["eval"]["ppl"].get<double>() == best_ppl);
  CHECK(MoeModel::load(dir / "run" / "best")->config().num_experts == 4);
}

TEST_CASE("train --resume: interrupted + resumed gives the same final weights as uninterrupted") {
  fs::path dir = moesim::testing::scratch_subdir("resume");
  write_initial_model(tiny_config(dir), dir / "init", 7, 0.02);
  train_model(tiny_run(dir / "whole", dir / "init"));

  TrainOptions first = tiny_run(dir / "parts", dir / "init");
  first.stop_after = 3;
  TrainSummary a = train_model(first);
  CHECK(a.last_step == 3);
  CHECK_FALSE(fs::exists(dir / "parts" / "model"));
  TrainOptions second = tiny_run(dir / "parts", dir / "init");
  second.resume = true;
  TrainSummary b = train_model(second);
  CHECK(b.first_step == 3);
  CHECK(b.last_step == 8);

  std::vector<float> whole = all_weights(dir / "whole" / "model"), parts = all_weights(dir / "parts" / "model");
  REQUIRE(whole.size() == parts.size());
  CHECK(whole == parts);  // bit for bit
  // A resumed run that skipped the resume would differ: the data and optimizer state matter.
  std::vector<float> init = all_weights(dir / "init");
  CHECK(init != whole);
}

TEST_CASE("train: bad input is named") {
  fs::path dir = moesim::testing::scratch_subdir("bad");
  write_initial_model(tiny_config(dir), dir / "init", 7, 0.02);
  TrainOptions o = tiny_run(dir / "run", dir / "init");
  o.train_tokens[5] = 99;
  CHECK_THROWS_WITH_AS(train_model(o), doctest::Contains("token id 99 at position 5 is outside the vocabulary"),
                       moesim::InputError);
  o = tiny_run(dir / "run2", dir / "init");
  o.resume = true;
  CHECK_THROWS_WITH_AS(train_model(o), doctest::Contains("no checkpoint to resume from"), moesim::InputError);
}

TEST_CASE("architecture table: only architectures marked trainable are trained; the refusal lists them") {
  const fs::path fixtures = fs::path(MOESIM_SOURCE_DIR) / "tests" / "fixtures";
  try {
    load_network(fixtures / "deepseek_v3", "cpu", "float32", /*trainable=*/true);
    FAIL("deepseek_v3 loaded as trainable");
  } catch (const moesim::InputError& e) {
    CHECK(std::string(e.what()).find("training deepseek_v3 models is not supported yet (trainable: mixtral, olmoe, "
                                     "qwen2_moe, qwen3_moe)") != std::string::npos);
  }
  // The same table lets every command evaluate it (eval-ppl goes through load_network too).
  LoadedNetwork net = load_network(fixtures / "deepseek_v3", "cpu", "float32", /*trainable=*/false);
  CHECK(net.config.model_type == "deepseek_v3");
  CHECK_THROWS_WITH_AS(load_network(fixtures / "mixtral", "cpu,cpu", "float32", false),
                       "--device cpu,cpu: training and evaluation run on one device", moesim::InputError);
}
