#pragma once

#include <string>

namespace lbtest {

/// A fresh directory under the system's temporary directory, removed with everything in it
/// when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "lbtest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace lbtest
