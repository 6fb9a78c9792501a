#include "dataplane/core/str_cat.h"

namespace jsontcplb::str_cat_internal {

void append(std::string& out, double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

}  // namespace jsontcplb::str_cat_internal
