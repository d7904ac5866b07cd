#pragma once
// Cosine annealing stepped once per epoch (torch CosineAnnealingLR), in its
// closed form: lr(e) = eta_min + (base - eta_min) * (1 + cos(pi * e / T)) / 2.
#include <cmath>

namespace sono {

inline double cosine_lr(double base_lr, double eta_min, int64_t epoch, int64_t t_max) {
  const double pi = 3.14159265358979323846;
  return eta_min + (base_lr - eta_min) * (1.0 + std::cos(pi * double(epoch) / double(t_max))) / 2.0;
}

class AdamW;
// Sets every group's lr for `epoch` from its initial_lr.
void apply_cosine_schedule(AdamW& opt, double eta_min, int64_t epoch, int64_t t_max);

}  // namespace sono
