#pragma once
// Segmentation's helpers that other code needs by name.
#include <string>

namespace sono::tasks {

// "../Segmentation/x/masks/1.png" -> "Segmentation/x/masks/1.png" (every "../" removed, as model.py does):
// where a predicted mask goes under the prediction folder.
std::string submission_mask_path(const std::string& csv_mask_path);

}  // namespace sono::tasks
