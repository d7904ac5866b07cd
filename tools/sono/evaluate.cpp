// `sono evaluate`: the official metrics of a prediction folder.
#include <cstdio>
#include <fstream>

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
    int64_t missing = 0;
    for (auto& [task, n] : r.missing) missing += n;
    if (missing)
      std::fprintf(stderr, "evaluate: %lld rows had no prediction (listed per task above)\n", (long long)missing);
    if (!a->out.empty()) {
      nlohmann::json j = {{"results", r.results}, {"summary", r.summary}, {"missing_predictions", r.missing}};
      std::ofstream(a->out) << j.dump(2) << "\n";
    }
    return 0;
  };
});
