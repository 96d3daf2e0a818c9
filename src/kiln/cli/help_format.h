#pragma once
// Help layout for every kiln command: each option's default is spelled out
// as "[default: X]" after its description rather than CLI11's terse "TYPE=X".
#include <CLI/CLI.hpp>

#include <string>

namespace kiln::cli {

class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (!opt->get_option_text().empty() || opt->get_type_size() == 0) return CLI::Formatter::make_option_opts(opt);
    std::string s = " " + get_label(opt->get_type_name());
    if (opt->get_required()) s += " " + get_label("REQUIRED");
    return s;
  }
  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string d = opt->get_description();
    if (!opt->get_default_str().empty()) d += " [default: " + opt->get_default_str() + "]";
    return d;
  }
};

}  // namespace kiln::cli
