// ringkernelctl: look at and steer a running ringkerneld, for operators and
// scripts. Exit status: 0 success, 1 the operation failed (the message names
// the rk_status), 2 bad usage.
#include <signal.h>

#include <CLI/CLI.hpp>

#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/ringkernelctl/commands.h"
#include "tools/ringkernelctl/top.h"

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kFooter = R"(Exit status: 0 on success, 1 if the operation failed (the message names the
rk_status, e.g. RK_E_NOT_FOUND), 2 on bad usage. --json prints one JSON object
on stdout, also for failures ({"ok": false, "status": ..., "message": ...}).

Kernel instances: a kernel launched by a session is private to it and dies
with it; one launched with a name is shared and lives until terminated or
the server stops. ringkernelctl is a session of its own that ends when the
command does, so it steers shared (named) instances only.)";

// A subcommand's instance: either `--attach NAME` or a positional NAME.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct InstanceArg {
  std::string positional, attach;
  void add_to(CLI::App* sub) {
    auto* p = sub->add_option("name", positional, "shared instance name (same as --attach)");
    auto* a = sub->add_option("--attach", attach, "shared instance name");
    p->excludes(a);
  }
  const std::string& name() const { return attach.empty() ? positional : attach; }
};

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // `ringkernelctl list | head` must not kill us mid-session
  rk::ctl::Globals g;
  CLI::App app{"ringkernelctl — inspect and steer a running ringkerneld"};
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("ringkernelctl ") + RINGKERNEL_VERSION + " (ABI " +
                                        std::to_string(rk_abi_version()) + ")");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand: `info --json`
  app.add_option("--socket", g.socket,
                 "control socket (default: $RINGKERNEL_SOCKET, else $XDG_RUNTIME_DIR/ringkernel/default.sock, "
                 "else /tmp/ringkernel-<uid>/default.sock)");
  app.add_flag("--json", g.json, "machine-readable output (one JSON object on stdout)");
  app.add_option("--timeout-ms", g.timeout_ms, "bound for each blocking call (default: the library's, e.g. 30 s)");

  app.add_subcommand("info", "the server: pid, ABI, backends, sessions, instances");

  app.add_subcommand("list",
                     "kernel instances: every shared (named) instance. Private instances belong to their session "
                     "and are not visible to others. (The C ABI has no list call: this one request speaks the "
                     "control protocol directly.)");

  InstanceArg status_arg;
  auto* status = app.add_subcommand("status", "state and telemetry of one shared instance");
  status_arg.add_to(status);

  std::vector<std::string> metric_names;
  auto* metrics = app.add_subcommand("metrics", "telemetry of shared instances (all of them by default)");
  metrics->add_option("names", metric_names, "shared instance names");

  rk::ctl::LaunchArgs launch_args;
  auto* launch = app.add_subcommand(
      "launch",
      "launch a shared kernel instance. --name is required: a private instance would die when ringkernelctl exits");
  launch->add_option("kernel", launch_args.kernel, "registered kernel: echo, counter, saxpy, reduce_sum, ...")
      ->required();
  // Checked below rather than with ->required(), to say why it is needed.
  launch->add_option("--name", launch_args.name, "instance name other sessions attach to (required)");
  launch->add_option("--backend", launch_args.backend, "auto (the server's best), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  launch->add_option("--transfer", launch_args.transfer,
                     "how requests reach a CUDA kernel: auto (the server picks), mapped or staged; the CPU backend "
                     "ignores it (docs/transfer.md)")
      ->check(CLI::IsMember({"auto", "mapped", "staged"}))
      ->capture_default_str();
  launch->add_option("--ring-bytes", launch_args.ring_bytes,
                     "bytes per ring direction, a power of two (e.g. 1MiB); default: the server's (1 MiB)")
      ->transform(CLI::AsSizeValue(false));
  launch->add_option("--grid", launch_args.grid, "grid size (0: the kernel's default)");
  launch->add_option("--block", launch_args.block, "block size (0: the kernel's default)");
  launch->add_option("--device", launch_args.device, "GPU ordinal (-1: any)");
  launch->add_flag("--activate", launch_args.activate, "activate it right away (it starts inactive)");

  InstanceArg activate_arg, deactivate_arg, terminate_arg;
  activate_arg.add_to(app.add_subcommand("activate", "let a shared instance process its messages"));
  deactivate_arg.add_to(app.add_subcommand("deactivate", "pause a shared instance; messages wait in the rings"));
  terminate_arg.add_to(
      app.add_subcommand("terminate", "drain and stop a shared instance (waits up to --timeout-ms, default 5 s)"));

  rk::ctl::CallArgs call_args;
  auto* call = app.add_subcommand(
      "call", "send text to an echo kernel and print the reply and the round trip: a private echo is launched and "
              "terminated unless --attach names a shared one");
  call->add_option("kernel", call_args.kernel, "the kernel to call: echo")->required();
  call->add_option("text", call_args.words, "text to send")->required();
  call->add_option("--attach", call_args.attach, "call this shared echo instance instead");
  call->add_option("--backend", call_args.backend, "backend of the private echo: auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  call->add_option("--transfer", call_args.transfer, "transfer strategy of the private echo: auto, mapped or staged")
      ->check(CLI::IsMember({"auto", "mapped", "staged"}))
      ->capture_default_str();
  call->add_option("--count", call_args.count, "calls to make (round trip min / p50 / max)")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();

  rk::ctl::TopArgs top_args;
  auto* top = app.add_subcommand(
      "top", "a refreshing table of the shared instances: message rate, counters, queue, latency (until Ctrl-C, or "
             "--iterations). With --json: one JSON object per refresh, one per line");
  top->add_option("--iterations,-n", top_args.iterations, "refreshes before exiting (0: until interrupted)")
      ->capture_default_str();
  top->add_option("--interval-ms,-d", top_args.interval_ms, "time between refreshes")
      ->check(CLI::Range(10u, 3600000u))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  try {
    const std::string which = app.get_subcommands().front()->get_name();
    auto need_name = [&](const InstanceArg& a) -> const std::string& {
      if (a.name().empty())
        throw UsageError(which + ": name a shared instance (--attach NAME); see --help");
      return a.name();
    };
    if (which == "info")
      rk::ctl::cmd_info(g);
    else if (which == "list")
      rk::ctl::cmd_list(g);
    else if (which == "status")
      rk::ctl::cmd_status(g, need_name(status_arg));
    else if (which == "metrics")
      rk::ctl::cmd_metrics(g, metric_names);
    else if (which == "launch") {
      if (launch_args.name.empty())
        throw UsageError("launch: --name is required: an unnamed instance is private to ringkernelctl's own session "
                         "and would be terminated as soon as ringkernelctl exits");
      rk::ctl::cmd_launch(g, launch_args);
    }
    else if (which == "activate")
      rk::ctl::cmd_lifecycle(g, which, need_name(activate_arg));
    else if (which == "deactivate")
      rk::ctl::cmd_lifecycle(g, which, need_name(deactivate_arg));
    else if (which == "terminate")
      rk::ctl::cmd_lifecycle(g, which, need_name(terminate_arg));
    else if (which == "call")
      rk::ctl::cmd_call(g, call_args);
    else if (which == "top")
      rk::ctl::cmd_top(g, top_args);
  } catch (const UsageError& e) {
    std::cerr << "ringkernelctl: " << e.what() << "\n";
    return kExitUsage;
  } catch (const rk::ctl::Failure& f) {
    rk::ctl::print_failure(g, f);
    return kExitFailed;
  } catch (const std::exception& e) {
    rk::ctl::print_failure(g, rk::ctl::Failure(RK_E_INTERNAL, e.what()));
    return kExitFailed;
  }
  return 0;
}
