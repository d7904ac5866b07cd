#include "data/csv.h"

#include "core/error.h"

namespace sono::data {

namespace {

// Reads one record starting at `pos`; advances `pos` past its terminator and
// `line` past every line break consumed (including those inside quotes).
CsvRow read_record(const std::string& s, size_t& pos, int64_t& line) {
  CsvRow row;
  row.line = line;
  std::string field;
  const size_t n = s.size();
  while (true) {
    // One field.
    field.clear();
    if (pos < n && s[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < n) {
        char c = s[pos++];
        if (c == '"') {
          if (pos < n && s[pos] == '"') {
            field.push_back('"');
            ++pos;
          } else {
            closed = true;
            break;
          }
        } else {
          if (c == '\n') ++line;
          field.push_back(c);
        }
      }
      if (!closed) {
        if (row.error.empty()) row.error = "unterminated quoted field (the file ends inside quotes)";
        row.fields.push_back(field);
        return row;
      }
      // After the closing quote only a separator or the end of the record may follow.
      if (pos < n && s[pos] != ',' && s[pos] != '\n' && !(s[pos] == '\r' && (pos + 1 == n || s[pos + 1] == '\n'))) {
        if (row.error.empty())
          row.error =
              str_cat("unexpected character '", s[pos], "' after the closing quote of field ", row.fields.size() + 1);
        while (pos < n && s[pos] != ',' && s[pos] != '\n') field.push_back(s[pos++]);
      }
    } else {
      while (pos < n && s[pos] != ',' && s[pos] != '\n') {
        char c = s[pos++];
        if (c == '\r' && (pos == n || s[pos] == '\n')) continue;  // CRLF
        if (c == '"' && row.error.empty())
          row.error = str_cat("quote inside unquoted field ", row.fields.size() + 1,
                              " (quote the whole field and double inner quotes)");
        field.push_back(c);
      }
    }
    row.fields.push_back(field);
    if (pos < n && s[pos] == ',') {
      ++pos;
      continue;
    }
    if (pos < n && s[pos] == '\r') ++pos;
    if (pos < n && s[pos] == '\n') {
      ++pos;
      ++line;
    }
    return row;
  }
}

bool is_blank_line(const std::string& s, size_t pos) {
  return pos < s.size() && (s[pos] == '\n' || (s[pos] == '\r' && pos + 1 < s.size() && s[pos + 1] == '\n'));
}

}  // namespace

CsvTable parse_csv(const std::string& text) {
  CsvTable table;
  size_t pos = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;
  int64_t line = 1;
  bool have_header = false;
  while (pos < text.size()) {
    if (is_blank_line(text, pos)) {  // pandas skips blank lines too
      pos += text[pos] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    CsvRow row = read_record(text, pos, line);
    if (!have_header) {
      table.header = std::move(row.fields);
      table.header_line = row.line;
      have_header = true;
      if (!row.error.empty()) {
        table.header_error = row.error;
        return table;
      }
      continue;
    }
    if (row.error.empty() && row.fields.size() != table.header.size())
      row.error = str_cat("expected ", table.header.size(), " fields (as in the header), found ", row.fields.size());
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace sono::data
