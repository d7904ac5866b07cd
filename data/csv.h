#pragma once
// An RFC 4180 CSV parser: quoted fields may hold commas, doubled quotes and
// line breaks; records end with LF or CRLF. It never throws for one bad row:
// the row carries an error instead, so the caller decides between stopping
// and skipping (see data/dataset.h).
#include <cstdint>
#include <string>
#include <vector>

namespace sono::data {

struct CsvRow {
  int64_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
  std::string error;  // empty when the record is well formed
};

struct CsvTable {
  std::vector<std::string> header;  // first record
  int64_t header_line = 1;
  std::string header_error;  // the header itself is malformed: nothing else is parsed
  std::vector<CsvRow> rows;  // following records; blank lines are skipped
};

// Parses `text`. A UTF-8 byte-order mark is ignored. Rows whose field count
// differs from the header's get an error too. An empty text gives no header.
CsvTable parse_csv(const std::string& text);

}  // namespace sono::data
