#pragma once
// Load-balancing losses for MoE routers, each a differentiable scalar computed from one MoE layer's
// routing (router probabilities P (T, E), chosen experts (T, k), raw logits (T, E)). Internal to
// model/ (includes ATen); the trainer adds λ × term to the language-model loss.
//
//   P̄_i = mean over tokens of P[t, i]          (differentiable "soft load" of expert i)
//   f_i = share of the T·k assignments that went to expert i   (hard load, no gradient)
//
//   gini      Σ_i Σ_j |P̄_i − P̄_j| / (2 E Σ_i P̄_i)     0 balanced … (E−1)/E all on one expert
//   variance  (1/E) Σ_i (P̄_i − mean P̄)²
//   cv        std(P̄) / mean(P̄)
//   entropy   ln E − H(P̄), H(p) = −Σ p_i ln p_i        0 at uniform usage (maximises usage entropy)
//   switch    E · Σ_i f_i · P̄_i                         1 at perfect balance (Switch Transformer)
//   z         mean over tokens of logsumexp(logits_t)²   router z-loss (ST-MoE); keeps logits small
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "layers.hpp"

namespace moesim::model {

enum class BalanceLoss { kGini, kVariance, kCv, kEntropy, kSwitch, kZ };

struct BalanceTerm {
  BalanceLoss kind = BalanceLoss::kGini;
  double weight = 0;  // λ
};

// "gini=0.01,z=0.001" → terms; "" or "none" → none. Throws InputError naming the bad item.
std::vector<BalanceTerm> parse_balance_terms(const std::string& spec);
std::string balance_loss_name(BalanceLoss kind);
const std::vector<std::string>& balance_loss_names();

// The pieces, on plain tensors, so that tests can hand-work them.
at::Tensor gini_loss(const at::Tensor& mean_probs);                      // (E) → ()
at::Tensor variance_loss(const at::Tensor& mean_probs);                  // (E) → ()
at::Tensor cv_loss(const at::Tensor& mean_probs);                        // (E) → ()
at::Tensor entropy_loss(const at::Tensor& mean_probs);                   // (E) → ()
at::Tensor switch_loss(const at::Tensor& probs, const at::Tensor& expert_ids);  // (T, E), (T, k) → ()
at::Tensor z_loss(const at::Tensor& logits);                             // (T, E) → ()

// One term on one layer's routing.
at::Tensor balance_loss(BalanceLoss kind, const layers::Routing& routing);

}  // namespace moesim::model
