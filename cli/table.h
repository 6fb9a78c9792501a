#pragma once

#include <string>
#include <vector>

namespace jsontcplb::cli {

/// A plain-text table for people: a header row, columns padded to their widest cell and
/// separated by two spaces, numbers right-aligned, no trailing spaces.
class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
  };

  explicit Table(std::vector<Column> columns);

  /// Adds one row; missing cells are empty, extra cells are ignored.
  void add_row(std::vector<std::string> cells);
  std::size_t rows() const { return rows_.size(); }
  /// The header and every row, each ending in '\n'.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace jsontcplb::cli
