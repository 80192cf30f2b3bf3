// How the strict YAML readers (config.cc, web_config.cc) test and describe a value in their
// error messages, so both files say "got a list" or "got the string \"1024\"" the same way.
#pragma once

#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

namespace ta::agent::yaml_text {

// A quoted scalar ("1024") is a string even when it reads as a number.
inline bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }
// Absent, or present with no value (`key:` / `key: ~`): the default applies.
inline bool IsAbsent(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }

// How a value reads in an error message.
inline std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "an empty value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      if (IsQuoted(node)) return "the string \"" + node.Scalar() + "\"";
      return "'" + node.Scalar() + "'";
  }
  return "an unknown value";
}

// "FILE:LINE:COLUMN: " (1-based) for an error at `mark`; "FILE: " when there is no position.
inline std::string Locate(std::string_view source, const YAML::Mark& mark) {
  std::string out(source);
  if (!mark.is_null()) {
    out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  return out + ": ";
}

}  // namespace ta::agent::yaml_text
