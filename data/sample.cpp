#include "data/sample.h"

#include "core/error.h"

namespace sono::data {

std::string row_location(const Sample& s) { return str_cat(s.csv_file, ", line ", s.line); }

}  // namespace sono::data
