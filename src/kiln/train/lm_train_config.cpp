#include "kiln/train/lm_train_config.h"

#include <algorithm>
#include <string>

namespace kiln::train {

LmTrainOptions read_lm_train_options(const std::optional<config::Node>& t, LmTrainOptions o,
                                     std::optional<std::int64_t> steps_override) {
  const auto ti = [&](const char* k, std::int64_t d) { return t ? t->get_int(k, d) : d; };
  const auto td = [&](const char* k, double d) { return t ? t->get_double(k, d) : d; };
  o.total_steps = steps_override.value_or(ti("steps", o.total_steps));
  o.grad_accum = ti("grad_accum", o.grad_accum);
  o.lr = td("lr", o.lr);
  o.min_lr_factor = td("min_lr_factor", o.min_lr_factor);
  o.warmup_steps = std::min(ti("warmup_steps", o.warmup_steps), o.total_steps);
  o.weight_decay = td("weight_decay", o.weight_decay);
  o.beta1 = td("beta1", o.beta1);
  o.beta2 = td("beta2", o.beta2);
  o.grad_clip = td("grad_clip", o.grad_clip);
  const std::string precision = t ? t->get_string("precision", "f32") : "f32";
  if (precision != "f32" && precision != "bf16") t->at("precision").fail("must be \"f32\" or \"bf16\", got \"" + precision + "\"");
  o.precision = precision == "bf16" ? DType::bf16 : DType::f32;
  return o;
}

}  // namespace kiln::train
