// `sono evaluate`: the official metrics of a prediction folder.
#include <cstdio>

#include "tools/sono/command.h"
#include "train/evaluate.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("evaluate", "Score predictions with the challenge's metrics (as evaluate.py)");
  struct Args {
    std::string data, pred, out;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "Dataset folder holding csv_files/ (the ground truth)")->required();
  cmd->add_option("--pred", a->pred, "Prediction folder (the submission layout)")->required();
  cmd->add_option("--out", a->out, "Write the results as JSON to this file");
  return [=] {
    sono::EvaluationResult r = sono::evaluate_predictions(a->data, a->pred);
    std::fputs(sono::format_evaluation(r).c_str(), stdout);
    for (const std::string& w : r.warnings) std::fprintf(stderr, "evaluate: warning: %s\n", w.c_str());
    if (!r.warnings.empty()) std::fprintf(stderr, "evaluate: %zu warnings (above)\n", r.warnings.size());
    int64_t missing = 0;
    for (auto& [task, n] : r.missing) missing += n;
    if (missing)
      std::fprintf(stderr, "evaluate: %lld rows had no prediction (listed per task above)\n", (long long)missing);
    if (!a->out.empty()) sono::write_evaluation(r, a->out);
    return 0;
  };
});
