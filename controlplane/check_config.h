#pragma once

#include <iosfwd>
#include <string>

namespace jsontcplb::controlplane {

/// lb-controlplane -check-config FILE: validates the file, resolves its DNS names once and
/// prints the targets and data planes it resolves to and the desired config version. Returns
/// the exit status: 0 for a valid file (a failed lookup is printed as a warning), 2 otherwise.
int check_config(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace jsontcplb::controlplane
