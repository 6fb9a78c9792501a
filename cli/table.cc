#include "cli/table.h"

#include <algorithm>

namespace jsontcplb::cli {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> widths(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = columns_[c].header.size();
    for (const auto& row : rows_) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  auto append_row = [&](auto cell_of) {
    std::string line;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::string& cell = cell_of(c);
      if (c > 0) line += "  ";
      const std::string padding(widths[c] - cell.size(), ' ');
      if (columns_[c].align == Align::kRight) {
        line += padding;
        line += cell;
      } else {
        line += cell;
        line += padding;
      }
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  append_row([&](std::size_t c) -> const std::string& { return columns_[c].header; });
  for (const auto& row : rows_) {
    append_row([&](std::size_t c) -> const std::string& { return row[c]; });
  }
  return out;
}

}  // namespace jsontcplb::cli
