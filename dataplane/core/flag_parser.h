#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jsontcplb {

/// Command-line flags with the Go `flag` package's grammar, so json-tcp-lb accepts exactly what
/// the Go original accepted: `-name value`, `-name=value`, `--name` too; boolean flags take no
/// value (`-tls-target`) or an attached one (`-tls-target=false`); `--` ends the flags.
///
/// We do not use Abseil flags here: they exit with status 1 on a bad value (Go and the issue ask
/// for 2), are process-global (tests parse many command lines) and spell booleans differently.
class FlagParser {
 public:
  /// Stores a parsed value; returns an error text (the rule that was broken) or nothing.
  using Setter = std::function<std::optional<std::string>(std::string_view value)>;

  struct Outcome {
    enum class Kind { kOk, kHelp, kError };
    Kind kind = Kind::kOk;
    std::string message;                  ///< For kError: one line naming flag, value and rule.
    std::vector<std::string> positional;  ///< Arguments after the flags.
  };

  void add(std::string name, std::string value_name, std::string default_text, std::string help,
           Setter setter);
  void add_bool(std::string name, std::string help, Setter setter);

  /// `args` excludes the program name. -h/-help/--help yield kHelp.
  Outcome parse(std::span<const char* const> args) const;
  /// The same for a program that takes only flags: a positional argument is an error naming
  /// it and `program`.
  Outcome parse_flags_only(std::span<const char* const> args, std::string_view program) const;
  /// Usage text listing every flag with its default, Go style.
  std::string usage(std::string_view program, std::string_view summary) const;

 private:
  struct Flag {
    std::string name;
    std::string value_name;  // empty for booleans
    std::string default_text;
    std::string help;
    Setter setter;
    bool is_bool = false;
  };
  const Flag* find(std::string_view name) const;
  std::vector<Flag> flags_;
};

}  // namespace jsontcplb
