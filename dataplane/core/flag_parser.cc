#include "dataplane/core/flag_parser.h"

#include <algorithm>

#include "dataplane/core/str_cat.h"

namespace jsontcplb {

void FlagParser::add(std::string name, std::string value_name, std::string default_text,
                     std::string help, Setter setter) {
  flags_.push_back(Flag{std::move(name), std::move(value_name), std::move(default_text),
                        std::move(help), std::move(setter), false});
}

void FlagParser::add_bool(std::string name, std::string help, Setter setter) {
  flags_.push_back(Flag{std::move(name), "", "", std::move(help), std::move(setter), true});
}

const FlagParser::Flag* FlagParser::find(std::string_view name) const {
  auto it =
      std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == name; });
  return it == flags_.end() ? nullptr : &*it;
}

FlagParser::Outcome FlagParser::parse_flags_only(std::span<const char* const> args,
                                                 std::string_view program) const {
  Outcome out = parse(args);
  if (out.kind == Outcome::Kind::kOk && !out.positional.empty()) {
    out.kind = Outcome::Kind::kError;
    out.message = str_cat("unexpected argument \"", out.positional.front(), "\": ", program,
                          " takes only flags (see -h)");
  }
  return out;
}

FlagParser::Outcome FlagParser::parse(std::span<const char* const> args) const {
  using Kind = Outcome::Kind;
  Outcome out;
  auto error = [&](std::string message) {
    out.kind = Kind::kError;
    out.message = std::move(message);
    return out;
  };
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // first positional argument
    std::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    if (body.empty() || body[0] == '-' || body[0] == '=') {
      return error(str_cat("bad flag syntax: ", arg));
    }
    std::string_view name = body;
    std::optional<std::string_view> value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    if (name == "h" || name == "help") {
      out.kind = Kind::kHelp;
      return out;
    }
    const Flag* flag = find(name);
    if (flag == nullptr) return error(str_cat("flag provided but not defined: -", name));
    if (flag->is_bool) {
      std::string_view v = value.value_or("true");
      if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") {
        v = "true";
      } else if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") {
        v = "false";
      } else {
        return error(
            str_cat("invalid boolean value \"", v, "\" for -", name, ": use true or false"));
      }
      if (auto problem = flag->setter(v)) {
        return error(str_cat("invalid value \"", v, "\" for -", name, ": ", *problem));
      }
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return error(str_cat("flag needs an argument: -", name));
      value = args[++i];
    }
    if (auto problem = flag->setter(*value)) {
      return error(str_cat("invalid value \"", *value, "\" for -", name, ": ", *problem));
    }
  }
  for (; i < args.size(); ++i) out.positional.emplace_back(args[i]);
  return out;
}

std::string FlagParser::usage(std::string_view program, std::string_view summary) const {
  std::string text = str_cat(summary, "\n\nUsage of ", program, ":\n");
  for (const Flag& f : flags_) {
    str_append(text, "  -", f.name);
    if (!f.is_bool) str_append(text, " ", f.value_name);
    str_append(text, "\n    \t", f.help);
    if (!f.default_text.empty()) str_append(text, " (default ", f.default_text, ")");
    str_append(text, "\n");
  }
  str_append(text, "\nFlags take one or two dashes: -port 9000, --port=9000.\n");
  return text;
}

}  // namespace jsontcplb
