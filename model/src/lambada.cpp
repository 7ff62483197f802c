// LAMBADA examples tokenized as lm-evaluation-harness does (moesim/model/scoring.hpp), shared by
// `moesim eval-ppl` and `moesim assign-eval` so that both score the same examples.
#include "moesim/model/datasets.hpp"
#include "moesim/model/scoring.hpp"
#include "moesim/model/tokenizer.hpp"

namespace moesim::model {

std::vector<LastWordExample> lambada_examples(const Tokenizer& tokenizer, const std::filesystem::path& data_dir,
                                              std::size_t max_examples) {
  std::vector<LambadaExample> raw = load_lambada(data_dir);
  if (max_examples > 0 && raw.size() > max_examples) raw.resize(max_examples);
  std::vector<LastWordExample> examples;
  for (const LambadaExample& ex : raw) {
    std::vector<std::int32_t> context = encode_for_model(tokenizer, ex.context, true);
    std::vector<std::int32_t> whole = encode_for_model(tokenizer, ex.context + " " + ex.target, true);
    std::vector<std::int32_t> target;
    if (whole.size() > context.size() && std::equal(context.begin(), context.end(), whole.begin()))
      target.assign(whole.begin() + static_cast<std::ptrdiff_t>(context.size()), whole.end());
    else
      target = tokenizer.encode(" " + ex.target);
    examples.push_back({context, target});
  }
  return examples;
}

}  // namespace moesim::model
