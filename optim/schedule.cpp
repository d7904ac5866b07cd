#include "optim/schedule.h"

#include "optim/adamw.h"

namespace sono {

void apply_cosine_schedule(AdamW& opt, double eta_min, int64_t epoch, int64_t t_max) {
  SONO_CHECK(t_max > 0 && epoch >= 0, "cosine schedule", "epoch ", epoch, " and T_max ", t_max,
             " must be >= 0 and > 0");
  for (auto& g : opt.groups()) g.lr = cosine_lr(g.initial_lr, eta_min, epoch, t_max);
}

}  // namespace sono
