// The `kiln` command-line tool: one binary, one subcommand per job.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <memory>

#include "kiln/cli/commands.h"
#include "kiln/cli/help_format.h"
#include "kiln/core/error.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

namespace {

int report(const std::string& message) {
  std::cout.flush();
  std::cerr << "error: " << message << '\n';
  return 1;
}

/// Builds the command line and runs the chosen command; kiln and CLI11 errors
/// propagate to main().
int run(int argc, char** argv) {
  CLI::App app{"kiln: a small C++ machine-learning engine", "kiln"};
  // Set before adding commands: subcommands copy the parent's formatter.
  app.formatter(std::make_shared<kiln::cli::HelpFormatter>());
  app.get_formatter()->column_width(32);
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);
  // Every option shows its default in --help.
  app.option_defaults()->always_capture_default();
  app.footer("Run 'kiln <command> --help' for one command's options.");
  // train first: its options lead the top-level help.
  kiln::cli::add_train_command(app);
  kiln::cli::add_eval_command(app);
  kiln::cli::add_predict_command(app);
  kiln::cli::add_tokenize_command(app);
  kiln::cli::add_inspect_command(app);
  kiln::cli::add_data_command(app);
  kiln::cli::add_generate_command(app);
  kiln::cli::add_convert_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // Top-level --help lists every command's options too; a command's --help only its own.
    std::cout << (app.get_subcommands().empty() ? app.help("", CLI::AppFormatMode::All) : app.help());
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --version
    std::cerr << "error: " << e.what() << "\nRun 'kiln --help' for usage.\n";
    return 2;  // usage error
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Every failure becomes one "error: ..." line and a non-zero exit, never a trace.
  try {
    return run(argc, argv);
  } catch (const kiln::Error& e) {
    return report(e.what());
  } catch (const std::bad_alloc&) {
    return report("out of memory");
  } catch (const std::exception& e) {
    return report(std::string("internal error: ") + e.what());
  } catch (...) {
    return report("internal error: unknown exception");
  }
}
