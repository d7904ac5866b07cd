// libFuzzer target for the evaluator's prediction-file reader
// (train/prediction_file.h) (fuzz/fuzz_targets.h for the rules).
#include "core/error.h"
#include "fuzz/fuzz_targets.h"
#include "train/prediction_file.h"

namespace sono::fuzz {

bool prediction_json(const uint8_t* data, size_t size) {
  try {
    sono::PredictionIndex index =
        sono::parse_prediction_file(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
    size_t entries = 0;
    for (const auto& [task, rows] : index) entries += rows.size();
    (void)entries;
    return true;
  } catch (const sono::Error&) {
    return false;
  }
}

}  // namespace sono::fuzz

SONO_FUZZ_TARGET(prediction_json)
